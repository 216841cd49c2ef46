"""Setup <-> node graph for the visual editor (no Streamlit here; the page draws it).

Nodes: one per condition block (``cond:<name>``), one per combinator (``op:<n>``: all, any,
not, sequence), the ``signal`` node, and the plan elements ``entry``, ``stop``, ``target``.
Edges point from a child to its parent: condition -> combinator -> ... -> signal -> entry ->
stop -> target. A sequence's steps are ordered by their edge label (1, 2, ...). Plan levels
that reference a condition (``stop: sweep.extreme``) are drawn as dashed edges from that
condition. Node parameters live in ``Node.data``; the rule is rebuilt from nodes and edges, so
an edge drawn by hand changes the rule.

A node's data holds the parameters the YAML declares (and those the trader changed), never
the schema's defaults: the node box lists what the file says, the side panel shows the other
fields as defaults (`FieldSpec.declared`), and saving writes no default the file left out.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pydantic import ValidationError

from engine._io import write_text_atomic
from engine.setups import schema

PLAN_NODES = ("signal", "entry", "stop", "target")
COMBINATORS = ("all", "any", "not", "sequence")
COLUMN_GAP, ROW_GAP = 300.0, 40.0  # automatic layout, canvas pixels (nodes are 240 wide)


@dataclasses.dataclass
class Node:
    id: str
    kind: str  # condition | combinator | signal | entry | stop | target
    data: dict
    position: tuple[float, float] = (0.0, 0.0)

    @property
    def label(self) -> str:
        """Markdown for the node box: a bold title, then one parameter per line."""
        if self.kind == "condition":
            block = self.data["block"]
            return _lines(f"**{self.data['name']}** · *{block['detector']}*",
                          {k: v for k, v in block.items() if k != "detector"})
        if self.kind == "combinator":
            op = self.data["op"]
            return f"**{op.upper()}**" + (f" within {self.data['within_bars']} bars"
                                          if op == "sequence" else "")
        if self.kind == "signal":
            return f"**SIGNAL** · {self.data.get('direction', 'both')}"
        return _lines(f"**{self.kind.upper()}**", self.data)


def _lines(title: str, params: dict) -> str:
    shown = [f"{k} = {v}" for k, v in params.items() if v is not None]
    return "  \n".join([title, *shown])


@dataclasses.dataclass
class Edge:
    source: str
    target: str
    label: str = ""
    reference: bool = False  # a plan level reference (drawn dashed, not part of the tree)
    order: int = 0  # position among the target's inputs (all/any/sequence keep their order)

    @property
    def id(self) -> str:
        return f"{self.source}->{self.target}:{self.order}"


@dataclasses.dataclass
class Graph:
    nodes: list[Node]
    edges: list[Edge]

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)


@dataclasses.dataclass(frozen=True)
class Problem:
    node_id: str | None
    message: str


# --- setup -> graph -----------------------------------------------------------------------

def setup_to_graph(setup: schema.Setup, *, layout: dict | None = None) -> Graph:
    nodes, edges = [], []
    for name, block in setup.conditions.items():
        nodes.append(Node(f"cond:{name}", "condition",
                          {"name": name, "block": _declared(block)}))
    counter = [0]

    def add(node) -> str:
        if isinstance(node, str):
            return f"cond:{node}"
        counter[0] += 1
        node_id = f"op:{counter[0]}"
        if isinstance(node, schema.Sequence):
            nodes.append(Node(node_id, "combinator", {"op": "sequence",
                                                      "within_bars": node.within_bars}))
            for step, child in enumerate(node.sequence, start=1):
                edges.append(Edge(add(child), node_id, label=str(step), order=step))
            return node_id
        op, children = ("all", node.all_) if isinstance(node, schema.AllOf) else (
            ("any", node.any_) if isinstance(node, schema.AnyOf) else ("not", [node.not_]))
        nodes.append(Node(node_id, "combinator", {"op": op}))
        for position, child in enumerate(children, start=1):
            edges.append(Edge(add(child), node_id, order=position))
        return node_id

    edges.append(Edge(add(setup.signal), "signal"))
    plan = setup.plan
    nodes += [
        Node("signal", "signal", {"direction": setup.direction}),
        Node("entry", "entry", _declared(plan.entry)),
        Node("stop", "stop", _declared(plan.stop)),
        Node("target", "target", _declared(plan.target)),
    ]
    edges += [Edge("signal", "entry"), Edge("entry", "stop"), Edge("stop", "target")]
    for element in ("entry", "stop", "target"):
        ref = getattr(plan, element).level
        if ref:
            edges.append(Edge(f"cond:{ref.split('.')[0]}", element, label=ref.split(".")[1],
                              reference=True))
    graph = Graph(nodes, edges)
    _place(graph, layout or {})
    return graph


def _declared(model) -> dict:
    """A block's or plan element's parameters as the YAML declares them (no defaults)."""
    return model.model_dump(mode="json", exclude_unset=True)


def _place(graph: Graph, layout: dict) -> None:
    """Saved positions where known, else a deterministic layered layout (left to right)."""
    depth: dict[str, int] = {}
    plan = {n.id for n in graph.nodes if n.kind in PLAN_NODES}
    parents = {e.source: e.target for e in graph.edges  # first parent inside the rule tree
               if not e.reference and e.target not in plan}

    def level(node_id: str, seen=()) -> int:
        if node_id in depth:
            return depth[node_id]
        parent = parents.get(node_id)
        value = 0 if parent is None or parent in seen else level(parent, seen + (node_id,)) + 1
        depth[node_id] = value
        return value

    tree_nodes = [n for n in graph.nodes if n.kind not in PLAN_NODES]
    max_depth = max((level(n.id) for n in tree_nodes), default=0)
    column_of = {n.id: max_depth - level(n.id) for n in tree_nodes}
    # the plan reads top to bottom to the right of the rule
    plan_nodes = sorted((n for n in graph.nodes if n.kind in PLAN_NODES),
                        key=lambda n: PLAN_NODES.index(n.kind))
    column_of.update({n.id: max_depth + 1 for n in plan_nodes})
    next_y: dict[int, float] = {}
    for node in tree_nodes + plan_nodes:  # stacked by their height, so tall nodes never overlap
        column = column_of[node.id]
        y = next_y.get(column, 0.0)
        next_y[column] = y + _height(node) + ROW_GAP
        node.position = tuple(layout.get(node.id, (column * COLUMN_GAP, y)))


def _height(node: Node) -> float:
    """Rough rendered height of a node box in canvas pixels (one line per parameter)."""
    return 26.0 + 17.0 * (node.label.count("\n") + 1)


# --- graph -> setup -----------------------------------------------------------------------

def validate_graph(graph: Graph) -> list[Problem]:
    """Every problem that stops the graph from becoming a setup, each naming its node."""
    tree = [e for e in graph.edges if not e.reference]
    problems = _shape_problems(graph) + _connection_problems(graph, tree)
    problems += [p for node in graph.nodes if node.kind == "combinator"
                 for p in _combinator_problems(node, tree)]
    if not [e for e in tree if e.target == "signal"]:
        problems.append(Problem("signal", "nothing feeds the signal"))
    if _has_cycle(tree):
        problems.append(Problem(None, "the graph has a cycle"))
    return problems


def _shape_problems(graph: Graph) -> list[Problem]:
    ids = {n.id for n in graph.nodes}
    problems = [Problem(None, f"the graph has no {kind} node")
                for kind in PLAN_NODES if kind not in ids]
    problems += [Problem(None, f"edge {edge.id} points at a missing node")
                 for edge in graph.edges if edge.source not in ids or edge.target not in ids]
    return problems


def _connection_problems(graph: Graph, tree: list[Edge]) -> list[Problem]:
    outgoing: dict[str, list[str]] = {}
    for e in tree:
        outgoing.setdefault(e.source, []).append(e.target)
    referenced = {e.source for e in graph.edges if e.reference}
    problems = []
    for node in graph.nodes:
        if node.kind in ("condition", "combinator") and node.id not in outgoing \
                and node.id not in referenced:
            problems.append(Problem(node.id, f"{node.id} is not connected to anything: "
                                             "connect it or delete it"))
        if len(outgoing.get(node.id, [])) > 1 and node.kind == "combinator":
            problems.append(Problem(node.id, f"{node.id} feeds more than one node"))
    return problems


def _combinator_problems(node: Node, tree: list[Edge]) -> list[Problem]:
    inputs = [e for e in tree if e.target == node.id]
    op = node.data["op"]
    if op == "not" and len(inputs) != 1:
        return [Problem(node.id, "NOT takes exactly one input")]
    if op == "sequence" and len(inputs) < 2:
        return [Problem(node.id, "a sequence needs at least two steps")]
    if op in ("all", "any") and not inputs:
        return [Problem(node.id, f"{op.upper()} has no inputs")]
    return []


def _has_cycle(edges: list[Edge]) -> bool:
    parent = {}
    for e in edges:
        parent.setdefault(e.source, []).append(e.target)
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        if state.get(node) == 1:
            return True
        if state.get(node) == 2:
            return False
        state[node] = 1
        if any(visit(n) for n in parent.get(node, [])):
            return True
        state[node] = 2
        return False

    return any(visit(n) for n in list(parent))


def graph_to_setup(graph: Graph, *, base: schema.Setup) -> schema.Setup:
    """Rebuild the rule; raises ValueError listing the graph's problems."""
    problems = validate_graph(graph)
    if problems:
        raise ValueError("; ".join(p.message for p in problems))
    tree = [e for e in graph.edges if not e.reference]

    def build(node_id: str):
        node = graph.node(node_id)
        if node.kind == "condition":
            return node.data["name"]
        inputs = [e for e in tree if e.target == node_id]
        op = node.data["op"]
        inputs.sort(key=lambda e: e.order)
        if op == "sequence":
            return {"sequence": [build(e.source) for e in inputs],
                    "within_bars": node.data["within_bars"]}
        children = [build(e.source) for e in inputs]
        return {"not": children[0]} if op == "not" else {op: children}

    root = next(e.source for e in tree if e.target == "signal")
    data = base.model_dump(mode="json", by_alias=True)
    data["conditions"] = {n.data["name"]: n.data["block"] for n in graph.nodes
                          if n.kind == "condition"}
    data["signal"] = build(root)
    data["direction"] = graph.node("signal").data.get("direction", base.direction)
    for element in ("entry", "stop", "target"):
        data["plan"][element] = graph.node(element).data
    return schema.Setup.model_validate(data)


# --- editing ------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str  # number | integer | bool | choice | text
    description: str
    default: object  # the value the field has now (declared, else the schema's default)
    choices: tuple = ()
    ge: float | None = None
    le: float | None = None
    declared: bool = True  # False: the YAML leaves it out and the schema's default applies


def node_form_fields(node: Node) -> list[FieldSpec]:
    """Form fields for the side panel, from the schema's descriptions and limits."""
    if node.kind == "condition":
        model = schema.DETECTOR_BLOCKS[node.data["block"]["detector"]]
        values = node.data["block"]
    elif node.kind in ("entry", "stop", "target"):
        model = {"entry": schema.Entry, "stop": schema.Stop, "target": schema.Target}[node.kind]
        values = node.data
    elif node.kind == "combinator" and node.data["op"] == "sequence":
        return [FieldSpec("within_bars", "integer", "Bars from the first to the last step",
                          node.data["within_bars"], ge=1, le=10_000)]
    elif node.kind == "signal":
        return [FieldSpec("direction", "choice", "long, short or both", node.data["direction"],
                          choices=("long", "short", "both"))]
    else:
        return []
    return [_spec(name, field, values[name]) if name in values else
            dataclasses.replace(_spec(name, field, _schema_default(field)), declared=False)
            for name, field in model.model_fields.items() if name != "detector"]


def _schema_default(field):
    default = field.get_default(call_default_factory=True)
    return default.model_dump(mode="json") if hasattr(default, "model_dump") else default


def _spec(name: str, field, value) -> FieldSpec:
    annotation = field.annotation
    args = getattr(annotation, "__args__", ())
    limits = {type(m).__name__: m for m in field.metadata}
    ge = _first(getattr(limits.get("Ge"), "ge", None), getattr(limits.get("Gt"), "gt", None))
    le = _first(getattr(limits.get("Le"), "le", None), getattr(limits.get("Lt"), "lt", None))
    literal = [a for a in (annotation, *args) if getattr(a, "__origin__", None) is not None
               and str(a).startswith("typing.Literal")]
    if str(annotation).startswith("typing.Literal"):
        kind, choices = "choice", annotation.__args__
    elif literal:
        kind, choices = "choice", literal[0].__args__
    elif annotation is bool:
        kind, choices = "bool", ()
    elif annotation is int or int in args:
        kind, choices = "integer", ()
    elif annotation is float or float in args:
        kind, choices = "number", ()
    else:
        kind, choices = "text", ()
    return FieldSpec(name, kind, field.description or "", value, tuple(choices), ge, le)


def parse_number(raw: str, spec: FieldSpec) -> float | int | None:
    """A number typed into an optional number field: empty = off (None); anything that is not
    a number is a `ValueError` naming the field.

    >>> parse_number("2", FieldSpec("period", "integer", "", None))
    2
    >>> parse_number("abc", FieldSpec("min_pct", "number", "", None))
    Traceback (most recent call last):
    ...
    ValueError: min_pct: 'abc' is not a number (leave it empty to switch it off)
    """
    text = raw.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{spec.name}: {raw!r} is not a number (leave it empty to switch it "
                         "off)") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{spec.name}: {raw!r} is not a finite number")
    if spec.type == "integer":
        if not value.is_integer():
            raise ValueError(f"{spec.name}: {raw!r} is not a whole number")
        return int(value)
    return value


def _first(*values):
    return next((v for v in values if v is not None), None)


def update_node(graph: Graph, node_id: str, values: dict) -> Graph:
    """Set parameters of one node, validated like the YAML; ValueError with one line."""
    node = graph.node(node_id)
    if node.kind == "condition":
        model = schema.DETECTOR_BLOCKS[node.data["block"]["detector"]]
        block = _with_changes(model, node.data["block"], values)
        node.data["block"] = _declared(_checked(model, block))
    elif node.kind in ("entry", "stop", "target"):
        model = {"entry": schema.Entry, "stop": schema.Stop, "target": schema.Target}[node.kind]
        node.data = _declared(_checked(model, _with_changes(model, node.data, values)))
    else:
        node.data.update(values)
    return graph


def _with_changes(model, declared: dict, values: dict) -> dict:
    """`declared` with `values` set; a field the YAML left out stays out while its value is
    still the schema's default (the panel hands every field back)."""
    fields = model.model_fields
    changed = {k: v for k, v in values.items() if k in declared or k not in fields
               or v != _schema_default(fields[k])}
    return {**declared, **changed}


def _checked(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or model.__name__
        raise ValueError(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None


def add_condition(graph: Graph, detector: str, *, name: str | None = None) -> Graph:
    """Add a condition block with its default parameters (connect it by hand)."""
    model = schema.DETECTOR_BLOCKS[detector]
    taken = {n.data.get("name") for n in graph.nodes if n.kind == "condition"}
    name = name or next(f"{detector}_{i}" for i in range(1, 1000) if f"{detector}_{i}"
                        not in taken)
    block = model.model_validate({"detector": detector, **_required_defaults(detector)})
    graph.nodes.append(Node(f"cond:{name}", "condition",
                            {"name": name, "block": _declared(block)},
                            (0.0, 130.0 * len(graph.nodes))))
    return graph


def _required_defaults(detector: str) -> dict:
    return {"session": {"session": "london"}}.get(detector, {})


def add_combinator(graph: Graph, op: str) -> Graph:
    numbers = [int(n.id.split(":")[1]) for n in graph.nodes if n.id.startswith("op:")]
    data = {"op": op, **({"within_bars": 10} if op == "sequence" else {})}
    graph.nodes.append(Node(f"op:{max(numbers, default=0) + 1}", "combinator", data,
                            (0.0, 130.0 * len(graph.nodes))))
    return graph


def remove_node(graph: Graph, node_id: str) -> Graph:
    if node_id in PLAN_NODES:
        raise ValueError(f"the {node_id} node cannot be removed")
    graph.nodes = [n for n in graph.nodes if n.id != node_id]
    graph.edges = [e for e in graph.edges if node_id not in (e.source, e.target)]
    return graph


def merge_canvas(graph: Graph, positions: dict[str, tuple[float, float]],
                 edges: list[tuple[str, str]]) -> list[Edge]:
    """What the trader did on the canvas, into the graph: nodes moved, edges drawn by hand
    (joining the rule after the target's existing inputs). The canvas reports everything it
    shows on every rerun, so this is idempotent: an edge the graph already has between the
    same two nodes is not added again. Returns the edges added.

    >>> g = Graph([Node("cond:a", "condition", {}), Node("op:1", "combinator", {"op": "all"})],
    ...           [])
    >>> [e.id for e in merge_canvas(g, {"cond:a": (5.0, 6.0)}, [("cond:a", "op:1")])]
    ['cond:a->op:1:1']
    >>> merge_canvas(g, {}, [("cond:a", "op:1")]), g.node("cond:a").position
    ([], (5.0, 6.0))
    """
    ids = {n.id for n in graph.nodes}
    for node_id, position in positions.items():
        if node_id in ids:
            graph.node(node_id).position = (float(position[0]), float(position[1]))
    added = []
    for source, target in edges:
        joined = any(e.source == source and e.target == target for e in graph.edges)
        if joined or source == target or not {source, target} <= ids:
            continue
        order = 1 + max((e.order for e in graph.edges if e.target == target), default=0)
        is_step = graph.node(target).data.get("op") == "sequence"
        edge = Edge(source, target, label=str(order) if is_step else "", order=order)
        graph.edges.append(edge)
        added.append(edge)
    return added


def clicked_node(graph: Graph, selected_id: str | None, event: object,
                 seen: object) -> str | None:
    """The node a new click on the canvas selected, else None. The canvas reports its last
    event again on every rerun, so only an `event` (its timestamp) not `seen` before counts,
    and only a click on a node (an edge's id or a click on the empty pane selects nothing).

    >>> g = Graph([Node("stop", "stop", {})], [])
    >>> clicked_node(g, "stop", 2, seen=1), clicked_node(g, "stop", 2, seen=2)
    ('stop', None)
    """
    if event == seen or selected_id not in {n.id for n in graph.nodes}:
        return None
    return selected_id


def layout_of(graph: Graph) -> dict:
    return {n.id: list(n.position) for n in graph.nodes}


def save_layout(path: Path, graph: Graph) -> None:
    write_text_atomic(path, json.dumps(layout_of(graph), indent=1))


def load_layout(path: Path) -> dict:
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}
