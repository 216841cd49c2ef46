"""The chart component's files are built offline from the installed plotly, once, atomically;
the figure it receives is Plotly's JSON with shorter times."""

from __future__ import annotations

import json

import pandas as pd
import plotly
import plotly.graph_objects as go
import plotly.io as pio

from app.plotly_view import _plotly_js, component_folder, figure_spec


def test_the_component_folder_is_built_once_from_the_installed_plotly(tmp_path) -> None:
    folder = component_folder(tmp_path)
    assert folder.parent == tmp_path and plotly.__version__ in folder.name
    assert (folder / "plotly.min.js").read_bytes() == _plotly_js().read_bytes()
    html = (folder / "index.html").read_text()
    assert f"plotly.min.js?v={plotly.__version__}" in html and "__DIGEST__" not in html
    assert "http://" not in html and "https://" not in html  # offline: nothing from a CDN
    assert "streamlit:componentReady" in (folder / "main.js").read_text()
    stamp = (folder / "plotly.min.js").stat().st_mtime_ns
    assert component_folder(tmp_path) == folder  # built once: reused, not rewritten
    assert (folder / "plotly.min.js").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary left over


def test_a_half_built_folder_is_never_used(tmp_path) -> None:
    folder = component_folder(tmp_path)
    (folder / "plotly.min.js").unlink()  # as if a copy had been cut short
    (folder / "main.js").unlink()
    try:
        component_folder(tmp_path)
    except OSError:
        pass  # the folder exists: renaming a new one over it is refused, never half-used
    else:
        raise AssertionError("a folder without plotly.min.js was accepted")


def test_the_figure_spec_writes_times_short_and_keeps_them() -> None:
    times = pd.date_range("2023-03-01", periods=500, freq="15min")
    odd = pd.DatetimeIndex(["2023-03-01 00:00:30"])
    figure = go.Figure([go.Candlestick(x=times, open=times.minute + 1.0, high=times.minute + 2.0,
                                       low=times.minute + 0.5, close=times.minute + 1.5),
                        go.Scatter(x=odd, y=[1.0])],
                       layout={"xaxis": {"range": [times[10], times[20]]}})
    spec = figure_spec(figure)
    assert spec["data"][0]["x"][:2] == ["2023-03-01T00:00", "2023-03-01T00:15"]
    assert spec["data"][1]["x"] == ["2023-03-01T00:00:30"]  # seconds kept when not zero
    assert spec["layout"]["xaxis"]["range"] == ["2023-03-01T02:30", "2023-03-01T05:00"]
    assert pd.DatetimeIndex(spec["data"][0]["x"]).equals(times)
    assert "template" not in spec["layout"]  # plotly.js' defaults: 8 KB less per rerun
    plain = json.dumps(json.loads(pio.to_json(figure, validate=False)))
    assert len(json.dumps(spec)) < 0.8 * len(plain)
