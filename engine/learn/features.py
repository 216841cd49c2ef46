"""Features of a setup's signals, each computed only from the bars up to the signal's
``known_at`` (feature set ``features_v1``; a tested property: cut the candles after any bar and
the features of the signals known by then do not change).

Every context value is a per-bar array built in one vectorised pass over the candles (TA-Lib,
numpy, pandas rolling windows: each value depends on its bar and earlier ones only), then read
at the signal bars. Prices are in ATR(14) of the signal bar, so features compare across
markets and years. Columns (float64; NaN where a value does not exist yet):

- **detections** behind the signal, per event condition ``<name>`` of the setup (the last
  detection of that condition known at the signal bar, what the compiler's levels use):
  ``<name>_size_atr`` (top - bottom: a gap's size), ``<name>_depth_atr`` (extreme beyond the
  level: a sweep's depth), ``<name>_bars_since`` (bars from that detection to the signal),
  ``<name>_direction`` (+1/-1: e.g. the structure's direction);
- **context**: ``session_asia|london|new_york`` and ``kill_zone`` (0/1),
  ``session_minutes`` (minutes into the latest of those sessions the bar is in; NaN outside),
  ``weekday`` (0 = Monday), ``hour`` (UTC), ``prev_day_high_atr|prev_day_low_atr|
  prev_week_high_atr|prev_week_low_atr`` (close minus the previous UTC day's / week's high or
  low), ``htf_trend`` (+1/-1: close of the last closed higher-timeframe bar against its
  EMA(20)), ``htf_slope_atr`` (that EMA's last change), ``atr_percentile`` (the ATR's rank
  among the last 500 bars, 0..1), ``range_atr`` (high - low of the last 20 bars),
  ``relative_volume`` (volume over its 20-bar mean);
- **the plan**: ``direction``, ``stop_atr`` (entry to stop), ``r_planned``,
  ``entry_offset_atr`` (entry beyond the signal bar's close, in the trade's direction),
  ``limit_entry`` (0/1);
- **the setup's own parameters**, constant per setup version: ``param_<path>`` for every
  number of its conditions, filters and plan (``param_fvg_min_size_atr``,
  ``param_plan_target_r_multiple``, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine import detect
from engine.backtest.simulate import bar_positions
from engine.candles import CLOSE, HIGH, LOW, VOLUME, epoch_minutes, resample, timeframe_delta
from engine.candles import local_minutes as _local_minutes
from engine.detect.sessions import DAY, SESSIONS, session_mask
from engine.setups.compile import ATR_PERIOD, CompiledSetup, Evaluated

FEATURE_SET = "features_v1"
SESSION_NAMES = ("asia", "london", "new_york")  # later names win where sessions overlap
KILL_ZONES = ("london_kz", "ny_am_kz", "london_close_kz", "ny_pm_kz")
HTF_EMA, HTF_SLOPE_BARS = 20, 1
ATR_RANK_WINDOW, RANGE_WINDOW, VOLUME_WINDOW = 500, 20, 20


def signal_features(candles: pd.DataFrame, signals: pd.DataFrame, compiled: CompiledSetup,
                    evaluated: dict[str, Evaluated] | None = None) -> pd.DataFrame:
    """One row of features per signal (same order), float64 columns (module docstring).
    `evaluated` is ``compiled.evaluate(candles)`` when the caller already has it."""
    bars = bar_positions(candles.index, signals["known_at"])
    if len(bars) and (bars >= len(candles)).any():
        raise ValueError("a signal is known after the last candle")
    atr = detect.atr(candles, ATR_PERIOD)[bars]
    if evaluated is None:
        evaluated = compiled.evaluate(candles)
    columns: dict[str, np.ndarray] = {}
    columns.update(_detection_features(evaluated, bars, atr))
    columns.update(_context_features(candles, bars, atr, compiled))
    columns.update(_plan_features(candles, signals, bars, atr))
    for name, value in setup_parameters(compiled).items():
        columns[name] = np.full(len(bars), value, dtype=np.float64)
    return pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in columns.items()})


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def _detection_features(evaluated: dict[str, Evaluated], bars: np.ndarray,
                        atr: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, e in evaluated.items():
        if e.detections is None:
            continue
        last = e.last_event
        n = len(last)
        # the bar at which the current last event arrived: where `last` last changed
        changed = np.ones(n, dtype=bool)
        changed[1:] = last[1:] != last[:-1]
        arrived = np.maximum.accumulate(np.where(changed, np.arange(n), 0)) if n else last
        rows = last[bars] if n else np.empty(0, np.int64)
        known = rows >= 0
        pick = np.clip(rows, 0, None)

        def level(key: str, pick=pick, known=known, e=e) -> np.ndarray:
            values = np.asarray(e.row_levels.get(key, []), dtype=np.float64)
            if not len(values):
                return np.full(len(pick), np.nan)
            return np.where(known, values[pick], np.nan)

        top, bottom, extreme = level("top"), level("bottom"), level("extreme")
        direction = np.asarray(e.detections["direction"], dtype=np.float64) if len(
            e.detections) else np.empty(0)
        out[f"{name}_size_atr"] = _ratio(top - bottom, atr)
        out[f"{name}_depth_atr"] = _ratio(
            np.maximum(extreme - top, bottom - extreme).clip(min=0), atr)
        out[f"{name}_bars_since"] = np.where(known, bars - arrived[bars], np.nan)
        out[f"{name}_direction"] = np.where(known, direction[pick] if len(direction) else np.nan,
                                            np.nan)
    return out


def _context_features(candles: pd.DataFrame, bars: np.ndarray, atr: np.ndarray,
                      compiled: CompiledSetup) -> dict[str, np.ndarray]:
    index = candles.index[bars]
    out: dict[str, np.ndarray] = {}
    minutes = np.full(len(bars), np.nan)
    for name in SESSION_NAMES:
        inside = session_mask(index, name)
        out[f"session_{name}"] = inside.astype(np.float64)
        spec = SESSIONS[name]
        into = (_local_minutes(index, spec.tz) - spec.start_minute) % DAY
        minutes = np.where(inside, into, minutes)
    out["kill_zone"] = np.logical_or.reduce(
        [session_mask(index, kz) for kz in KILL_ZONES]).astype(np.float64) if len(
        bars) else np.empty(0)
    out["session_minutes"] = minutes
    utc = epoch_minutes(index)
    out["weekday"] = ((utc // DAY + 3) % 7).astype(np.float64)  # 1970-01-01 was a Thursday
    out["hour"] = (utc // 60 % 24).astype(np.float64)
    out.update(_previous_extremes(candles, bars, atr))
    out.update(_higher_timeframe(candles, bars, atr, compiled))
    atr_all = pd.Series(detect.atr(candles, ATR_PERIOD))
    out["atr_percentile"] = atr_all.rolling(ATR_RANK_WINDOW, min_periods=ATR_PERIOD).rank(
        pct=True).to_numpy()[bars]
    high = pd.Series(candles[HIGH].to_numpy(np.float64))
    low = pd.Series(candles[LOW].to_numpy(np.float64))
    span = high.rolling(RANGE_WINDOW, min_periods=1).max() - low.rolling(
        RANGE_WINDOW, min_periods=1).min()
    out["range_atr"] = _ratio(span.to_numpy()[bars], atr)
    volume = pd.Series(candles[VOLUME].to_numpy(np.float64))
    mean = volume.rolling(VOLUME_WINDOW, min_periods=1).mean().to_numpy()
    out["relative_volume"] = _ratio(volume.to_numpy()[bars], mean[bars])
    return out


def _previous_extremes(candles: pd.DataFrame, bars: np.ndarray,
                       atr: np.ndarray) -> dict[str, np.ndarray]:
    """Close minus the previous UTC day's (Monday-based week's) high and low, in ATR."""
    days = epoch_minutes(candles.index) // DAY
    high = candles[HIGH].to_numpy(np.float64)
    low = candles[LOW].to_numpy(np.float64)
    close = candles[CLOSE].to_numpy(np.float64)[bars]
    out = {}
    for label, period in (("day", days), ("week", (days + 3) // 7)):
        if not len(period):
            out[f"prev_{label}_high_atr"] = out[f"prev_{label}_low_atr"] = np.empty(0)
            continue
        starts = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
        block = np.searchsorted(starts, np.arange(len(period)), side="right") - 1
        period_high = np.maximum.reduceat(high, starts)
        period_low = np.minimum.reduceat(low, starts)
        prev = block[bars] - 1
        has = prev >= 0
        prev_high = np.where(has, period_high[np.clip(prev, 0, None)], np.nan)
        prev_low = np.where(has, period_low[np.clip(prev, 0, None)], np.nan)
        out[f"prev_{label}_high_atr"] = _ratio(close - prev_high, atr)
        out[f"prev_{label}_low_atr"] = _ratio(close - prev_low, atr)
    return out


def higher_timeframe(timeframe: str, context: str | None) -> str:
    """The setup's context timeframe, else the next usual one above its own."""
    if context:
        return context
    delta = timeframe_delta(timeframe)
    for candidate in ("1h", "4h", "1d", "1w"):
        if timeframe_delta(candidate) > delta:
            return candidate
    return "1w"


def _higher_timeframe(candles: pd.DataFrame, bars: np.ndarray, atr: np.ndarray,
                      compiled: CompiledSetup) -> dict[str, np.ndarray]:
    """Trend and slope of the last higher-timeframe bar closed by each signal bar's close."""
    market = compiled.setup.market
    htf = higher_timeframe(market.timeframe, market.context_timeframe)
    nan = np.full(len(bars), np.nan)
    context = resample(candles, htf, source_timeframe=market.timeframe)
    if context.empty:
        return {"htf_trend": nan, "htf_slope_atr": nan}
    ema = detect.ema(context, HTF_EMA)
    slope = np.full(len(ema), np.nan)
    slope[HTF_SLOPE_BARS:] = ema[HTF_SLOPE_BARS:] - ema[:-HTF_SLOPE_BARS]
    trend = np.sign(context[CLOSE].to_numpy(np.float64) - ema)
    closes_at = (context.index + timeframe_delta(htf)).as_unit("ns").asi8
    bar_closes = (candles.index[bars] + timeframe_delta(market.timeframe)).as_unit("ns").asi8
    j = np.searchsorted(closes_at, bar_closes, side="right") - 1
    has = j >= 0
    pick = np.clip(j, 0, None)
    return {"htf_trend": np.where(has, trend[pick], np.nan),
            "htf_slope_atr": _ratio(np.where(has, slope[pick], np.nan), atr)}


def _plan_features(candles: pd.DataFrame, signals: pd.DataFrame, bars: np.ndarray,
                   atr: np.ndarray) -> dict[str, np.ndarray]:
    d = signals["direction"].to_numpy(np.float64)
    entry = signals["entry"].to_numpy(np.float64)
    close = candles[CLOSE].to_numpy(np.float64)[bars]
    return {"direction": d,
            "stop_atr": _ratio(np.abs(entry - signals["stop"].to_numpy(np.float64)), atr),
            "r_planned": signals["r_planned"].to_numpy(np.float64),
            "entry_offset_atr": _ratio(d * (entry - close), atr),
            "limit_entry": (signals["entry_type"] == "limit").to_numpy(np.float64)}


def setup_parameters(compiled: CompiledSetup) -> dict[str, float]:
    """Every number of the setup's conditions, filters and plan, as ``param_<path>``."""
    setup = compiled.setup
    tree = {"conditions": setup.model_dump(include={"conditions"})["conditions"],
            "filters": setup.model_dump(include={"filters"}).get("filters"),
            "plan": setup.model_dump(include={"plan"})["plan"]}
    out: dict[str, float] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key in sorted(value):
                walk(f"{prefix}_{key}", value[key])
        elif isinstance(value, bool):
            out[prefix] = float(value)
        elif isinstance(value, int | float):
            out[prefix] = float(value)

    walk("param", {"plan": tree["plan"], "filters": tree["filters"], **tree["conditions"]})
    return out
