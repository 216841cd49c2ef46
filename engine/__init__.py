"""ITA's engine: candles, setups, detectors, backtests, jobs. Never imports streamlit."""

__version__ = "0.1.0"
