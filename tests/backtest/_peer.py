"""The SMA(10/30) crossover with a 1 % stop and 2 % target, written for backtesting.py."""

from __future__ import annotations

import warnings

import pandas as pd


def run_backtesting_py(candles: pd.DataFrame, *, fast: int = 10, slow: int = 30,
                       stop_pct: float = 1.0, target_pct: float = 2.0,
                       with_exits: bool = True) -> tuple[pd.DataFrame, pd.Series]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    def sma(values, n):
        return pd.Series(values).rolling(n).mean().to_numpy()

    class SmaCross(Strategy):
        def init(self):
            self.fast = self.I(sma, self.data.Close, fast)
            self.slow = self.I(sma, self.data.Close, slow)

        def next(self):
            if self.position:
                return
            price = self.data.Close[-1]
            if crossover(self.fast, self.slow):
                if with_exits:
                    self.buy(size=1, sl=price * (1 - stop_pct / 100),
                             tp=price * (1 + target_pct / 100))
                else:
                    self.buy(size=1)
            elif crossover(self.slow, self.fast):
                if with_exits:
                    self.sell(size=1, sl=price * (1 + stop_pct / 100),
                              tp=price * (1 - target_pct / 100))
                else:
                    self.sell(size=1)

    data = candles.rename(columns=str.capitalize).set_axis(candles.index.tz_localize(None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(data, SmaCross, cash=1_000_000, commission=0.0, finalize_trades=True)
        stats = bt.run()
    return stats["_trades"], stats
