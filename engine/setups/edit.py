"""Edit a setup's YAML text in place: only what changed is rewritten.

A setup file is the trader's document: comments, the order of keys, quoting, flow or block
style and fields left at their defaults are theirs. The visual editor and the optimiser's "save
best as version" therefore never regenerate the file; they change the values that differ and
leave every other line as it was, so changing one number is a one-line diff.

- `apply_changes(text, {path: value})` sets (or, with `DELETE`, removes) values at paths into
  the document. A path is dotted (``plan.target.r_multiple``, as in `optimise:`) or a tuple of
  keys and list indexes (``("signal", "all", 1)``) when a name contains a dot. A mapping or list
  given as a value is merged into what is there: equal items keep their text and comments.
- `apply_setup(text, setup)` rewrites `text` to hold the rule `setup`: only the fields whose
  effective value differs are written (a condition added or removed, a signal tree rebuilt, a
  parameter changed); a field switched off (``None``) loses its line. The result is validated
  with `parse_setup` and must hold exactly `setup`'s rule.

The text is read with ruamel.yaml's round-trip loader (``typ="rt"``: plain mappings, lists and
scalars that remember their comments and style; no arbitrary objects). Where ruamel would
re-render an untouched line differently from the original (its own indentation or spacing),
the edits are spliced into the original text instead, line by line.

>>> text = "plan:\\n  stop: {percent: 1.0}   # wide\\n  target: {r_multiple: 2.0}\\n"
>>> print(apply_changes(text, {"plan.target.r_multiple": 3.0}), end="")
plan:
  stop: {percent: 1.0}   # wide
  target: {r_multiple: 3.0}
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Mapping

from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

from engine.errors import SetupError
from engine.setups.parse import canonical_json, dump_setup, parse_setup
from engine.setups.schema import Setup

#: A change's value that removes the key.
DELETE = object()
_MISSING = object()


# --- reading and writing the document -----------------------------------------------------

def _yaml(text: str) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the trader wrote on one line
    yaml.indent(**_indents(text))
    return yaml


def _indents(text: str) -> dict[str, int]:
    """The text's own indentation: of nested mappings, of list items and of their dashes."""
    lines = [line.rstrip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    found: dict[str, int] = {}
    for above, line in zip(lines, lines[1:], strict=False):
        if not above.split(" #")[0].endswith(":") or above.lstrip().startswith("- "):
            continue
        key_column = len(above) - len(above.lstrip())
        column = len(line) - len(line.lstrip())
        item = line.lstrip()
        if item.startswith("- ") and "offset" not in found:
            found["offset"] = max(0, column - key_column)
            content = column + 1 + len(item[1:]) - len(item[1:].lstrip())
            found["sequence"] = content - key_column
        elif not item.startswith("- ") and column > key_column and "mapping" not in found:
            found["mapping"] = column - key_column
    mapping = found.get("mapping", 2)
    offset = found.get("offset", 0)
    sequence = max(found.get("sequence", mapping + offset), offset + 2)
    return {"mapping": mapping, "sequence": sequence, "offset": offset}


def _load(yaml: YAML, text: str, source: str):
    try:
        doc = yaml.load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SetupError(f"{source}{line}: not valid YAML: {problem}") from None
    if not isinstance(doc, CommentedMap):
        raise SetupError(f"{source}: a setup is a YAML mapping (key: value lines)")
    return doc


def _dump(yaml: YAML, doc) -> str:
    stream = io.StringIO()
    yaml.dump(doc, stream)
    return stream.getvalue()


def _plain(node):
    """Round-trip data as plain dicts, lists and scalars (for comparisons)."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, ScalarString):
        return str(node)
    return node


# --- editing the document -----------------------------------------------------------------

def apply_changes(text: str, changes: Mapping, *, source: str = "setup.yaml") -> str:
    """`text` with each ``path: value`` of `changes` set (``DELETE`` removes the key); every
    other line, comment and style stays as written.

    >>> print(apply_changes("a: 1  # one\\nb: [x, y]\\n", {"b": ["x", "y", "z"]}), end="")
    a: 1  # one
    b: [x, y, z]
    """
    yaml = _yaml(text)
    doc = _load(yaml, text, source)
    for path, value in changes.items():
        _assign(doc, _keys(path), value, source)
    edited = _dump(yaml, doc)
    return _minimal(text, edited, yaml, source)


def _keys(path) -> tuple:
    return tuple(path.split(".")) if isinstance(path, str) else tuple(path)


def _assign(doc, keys: tuple, value, source: str) -> None:
    node = doc
    for depth, key in enumerate(keys[:-1]):
        child = _child(node, key)
        if child is _MISSING:
            if value is DELETE:
                return
            node[key] = CommentedMap()
            child = node[key]
        if not isinstance(child, Mapping | list):
            where = ".".join(map(str, keys[:depth + 1]))
            raise SetupError(f"{source}: {where} holds a value, not a section: cannot set "
                             f"{'.'.join(map(str, keys))}")
        node = child
    last = keys[-1]
    if value is DELETE:
        _delete(node, last)
    elif _child(node, last) is _MISSING:
        if isinstance(node, list):
            raise SetupError(f"{source}: {'.'.join(map(str, keys))}: no such list item")
        _add(node, last, value)
    else:
        _merge(node, last, value)


def _child(node, key):
    if isinstance(node, list):
        return node[key] if isinstance(key, int) and 0 <= key < len(node) else _MISSING
    return node.get(key, _MISSING) if isinstance(node, Mapping) else _MISSING


def _merge(parent, key, new) -> None:
    """Make ``parent[key]`` equal `new`, changing as little as possible."""
    old = parent[key]
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for gone in [k for k in old if k not in new]:
            _delete(old, gone)
        for k, v in new.items():
            if k in old:
                _merge(old, k, v)
            else:
                _add(old, k, v)
    elif isinstance(old, list) and isinstance(new, list):
        for i, v in enumerate(new[:len(old)]):
            _merge(old, i, v)
        while len(old) > len(new):
            old.pop()
        for v in new[len(old):]:
            old.append(_fresh(v))
    elif not _same_scalar(old, new):
        if isinstance(old, ScalarString) and isinstance(new, str):
            new = type(old)(new)  # keep the trader's quoting
        parent[key] = _fresh(new)


def _same_scalar(old, new) -> bool:
    if isinstance(old, Mapping | list) or isinstance(new, Mapping | list):
        return False
    if isinstance(old, bool) != isinstance(new, bool):
        return False
    if isinstance(old, str) != isinstance(new, str):
        return False
    return old == new


def _fresh(value):
    """A new value for the document: mappings in block style, lists of plain values in flow
    style (``[a, b]``), as the examples are written."""
    if isinstance(value, Mapping) and not isinstance(value, CommentedMap):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _fresh(v)
        return out
    if isinstance(value, list) and not isinstance(value, CommentedSeq):
        out = CommentedSeq(_fresh(v) for v in value)
        if all(not isinstance(v, Mapping | list) for v in value):
            out.fa.set_flow_style()
        return out
    return value


def _add(node, key, value) -> None:
    """A new key at the end of a mapping; comment lines that followed the last item (they
    introduce what comes after the mapping) move below the new key."""
    last = list(node)[-1] if isinstance(node, CommentedMap) and len(node) else _MISSING
    trailing = "" if last is _MISSING else _take_trailing(node, last)
    node[key] = _fresh(value)
    if trailing:
        _append_comment_lines(node, key, trailing)


def _delete(node, key) -> None:
    """Remove a key (or list item); comment lines that followed it, which introduce what comes
    next, stay in the document."""
    if isinstance(node, list):
        if isinstance(key, int) and 0 <= key < len(node):
            node.pop(key)
        return
    if key not in node:
        return
    keys = list(node)
    position = keys.index(key)
    trailing = _take_trailing(node, key)
    del node[key]
    if trailing and position > 0:
        _append_comment_lines(node, keys[position - 1], trailing)


def _last_slot(node, key):
    """(container, key) whose comment slot holds the lines after ``node[key]``."""
    value = node[key]
    while isinstance(value, CommentedMap | CommentedSeq) and len(value) and \
            not value.fa.flow_style():
        node, key = value, (list(value)[-1] if isinstance(value, CommentedMap)
                            else len(value) - 1)
        value = node[key]
    return node, key


def _take_trailing(node, key) -> str:
    """Remove and return the whole comment lines after ``node[key]`` (its end-of-line comment
    stays with it)."""
    if not isinstance(node, CommentedMap | CommentedSeq) or \
            (isinstance(node, CommentedMap) and node.fa.flow_style()):
        return ""
    holder, slot = _last_slot(node, key)
    entry = holder.ca.items.get(slot)
    index = 2 if isinstance(holder, CommentedMap) else 0
    token = entry[index] if entry and len(entry) > index else None
    value = getattr(token, "value", None) or ""
    newline = value.find("\n")
    if newline < 0 or not value[newline + 1:].strip():
        return ""
    if value[:newline].strip():
        token.value = value[:newline + 1]  # the end-of-line comment stays
    else:
        entry[index] = None
    return value[newline + 1:]


def _append_comment_lines(node, key, lines: str) -> None:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    holder, slot = _last_slot(node, key)
    entry = holder.ca.items.setdefault(slot, [None, None, None, None])
    index = 2 if isinstance(holder, CommentedMap) else 0
    token = entry[index]
    if token is None:
        entry[index] = CommentToken("\n" + lines, CommentMark(0), None)
    else:
        text = token.value if token.value.endswith("\n") else token.value + "\n"
        token.value = text + lines


# --- keeping untouched lines byte for byte ------------------------------------------------

def _minimal(original: str, edited: str, yaml: YAML, source: str) -> str:
    """`edited` as a patch on `original`: where ruamel renders untouched lines differently
    from how the trader wrote them, only the lines that really changed are replaced."""
    base = _dump(yaml, _load(yaml, original, source))
    if base == original:
        return edited
    spliced = _splice(original, base, edited)
    if spliced is None:
        return edited
    try:
        same = _plain(_load(_yaml(spliced), spliced, source)) == _plain(
            _load(_yaml(edited), edited, source))
    except SetupError:
        same = False
    return spliced if same else edited


def _splice(original: str, base: str, edited: str) -> str | None:
    """Apply the line edits base -> edited to `original` (`base` is ruamel's rendering of
    `original`); None when an edit touches a line that has no counterpart in `original`."""
    o_lines = original.splitlines(keepends=True)
    b_lines = base.splitlines(keepends=True)
    e_lines = edited.splitlines(keepends=True)
    to_original: dict[int, int] = {}
    for tag, i1, i2, j1, _ in difflib.SequenceMatcher(None, o_lines, b_lines,
                                                      autojunk=False).get_opcodes():
        if tag == "equal":
            to_original.update({j1 + k: i1 + k for k in range(i2 - i1)})
    out, position = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b_lines, e_lines,
                                                       autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        span = _original_span(to_original, i1, i2)
        if span is None or span[0] < position:
            return None
        out += o_lines[position:span[0]] + e_lines[j1:j2]
        position = span[1]
    return "".join(out + o_lines[position:])


def _original_span(to_original: dict[int, int], start: int, end: int) -> tuple | None:
    if start == end:  # an insertion: after the original of the line before it
        if start == 0:
            return (0, 0)
        before = to_original.get(start - 1)
        return None if before is None else (before + 1, before + 1)
    lines = [to_original.get(i) for i in range(start, end)]
    if None in lines or lines != list(range(lines[0], lines[0] + len(lines))):
        return None
    return (lines[0], lines[-1] + 1)


# --- a whole rule into the text -----------------------------------------------------------

def apply_setup(text: str, setup: Setup, *, source: str = "setup.yaml") -> str:
    """`text` rewritten to hold the rule `setup`, changing only the fields whose value differs
    (applying the text's own rule returns `text` unchanged)."""
    old = parse_setup(text, source=source)
    if canonical_json(old) == canonical_json(setup):
        return text
    written = _plain(_load(_yaml(text), text, source))
    desired = _desired(written, _full(old), _full(setup), _compact(setup))
    changes: dict = {(k,): v for k, v in desired.items() if written.get(k, _MISSING) != v}
    changes.update({(k,): DELETE for k in written if k not in desired})
    result = apply_changes(text, changes, source=source)
    try:
        kept = canonical_json(parse_setup(result, source=source)) == canonical_json(setup)
    except SetupError:
        kept = False
    # a safety net: the rule must be exactly `setup`, even if the text loses its comments
    return result if kept else dump_setup(setup)


def _full(setup: Setup) -> dict:
    return setup.model_dump(mode="json", by_alias=True)


def _compact(setup: Setup) -> dict:
    return setup.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def _desired(written, old, new, compact):
    """What the document should hold: `written` where the effective value (`old`, defaults
    filled in) equals the new one, else the new value in its compact form."""
    if old == new:
        return written
    if isinstance(written, dict) and isinstance(new, dict):
        return _desired_mapping(written, old if isinstance(old, dict) else {}, new,
                                compact if isinstance(compact, dict) else {})
    if isinstance(written, list) and isinstance(new, list) and isinstance(old, list) \
            and len(written) == len(old) == len(new):
        compact = compact if isinstance(compact, list) and len(compact) == len(new) else new
        return [_desired(*items) for items in zip(written, old, new, compact, strict=True)]
    return new if compact is None else compact


def _desired_mapping(written: dict, old: dict, new: dict, compact: dict) -> dict:
    out = {}
    for key, value in written.items():
        if key not in new:
            continue  # a condition removed, another combinator
        if new[key] is None and old.get(key) is not None and key not in compact:
            continue  # switched off: its line goes
        out[key] = _desired(value, old.get(key), new[key], compact.get(key))
    for key, value in new.items():
        if key not in written and old.get(key, _MISSING) != value:
            out[key] = compact.get(key, value)
    return out
