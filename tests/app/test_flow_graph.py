"""The visual editor's graph model: lossless round trip, problems explained, validated edits."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app import flow_graph as fg
from engine.setups import parse_setup
from engine.setups.schema import Setup

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_round_trip_losslessly(path) -> None:
    setup = parse_setup(path.read_text())
    assert fg.graph_to_setup(fg.setup_to_graph(setup), base=setup).model_dump() == \
        setup.model_dump()


BLOCKS = st.sampled_from([
    {"detector": "fvg", "direction": "bullish"}, {"detector": "swing", "side": "low"},
    {"detector": "structure", "kind": "bos"}, {"detector": "rsi", "below": 30.0},
    {"detector": "session", "session": "london"},
    {"detector": "sweep", "of": "previous_day", "side": "high"},
    {"detector": "order_block", "event": "retest"}, {"detector": "ma_trend", "period": 20},
])


def trees(names):
    leaf = st.sampled_from(names)
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
        st.builds(lambda xs, n: {"sequence": xs, "within_bars": n},
                  st.lists(inner, min_size=2, max_size=3), st.integers(1, 50))), max_leaves=6)


def _leaves(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [leaf for item in node for leaf in _leaves(item)]
    return [leaf for key, value in node.items() if key != "within_bars"
            for leaf in _leaves(value)]


@st.composite
def setups(draw):
    blocks = draw(st.lists(BLOCKS, min_size=1, max_size=4))
    names = [f"c{i}" for i in range(len(blocks))]
    signal = draw(trees(names))

    assume(set(names) <= set(_leaves(signal)))  # the schema refuses unused conditions
    return Setup.model_validate({
        "id": "generated", "name": "Generated", "market": {"timeframe": "5m"},
        "conditions": dict(zip(names, blocks, strict=True)), "signal": signal,
        "direction": draw(st.sampled_from(["long", "short", "both"])),
        "plan": {"stop": {"percent": draw(st.floats(0.1, 5))},
                 "target": {"r_multiple": draw(st.floats(0.5, 5))}}})


@settings(max_examples=60, deadline=None)
@given(setup=setups())
def test_generated_setups_round_trip_losslessly(setup) -> None:
    graph = fg.setup_to_graph(setup)
    assert fg.validate_graph(graph) == []
    assert fg.graph_to_setup(graph, base=setup).model_dump() == setup.model_dump()


def test_problems_are_explained() -> None:
    setup = parse_setup(EXAMPLES[0].read_text())
    graph = fg.add_condition(fg.setup_to_graph(setup), "fvg")
    messages = [p.message for p in fg.validate_graph(graph)]
    assert any("fvg_1 is not connected" in m for m in messages)
    graph = fg.add_combinator(graph, "not")
    graph.edges.append(fg.Edge("cond:fvg_1", "op:2"))
    graph.edges.append(fg.Edge("op:2", "cond:fvg_1"))
    assert any("cycle" in p.message for p in fg.validate_graph(graph))
    with pytest.raises(ValueError, match="cannot be removed"):
        fg.remove_node(graph, "stop")
    no_stop = fg.setup_to_graph(setup)
    no_stop.nodes = [n for n in no_stop.nodes if n.id != "stop"]
    assert any("no stop node" in p.message for p in fg.validate_graph(no_stop))


def test_edits_are_validated_like_the_yaml(tmp_path) -> None:
    setup = parse_setup(next(p for p in EXAMPLES if p.stem == "london-asia-sweep-fvg")
                        .read_text())
    graph = fg.setup_to_graph(setup)
    with pytest.raises(ValueError, match="min_size_atr: Input should be greater than or equal"):
        fg.update_node(graph, "cond:bull_fvg", {"min_size_atr": -1})
    fg.update_node(graph, "cond:bull_fvg", {"min_size_atr": 0.4})
    assert fg.graph_to_setup(graph, base=setup).conditions["bull_fvg"].min_size_atr == 0.4
    fields = {f.name: f for f in fg.node_form_fields(graph.node("cond:bull_fvg"))}
    assert fields["min_size_atr"].ge == 0 and fields["direction"].choices == (
        "bullish", "bearish", "any")
    fg.save_layout(tmp_path / "v0001.layout.json", graph)
    again = fg.setup_to_graph(setup, layout=fg.load_layout(tmp_path / "v0001.layout.json"))
    assert [n.position for n in again.nodes] == [n.position for n in graph.nodes]
