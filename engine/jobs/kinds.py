"""Job kinds: each validates its parameters and calls the same engine function as the CLI."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.errors import JobError, SetupError


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BacktestParams(_Params):
    setup: str = Field(description="Setup id or id@version")
    symbol: str | None = None
    start: str | None = None
    end: str | None = None
    fee_bps: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0)
    sizing: Literal["risk_percent", "fixed_size", "fixed_cash"] = Field(
        "risk_percent", description="risk_percent | fixed_size | fixed_cash")
    size: float | None = Field(None, gt=0)
    initial_equity: float = Field(10_000.0, gt=0)

    @field_validator("setup")
    @classmethod
    def _safe_setup_ref(cls, value: str) -> str:
        from engine.setups.store import split_ref

        try:
            split_ref(value)
        except SetupError as error:
            raise ValueError(str(error)) from None
        return value


class SelftestParams(_Params):
    seconds: float = Field(1.0, ge=0, le=3600, description="How long the check runs")


def _backtest(params: BacktestParams, progress) -> dict:
    from engine.backtest.run import run_backtest
    from engine.backtest.simulate import Costs, Sizing
    from engine.setups.store import SetupStore

    setup = SetupStore.from_settings().load(params.setup).setup
    costs = Costs(params.fee_bps if params.fee_bps is not None else setup.costs.fee_bps,
                  params.slippage_bps if params.slippage_bps is not None
                  else setup.costs.slippage_bps)
    sizing = Sizing(params.sizing, params.size or setup.risk.percent)
    result = run_backtest(params.setup, symbol=params.symbol, start=params.start,
                          end=params.end, costs=costs, sizing=sizing,
                          initial_equity=params.initial_equity, progress=progress)
    return {"run_id": result.run_id}


def _selftest(params: SelftestParams, progress) -> dict:
    """A diagnostic job: ticks for `seconds`, reporting progress (used to check the daemon)."""
    steps = max(1, int(params.seconds * 10))
    for i in range(steps):
        time.sleep(params.seconds / steps)
        progress((i + 1) / steps, f"step {i + 1}/{steps}")
    return {"slept": params.seconds}


@dataclasses.dataclass(frozen=True)
class Kind:
    params: type[_Params]
    run: Callable

    def validate(self, params: dict) -> _Params:
        try:
            return self.params.model_validate(params)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise JobError(f"job parameter {field}: {message}") from None


KINDS = {"backtest": Kind(BacktestParams, _backtest),
         "selftest": Kind(SelftestParams, _selftest)}
