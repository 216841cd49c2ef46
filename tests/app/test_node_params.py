"""The editor's node parameters are what the YAML declares: a default the file leaves out is
shown as a default (not as a value of the file), and applying the panel unchanged or saving
never writes it."""

from __future__ import annotations

from pathlib import Path

import app.flow_graph as fg
from engine.setups.edit import apply_setup
from engine.setups.parse import parse_setup

SMA = Path(__file__).resolve().parents[2] / "examples" / "setups" / "sma-cross.yaml"


def graph_of(text: str):
    return fg.setup_to_graph(parse_setup(text))


def panel_values(node) -> dict:
    """What the side panel hands back when nothing is touched: every field's shown value."""
    return {spec.name: spec.default for spec in fg.node_form_fields(node)}


def test_stop_node_shows_only_declared_params_and_the_rest_as_defaults() -> None:
    text = SMA.read_text()
    assert "stop: {percent: 1.0}" in text
    stop = graph_of(text).node("stop")
    assert stop.data == {"percent": 1.0}
    assert "buffer_pct" not in stop.label and "percent = 1.0" in stop.label
    specs = {s.name: s for s in fg.node_form_fields(stop)}
    assert specs["percent"].declared and specs["percent"].default == 1.0
    assert not specs["buffer_pct"].declared and specs["buffer_pct"].default == 0.0
    assert not specs["min_atr"].declared and specs["min_atr"].default is None


def test_applying_the_panel_unchanged_keeps_defaults_out_and_the_text_identical() -> None:
    text = SMA.read_text()
    graph = graph_of(text)
    fg.update_node(graph, "stop", panel_values(graph.node("stop")))
    assert graph.node("stop").data == {"percent": 1.0}
    cond = next(n for n in graph.nodes if n.kind == "condition")
    declared = dict(cond.data["block"])
    fg.update_node(graph, cond.id, panel_values(cond))
    assert cond.data["block"] == declared
    rule = fg.graph_to_setup(graph, base=parse_setup(text))
    assert apply_setup(text, rule) == text


def test_changing_a_default_writes_that_one_field() -> None:
    text = SMA.read_text()
    graph = graph_of(text)
    fg.update_node(graph, "stop", {**panel_values(graph.node("stop")), "buffer_pct": 0.1})
    assert graph.node("stop").data == {"percent": 1.0, "buffer_pct": 0.1}
    assert "buffer_pct = 0.1" in graph.node("stop").label
    saved = apply_setup(text, fg.graph_to_setup(graph, base=parse_setup(text)))
    changed = [line for line in saved.splitlines() if line not in text.splitlines()]
    assert changed == ["  stop: {percent: 1.0, buffer_pct: 0.1}"]
