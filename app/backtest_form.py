"""Words for the Backtest page: what a run is (its header) and what a job will run.

The header names exactly what ran, from the run's own summary, never from the form: setup id @
version, symbol and timeframe, the data range covered, costs and sizing.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd


def _g(value: float) -> str:
    return f"{value:,.6g}"


def sizing_words(sizing: dict) -> str:
    """{"kind": "risk_percent", "value": 1.0} -> "risk 1 % of equity per trade"."""
    kind, value = sizing.get("kind"), float(sizing.get("value", 0.0))
    if kind == "risk_percent":
        words = f"risk {_g(value)} % of equity per trade"
    elif kind == "fixed_size":
        words = f"fixed size {_g(value)} units"
    else:
        words = f"fixed notional {_g(value)} per trade"
    leverage = sizing.get("max_leverage")
    return words + (f", leverage cap {_g(leverage)}x" if leverage not in (None, 1.0) else "")


def costs_words(costs: dict) -> str:
    return (f"fee {_g(costs.get('fee_bps', 0.0))} bps per side, "
            f"slippage {_g(costs.get('slippage_bps', 0.0))} bps")


def _moment(stamp, tz) -> str:
    moment = pd.Timestamp(stamp)
    moment = moment.tz_localize("UTC") if moment.tz is None else moment
    return f"{moment.tz_convert(tz):%Y-%m-%d %H:%M}"


def run_header(summary: dict, tz=None) -> str:
    """"sma-cross @ v2 — BTC/USDT 5m, 2023-03-01 00:00 → 2023-03-07 23:55 UTC", the range in
    zone `tz` (None: UTC) and named by it, like every other time on the page."""
    tz = tz or dt.UTC
    name = "UTC" if tz is dt.UTC or str(tz) == "UTC" else str(tz)
    return (f"{summary['setup_id']} @ v{summary['setup_version']} — {summary['symbol']} "
            f"{summary['timeframe']}, {_moment(summary['data_start'], tz)} → "
            f"{_moment(summary['data_end'], tz)} {name}")


def run_details(summary: dict) -> str:
    """Costs, sizing, equity, bars and the run id, in one line under the header."""
    parts = [costs_words(summary.get("costs", {})), sizing_words(summary.get("sizing", {}))]
    if summary.get("initial_equity") is not None:
        parts.append(f"initial equity {summary['initial_equity']:,.0f}")
    if summary.get("data_bars") is not None:
        parts.append(f"{summary['data_bars']:,} bars")
    parts.append(f"run {summary['run_id']}")
    return " · ".join(parts)


def run_words(params: dict) -> str:
    """What a backtest job will run: "sma-cross@2 on BTC/USDT from 2023-03-01 to 2023-03-21"."""
    end = pd.Timestamp(params["end"]) - pd.Timedelta(days=1) if params.get("end") else None
    return (f"{params['setup']} on {params['symbol']} from {params.get('start') or 'the start'} "
            f"to {f'{end:%Y-%m-%d}' if end is not None else 'the end'}")
