"""YAML text -> `Setup`, with one-line errors that name the file, line, field and fix.

>>> parse_setup("id: x", source="x.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
engine.errors.SetupError: x.yaml:1: id: use 2-64 lower-case letters, ...
"""

from __future__ import annotations

import difflib
import re
import hashlib
import json

import yaml
from pydantic import BaseModel, ValidationError

from engine.errors import SetupError
from engine.setups import schema


def _line_map(text: str) -> dict[tuple, int]:
    """Path (tuple of keys / indexes) -> 1-based line of that node in the YAML text."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[path + (key.value,)] = key.start_mark.line + 1
                walk(value, path + (key.value,))
                lines[path + (key.value,)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


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
        stack.extend(getattr(item, "__metadata__", ()) and () or ())
        origin = getattr(item, "__origin__", None)
        if origin is not None and hasattr(item, "__args__"):
            stack.extend(item.__args__)
    return found


FIELD_NAMES = sorted(_all_field_names(schema.Setup) | set(schema.DETECTOR_BLOCKS))


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's union tags (detector names, model names) from an error location."""
    tags = set(schema.DETECTOR_BLOCKS) | {"str", "AllOf", "AnyOf", "NotOf", "Sequence",
                                         "function-after[_one_anchor(), Stop]"}
    return tuple(part for part in loc if part not in tags and not str(part).startswith(
        "function-"))


def _message(error: dict, lines: dict, source: str) -> str:
    loc = _clean_loc(tuple(error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    anchor = _TOP_LEVEL.match(message) if not loc else None
    if anchor:
        loc = tuple(anchor.group(1).split("."))
        message = message.removeprefix(f"{anchor.group(1)}: ")
    path = ".".join(str(p) for p in loc) or "(top level)"
    line = next((lines[loc[:i]] for i in range(len(loc), -1, -1) if loc[:i] in lines), None)
    where = f"{source}:{line}" if line else source
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        near = difflib.get_close_matches(name, FIELD_NAMES, n=1)
        hint = f" — did you mean {near[0]!r}?" if near else ""
        return f"{where}: {path}: unknown field {name!r}{hint}"
    if kind == "union_tag_invalid":
        line = lines.get(loc + ("detector",), line)
        where = f"{source}:{line}" if line else source
        bad = error.get("input", {}).get("detector") if isinstance(error.get("input"),
                                                                        dict) else None
        near = difflib.get_close_matches(str(bad), schema.DETECTOR_BLOCKS, n=1)
        hint = f" — did you mean {near[0]!r}?" if near else ""
        return (f"{where}: {path}.detector: unknown detector {bad!r}{hint} (allowed: "
                f"{', '.join(schema.DETECTOR_BLOCKS)})")
    if kind == "union_tag_not_found":
        return f"{where}: {path}: missing `detector` (one of {', '.join(schema.DETECTOR_BLOCKS)})"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or kind == "missing" else f" (got {got!r})"
    return f"{where}: {path}: {message}{shown}"


_COMBINATOR_TAGS = {"all": "AllOf", "any": "AnyOf", "not": "NotOf", "sequence": "Sequence"}


def _best_error(errors: list[dict], data: dict) -> dict:
    """Signal trees are unions of a name and combinators, so pydantic reports one error per
    alternative; keep the alternative the user meant (the combinator key they wrote)."""
    def score(error: dict) -> tuple:
        loc = error["loc"]
        if loc[:1] != ("signal",):
            return (0, 0)
        node, meant = data.get("signal"), None
        if isinstance(node, dict):
            meant = next((_COMBINATOR_TAGS[k] for k in node if k in _COMBINATOR_TAGS), None)
        return (1, 0 if meant in loc else 1)
    return sorted(errors, key=score)[0]


_TOP_LEVEL = re.compile(r"^(signal|plan\.\w+\.\w+|market\.\w+)\b")


def parse_setup(text: str, *, source: str = "setup.yaml") -> schema.Setup:
    """Validate YAML text into a `Setup`; raise `SetupError` with one clear line."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SetupError(f"{source}{line}: not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise SetupError(f"{source}: a setup is a YAML mapping (key: value lines), got "
                         f"{type(data).__name__}")
    try:
        return schema.Setup.model_validate(data)
    except ValidationError as error:
        first = _best_error(error.errors(), data)
        raise SetupError(_message(first, _line_map(text), source)) from None


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
