"""Editor: a setup as a node graph. Click a node (or pick it in the list) to edit its
parameters in the side panel; add blocks from the palette; draw edges on the canvas; save a new
version. The canvas shows structure; parameters are edited beside it (the component's nodes
hold no widgets).

The preview below shows the rule on the canvas now, saved or not (`app.editor_preview`): an
edit that changes the rule reruns the page and shows its signals; a save does not change the
rule, so it reruns only the canvas and its panel (a fragment), and the chart stays as it is."""

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit_flow import streamlit_flow
from streamlit_flow.elements import StreamlitFlowEdge, StreamlitFlowNode
from streamlit_flow.state import StreamlitFlowState

from app import editor_preview as preview
from app import flow_graph as fg
from app import state
from app.ui import sidebar, stop_if_empty, user_errors
from engine.errors import ItaError
from engine.setups.edit import apply_setup
from engine.setups.schema import DETECTOR_BLOCKS
from engine.setups.store import text_hash

choice = sidebar(state.series(), timeframe=False)  # each setup fixes its timeframe
st.title("Visual editor")
store = state.setup_store()
ids = store.ids()
stop_if_empty(ids, "No setups yet: run `ita demo` to add the examples.")
setup_id = st.selectbox("Setup", ids, key="editor_setup")
version = state.setup_version(setup_id)  # the active one


def graph_key(setup_id: str, number: int) -> str:
    """Where the session keeps the graph of a setup version (with its unsaved edits)."""
    return f"editor_graph_{setup_id}_{number}"


key = graph_key(setup_id, version.version)
if key not in st.session_state:
    layout = fg.load_layout(store.layout_path(setup_id, version.version))
    st.session_state[key] = fg.setup_to_graph(version.setup, layout=layout)
    st.session_state.pop("editor_shown", None)
if st.session_state.get("editor_shown") != key:  # another graph than the last run's
    st.session_state["editor_shown"] = key
    # a new canvas and new fields; a revision never used before in this session, so that no
    # widget keeps the value it had for another setup's node of the same name
    st.session_state["editor_rev"] = st.session_state.get("editor_rev", 0) + 1
# the rule the preview at the bottom shows in this run; the graph editor reruns the whole page
# when its graph comes to describe another one
st.session_state["editor_preview_rule"] = preview.canvas_rule_hash(st.session_state[key],
                                                                   version)


ACCENT = {"condition": "#2563eb", "combinator": "#7c3aed", "signal": "#0f766e",
          "entry": "#0f766e", "stop": "#dc2626", "target": "#16a34a"}


def node_style(kind: str) -> dict:
    return {"width": 240, "fontSize": 12, "textAlign": "left", "padding": "6px 10px",
            "borderRadius": 6, "border": f"2px solid {ACCENT[kind]}"}


def to_flow(graph: fg.Graph) -> StreamlitFlowState:
    nodes = [StreamlitFlowNode(n.id, n.position, {"content": n.label},
                               node_type="output" if n.id == "target" else "default",
                               source_position="right", target_position="left",
                               connectable=True, selectable=True, style=node_style(n.kind))
             for n in graph.nodes]
    edges = [StreamlitFlowEdge(e.id, e.source, e.target, edge_type="smoothstep", label=e.label,
                               animated=e.reference,
                               marker_end={"type": "arrowclosed"},
                               style={"strokeDasharray": "5 5"} if e.reference else {})
             for e in graph.edges]
    return StreamlitFlowState(nodes, edges)


def save_graph(setup_id: str, number: int) -> None:
    """Save's callback, run before the graph editor reruns (which then shows the saved version
    as the active one): the canvas's rule as an edit of the text of the version it shows
    (only changed lines differ), even if another one was made active meanwhile. The outcome is
    kept as a notice with the graph it belongs to."""
    version = state.setup_version(setup_id, number)
    key = graph_key(setup_id, number)
    graph, rev = st.session_state[key], st.session_state["editor_rev"]
    try:
        text = apply_setup(version.text, fg.graph_to_setup(graph, base=version.setup),
                           source=str(version.path))
        if text_hash(text) == version.hash:  # the text, not a version number, says "no change"
            st.session_state["editor_notice"] = (
                key, rev, "success", f"No change: v{version.version} already holds this rule.")
            return
        newest = max(state.version_numbers(setup_id))
        saved = store.save(text, source=f"{setup_id} (editor)")
        fg.save_layout(store.layout_path(setup_id, saved.version), graph)
    except (ValueError, ItaError) as error:
        st.session_state["editor_notice"] = (key, rev, "error",
                                             "  \n".join(str(error).splitlines()))
        return
    # the saved version is this very graph: it moves to the version's key and stays on the
    # canvas, which neither remounts nor reports back (the old version reloads from its file
    # if it is ever shown again)
    saved_key = graph_key(setup_id, saved.version)
    st.session_state.pop(key, None)
    st.session_state[saved_key] = graph
    st.session_state["editor_shown"] = saved_key
    message = (f"Saved {saved.id} v{saved.version}." if saved.version > newest else
               f"v{saved.version} already holds this rule: it is the active version now.")
    st.session_state["editor_notice"] = (saved_key, rev, "success", message)


def show_canvas(graph: fg.Graph) -> list:
    """The canvas; takes in what it reports (moves, edges drawn, the node clicked) and returns
    the graph's problems."""
    # The canvas gets the same state on every rerun until the graph changes (a new key then
    # remounts it): a state with a newer timestamp than the canvas's own makes it reload and
    # report back, which reruns the page — forever. What the canvas reports (moves, edges drawn,
    # the node clicked) is read from its return value and never handed back to it. The key
    # changes with the revision only (the panel changed the graph, or another setup or version
    # is shown), not with a save: the saved graph stays mounted, and a save reruns only the
    # graph editor.
    flow_key = f"editor_flow_{setup_id}_{st.session_state['editor_rev']}"
    if st.session_state.get("editor_flow_key") != flow_key:
        st.session_state["editor_flow_key"] = flow_key
        st.session_state["editor_flow"] = to_flow(graph)
    flow = streamlit_flow(flow_key, st.session_state["editor_flow"], height=560, fit_view=True,
                          min_zoom=0.2, allow_new_edges=True, get_node_on_click=True,
                          show_minimap=False)
    fg.merge_canvas(graph, {n.id: (n.position["x"], n.position["y"]) for n in flow.nodes},
                    [(e.source, e.target) for e in flow.edges])
    clicked = fg.clicked_node(graph, flow.selected_id, (flow_key, flow.timestamp),
                              st.session_state.get("editor_click"))
    if clicked:  # set before the selector below exists: the side panel shows it in this run
        st.session_state["editor_click"] = (flow_key, flow.timestamp)
        st.session_state["editor_node"] = clicked
    problems = fg.validate_graph(graph)
    for problem in problems:
        st.warning(problem.message)
    return problems


def node_fields(node, node_id: str) -> tuple[dict, list[str]]:
    """The node's parameters as widgets: the values entered and the typos found."""
    values, typos = {}, []
    specs = fg.node_form_fields(node)
    unset = [spec for spec in specs if not spec.declared]
    defaults = None  # the fields the YAML declares first, then its defaults in an expander
    for spec in [s for s in specs if s.declared] + unset:
        wkey = f"editor_field_{node_id}_{spec.name}_{st.session_state['editor_rev']}"
        if not spec.declared and defaults is None:
            defaults = st.expander(f"Defaults: {len(unset)} fields the YAML leaves out "
                                   "(change one to write it)")
        where = st if spec.declared else defaults
        about = spec.description if spec.declared else (
            f"{spec.description} — not in the YAML: the default "
            f"{'off' if spec.default is None else spec.default} applies")
        if spec.type == "choice":
            options = list(spec.choices)
            values[spec.name] = where.selectbox(spec.name, options, help=about, key=wkey,
                                                index=options.index(spec.default)
                                                if spec.default in options else 0)
        elif spec.type == "bool":
            values[spec.name] = where.checkbox(spec.name, bool(spec.default), help=about,
                                               key=wkey)
        elif spec.type in ("number", "integer"):
            is_int = spec.type == "integer"
            if spec.default is None:
                raw = where.text_input(spec.name, "", help=about + " (empty = off)", key=wkey)
                try:
                    values[spec.name] = fg.parse_number(raw, spec)
                except ValueError as error:
                    typos.append(str(error))
            else:
                values[spec.name] = where.number_input(
                    spec.name, value=int(spec.default) if is_int else float(spec.default),
                    step=1 if is_int else 0.05, help=about, key=wkey,
                    format=None if is_int else "%.4f")
        else:
            raw = where.text_input(spec.name, "" if spec.default is None else str(spec.default),
                                   help=about, key=wkey)
            values[spec.name] = raw or None
    return values, typos


def changed(graph: fg.Graph, version) -> None:
    """The graph changed: new widgets and a new canvas. The whole page reruns when the rule
    changed (the preview shows it), else only this fragment."""
    st.session_state["editor_rev"] += 1
    if preview.canvas_rule_hash(graph, version) != st.session_state.get("editor_preview_rule"):
        st.rerun()
    try:
        st.rerun(scope="fragment")
    except StreamlitAPIException:  # the fragment ran as part of the whole page (its first run)
        st.rerun()


def palette(graph: fg.Graph, node_id: str, version) -> None:
    st.markdown("**Palette**")
    kind = st.selectbox("Add a block", list(DETECTOR_BLOCKS) + [f"combinator:{c}" for c in
                                                                fg.COMBINATORS],
                        key="editor_palette")
    c1, c2 = st.columns(2)
    if c1.button("Add", key="editor_add"):
        if kind.startswith("combinator:"):
            fg.add_combinator(graph, kind.split(":")[1])
        else:
            fg.add_condition(graph, kind)
        changed(graph, version)
    if c2.button("Delete node", key="editor_delete"):
        try:
            fg.remove_node(graph, node_id)
            changed(graph, version)
        except ValueError as error:
            st.error(str(error))
    with st.expander("Edges (remove one drawn by mistake)"):
        edge_ids = [e.id for e in graph.edges]
        gone = st.selectbox("Edge", edge_ids, key="editor_edge") if edge_ids else None
        if gone and st.button("Remove edge", key="editor_edge_remove"):
            graph.edges = [e for e in graph.edges if e.id != gone]
            changed(graph, version)


def show_panel(graph: fg.Graph, problems: list, version, key: str) -> None:
    node_ids = [n.id for n in graph.nodes]
    if st.session_state.get("editor_node") not in node_ids:
        st.session_state.pop("editor_node", None)  # another setup, or a node deleted
    node_id = st.selectbox("Node", node_ids, key="editor_node",
                           help="Or click a node on the canvas")
    values, typos = node_fields(graph.node(node_id), node_id)
    for typo in typos:
        st.error(typo)
    if st.button("Apply", key="editor_apply", disabled=bool(typos)):
        try:
            fg.update_node(graph, node_id, values)
            changed(graph, version)
        except ValueError as error:
            st.error(str(error))
    palette(graph, node_id, version)

    # the last save's outcome stays on screen until the graph changes again
    notice = st.session_state.get("editor_notice")
    if notice and notice[:2] == (key, st.session_state["editor_rev"]):
        (st.success if notice[2] == "success" else st.error)(notice[3])
    st.button("Save as new version", type="primary", key="editor_save",
              disabled=bool(problems), on_click=save_graph,
              args=(version.id, version.version))


def version_label(graph: fg.Graph, version, rule: str | None) -> str:
    """Which version the canvas holds, and whether it holds edits not saved yet."""
    count = len(state.version_numbers(version.id))
    label = (f"Editing {version.id} v{version.version} (active; {count} "
             f"version{'s' if count > 1 else ''})")
    if rule is None:
        return label + " · unsaved edits, not a complete rule yet (see the warnings)"
    return label + (" · unsaved edits: the preview shows them"
                    if rule != preview.rule_hash(version.setup) else "")


@st.fragment
def graph_editor(setup_id: str) -> None:
    """The version label, the canvas and the side panel. A fragment: a click on a node, a
    field, Save, and an edit that keeps the rule rerun only this part; an edit of the rule
    reruns the page, whose preview shows the rule on the canvas."""
    version = state.setup_version(setup_id)  # the active one: after a save, the saved one
    key = graph_key(setup_id, version.version)
    if key not in st.session_state:  # another version made active elsewhere (Setups, CLI)
        st.rerun()
    graph: fg.Graph = st.session_state[key]
    label = st.empty()
    canvas, panel = st.columns([3, 2])
    with canvas:
        problems = show_canvas(graph)
    rule = preview.canvas_rule_hash(graph, version)
    if rule != st.session_state.get("editor_preview_rule"):
        st.rerun()  # an edge drawn on the canvas changed the rule: the preview shows it
    label.caption(version_label(graph, version, rule))
    with panel:
        show_panel(graph, problems, version, key)


graph_editor(setup_id)

st.subheader("Preview")
rule = preview.canvas_rule(st.session_state[key], version)
if rule is None:
    st.info("The preview shows the rule once the graph on the canvas is complete: see the "
            "warnings above.")
else:
    with user_errors():
        st.plotly_chart(preview.preview_chart(rule, version, symbol=choice["symbol"],
                                              start=choice["start"], end=choice["end"]),
                        key="editor_preview_chart")
