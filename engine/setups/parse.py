"""YAML text -> `Setup`, with errors that name the file, line, field and fix.

Every problem pydantic finds is reported at once, one line each, in the order of the file:
``<source>:<line>: <field path>: <message>``. An unknown key beside a missing required key of
the same block is named as the likely typo. Only the cross-field checks (unknown condition
names, sessions, optimisation ranges) wait until every field is valid on its own.

>>> parse_setup("id: ../x", source="x.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
engine.errors.SetupError: x.yaml:1: id: '../x' is not allowed: use letters, digits, ...
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re

import yaml
from pydantic import BaseModel, ValidationError

from engine.errors import SetupError
from engine.setups import schema

_UNION_TAGS = {"str": None, "AllOf": "all", "AnyOf": "any", "NotOf": "not",
               "Sequence": "sequence"}
_COMBINATORS = {key: tag for tag, key in _UNION_TAGS.items() if key}


# --- YAML with line numbers ---------------------------------------------------------------

def _load(text: str, source: str) -> tuple[object, dict[str, int], list[str]]:
    """Safe-load `text`; also return each node's line by dotted path, and the duplicate keys
    (YAML would silently keep only the last of them)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        duplicates: list[str] = []
        if node is not None:
            _walk(node, (), lines, duplicates, set())
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SetupError(f"{source}{line}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    return data, lines, [f"{source}:{d}" for d in duplicates]


def _walk(node, path: tuple, lines: dict, duplicates: list, seen: set) -> None:
    if id(node) in seen:  # an alias: its lines are those of the anchor
        return
    seen.add(id(node))
    lines.setdefault(_dotted(path), node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name, line = str(key.value), key.start_mark.line + 1
            if name in first and name != "<<":
                where = _dotted(path + (name,))
                duplicates.append(f"{line}: {where}: duplicate key {name!r} (first on line "
                                  f"{first[name]}); YAML would keep only the last one")
            first.setdefault(name, line)
            lines.setdefault(_dotted(path + (name,)), line)
            _walk(value, path + (name,), lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines, duplicates, seen)


def _dotted(path) -> str:
    return ".".join(str(part) for part in path)


def _line_of(path: str, lines: dict[str, int]) -> int | None:
    """Line of the longest prefix of `path` found in the file (keys may contain dots)."""
    parts = path.split(".") if path else []
    for i in range(len(parts), -1, -1):
        line = lines.get(".".join(parts[:i]))
        if line is not None:
            return line
    return None


# --- pydantic errors -> problems ----------------------------------------------------------

def _all_field_names(model: type[BaseModel], seen=None) -> set[str]:
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in _model_args(field.annotation):
            names |= _all_field_names(arg, seen)
    return names


def _model_args(annotation) -> list[type[BaseModel]]:
    found = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            found.append(item)
        stack.extend(getattr(item, "__args__", ()) or ())
    return found


FIELD_NAMES = sorted(_all_field_names(schema.Setup) | set(schema.DETECTOR_BLOCKS))
#: A model-level message may start with the path it is about, relative to the model.
_ANCHOR = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w-]+)*): (.*)$", re.DOTALL)


def _path(loc: tuple) -> tuple:
    """The user's path of an error location: without union tags (a condition's detector, a
    signal alternative, a validator function)."""
    out = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and (part in _UNION_TAGS or part.startswith("function-")):
            continue
        if loc[:1] == ("conditions",) and i == 2 and part in schema.DETECTOR_BLOCKS:
            continue
        out.append(part)
    return tuple(out)


def _signal_node_tag(node) -> str | None:
    """Which alternative of a signal node the user meant; None when it cannot be told."""
    if isinstance(node, str):
        return "str"
    if isinstance(node, dict):
        return next((_COMBINATORS[k] for k in node if k in _COMBINATORS), None)
    return None


def _signal_choice(loc: tuple, data: dict) -> tuple[bool, tuple | None]:
    """(keep, unclear): keep the error if it belongs to the alternative the user meant at
    every level; `unclear` is the path of a node whose meaning cannot be told."""
    node, walked = data, []
    for part in loc:
        if part in _UNION_TAGS:
            meant = _signal_node_tag(node)
            if meant is None:
                return False, _path(tuple(walked))
            if meant != part:
                return False, None
            continue
        walked.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return True, None


def _unclear_signal(path: tuple, data: dict) -> tuple[tuple, str]:
    node = data
    for part in path:
        node = node[part]
    keys = list(node) if isinstance(node, dict) else []
    near = [m for k in keys for m in difflib.get_close_matches(str(k), _COMBINATORS, n=1)]
    hint = f" — did you mean {near[0]!r}?" if near else ""
    got = f"keys {', '.join(map(repr, keys))}" if keys else f"{node!r}"
    return path, (f"expected a condition name, or a mapping with one of all, any, not, "
                  f"sequence; got {got}{hint}")


def _signal_errors(errors: list[dict], data: dict) -> tuple[list[dict], list]:
    """Signal trees are unions of a name and combinators, so pydantic reports one error per
    alternative; keep the alternative the user meant (the combinator key they wrote)."""
    kept, unclear = [], {}
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:1] != ("signal",):
            kept.append(error)
            continue
        keep, path = _signal_choice(loc, data)
        if keep:
            kept.append(error)
        elif path is not None:
            unclear.setdefault(path, _unclear_signal(path, data))
    return kept, list(unclear.values())


def _typos(errors: list[dict]) -> dict[tuple, str]:
    """Unknown key -> the missing required key of the same block it most likely misspells."""
    missing: dict[tuple, list[str]] = {}
    for error in errors:
        if error["type"] == "missing":
            path = _path(tuple(error["loc"]))
            missing.setdefault(path[:-1], []).append(str(path[-1]))
    typos = {}
    for error in errors:
        if error["type"] == "extra_forbidden":
            path = _path(tuple(error["loc"]))
            near = difflib.get_close_matches(str(path[-1]), missing.get(path[:-1], []), n=1)
            if near:
                typos[path] = near[0]
    return typos


def _problem(error: dict, typos: dict) -> list[tuple[tuple, str]]:
    """(path, message) pairs for one pydantic error; a model-level message may hold several
    lines, each ``<path>: <message>`` relative to the model."""
    path = _path(tuple(error["loc"]))
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(path[-1])
        near = typos.get(path) or next(iter(difflib.get_close_matches(name, FIELD_NAMES, n=1)),
                                        None)
        hint = f" — did you mean {near!r}?" if near else ""
        return [(path, f"unknown field {name!r}{hint}")]
    if kind == "missing":
        return [(path, f"missing required field {str(path[-1])!r}")]
    if kind == "union_tag_invalid":
        bad = error["input"].get("detector") if isinstance(error["input"], dict) else None
        near = difflib.get_close_matches(str(bad), schema.DETECTOR_BLOCKS, n=1)
        hint = f" — did you mean {near[0]!r}?" if near else ""
        return [(path + ("detector",), f"unknown detector {bad!r}{hint} (allowed: "
                                       f"{', '.join(schema.DETECTOR_BLOCKS)})")]
    if kind == "union_tag_not_found":
        return [(path, f"missing `detector` (one of {', '.join(schema.DETECTOR_BLOCKS)})")]
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error" and (isinstance(error.get("input"), dict) or "\n" in message):
        return [_anchored(path, line) for line in message.splitlines()]
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or repr(got) in message else f" (got {got!r})"
    return [(path, f"{message}{shown}")]


def _anchored(path: tuple, message: str) -> tuple[tuple, str]:
    match = _ANCHOR.match(message)
    if match and match.group(1).split(".")[0] in FIELD_NAMES:
        return path + tuple(match.group(1).split(".")), match.group(2)
    return path, message


def _problems(errors: list[dict], data: dict, lines: dict, source: str) -> list[str]:
    errors, unclear = _signal_errors(errors, data)
    typos = _typos(errors)
    pairs = [p for error in errors for p in _problem(error, typos)
             if not (error["type"] == "missing" and _is_typo(error, typos))] + unclear
    out: dict[str, int] = {}
    for path, message in pairs:
        where = _dotted(path)
        line = _line_of(where, lines)
        text = f"{source}:{line}" if line else source
        out.setdefault(f"{text}: {where or '(top level)'}: {message}", line or 0)
    return sorted(out, key=out.get)


def _is_typo(error: dict, typos: dict) -> bool:
    path = _path(tuple(error["loc"]))
    return any(p[:-1] == path[:-1] and name == path[-1] for p, name in typos.items())


def parse_setup(text: str, *, source: str = "setup.yaml") -> schema.Setup:
    """Validate YAML text into a `Setup`; raise `SetupError` listing every problem, one per
    line (``<source>:<line>: <field>: <message>``)."""
    data, lines, duplicates = _load(text, source)
    if not isinstance(data, dict):
        raise SetupError(f"{source}: a setup is a YAML mapping (key: value lines), got "
                         f"{type(data).__name__}")
    try:
        setup = schema.Setup.model_validate(data)
    except ValidationError as error:
        problems = _problems(error.errors(), data, lines, source)
        raise SetupError("\n".join(_by_line(duplicates + problems, source))) from None
    if duplicates:
        raise SetupError("\n".join(duplicates))
    return setup


def _by_line(problems: list[str], source: str) -> list[str]:
    def line(problem: str) -> int:
        head = problem.removeprefix(f"{source}:").split(":", 1)[0]
        return int(head) if head.isdigit() else 0
    return sorted(dict.fromkeys(problems), key=line)


def canonical_json(setup: schema.Setup) -> str:
    """The rule without comments or formatting: what the engine actually runs."""
    return json.dumps(setup.model_dump(mode="json", by_alias=True), sort_keys=True,
                      separators=(",", ":"))


def rule_hash(setup: schema.Setup) -> str:
    return hashlib.sha256(canonical_json(setup).encode()).hexdigest()[:16]


def dump_setup(setup: schema.Setup) -> str:
    """YAML text for a setup (used by the visual editor and optimisation); defaults omitted."""
    data = setup.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data = {"schema_version": schema.SCHEMA_VERSION, **data}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with text of several lines (a description) written as a readable block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value.rstrip("\n"):
        style = "|"  # keep its lines
    elif value.endswith("\n") or len(value) > 80:
        style = ">"  # one paragraph, folded at the width
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
