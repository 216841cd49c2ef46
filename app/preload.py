"""What the app warms before a trader needs it, importable without Streamlit: used by the
launcher before the server opens its port (`app.serve`) and by the in-session warm-up
(`app.state.warm_up`), whichever runs first (the second finds the work done)."""

from __future__ import annotations

import pandas as pd

WARM_MODULES = (  # what the pages import at their first use, slowest first (numba, plotly)
    "engine.pipeline", "engine.backtest.run", "plotly.graph_objects", "app.chart_views",
    "engine.backtest.report", "streamlit_flow", "app.flow_graph", "engine.setups.edit",
    "app.research_ui", "app.journal_ui", "app.runs_ui", "engine.backtest.optimise",
    "chromadb", "engine.kb.search", "engine.kb.verified", "app.kb_ui", "app.kb_share",
    "engine.kb.sync", "xgboost", "engine.learn.model", "engine.learn.dataset",
    "engine.learn.explain", "engine.learn.ops", "app.learn_ui",
)
# those the launcher imports before the server starts: no Streamlit, so no component declared
# outside a page's script context (the app's modules and the flow canvas wait for a page)
PRELOAD = tuple(name for name in WARM_MODULES if not name.startswith(("app.", "streamlit")))


def warm_figures() -> None:
    """Plotly loads each trace type's classes and validators at its first use (~0.5 s)."""
    import plotly.graph_objects as go
    import plotly.io

    figure = go.Figure([go.Candlestick(x=[0], open=[1], high=[2], low=[0], close=[1]),
                        go.Scatter(x=[0], y=[1]), go.Bar(x=[0], y=[1]),
                        go.Heatmap(z=[[1]]), go.Histogram(x=[1])])
    figure.add_shape(type="rect", x0=0, x1=1, y0=0, y1=1)
    plotly.io.to_json(figure.to_dict(), validate=False)


def warm_detectors(store) -> None:
    """Each setup's active version run once on a few synthetic candles: numba loads (or
    compiles) the detectors it uses at their first call, ~1 s the Editor's preview would pay."""
    import numpy as np

    from engine.candles import COLUMNS, timeframe_delta
    from engine.setups.compile import compile_setup

    for setup_id in store.ids():
        setup = store.load(setup_id).setup
        bars = 600
        times = pd.date_range("2024-01-01", periods=bars, tz="UTC",
                              freq=timeframe_delta(setup.market.timeframe))
        close = 100 + np.cumsum(np.random.default_rng(0).normal(0, 0.5, bars))
        candles = pd.DataFrame(dict(zip(COLUMNS, (close, close + 0.6, close - 0.6,
                                                  close + 0.1, np.ones(bars)), strict=True)),
                               index=times)
        compile_setup(setup, version=0)(candles, symbol=setup.market.symbols[0])


FLOW_COMPONENT = "streamlit_flow.streamlit_flow"  # the name Streamlit serves it under


def flow_bundle_files() -> list[str]:
    """The flow canvas's static files the browser loads when the Editor first shows it (its
    script is 2.8 MB: ~1-2 s to fetch and parse on a first open): main script and styles,
    from the package's build manifest; empty when the package or its manifest is missing."""
    import importlib.util
    import json
    from pathlib import Path

    spec = importlib.util.find_spec("streamlit_flow")
    if spec is None or spec.origin is None:
        return []
    build = Path(spec.origin).parent / "frontend" / "build"
    try:
        files = json.loads((build / "asset-manifest.json").read_text())["files"]
    except (OSError, ValueError, KeyError):
        return []
    names = [files.get("main.js"), files.get("main.css"), "./bootstrap.min.css"]
    return [name.removeprefix("./") for name in names
            if name and (build / name.removeprefix("./")).is_file()]


def prefetch_flow_bundle() -> None:
    """Load the flow canvas's script once, in an empty zero-height frame drawn last on Home, so
    that the Editor's first open finds it compiled: Streamlit serves component files without a
    validator, so the browser fetches them again either way (~0.2 s from this server), but the
    renderer keeps what it compiled, and compiling the 2.8 MB script cost the first open ~2 s
    (a second open took 0.9 s). The frame is not a component: it talks to no server."""
    import html

    import streamlit.components.v1 as components

    files = flow_bundle_files()
    scripts = "".join(f'<script defer src="component/{FLOW_COMPONENT}/{name}"></script>'
                      for name in files if name.endswith(".js"))
    if scripts:  # one frame further down: the canvas's "ready" reaches this frame, not the app
        inner = html.escape(f'<div id="root" hidden></div>{scripts}', quote=True)
        components.html(f'<iframe hidden srcdoc="{inner}"></iframe>', height=0)
