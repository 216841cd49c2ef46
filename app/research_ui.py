"""The Research page's pieces: the ranges editor's frame, following and cancelling a research
job, and the figures a trader reads a search by (objective heatmap, walk-forward windows,
in-sample against out-of-sample equity)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import jobs_ui, state
from app.ui import fmt

METHODS = {"optimise": "Optuna search", "sweep": "Grid sweep", "walkforward": "Walk-forward"}
RUN_LABELS = {"optimise": "Run Optuna search", "sweep": "Run grid sweep",
              "walkforward": "Run walk-forward"}
OBJECTIVE_LABELS = {"expectancy_r": "Expectancy (R)", "profit_factor": "Profit factor",
                    "sharpe": "Sharpe", "sqn": "SQN", "total_return_pct": "Return %"}
RANGE_COLUMNS = ["parameter", "low", "high", "step"]


def ranges_frame(optimise: dict) -> pd.DataFrame:
    """The setup's `optimise:` ranges as rows the form edits (step None: continuous)."""
    rows = [{"parameter": path, "low": float(r.low), "high": float(r.high),
             "step": None if r.step is None else float(r.step)} for path, r in optimise.items()]
    return pd.DataFrame(rows, columns=RANGE_COLUMNS).astype(
        {"low": "float64", "high": "float64", "step": "float64"})


def ranges_from(frame: pd.DataFrame) -> dict[str, dict]:
    """The edited rows as job parameters (an empty step is a continuous range)."""
    from engine.errors import SetupError

    out = {}
    for row in frame.itertuples(index=False):
        if pd.isna(row.low) or pd.isna(row.high):
            raise SetupError(f"range of {row.parameter}: give both a low and a high value")
        step = None if pd.isna(row.step) or row.step == 0 else float(row.step)
        out[row.parameter] = {"low": float(row.low), "high": float(row.high), "step": step}
    return out


def grid_size(ranges: dict[str, dict]) -> int:
    """How many variants a sweep of `ranges` runs."""
    from engine.setups.params import grid
    from engine.setups.schema import ParamRange

    size = 1
    for values in grid({p: ParamRange(**r) for p, r in ranges.items()}).values():
        size *= len(values)
    return size


def follow(job_key: str) -> dict | None:
    """Follow the job whose id sits in st.session_state[job_key] (else the newest research job
    still queued or running, e.g. after a reload): progress and a Cancel button while it waits
    or runs; its final status once it ends."""
    if not st.session_state.get(job_key):
        live = [s["job_id"] for s in state.job_bus().list()
                if s.get("kind") in METHODS and s["state"] in ("queued", "running")]
        if live:
            st.session_state[job_key] = live[0]
    return jobs_ui.follow(job_key, poll=_poll)


def status_line(status: dict) -> str:
    text = f"{METHODS.get(status.get('kind'), status.get('kind'))} {status['job_id']}: " \
           f"{status['state']}"
    if status.get("attempt", 1) > 1:
        text += f" (attempt {status['attempt']})"
    if status.get("cancel_requested"):
        text += " — cancel requested"
    return f"{text} — {status.get('message', '')}"


@st.fragment(run_every=1.0)
def _poll(job_key: str) -> None:
    job_id = st.session_state.get(job_key)
    if not job_id:
        return
    bus = state.job_bus()
    status = bus.status(job_id)
    st.progress(float(status.get("progress") or 0.0), text=status_line(status))
    if status["state"] not in ("queued", "running"):
        st.rerun()
    if not status.get("cancel_requested") and st.button("Cancel", key="research_cancel"):
        from engine.errors import ItaError

        try:
            bus.cancel(job_id)
        except ItaError as error:  # it finished meanwhile
            st.info(str(error))
        st.rerun(scope="fragment")


def trials_columns(objective: str) -> dict:
    number = st.column_config.NumberColumn
    return {"value": number(OBJECTIVE_LABELS.get(objective, objective), format="%.3f"),
            "trades": number("trades", format="%d"),
            "win_rate": number("win rate", format="percent"),
            "expectancy_r": number("expectancy", format="%+.2f R"),
            "profit_factor": number("profit factor", format="%.2f"),
            "total_return_pct": number("return %", format="%.1f"),
            "max_drawdown_pct": number("max drawdown %", format="%.1f")}


def heatmap(trials: pd.DataFrame, x: str, y: str, objective: str) -> go.Figure:
    """The objective over two parameters (the best value where other parameters vary): a broad
    warm area is a robust plateau, a lone bright cell a spike that will not repeat."""
    table = trials.pivot_table(index=y, columns=x, values="value", aggfunc="max", dropna=False)
    counts = trials.pivot_table(index=y, columns=x, values="trades", aggfunc="max")
    counts = counts.reindex(index=table.index, columns=table.columns)
    text = [[("" if pd.isna(v) else f"{v:.2f}") + ("" if pd.isna(n) else f"<br>{int(n)} tr")
             for v, n in zip(row_v, row_n, strict=True)]
            for row_v, row_n in zip(table.to_numpy(), counts.to_numpy(), strict=True)]
    fig = go.Figure(go.Heatmap(
        z=table.to_numpy(), x=[str(c) for c in table.columns], y=[str(i) for i in table.index],
        text=text, texttemplate="%{text}", colorscale="RdYlGn", hoverongaps=False,
        colorbar={"title": OBJECTIVE_LABELS.get(objective, objective)}))
    fig.update_layout(height=420, margin={"l": 40, "r": 10, "t": 40, "b": 40},
                      title=f"{OBJECTIVE_LABELS.get(objective, objective)} by {x} and {y} "
                            "(blank: too few trades)",
                      xaxis_title=x, yaxis_title=y)
    return fig


def param_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("param:")]


def windows_figure(windows: pd.DataFrame, objective: str) -> go.Figure:
    """In-sample against out-of-sample objective per walk-forward window, the chosen parameters
    in each bar's label."""
    label = OBJECTIVE_LABELS.get(objective, objective)
    names = [f"#{int(w)}" for w in windows["window"]]
    chosen = ["<br>".join(f"{c.removeprefix('param:')} = {row[c]:g}"
                          for c in param_columns(windows) if pd.notna(row[c]))
              for _, row in windows.iterrows()]
    fig = go.Figure([
        go.Bar(name=f"in-sample (train) {label}", x=names, y=windows["in_sample"],
               marker_color="#95a5a6", customdata=chosen,
               hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>in-sample</extra>"),
        go.Bar(name=f"out-of-sample (test) {label}", x=names, y=windows["out_of_sample"],
               marker_color="#2980b9", customdata=chosen, text=chosen, textposition="outside",
               hovertemplate="%{x}: %{y:.3f}<br>%{customdata}<extra>out-of-sample</extra>")])
    fig.update_layout(barmode="group", height=420, legend={"orientation": "h"},
                      margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      title=f"{label} per window: what the optimiser saw vs what followed")
    return fig


def equity_figure(oos: pd.DataFrame, in_sample: pd.DataFrame) -> go.Figure:
    """The stitched out-of-sample equity (bold) and each window's in-sample equity on its own
    train window (thin), all as % return from their first bar."""
    fig = go.Figure()
    for window, part in in_sample.groupby("window", sort=True):
        curve = part["equity"] / part["equity"].iloc[0] * 100 - 100
        fig.add_trace(go.Scatter(x=part.index, y=curve, mode="lines", opacity=0.6,
                                 line={"width": 1, "color": "#95a5a6"},
                                 name=f"in-sample #{int(window)}", legendgroup="in",
                                 showlegend=bool(window == in_sample["window"].min())))
    if len(oos):
        curve = oos["equity"] / oos["equity"].iloc[0] * 100 - 100
        fig.add_trace(go.Scatter(x=oos.index, y=curve, mode="lines", name="out-of-sample",
                                 line={"width": 3, "color": "#2980b9"}))
    fig.update_layout(height=420, yaxis_title="return %", legend={"orientation": "h"},
                      margin={"l": 40, "r": 10, "t": 40, "b": 30},
                      title="Equity: out-of-sample (stitched) and in-sample per train window")
    return fig


def describe(summary: dict) -> str:
    """One line: what was searched, on what."""
    ranges = ", ".join(f"{p} {r['low']:g}–{r['high']:g}"
                       + (f" step {r['step']:g}" if r.get("step") else "")
                       for p, r in summary.get("ranges", {}).items())
    return (f"{METHODS.get(summary['kind'], summary['kind'])} of {summary['setup']} on "
            f"{summary['symbol']} {summary['timeframe']}, {summary['data_start'][:16]} → "
            f"{summary['data_end'][:16]} ({summary['bars']:,} bars); objective "
            f"{OBJECTIVE_LABELS.get(summary['objective'], summary['objective'])}, at least "
            f"{summary['min_trades']} trades; ranges {ranges}")


def result_label(summary: dict) -> str:
    best = summary.get("best_value")
    return (f"{summary['finished_at'][:16].replace('T', ' ')} · "
            f"{METHODS.get(summary['kind'], summary['kind'])} · {summary['setup']} · "
            f"best {fmt(best)}")


def result_version(summary: dict) -> tuple[str, int]:
    """The setup id and version a result searched (its summary's ``setup``, ``id@N``)."""
    setup_id, _, version = summary["setup"].rpartition("@")
    return setup_id, int(version)


def results_of(setup_id: str) -> list[str]:
    """The finished research jobs of `setup_id` (any version), newest first: the page never
    shows one setup's result under another's form."""
    store = research_store()
    ids = tuple(store.ids())
    stamp = store.root.stat().st_mtime if store.root.exists() else 0.0
    setups = _setups(str(store.root), ids, stamp)
    return [job for job, searched in zip(ids, setups, strict=True) if searched == setup_id]


@st.cache_data(show_spinner=False, max_entries=8)
def _setups(root: str, ids: tuple[str, ...], stamp: float) -> list[str]:
    from pathlib import Path

    from engine.backtest.research import ResearchStore

    store = ResearchStore(Path(root))
    return [result_version(store.summary(job))[0] for job in ids]


def result_heading(summary: dict, version: int) -> tuple[str, str | None]:
    """The result's title naming exactly what was searched (``sma-cross v1 · Grid sweep``)
    and, when the form above is on another version, a warning saying so."""
    setup_id, searched = result_version(summary)
    title = (f"Result: {setup_id} v{searched} · {METHODS.get(summary['kind'], summary['kind'])}"
             f" · {summary['symbol']}")
    if searched == version:
        return title, None
    return title, (f"This result is of {setup_id} v{searched}; the form above is on "
                   f"v{version}. Run a search on v{version} to see its own.")


def kept_ranges(here: str, optimise: dict) -> pd.DataFrame:
    """The ranges the trader last submitted for this setup version in this session (else the
    setup's own): leaving the page or switching setup and back does not lose them."""
    kept = st.session_state.get("research_ranges_kept", {}).get(here)
    return kept.copy() if kept is not None else ranges_frame(optimise)


def keep_ranges(here: str, edited: pd.DataFrame) -> None:
    st.session_state.setdefault("research_ranges_kept", {})[here] = edited.copy()


def research_store():
    from engine.backtest.research import ResearchStore

    return ResearchStore.from_settings(state.settings())


@st.cache_data(show_spinner=False, max_entries=16)
def _load(root: str, job_id: str, stamp: float):
    from pathlib import Path

    from engine.backtest.research import ResearchStore

    return ResearchStore(Path(root)).load(job_id)


def load_result(job_id: str):
    """A finished research job's summary and tables (cached until its folder changes)."""
    store = research_store()
    summary = store.root / job_id / "summary.json"
    stamp = summary.stat().st_mtime if summary.exists() else 0.0
    return _load(str(store.root), job_id, stamp)
