"""Live: watch the market on every candle close and raise the backtest's own signals.

Modules: `feeds` and `mt5_folder` (closed bars from ccxt and the MT5 folder), `evaluate` (the
setups on each new bar), `rank` and `alert` (score, advice, picture, caption), `journal` (the
signal journal and outbox), `outcomes` (what became of each signal, traded alone as the
backtester would), `state` and `demo` (what the pages read).

The contract (docs/ARCHITECTURE.md, "closed bars", "signal journal"): live code sees only
closed bars; each active setup version is evaluated by the same `CompiledSetup` the backtest
uses, on a rolling window long enough for every condition (`CompiledSetup.lookback`), and a
signal is raised once, for the bar that made it known. A live signal (`LiveSignal`,
engine/live/evaluate.py) is a row of the signal contract (engine/signals.py) plus:

| field     | type | meaning                                                           |
| --------- | ---- | ----------------------------------------------------------------- |
| timeframe | str  | the feed's bar length, e.g. "5m"                                   |
| source    | str  | the feed: a ccxt exchange id ("binanceus") or "mt5"                |
| signal_id | str  | ``setup@vN|source:symbol|tf|known_at (UTC, minutes)|side``: unique key |

The property the tests prove: replaying the demo candles bar by bar through the live path
(`replay`) yields exactly the signals of `compile_setup` on the whole data: same bars,
directions, entries, stops and targets (tests/live/test_evaluate_parity.py).
"""

from engine.live.evaluate import LiveEvaluator, LiveSignal, replay, signals_frame

__all__ = ["LiveEvaluator", "LiveSignal", "replay", "signals_frame"]
