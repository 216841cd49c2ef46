"""Live: watch the market on every candle close (feeds, evaluation, journal, alerts)."""
