"""The Editor's preview: the rule on the canvas now (saved or not) on the sidebar's candles.

What it shows is the rule, not a version: the graph with its applied edits, rebuilt as a setup
(`app.flow_graph.graph_to_setup`). Its chart is cached by the rule's hash (the parsed setup,
not a version's text) and the candles it is drawn on, so

- an edit that changes the rule (Apply, a block wired in, an edge drawn) shows its signals;
- saving the canvas as a new version changes nothing the preview shows: the save reruns only
  the canvas and its panel, and a later page run finds the same chart in the cache;
- a graph that is not a rule yet (a block not connected) has no preview until it is one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from app import flow_graph as fg
from app import state
from app.charts import preview_figure
from engine.adapters.store import CandleStore
from engine.setups.schema import Setup
from engine.setups.store import SetupVersion


def rule_hash(setup: Setup) -> str:
    """What a setup does, as a short hash: equal for the same rule however it was written."""
    return hashlib.sha256(setup.model_dump_json().encode()).hexdigest()[:16]


def canvas_rule(graph: fg.Graph, version: SetupVersion) -> Setup | None:
    """The rule the graph describes (the version's own settings for all the graph does not
    show), or None while the graph has problems (the canvas lists them)."""
    try:
        return fg.graph_to_setup(graph, base=version.setup)
    except ValueError:
        return None


def canvas_rule_hash(graph: fg.Graph, version: SetupVersion) -> str | None:
    rule = canvas_rule(graph, version)
    return None if rule is None else rule_hash(rule)


def preview_chart(rule: Setup, version: SetupVersion, *, symbol: str, start=None,
                  end=None) -> go.Figure:
    """The preview figure of `rule` (the canvas of `version`), built once per rule, candles,
    symbol and range. Shared, not copied: show it, never change it."""
    store = state.candle_store()
    # the candles' stamp (names and modification times of the stored files), as the loaders
    # of app.state key theirs
    stamp = state._stamp(store.root, "*/*/*.parquet")
    stored = version if rule_hash(rule) == rule_hash(version.setup) else None
    return _chart(str(store.root), stamp, rule_hash(rule), symbol, start, end, rule, stored)


@st.cache_resource(show_spinner=False, max_entries=8)
def _chart(candles_root: str, stamp: str, rule_key: str, symbol: str, start, end,
           _rule: Setup, _stored: SetupVersion | None) -> go.Figure:
    if _stored is not None:  # the version as stored: its signals are shared (and warmed up)
        candles, signals, _ = state.signals(_stored, symbol=symbol, start=start, end=end)
    else:
        from engine.pipeline import detect_rule

        candles, signals = detect_rule(_rule, symbol=symbol, start=start, end=end,
                                       candle_store=CandleStore(Path(candles_root)))
    return preview_figure(candles, signals, _rule.market.timeframe,
                          title=f"{_rule.id} as on the canvas")
