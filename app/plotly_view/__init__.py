"""A Plotly chart that keeps its price axis fitted while the trader pans and zooms.

`st.plotly_chart` gives Python no hook into the browser's relayout events, and Plotly itself
cannot refit the y axis to the visible x range: after a pan or a wheel zoom the candles left the
axis. `plotly_view` is a small Streamlit custom component (protocol v1, written by hand in
`main.js`, no npm build) that draws the same figure with `Plotly.react` and, after every change of
the x range (pan, zoom, double-click reset) and every render, sets the price axis to the visible
candles' low/high (+6 %; with the focused plan's entry, stop and target while its bars are
visible) and the volume axis to their highest volume, as TradingView does. A pan never reruns
the app: the refit happens in the browser.

Offline: plotly.js is the copy inside the installed `plotly` package. The component's folder
(index.html, main.js, plotly.min.js) is assembled once per plotly version and main.js digest in
the user's cache folder (`$XDG_CACHE_HOME/ita`, else ``~/.cache/ita``), atomically, and served by
Streamlit from there; nothing is fetched from a CDN and no copy of plotly.js is in the repo.

The figure goes over the websocket as Plotly's JSON (numpy arrays as base64) with times written
as ``2023-03-01T00:15`` instead of ``2023-03-01T00:15:00.000000000`` (a third of the bytes of a
chart's times were those zeros) and without Python's default template.

>>> plotly_view(chart.figure, key="setups_chart_view", config=PLOTLY_CONFIG)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from functools import cache
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio
import streamlit.components.v1 as components

SOURCE = Path(__file__).resolve().parent
FILES = ("index.html", "main.js")
_ZEROS = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d)(?::00)?(?:\.0+)?"')
_SECONDS = re.compile(r'"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.0+"')


def cache_root() -> Path:
    """Where generated files live: `$XDG_CACHE_HOME/ita`, else ``~/.cache/ita``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ita"


def _digest() -> str:
    hasher = hashlib.sha256(plotly.__version__.encode())
    for name in FILES:
        hasher.update((SOURCE / name).read_bytes())
    return hasher.hexdigest()[:12]


def _plotly_js() -> Path:
    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def component_folder(root: Path | None = None) -> Path:
    """The folder Streamlit serves the component from, built on first use: index.html and
    main.js from this package, plotly.min.js from the installed plotly. Built in a temporary
    folder beside it and renamed into place, so a crash or a second process never leaves a
    half-built folder."""
    digest = _digest()
    root = cache_root() if root is None else root
    folder = root / f"plotly_view-{plotly.__version__}-{digest}"
    if (folder / "plotly.min.js").exists():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=root))
    try:
        html = (SOURCE / "index.html").read_text(encoding="utf-8")
        html = html.replace("__PLOTLY_VERSION__", plotly.__version__).replace("__DIGEST__",
                                                                               digest)
        (tmp / "index.html").write_text(html, encoding="utf-8")
        shutil.copyfile(SOURCE / "main.js", tmp / "main.js")
        shutil.copyfile(_plotly_js(), tmp / "plotly.min.js")
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "plotly.min.js").exists():  # not a concurrent build: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


@cache
def _folder() -> str:
    return str(component_folder())


def figure_spec(figure: go.Figure | dict) -> dict:
    """The figure as the JSON the component receives: Plotly's encoding (numpy arrays as
    base64), whole-minute times without seconds and nanoseconds, and without Python's default
    template (8 KB; plotly.js' own defaults are TradingView's white)."""
    text = pio.to_json(figure, validate=False)
    text = _ZEROS.sub(r'"\1"', text)
    spec = json.loads(_SECONDS.sub(r'"\1"', text))
    spec.get("layout", {}).pop("template", None)
    return spec


def plotly_view(figure: go.Figure | dict, *, key: str, config: dict | None = None,
                plan: dict | None = None) -> None:
    """Draw `figure` with its y axis refitted to the visible bars on every pan and zoom.

    `plan` (optional): ``{"x0": time, "x1": time, "prices": [entry, stop, target]}`` in the
    chart's own (local) times; while any of [x0, x1] is visible the price axis includes those
    prices. The height is the figure's ``layout.height``.
    """
    spec = figure_spec(figure)
    height = int(spec.get("layout", {}).get("height") or 450)
    # declared on every call: Streamlit registers a component only inside a script run, and
    # every AppTest run has its own registry
    view = components.declare_component("plotly_view", path=_folder())
    view(figure=spec, config=config or {}, height=height, plan=_plain(plan), key=key,
         default=None)


def _plain(plan: dict | None) -> dict | None:
    if plan is None:
        return None
    prices = [float(p) for p in plan["prices"] if p is not None and p == p]
    return {"x0": str(plan["x0"]).replace(" ", "T"), "x1": str(plan["x1"]).replace(" ", "T"),
            "prices": prices}
