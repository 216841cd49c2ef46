"""Read-only DuckDB over one folder, for SQL typed by a user (the Runs page, `ita runs query`).

The sandbox, in this order (DuckDB refuses the settings in another order):

1. a fresh in-memory connection with extension autoinstall/autoload off and no temporary
   directory (DuckDB otherwise always allows reading and writing ``<cwd>/.tmp/``);
2. ``allowed_directories`` = the folder, then ``enable_external_access = false``: no file outside
   the folder, no URL, no ``INSTALL``/``LOAD``/``ATTACH``;
3. the caller's views over the folder;
4. ``lock_configuration = true``: no ``SET``/``RESET``/``PRAGMA`` can undo the above.

On top of that only a single ``SELECT`` statement is accepted (``FROM``-first, ``WITH``,
``DESCRIBE`` and ``SUMMARIZE`` included), so ``COPY ... TO`` cannot write even inside the folder.

>>> from pathlib import Path
>>> with sandboxed_connection(Path("runs")) as con:
...     read_only_query(con, "SELECT 42 AS answer")["answer"].tolist()
[42]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import DataError


def sql_literal(text: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def sandboxed_connection(
    folder: Path, *, prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked in-memory connection that reads files under ``folder`` only; ``prepare`` runs
    before the lock (create views there)."""
    allowed = str(Path(folder).resolve()).rstrip(os.sep) + os.sep
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
              "temp_directory": ""}
    with duckdb.connect(":memory:", config=config) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET allowed_directories = [{sql_literal(allowed)}]")
        con.execute("SET enable_external_access = false")
        if prepare is not None:
            prepare(con)
        con.execute("SET lock_configuration = true")
        yield con


def read_only_query(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run one user ``SELECT`` on a sandboxed connection; anything else is a one-line
    `DataError`."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise DataError(f"query failed: {first_line(error)}") from None
    if len(statements) != 1:
        raise DataError(f"query failed: give exactly one SELECT statement, not "
                        f"{len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise DataError(f"query refused: only SELECT queries are allowed here, not "
                        f"{kind.name}")
    try:
        table = con.sql(sql).to_arrow_table()
    except duckdb.Error as error:
        raise DataError(f"query failed: {first_line(error)}") from None
    return table.to_pandas()


def first_line(error: Exception) -> str:
    """The first non-empty line of an error's message."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
