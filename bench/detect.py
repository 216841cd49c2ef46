"""All detectors on one year of 1m candles (525,600 bars), ITA vs smartmoneyconcepts on the same
data. Targets: all detectors together < 100 ms; >= 100x faster than smc on fvg, sessions, ob
and bos_choch, faster on liquidity and swing_highs_lows. Linearity: the same on 5 years."""

from __future__ import annotations

import os
import time

from bench._common import Result, best_of, synthetic_candles
from engine import detect

TITLE = "Detectors (issue 3)"
LENGTH = 5
MIN_RATIO = {"fvg": 100, "sessions": 100, "ob": 100, "bos_choch": 100, "liquidity": 1,
             "swing_highs_lows": 1}


def _ita_suite(candles):
    swings = detect.detect_swings(candles, length=LENGTH)
    sessions = detect.detect_sessions(candles)
    return {
        "fvg": lambda: detect.detect_fvg(candles),
        "swings": lambda: detect.detect_swings(candles, length=LENGTH),
        "sessions": lambda: detect.detect_sessions(candles),
        "previous day": lambda: detect.detect_previous_levels(candles, period="day"),
        "equal levels": lambda: detect.detect_equal_levels(candles, length=LENGTH),
        "sweeps (swings + sessions)": lambda: (detect.detect_sweeps(candles, swings),
                                               detect.detect_sweeps(candles, sessions)),
        "structure (bos/choch)": lambda: detect.detect_structure(candles, length=LENGTH),
        "order blocks": lambda: detect.detect_order_blocks(candles, length=LENGTH),
        "indicators (ema, rsi, atr)": lambda: (detect.ema(candles, 50), detect.rsi(candles),
                                               detect.atr(candles)),
    }


def _all(candles) -> None:
    for fn in _ita_suite(candles).values():
        fn()


def _once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _smc_suite(ohlc):
    os.environ.setdefault("SMC_CREDIT", "0")
    from smartmoneyconcepts import smc

    swings = smc.swing_highs_lows(ohlc, swing_length=LENGTH)
    return smc, swings


def run() -> list[Result]:
    year = synthetic_candles()
    suite = _ita_suite(year)
    ita = {name: best_of(fn, repeat=7) for name, fn in suite.items()}
    total = best_of(lambda: _all(year), repeat=10)
    results = [Result("detect", f"{name}, 1y 1m", seconds) for name, seconds in ita.items()]

    ohlc = year.reset_index(drop=True).set_axis(year.index.tz_localize(None))
    smc, swings = _smc_suite(ohlc)
    peers = [
        ("fvg", "smc.fvg", lambda: smc.fvg(ohlc), ita["fvg"]),
        ("sessions", "smc.sessions (London)",
         lambda: smc.sessions(ohlc, "London"), ita["sessions"] / 3),
        ("ob", "smc.ob", lambda: smc.ob(ohlc, swings), ita["order blocks"]),
        ("bos_choch", "smc.bos_choch", lambda: smc.bos_choch(ohlc, swings),
         ita["structure (bos/choch)"]),
        ("liquidity", "smc.liquidity", lambda: smc.liquidity(ohlc, swings),
         ita["equal levels"]),
        ("swing_highs_lows", "smc.swing_highs_lows",
         lambda: smc.swing_highs_lows(ohlc, swing_length=LENGTH), ita["swings"]),
        ("previous_high_low", "smc.previous_high_low",
         lambda: smc.previous_high_low(ohlc, time_frame="1D"), ita["previous day"]),
    ]
    for name, peer, fn, ours in peers:
        results.append(Result("detect", f"vs peer: {name}, 1y 1m", ours, peer=peer,
                              peer_seconds=_once(fn), min_ratio=MIN_RATIO.get(name),
                              note="ITA: one of three sessions" if name == "sessions" else ""))
    results.append(Result("detect", "all detectors together, 1y 1m", total, target=0.100))
    five = synthetic_candles(5 * len(year), seed=11)
    _all(five)
    results.append(Result("detect", "all detectors together, 5y 1m", best_of(
        lambda: _all(five), repeat=4), note=f"linear if ~5x the 1y time ({5 * total:.3f} s)"))
    return results
