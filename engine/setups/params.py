"""Parameter ranges declared in a setup's `optimise:` section, and applying chosen values.

Paths point into the setup document: ``conditions.bull_fvg.min_size_atr``,
``plan.target.r_multiple``. Applying values re-validates the whole setup, so an optimiser can
never produce an invalid rule.
"""

from __future__ import annotations

import numpy as np
from pydantic import ValidationError

from engine.errors import SetupError
from engine.setups.schema import ParamRange, Setup


def parameter_space(setup: Setup) -> dict[str, ParamRange]:
    return dict(setup.optimise)


def grid(space: dict[str, ParamRange]) -> dict[str, list[float]]:
    """Every value of each stepped range (continuous ranges give their two ends)."""
    out = {}
    for path, r in space.items():
        if r.step:
            count = int(np.floor((r.high - r.low) / r.step + 1e-9)) + 1
            values = [round(r.low + i * r.step, 10) for i in range(count)]
        else:
            values = [r.low, r.high]
        whole = all(float(v).is_integer() for v in (r.low, r.high, r.step or 1))
        out[path] = [int(v) for v in values] if whole else values  # 10, not 10.0, for periods
    return out


def apply_parameters(setup: Setup, values: dict[str, float]) -> Setup:
    """A new, validated setup with the values set at their paths."""
    data = setup.model_dump(mode="json", by_alias=True)
    for path, value in values.items():
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            if not isinstance(node, dict) or key not in node:
                raise SetupError(f"optimise: path {path!r} does not exist in setup {setup.id}")
            node = node[key]
        if not isinstance(node, dict) or keys[-1] not in node:
            raise SetupError(f"optimise: path {path!r} does not exist in setup {setup.id}")
        current = node[keys[-1]]
        node[keys[-1]] = int(round(value)) if isinstance(current, int) and not isinstance(
            current, bool) else float(value)
    try:
        return Setup.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        reason = first["msg"].removeprefix("Value error, ")
        raise SetupError(f"optimise: values {values} make setup {setup.id} invalid: "
                         f"{where + ': ' if where else ''}{reason}") from None
