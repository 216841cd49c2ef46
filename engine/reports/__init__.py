"""Reports a trader reads outside the app: one implementation for files, Notion, Telegram and the
app (issue 14).

- `period` — `TradeReport`: a run, or a setup version over a period (its latest backtest run's
  trades in that period), with the headline numbers of `engine.backtest.metrics` (the same
  formulas, never a second copy), breakdowns by session, weekday and month, equity and
  R-histogram PNGs and the **random-sample check** (N seeded random trades, the seed shown,
  each with its entry and exit times and prices and a chart PNG).
- `live` — the live journal's numbers per setup version over a period: signals, taken,
  outcomes, R.
- `drift` — `PeriodReport`: per setup version, backtest and live side by side, the drift (live
  expectancy − backtest expectancy) and a plain sentence when live is worse by more than
  noise; CSV and self-contained HTML, written atomically.
- `images` — the PNGs (matplotlib Agg, a `Figure` of its own: safe in threads).
- `weekly` — the Monday summary for Telegram (HTML, split at 4,096 characters) and
  `next_weekly_due`, with the last send persisted so a restart never sends twice.

Every R here is net unless a name says gross. A backtest's expectancy is the money-weighted
``expectancy_r_net`` of `engine.backtest.metrics`; a live expectancy is the plain mean of the
recorded ``outcome_r`` of the taken trades (each risks the same account share).
"""
