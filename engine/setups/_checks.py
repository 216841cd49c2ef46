"""Cross-field checks of a setup: names that must exist (with the nearest valid name), and
optimisation ranges that must point at a number and stay inside its limits.

Each problem is one line ``<path>: <message>``; the parser maps the path to its YAML line.
"""

from __future__ import annotations

import difflib

from pydantic import ValidationError

from engine.setups import schema


def _nearest(name: str, choices) -> str:
    near = difflib.get_close_matches(name, list(choices), n=1)
    return f" — did you mean {near[0]!r}?" if near else f" (known: {', '.join(choices)})"


def check_references(setup: schema.Setup) -> None:
    """Raise one `ValueError` listing every problem, one ``<path>: <message>`` per line."""
    problems = reference_problems(setup)
    if problems:
        raise ValueError("\n".join(problems))


def reference_problems(setup: schema.Setup) -> list[str]:
    return (_signal_problems(setup) + _plan_problems(setup) + _session_problems(setup)
            + _context_problems(setup) + _optimise_problems(setup))


def _signal_problems(setup: schema.Setup) -> list[str]:
    names = setup.conditions.keys()
    used = schema.signal_names(setup.signal)
    problems = [f"signal: signal uses unknown condition {name!r}{_nearest(name, names)}"
                for name in dict.fromkeys(used) if name not in names]
    plan = setup.plan
    referenced = {ref.split(".")[0] for ref in (plan.entry.level, plan.stop.level,
                                                plan.target.level) if ref}
    if problems or not referenced <= names:  # an unknown name is likely the unused one, typed
        return problems
    return [f"conditions.{name}: condition {name!r} is used neither by the signal nor by the "
            "plan; use it or delete it"
            for name in names if name not in used and name not in referenced]


def _plan_problems(setup: schema.Setup) -> list[str]:
    names, plan, problems = setup.conditions.keys(), setup.plan, []
    refs = [("plan.entry.level", plan.entry.level), ("plan.stop.level", plan.stop.level),
            ("plan.target.level", plan.target.level)]
    for where, ref in refs:
        if ref is None:
            continue
        name, _, _ = ref.partition(".")
        if name not in names:
            problems.append(f"{where}: unknown condition {name!r}{_nearest(name, names)}")
        elif setup.conditions[name].detector not in schema.EVENT_DETECTORS - {"ma_cross"}:
            problems.append(f"{where}: {name!r} is a filter and has no price levels")
    return problems


def _session_problems(setup: schema.Setup) -> list[str]:
    from engine.detect.sessions import SESSIONS

    used = [(f"filters.sessions.{i}", s) for i, s in enumerate(setup.filters.sessions or [])]
    used += [(f"conditions.{name}.session", c.session) for name, c in setup.conditions.items()
             if getattr(c, "detector", "") in ("session", "sweep") and c.session]
    return [f"{where}: unknown session {session!r}{_nearest(session, SESSIONS)}"
            for where, session in used if session not in SESSIONS]


def _context_problems(setup: schema.Setup) -> list[str]:
    if setup.market.context_timeframe is not None:
        return []
    return [f"conditions.{name}.timeframe: condition {name!r} uses timeframe=context but "
            "market.context_timeframe is not set"
            for name, c in setup.conditions.items() if getattr(c, "timeframe", "") == "context"]


# --- optimisation ranges -------------------------------------------------------------------

def _leaves(node, prefix: str = "") -> dict[str, object]:
    """Every scalar in a dumped setup by its dotted path."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out |= _leaves(value, f"{prefix}{key}.")
        return out
    return {prefix.rstrip("."): node}


def _is_number(value) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _field_loc(loc: tuple) -> str:
    """A pydantic error location as a dotted path, without the detector tag of a condition."""
    if loc[:1] == ("conditions",) and len(loc) > 2 and loc[2] in schema.DETECTOR_BLOCKS:
        loc = loc[:2] + loc[3:]
    return ".".join(str(part) for part in loc)


def _optimise_problems(setup: schema.Setup) -> list[str]:
    if not setup.optimise:
        return []
    data = setup.model_dump(mode="json", by_alias=True, exclude={"optimise"})
    leaves = _leaves(data)
    numbers = [path for path, value in leaves.items() if _is_number(value)]
    problems = []
    for path, limits in setup.optimise.items():
        if path not in leaves:
            problems.append(f"optimise.{path}: no such parameter in this setup"
                            f"{_nearest(path, numbers)}")
        elif not _is_number(leaves[path]):
            problems.append(f"optimise.{path}: {leaves[path]!r} is not a number, so it cannot "
                            "be optimised")
        else:
            problems += _range_problems(data, path, limits)
    return problems


def _range_problems(data: dict, path: str, limits: schema.ParamRange) -> list[str]:
    """Both ends of a range must be valid values of the field (cross-field rules such as
    fast < slow are left to each trial)."""
    *parents, name = path.split(".")
    problems = []
    for end, value in (("low", limits.low), ("high", limits.high)):
        trial = {**data}
        node = trial
        for key in parents:  # copy only along the path
            node[key] = dict(node[key])
            node = node[key]
        node[name] = int(round(value)) if isinstance(node[name], int) else float(value)
        try:
            schema.Setup.model_validate(trial)
        except ValidationError as error:
            problems += [f"optimise.{path}: {end} ({value:g}) is not a valid {name}: "
                         f"{e['msg'].removeprefix('Value error, ')}"
                         for e in error.errors() if _field_loc(tuple(e["loc"])) == path]
    return problems
