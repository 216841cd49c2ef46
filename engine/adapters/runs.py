"""Run folders: ``runs/<run-id>/`` with trades.parquet, equity.parquet, signals.parquet and
summary.json, written to a hidden temporary folder and renamed when complete (a crashed run
never looks finished). DuckDB queries every run at once. Run ids become folder names and go
through `checked_id`: one that could escape ``runs/`` is refused."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

from engine._io import atomic_dir
from engine.errors import DataError, ItaError
from engine.ids import checked_id

FILES = ("trades", "equity", "signals")


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

    def summary(self, run_id: str) -> dict:
        path = self._folder(run_id) / "summary.json"
        if not path.exists():
            raise DataError(f"no run {run_id!r} (ita runs list shows them)")
        return json.loads(path.read_text())

    def frame(self, run_id: str, name: str) -> pd.DataFrame:
        name = checked_id(name, what="run table", error=DataError)
        path = self._folder(run_id) / f"{name}.parquet"
        if not path.exists():
            raise DataError(f"run {run_id!r} has no {name}")
        return pd.read_parquet(path)

    def list(self) -> pd.DataFrame:
        """One row per run: id, setup, version, symbol, range and headline metrics."""
        rows = []
        for run_id in self.ids():
            s = self.summary(run_id)
            m = s.get("metrics", {})
            rows.append({"run_id": run_id, "setup_id": s.get("setup_id"),
                         "setup_version": s.get("setup_version"), "symbol": s.get("symbol"),
                         "timeframe": s.get("timeframe"), "start": s.get("data_start"),
                         "end": s.get("data_end"), "trades": m.get("trades"),
                         "win_rate": m.get("win_rate"), "expectancy_r": m.get("expectancy_r"),
                         "profit_factor": m.get("profit_factor"),
                         "total_return_pct": m.get("total_return_pct"),
                         "max_drawdown_pct": m.get("max_drawdown_pct"),
                         "created_at": s.get("created_at")})
        return pd.DataFrame(rows)

    def query(self, sql: str) -> pd.DataFrame:
        """Run SQL over every run: the views ``trades``, ``equity`` and ``signals`` hold all
        runs' rows with a ``run_id`` column."""
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            for name in FILES:
                pattern = str(self.root / "*" / f"{name}.parquet")
                if list(self.root.glob(f"*/{name}.parquet")):
                    con.execute(
                        f"CREATE VIEW {name} AS SELECT *, regexp_extract(filename, "
                        f"'([^/]+)/{name}\\.parquet$', 1) AS run_id FROM read_parquet("
                        f"'{pattern}', filename=true, union_by_name=true)")
            try:
                table = con.sql(sql).to_arrow_table()
            except duckdb.Error as error:
                raise DataError(f"query failed: {str(error).splitlines()[0]}") from None
        return table.to_pandas()
