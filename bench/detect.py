"""All detectors on one year of 1m candles (525,600 bars), ITA vs smartmoneyconcepts on the same
data. Targets: all detectors together <= 70 ms (issue 16: one evaluation as the setup compiler
and the live monitor run it — arrays, one shared swing pass, frames only where read); >= 100x
faster than smc on fvg, sessions, ob and bos_choch, faster on liquidity and
swing_highs_lows. Linearity: the same on 5 years."""

from __future__ import annotations

import os

import pandas as pd

from bench._common import Result, fresh, fresh_copy, measure, synthetic_candles
from engine import detect
from engine.detect.fvg import fvg_detections
from engine.detect.levels import equal_level_detections, previous_level_detections
from engine.detect.orderblocks import order_block_detections
from engine.detect.sessions import session_detections
from engine.detect.structure import structure_breaks, structure_detections
from engine.detect.sweeps import sweep_detections
from engine.detect.swings import swing_detections

TITLE = "Detectors (issue 3)"
LENGTH = 5
MIN_RATIO = {"fvg": 100, "sessions": 100, "ob": 100, "bos_choch": 100, "liquidity": 1,
             "swing_highs_lows": 1}
WARMUP, REPEAT = 1, 7  # ITA's own rows
ALL_REPEAT, FIVE_YEARS_REPEAT = 10, 4  # all detectors together on 1 year, on 5 years
PEER_REPEAT = 3  # both sides of every comparison with smc (one smc call takes up to ~2 min)
TIMING = (f"{WARMUP} warm-up call, then the best of {REPEAT} (all detectors together: "
          f"{ALL_REPEAT}, on 5 years: {FIVE_YEARS_REPEAT}); every comparison with smc, both "
          f"sides: the best of {PEER_REPEAT} after {WARMUP} warm-up call. smc gets a tz-naive "
          "frame and, where it needs them, its swings, built outside the timer.")

# each detector, called on a candle frame
ITA = {
    "fvg": lambda candles: detect.detect_fvg(candles),
    "swings": lambda candles: detect.detect_swings(candles, length=LENGTH),
    "sessions": lambda candles: detect.detect_sessions(candles),
    "previous day": lambda candles: detect.detect_previous_levels(candles, period="day"),
    "equal levels": lambda candles: detect.detect_equal_levels(candles, length=LENGTH),
    "structure (bos/choch)": lambda candles: detect.detect_structure(candles, length=LENGTH),
    "order blocks": lambda candles: detect.detect_order_blocks(candles, length=LENGTH),
    "indicators (ema, rsi, atr)": lambda candles: (detect.ema(candles, 50), detect.rsi(candles),
                                                   detect.atr(candles)),
}
SWEEPS = "sweeps (swings + sessions)"
# the detectors built on swings, given the one swing pass of an evaluation
SHARED = {
    "swings": lambda candles, pivots: detect.detect_swings(candles, length=LENGTH,
                                                           pivots=pivots),
    "equal levels": lambda candles, pivots: detect.detect_equal_levels(
        candles, length=LENGTH, pivots=pivots),
    "structure (bos/choch)": lambda candles, pivots: detect.detect_structure(
        candles, length=LENGTH, pivots=pivots),
    "order blocks": lambda candles, pivots: detect.detect_order_blocks(
        candles, length=LENGTH, pivots=pivots),
}

# name, peer, the smc call on (smc, ohlc, its swings), the ITA detector it is compared with
PEERS = [
    ("fvg", "smc.fvg", lambda smc, ohlc, swings: smc.fvg(ohlc), "fvg"),
    ("sessions", "smc.sessions (London)",
     lambda smc, ohlc, swings: smc.sessions(ohlc, "London"), "sessions"),
    ("ob", "smc.ob", lambda smc, ohlc, swings: smc.ob(ohlc, swings), "order blocks"),
    ("bos_choch", "smc.bos_choch", lambda smc, ohlc, swings: smc.bos_choch(ohlc, swings),
     "structure (bos/choch)"),
    ("liquidity", "smc.liquidity", lambda smc, ohlc, swings: smc.liquidity(ohlc, swings),
     "equal levels"),
    ("swing_highs_lows", "smc.swing_highs_lows",
     lambda smc, ohlc, swings: smc.swing_highs_lows(ohlc, swing_length=LENGTH), "swings"),
    ("previous_high_low", "smc.previous_high_low",
     lambda smc, ohlc, swings: smc.previous_high_low(ohlc, time_frame="1D"), "previous day"),
]


def _with_levels(make_candles):
    """`make_input` for the sweeps: fresh candles with their swings and sessions."""
    def make():
        candles = make_candles()
        return candles, ITA["swings"](candles), ITA["sessions"](candles)
    return make


def _sweeps(given) -> None:
    candles, swings, sessions = given
    detect.detect_sweeps(candles, swings)
    detect.detect_sweeps(candles, sessions)


def _all(candles) -> list[object]:
    """Every detector once, as one evaluation of the setup compiler (`engine.setups.compile`)
    or the live monitor runs them: arrays (`Detections`), one swing pass shared by the
    detectors built on swings, one structure pass by structure and order blocks, the sweeps
    fed with the swings and sessions just detected; no DataFrame, as none is read (a chart or
    an explanation builds the one it shows)."""
    c = candles
    pivots = detect.swing_points(c, LENGTH)
    swings = swing_detections(c, length=LENGTH, pivots=pivots)
    sessions = session_detections(c)
    breaks = structure_breaks(c, LENGTH, pivots)
    found = [fvg_detections(c), swings, sessions, previous_level_detections(c, period="day"),
             equal_level_detections(c, length=LENGTH, pivots=pivots),
             structure_detections(c, length=LENGTH, breaks=breaks),
             order_block_detections(c, length=LENGTH, breaks=breaks),
             detect.ema(c, 50), detect.rsi(c), detect.atr(c),
             sweep_detections(c, swings), sweep_detections(c, sessions)]
    return found


def _all_frames(candles) -> None:
    """Every detector's public DataFrame once (`detect_*`); the detectors built on swings
    share one swing pass; the sweeps take the swing and session frames just detected."""
    pivots = detect.swing_points(candles, LENGTH)
    found = {name: fn(candles) for name, fn in ITA.items() if name not in SHARED}
    found.update({name: fn(candles, pivots) for name, fn in SHARED.items()})
    _sweeps((candles, found["swings"], found["sessions"]))


def _ita_rows(year: pd.DataFrame) -> list[Result]:
    seconds = {name: measure(fn, make_input=fresh(year), warmup=WARMUP, repeat=REPEAT)
               for name, fn in ITA.items()}
    seconds[SWEEPS] = measure(_sweeps, make_input=_with_levels(fresh(year)), warmup=WARMUP,
                              repeat=REPEAT)
    order = [*list(ITA)[:5], SWEEPS, *list(ITA)[5:]]
    return [Result("detect", f"{name}, 1y 1m", seconds[name]) for name in order]


def _peer_rows(year: pd.DataFrame) -> list[Result]:
    os.environ.setdefault("SMC_CREDIT", "0")  # smc prints a banner on import otherwise
    from smartmoneyconcepts import smc  # imported before any timer starts

    naive = year.reset_index(drop=True).set_axis(year.index.tz_localize(None))

    def smc_input():
        ohlc = fresh_copy(naive)
        return ohlc, smc.swing_highs_lows(ohlc, swing_length=LENGTH)

    results = []
    for name, peer, call, ours in PEERS:
        theirs = measure(lambda given, call=call: call(smc, *given), make_input=smc_input,
                         warmup=WARMUP, repeat=PEER_REPEAT)
        seconds = measure(ITA[ours], make_input=fresh(year), warmup=WARMUP, repeat=PEER_REPEAT)
        if name == "sessions":
            seconds /= 3  # ITA detects three sessions, smc one
        results.append(Result("detect", f"vs peer: {name}, 1y 1m", seconds, peer=peer,
                              peer_seconds=theirs, min_ratio=MIN_RATIO.get(name),
                              note="ITA: one of three sessions" if name == "sessions" else ""))
    return results


def run() -> list[Result]:
    year = synthetic_candles()
    results = _ita_rows(year) + _peer_rows(year)
    total = measure(_all, make_input=fresh(year), warmup=WARMUP,
                    repeat=ALL_REPEAT)
    results.append(Result("detect", "all detectors together, 1y 1m", total, target=0.070,
                          note="one evaluation: arrays, one swing pass"))
    frames = measure(_all_frames, make_input=fresh(year), warmup=WARMUP, repeat=ALL_REPEAT)
    results.append(Result("detect", "all detectors together as DataFrames, 1y 1m", frames,
                          note="every `detect_*` frame built"))
    five = synthetic_candles(5 * len(year), seed=11)
    five_total = measure(_all, make_input=fresh(five), warmup=WARMUP,
                         repeat=FIVE_YEARS_REPEAT)
    results.append(Result("detect", "all detectors together, 5y 1m", five_total,
                          note=f"linear if ~5x the 1y time ({5 * total:.3f} s)"))
    return results
