"""Backtesting: simulation (numba), metrics and breakdowns, run folders, reports."""
