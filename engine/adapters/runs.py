"""Run folders: ``runs/<run-id>/`` with trades.parquet, equity.parquet, signals.parquet and
summary.json, written to a hidden temporary folder and renamed when complete (a crashed run
never looks finished). DuckDB queries every run at once. Run ids become folder names and go
through `checked_id`: one that could escape ``runs/`` is refused.

What a run computed never changes: ``summary.json`` and the Parquet files are written once.
The analyst's own words go beside them in ``note.md`` (written atomically, replaced whole).
Deleting a run renames its folder to a hidden temporary name first and then removes it, so a
half-deleted run never shows up as a run (and a deletion killed midway leaves only a hidden
folder that `engine._io.remove_stale_temporaries` clears).

`run_label` names a run for people: ``setup@version · symbol · range · time``; the full id
stays the run's name on disk and in the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path

import duckdb
import pandas as pd

from engine._io import atomic_dir, write_text_atomic
from engine.adapters.sql_sandbox import (
    first_line,
    read_only_query,
    sandboxed_connection,
    sql_literal,
)
from engine.errors import DataError, ItaError
from engine.ids import checked_id

FILES = ("trades", "equity", "signals")
NOTE_FILE = "note.md"
MAX_NOTE_CHARS = 20_000


def _day(value) -> str:
    return str(value)[:10] if value else "?"


def run_label(summary: dict) -> str:
    """A short name for people: ``sma-cross@1 · BTC/USDT 15m · 2023-03-01→03-07 · 03-09 14:05``
    (data range of the bars found, then when the run was made, UTC).

    >>> run_label({"setup_id": "sma-cross", "setup_version": 1, "symbol": "BTC/USDT",
    ...            "timeframe": "15m", "data_start": "2023-03-01 00:00:00+00:00",
    ...            "data_end": "2023-03-07 23:45:00+00:00",
    ...            "created_at": "2023-03-09T14:05:31.123+00:00"})
    'sma-cross@1 · BTC/USDT 15m · 2023-03-01→03-07 · 03-09 14:05'
    """
    start, end = _day(summary.get("data_start")), _day(summary.get("data_end"))
    if end[:4] == start[:4]:
        end = end[5:]
    created = str(summary.get("created_at") or "")
    made = f"{created[5:10]} {created[11:16]}" if len(created) >= 16 else "?"
    market = " ".join(str(p) for p in (summary.get("symbol"), summary.get("timeframe")) if p)
    return (f"{summary.get('setup_id')}@{summary.get('setup_version')} · {market} · "
            f"{start}→{end} · {made}")
SHORT_ID_LENGTH = 8


def short_id(run_id: str) -> str:
    """A run's short id: 8 hex digits of its id's hash, stable whatever other runs exist.
    Accepted wherever a run id is (`RunStore.resolve`)."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:SHORT_ID_LENGTH]


def _safe(run_id: str) -> bool:
    try:
        checked_id(run_id, what="run id")
    except ItaError:
        return False
    return True


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def from_settings(cls, settings=None) -> RunStore:
        from engine.settings import get_settings

        return cls((settings or get_settings()).runs_dir)

    def write(self, run_id: str, *, frames: dict[str, pd.DataFrame], summary: dict) -> Path:
        target = self._folder(run_id)
        if target.exists():
            raise DataError(f"run {run_id} exists already")
        with atomic_dir(target) as tmp:
            for name, frame in frames.items():
                frame.to_parquet(tmp / f"{name}.parquet")
            (tmp / "summary.json").write_text(
                json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        return target

    def _folder(self, run_id: str) -> Path:
        return self.root / checked_id(run_id, what="run id", error=DataError)

    def ids(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted((p.name for p in self.root.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and _safe(p.name)
                       and (p / "summary.json").exists()), reverse=True)

    def resolve(self, ref: str) -> str:
        """The run id `ref` names: a full run id, a short id (`short_id`) or the start of
        either, when only one run matches."""
        if (self._folder(ref) / "summary.json").exists():
            return ref
        ids = self.ids()
        exact = [run_id for run_id in ids if short_id(run_id) == ref]
        found = exact or [run_id for run_id in ids if run_id.startswith(ref)
                          or short_id(run_id).startswith(ref)]
        if len(found) == 1:
            return found[0]
        if not found:
            raise DataError(f"no run {ref!r} (ita runs list shows them)")
        raise DataError(f"run {ref!r} is ambiguous: it matches {len(found)} runs "
                        f"({', '.join(short_id(r) for r in found[:5])}); give more characters")

    def summary(self, run_id: str) -> dict:
        path = self._folder(self.resolve(run_id)) / "summary.json"
        if not path.exists():
            raise DataError(f"no run {run_id!r} (ita runs list shows them)")
        return json.loads(path.read_text())

    def frame(self, run_id: str, name: str) -> pd.DataFrame:
        name = checked_id(name, what="run table", error=DataError)
        path = self._folder(self.resolve(run_id)) / f"{name}.parquet"
        if not path.exists():
            raise DataError(f"run {run_id!r} has no {name}")
        return pd.read_parquet(path)

    def note(self, run_id: str) -> str:
        """The analyst's note on a run ("" when there is none)."""
        path = self._existing(run_id) / NOTE_FILE
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def set_note(self, run_id: str, text: str) -> None:
        """Write the note on a run atomically (whole, replacing the old one); an empty text
        removes it. The run's own files are never touched."""
        folder = self._existing(run_id)
        text = (text or "").strip()
        if len(text) > MAX_NOTE_CHARS:
            raise DataError(f"note on run {run_id}: {len(text):,} characters, the limit is "
                            f"{MAX_NOTE_CHARS:,}")
        if text:
            write_text_atomic(folder / NOTE_FILE, text + "\n")
        else:
            (folder / NOTE_FILE).unlink(missing_ok=True)

    def delete(self, run_id: str) -> None:
        """Delete a run: its folder is renamed to a hidden temporary name (it stops being a run
        at once), then removed."""
        folder = self._existing(run_id)
        trash = folder.with_name(f".{folder.name}.{secrets.token_hex(4)}.tmp")
        os.replace(folder, trash)
        shutil.rmtree(trash)

    def _existing(self, run_id: str) -> Path:
        """The folder of the run `run_id` names (a full or short id, see `resolve`)."""
        return self._folder(self.resolve(run_id))

    def list(self) -> pd.DataFrame:
        """One row per run, newest first: id, a readable name, setup, version, symbol, range,
        headline metrics and the note."""
        rows = []
        for run_id in self.ids():
            s = self.summary(run_id)
            m = s.get("metrics", {})
            note = self._folder(run_id) / NOTE_FILE
            rows.append({"run_id": run_id, "short_id": short_id(run_id), "name": run_label(s),
                         "setup_id": s.get("setup_id"),
                         "setup_version": s.get("setup_version"), "symbol": s.get("symbol"),
                         "timeframe": s.get("timeframe"), "start": s.get("data_start"),
                         "end": s.get("data_end"), "trades": m.get("trades"),
                         "win_rate": m.get("win_rate"), "expectancy_r": m.get("expectancy_r"),
                         "profit_factor": m.get("profit_factor"),
                         "total_return_pct": m.get("total_return_pct"),
                         "max_drawdown_pct": m.get("max_drawdown_pct"),
                         "created_at": s.get("created_at"),
                         "note": note.read_text(encoding="utf-8").strip()
                         if note.exists() else ""})
        return pd.DataFrame(rows)

    def query(self, sql: str) -> pd.DataFrame:
        """Run one read-only SELECT over every run: the views ``trades``, ``equity`` and
        ``signals`` hold all runs' rows, ``summaries`` one row per run (summary.json), each with
        a ``run_id`` column. The SQL sees the runs folder only and cannot write, load extensions
        or change settings (`engine.adapters.sql_sandbox`)."""

        def create_views(con: duckdb.DuckDBPyConnection) -> None:
            files = {name: ("read_parquet", f"{name}.parquet") for name in FILES}
            files["summaries"] = ("read_json", "summary.json")
            for view, (reader, file_name) in files.items():
                if not list(self.root.glob(f"*/{file_name}")):
                    continue
                pattern = sql_literal(str(self.root.resolve() / "*" / file_name))
                run_id = sql_literal(f"([^/\\\\]+)[/\\\\]{re.escape(file_name)}$")
                try:
                    con.execute(f"CREATE VIEW {view} AS SELECT *, "
                                f"regexp_extract(filename, {run_id}, 1) AS run_id "
                                f"FROM {reader}({pattern}, filename=true, union_by_name=true)")
                except duckdb.Error as error:
                    raise DataError(f"cannot read the runs' {file_name} files: "
                                    f"{first_line(error)}") from None

        with sandboxed_connection(self.root, prepare=create_views) as con:
            return read_only_query(con, sql)
