"""Round-trip edits of a setup's text: what changed is rewritten, every other line (comments,
order, quoting, defaults left out) stays as the trader wrote it."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import flow_graph as fg
from engine.backtest.optimise import save_best_as_version
from engine.errors import SetupError
from engine.setups import apply_parameters, parse_setup
from engine.setups.edit import DELETE, apply_changes, apply_setup
from engine.setups.parse import canonical_json
from engine.setups.store import SetupStore

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "setups").glob("*.yaml"))
TEXTS = {p.stem: p.read_text() for p in EXAMPLES}

THREE = """\
# Three conditions: a trader's notes in comments everywhere.
schema_version: 1
id: three
name: "Three, quoted"
market:
  symbols: [BTC/USDT]
  timeframe: 5m
conditions:
  gap:                 # the entry gap
    detector: fvg
    direction: bullish
  trend:
    detector: ma_trend
    period: 50         # slow on purpose
  calm:
    detector: atr
    max_pct: 2.0
# the signal needs all three
signal:
  all: [gap, trend, calm]
plan:
  entry: {type: limit, level: gap.top}
  stop: {level: gap.bottom, buffer_atr: 0.1}
  target: {r_multiple: 2.0}   # 2R, never less
"""


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) between two texts."""
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0))
    body = [d for d in diff if not d.startswith(("---", "+++", "@@"))]
    return [d[1:] for d in body if d.startswith("-")], [d[1:] for d in body if d.startswith("+")]


def comments(text: str) -> list[str]:
    return [line[line.index("#"):] for line in text.splitlines() if "#" in line]


def test_a_one_number_edit_is_a_one_line_diff_in_the_store(tmp_path) -> None:
    store = SetupStore(tmp_path / "setups")
    first = store.save(TEXTS["london-asia-sweep-fvg"])
    rule = first.setup.model_copy(deep=True)
    rule.conditions["bull_fvg"].min_size_atr = 0.35
    second = store.save(apply_setup(first.text, rule))
    assert second.version == 2
    body = [line for line in store.diff(first.id, 1, 2).splitlines()
            if line[:1] in "+-" and not line.startswith(("---", "+++"))]
    assert body == ["-    min_size_atr: 0.2", "+    min_size_atr: 0.35"]
    assert comments(second.text) == comments(first.text)  # every comment survives
    assert second.setup.conditions["bull_fvg"].min_size_atr == 0.35


def test_a_field_left_at_its_default_is_added_on_one_line_and_switched_off_by_removing_it():
    setup = parse_setup(THREE)
    rule = setup.model_copy(deep=True)
    rule.conditions["calm"].min_pct = 0.1  # not in the text: its default is None (off)
    text = apply_setup(THREE, rule)
    assert changed_lines(THREE, text) == ([], ["    min_pct: 0.1"])
    rule.conditions["calm"].max_pct = None  # switched off: its line goes
    removed, added = changed_lines(text, apply_setup(text, rule))
    assert (removed, added) == (["    max_pct: 2.0"], [])


def test_adding_a_condition_keeps_every_other_line() -> None:
    setup = parse_setup(THREE)
    graph = fg.setup_to_graph(setup)
    fg.add_condition(graph, "rsi", name="momentum")
    fg.update_node(graph, "cond:momentum", {"below": 70.0})
    graph.edges.append(fg.Edge("cond:momentum", "op:1", order=4))
    text = apply_setup(THREE, fg.graph_to_setup(graph, base=setup))
    removed, added = changed_lines(THREE, text)
    assert removed == ["  all: [gap, trend, calm]"]
    assert added == ["  momentum:", "    detector: rsi", "    below: 70.0",
                     "  all: [gap, trend, calm, momentum]"]
    assert comments(text) == comments(THREE)
    assert parse_setup(text).conditions["momentum"].below == 70.0


def test_removing_a_condition_keeps_every_other_line_and_the_comment_after_it() -> None:
    setup = parse_setup(THREE)
    graph = fg.remove_node(fg.setup_to_graph(setup), "cond:calm")
    text = apply_setup(THREE, fg.graph_to_setup(graph, base=setup))
    removed, added = changed_lines(THREE, text)
    assert removed == ["  calm:", "    detector: atr", "    max_pct: 2.0",
                       "  all: [gap, trend, calm]"]
    assert added == ["  all: [gap, trend]"]
    assert "# the signal needs all three\nsignal:" in text  # the next section's note stays


def test_a_rebuilt_signal_tree_changes_only_the_signal() -> None:
    setup = parse_setup(THREE)
    rule = setup.model_copy(update={"signal": parse_setup(THREE.replace(
        "all: [gap, trend, calm]", "sequence: [trend, gap, calm]\n  within_bars: 12")).signal})
    text = apply_setup(THREE, rule)
    removed, added = changed_lines(THREE, text)
    assert removed == ["  all: [gap, trend, calm]"]
    assert added == ["  sequence: [trend, gap, calm]", "  within_bars: 12"]


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_applying_a_texts_own_rule_changes_nothing(name) -> None:
    text = TEXTS[name]
    setup = parse_setup(text)
    assert apply_setup(text, setup) == text
    graph_rule = fg.graph_to_setup(fg.setup_to_graph(setup), base=setup)
    assert apply_setup(text, graph_rule) == text


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(TEXTS)), pick=st.integers(0, 100))
def test_applying_a_nodes_own_values_changes_nothing(name, pick) -> None:
    """What the side panel shows for a node, applied unchanged, leaves the text as it was."""
    text = TEXTS[name]
    setup = parse_setup(text)
    graph = fg.setup_to_graph(setup)
    node = graph.nodes[pick % len(graph.nodes)]
    fg.update_node(graph, node.id, {f.name: f.default for f in fg.node_form_fields(node)})
    assert apply_setup(text, fg.graph_to_setup(graph, base=setup)) == text


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(TEXTS)), pick=st.integers(0, 100), step=st.integers(1, 3))
def test_one_optimised_value_is_one_line(name, pick, step) -> None:
    text = TEXTS[name]
    setup = parse_setup(text)
    path = sorted(setup.optimise)[pick % len(setup.optimise)]
    space = setup.optimise[path]
    value = space.low + step * (space.step or 0.25)
    best = apply_parameters(setup, {path: min(value, space.high)})
    edited = apply_setup(text, best)
    assert canonical_json(parse_setup(edited)) == canonical_json(best)
    removed, added = changed_lines(text, edited)
    if canonical_json(best) != canonical_json(setup):
        assert len(removed) <= 1 and len(added) == 1
    assert comments(edited) == comments(text)


def test_save_best_as_version_edits_the_stored_text(tmp_path) -> None:
    store = SetupStore(tmp_path / "setups")
    first = store.save(TEXTS["sma-cross"])
    saved = save_best_as_version(store, first.setup, {"conditions.cross.fast": 15,
                                                      "conditions.cross.slow": 40})
    assert saved.version == 2
    removed, added = changed_lines(first.text, saved.text)
    assert removed == ["    fast: 10", "    slow: 30"]
    assert added == ["    fast: 15", "    slow: 40"]
    again = save_best_as_version(store, saved, {"conditions.cross.fast": 20})  # a version
    assert changed_lines(saved.text, again.text) == (["    fast: 15"], ["    fast: 20"])


def test_apply_changes_sets_adds_and_deletes_by_path() -> None:
    text = apply_changes(THREE, {"plan.target.r_multiple": 3.0,
                                 ("conditions", "trend", "kind"): "sma",
                                 "plan.stop.buffer_atr": DELETE, "plan.nothing": DELETE})
    removed, added = changed_lines(THREE, text)
    assert removed == ["  stop: {level: gap.bottom, buffer_atr: 0.1}",
                       "  target: {r_multiple: 2.0}   # 2R, never less"]
    assert added == ["    kind: sma", "  stop: {level: gap.bottom}",
                     "  target: {r_multiple: 3.0}   # 2R, never less"]
    assert apply_changes(THREE, {"name": "Three, renamed"}).count('"Three, renamed"') == 1
    with pytest.raises(SetupError, match="market.timeframe holds a value"):
        apply_changes(THREE, {"market.timeframe.x": 1})
    with pytest.raises(SetupError, match=r"x.yaml:\d+: not valid YAML"):
        apply_changes("a: [1\n", {"a": 2}, source="x.yaml")


def test_lines_ruamel_would_render_differently_are_kept_as_written() -> None:
    odd = THREE.replace("  symbols: [BTC/USDT]", "  symbols:\n  - BTC/USDT\n  - ETH/USDT") \
        .replace("signal:\n  all: [gap, trend, calm]", "signal:   {all: [gap,   trend, calm]}")
    setup = parse_setup(odd)
    rule = setup.model_copy(deep=True)
    rule.plan.target.r_multiple = 2.5
    text = apply_setup(odd, rule)
    assert changed_lines(odd, text) == (["  target: {r_multiple: 2.0}   # 2R, never less"],
                                        ["  target: {r_multiple: 2.5}   # 2R, never less"])
