"""The signal journal in Notion: each live alert one row, upserted by its stable id.

`sync_journal(home, settings)` is the one operation (the CLI's ``ita notion sync-journal``
and the daemon call it). It turns every signal of ``<home>/.ita/live.sqlite`` into a row's
values (columns: engine/adapters/notion/workspace.JOURNAL_SCHEMA), queues in the outbox
those whose values differ from what Notion last confirmed, then delivers the outbox in order.
Running it twice sends nothing the second time; a changed decision or outcome updates the
row in place. When Notion is down the writes wait in the outbox and the next call delivers
them, before anything newer, each once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from engine.adapters.notion import blocks
from engine.adapters.notion.config import NotionSettings, require_enabled
from engine.adapters.notion.gateway import NotionGateway
from engine.adapters.notion.outbox import Operation, Outbox, values_hash
from engine.adapters.notion.state import NotionState, notion_lock
from engine.adapters.notion.workspace import DATABASES, JOURNAL_KEY, PARAMETERS_KEY
from engine.errors import ConfigurationError, DataError, TemporaryError
from engine.live.journal import SignalJournal, journal_path

KEYS = {"journal": JOURNAL_KEY, "parameters": PARAMETERS_KEY}


@dataclass
class SyncResult:
    queued: int = 0  # writes added to the outbox by this call
    delivered: int = 0  # writes Notion confirmed in this call
    pending: int = 0  # writes still waiting (Notion down)
    refused: list[str] | None = None  # writes Notion refused for good, in words
    error: str | None = None  # why delivery stopped early, in words


def journal_rows(home: str | Path) -> dict[str, dict[str, Any]]:
    """{signal id: Notion property values} for every signal in the home's journal."""
    path = journal_path(home)
    if not path.exists():
        return {}
    with SignalJournal(path) as journal:
        frame = journal.frame()
    return {row["signal_id"]: _row_values(row) for row in frame.to_dict("records")}


def _row_values(row: dict[str, Any]) -> dict[str, Any]:
    direction = "long" if row["direction"] > 0 else "short"
    known_at = row["known_at"]
    outcome = _text(row.get("outcome"))
    return {
        "Alert": blocks.title_value(f"{row['symbol']} {direction} · {row['setup_id']} "
                                    f"v{row['setup_version']}"),
        "Time": blocks.date_value(pd.Timestamp(known_at).isoformat()),
        "Setup": blocks.text_value(row["setup_id"]),
        "Version": blocks.number_value(int(row["setup_version"])),
        "Symbol": blocks.text_value(row["symbol"]),
        "Timeframe": blocks.text_value(row["timeframe"]),
        "Direction": blocks.select_value(direction),
        "Entry": blocks.number_value(_number(row.get("entry"))),
        "Stop": blocks.number_value(_number(row.get("stop"))),
        "Target": blocks.number_value(_number(row.get("target"))),
        "Planned R": blocks.number_value(_number(row.get("r_planned"))),
        "Score": blocks.number_value(_number(row.get("score"))),
        "Probability": blocks.number_value(_number(row.get("probability"))),
        "Decision": blocks.select_value(_text(row.get("decision"))),
        "Outcome": blocks.text_value(outcome),
        "R": blocks.number_value(_number(row.get("outcome_r"))),
    }


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def sync_journal(home: str | Path, settings: NotionSettings) -> SyncResult:
    """Queue the journal's changed rows and deliver the outbox (see the module docstring)."""
    require_enabled(settings)
    with notion_lock(home):
        state = NotionState(home, settings.parent_page_id())
        if state.database("journal") is None:
            raise ConfigurationError("Notion's signal journal does not exist yet: run "
                                     "`ita notion setup` first")
        outbox = Outbox(home)
        result = SyncResult()
        for key, values in journal_rows(home).items():
            stored = state.row("journal", key)
            if stored is not None and stored["hash"] == values_hash("journal", key, values):
                continue
            if outbox.add("journal", key, values) is not None:
                result.queued += 1
        _deliver(home, settings, state, outbox, result)
        return result


def deliver_outbox(home: str | Path, settings: NotionSettings) -> SyncResult:
    """Deliver what waits in the outbox (the daemon calls it when Notion may be back)."""
    require_enabled(settings)
    with notion_lock(home):
        state = NotionState(home, settings.parent_page_id())
        result = SyncResult()
        _deliver(home, settings, state, Outbox(home), result)
        return result


def _deliver(home: str | Path, settings: NotionSettings, state: NotionState, outbox: Outbox,
             result: SyncResult) -> None:
    ops = outbox.pending()
    result.refused = []
    if ops:
        with NotionGateway(settings) as notion:
            for op in ops:
                try:
                    _send(notion, state, op)
                except TemporaryError as error:
                    result.error = str(error)
                    break
                except DataError as error:  # refused for good: report it, keep the order going
                    result.refused.append(f"{op.key}: {error}")
                outbox.mark_done(op)
                result.delivered += 1
    result.delivered -= len(result.refused)
    result.pending = len(outbox.pending())
    outbox.compact()


def _send(notion: NotionGateway, state: NotionState, op: Operation) -> None:
    database = state.database(op.table)
    if database is None:
        raise ConfigurationError(f"Notion's {DATABASES[op.table][0]!r} does not exist: run "
                                 "`ita notion setup`")
    stored = state.row(op.table, op.key)
    page_id = notion.upsert_row(database["data_source_id"], KEYS[op.table], op.key,
                                op.properties, page_id=stored["page_id"] if stored else None)
    state.set_row(op.table, op.key, page_id, op.op_id)
    state.save()
