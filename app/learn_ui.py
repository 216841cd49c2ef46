"""The Learning page's parts: which setup version, its dataset, the verdict and its numbers, the
curves, the top features, champion vs challenger, one signal explained with its similar past
cases, and the Retrain job. Everything shown comes from `engine.learn` (ops, registry, explain);
loaders are cached on the registry's and the candles' file times, so only the Retrain job ever
trains."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import state
from app.charts import candle_figure
from app.jobs_ui import follow
from engine.errors import ItaError
from engine.learn import ops, registry
from engine.learn.explain import display_name, format_value

JOB_KEY = "learning_job"
NOTICE_KEY = "learning_notice"
CASE_BARS = 120  # bars in a similar case's chart (the signal sits at the last third)


# ------------------------------------------------------------------------------ loaders

def _registry_stamp(settings, setup_id: str) -> str:
    """Changes whenever a model, decision or champion pointer of `setup_id` is written."""
    return state._stamp(settings.shared_kb_dir / registry.ANALYSTS,
                        f"*/{registry.MODELS}/{setup_id}/v*/**/*.json")


def _data_stamp(setup_id: str) -> str:
    """Changes whenever what the setup's dataset is built from changes: the stored candles, the
    setup's versions, and the analyst's labels (the dataset's ``trader_label`` column)."""
    from engine.learn.labels import labels_dir

    store = state.candle_store()
    return (state._stamp(store.root, "*/*/*.parquet")
            + state._setup_stamp(state.setup_store(), setup_id)
            + state._stamp(labels_dir(state.settings()), "*.yaml"))


@st.cache_data(show_spinner=False, max_entries=32)
def _cards(home: str, analyst: str, stamp: str, setup_id: str, version: int,
           _settings) -> tuple:
    """(latest card, every model of this setup version) — `ops.latest_card`, `list_models`."""
    cards = [c for c in registry.list_models(_settings, setup_id) if c.setup_version == version]
    return ops.latest_card(_settings, setup_id, version), cards


@st.cache_data(show_spinner=False, max_entries=8)
def _dataset(home: str, stamp: str, ref: str, symbol: str | None, _settings):
    return ops.dataset_for(_settings, ref, symbol=symbol)


@st.cache_data(show_spinner=False, max_entries=8)
def _model(home: str, stamp: str, model_id: str, _settings):
    return registry.load_model(_settings, model_id)[0]


@st.cache_data(show_spinner=False, max_entries=64)
def _story(home: str, stamps: tuple, model_id: str, ref: str, symbol, signal_id: str,
           _settings):
    model = _model(home, stamps[0], model_id, _settings)
    dataset = _dataset(home, stamps[1], ref, symbol, _settings)
    pool = _pool(home, stamps[0], model_id, _settings)
    return ops.signal_story(model, dataset, signal_id, pool=pool,
                            weights=_case_weights(home, stamps, model_id, ref, symbol,
                                                  _settings))


@st.cache_data(show_spinner=False, max_entries=16)
def _case_weights(home: str, stamps: tuple, model_id: str, ref: str, symbol,
                  _settings) -> dict:
    """The weights similar cases are found by (`feature_weights` over the cases: the pool of a
    pooled model, else the setup's own signals), once per model and dataset instead of once
    per signal picked (~0.7 s each)."""
    pool = _pool(home, stamps[0], model_id, _settings)
    if pool is None:
        return _weights(home, stamps, model_id, ref, symbol, _settings)
    from engine.learn.explain import feature_weights

    return feature_weights(_model(home, stamps[0], model_id, _settings), pool.frame)


@st.cache_data(show_spinner=False, max_entries=4)
def _pool(home: str, stamp: str, model_id: str, _settings):
    """The pooled dataset a pooled model learned from (its similar cases), else None."""
    return ops.pool_of(registry.find_model(_settings, model_id))


@st.cache_data(show_spinner=False, max_entries=16)
def _weights(home: str, stamps: tuple, model_id: str, ref: str, symbol, _settings) -> dict:
    from engine.learn.explain import feature_weights

    model = _model(home, stamps[0], model_id, _settings)
    dataset = ops.aligned(_dataset(home, stamps[1], ref, symbol, _settings), model.features)
    return feature_weights(model, dataset.frame)


@st.cache_data(show_spinner=False, max_entries=64)
def _case_figure(stamp: str, symbol: str, timeframe: str, known_at, title: str, side: int):
    bar = pd.Timedelta(timeframe)
    candles = state.candles(symbol, timeframe, known_at - bar * (2 * CASE_BARS // 3),
                            known_at + bar * (CASE_BARS // 3))
    fig = candle_figure(candles, timeframe, title=title, height=220, max_candles=CASE_BARS)
    fig.add_vline(x=known_at, line_color="#26a69a" if side > 0 else "#ef5350", line_dash="dot")
    fig.update_layout(margin={"l": 8, "r": 8, "t": 30, "b": 8}, showlegend=False)
    return fig


class Learning:
    """What the page knows of one setup version (loaded once per run)."""

    def __init__(self, settings, setup_id: str, version: int) -> None:
        self.settings, self.setup_id, self.version = settings, setup_id, int(version)
        self.ref = f"{setup_id}@{self.version}"
        self.key = f"{setup_id}_{self.version}"  # widget keys ("@" is no CSS class name)
        self.home = str(settings.home)
        self.model_stamp = _registry_stamp(settings, setup_id)
        self.data_stamp = _data_stamp(setup_id)
        self.card, self.cards = _cards(self.home, settings.analyst, self.model_stamp, setup_id,
                                       self.version, settings)
        self.symbol = _only_symbol(self.card)

    def dataset(self):
        with st.spinner(f"Building the dataset of {self.ref} (once per data change)…"):
            return _dataset(self.home, self.data_stamp, self.ref, self.symbol, self.settings)


_prebuilt: dict[tuple[str, str], tuple[str, str]] = {}  # (home, ref) -> stamps built with


def prebuild(settings, setup_id: str, version: int) -> None:
    """Fill the loaders the Learning page reads for `setup_id@version` on its first open: the
    dataset and, when a model exists, the model, its top features and the latest signal's story
    (the **Explain a signal** view's first answer). The same cache keys as the page's, so the
    page finds them. Once built, a version whose model and data stamps have not changed is
    skipped (a few `stat` calls): the server's keeper asks every `DEMO_CHECK_S`, and reading
    the cached dataset back copies it."""
    learning = Learning(settings, setup_id, version)
    stamps = (learning.model_stamp, learning.data_stamp)
    if _prebuilt.get((learning.home, learning.ref)) == stamps:
        return
    dataset = _dataset(learning.home, learning.data_stamp, learning.ref, learning.symbol,
                       settings)
    if learning.card is not None and len(dataset.frame):
        model_id = learning.card.model_id
        _weights(learning.home, stamps, model_id, learning.ref, learning.symbol, settings)
        latest = str(dataset.frame.sort_values("known_at", ascending=False)["signal_id"].iloc[0])
        _story(learning.home, stamps, model_id, learning.ref, learning.symbol, latest, settings)
    _prebuilt[(learning.home, learning.ref)] = stamps


def prebuild_active(settings, *, between=None) -> None:
    """`prebuild` each setup's active version (`ops.active_refs`), calling `between()` (the
    server's `wait_until_idle`) before each, so that no page run waits for them."""
    for ref in ops.active_refs(settings):
        if between is not None:
            between()
        setup_id, version = ref.split("@")
        try:
            prebuild(settings, setup_id, int(version))
        except ItaError:  # no candles yet, a broken version: the page says so when opened
            continue


def _only_symbol(card) -> str | None:
    if card is None:
        return None
    symbols = card.dataset.get("symbols") or [card.dataset.get("symbol")]
    return symbols[0] if len(symbols) == 1 else None


# ------------------------------------------------------------------------------ choosing

def choose_version() -> tuple[str, int] | None:
    """Setup and version selectors (the active version preselected, the choice kept for the
    session); None when there are no setups."""
    store = state.setup_store()
    ids = store.ids()
    if not ids:
        st.info("No setups yet: run `ita demo` to add the examples.")
        return None
    left, right = st.columns(2)
    setup_id = left.selectbox("Setup", ids, key="learning_setup", persist_state="session")
    numbers = state.version_numbers(setup_id)
    active = store.active(setup_id)
    version = right.selectbox("Version", numbers, index=numbers.index(active),
                              key=f"learning_version_{setup_id}", persist_state="session",
                              format_func=lambda n: f"v{n}" + (" (active)" if n == active
                                                               else ""))
    return setup_id, int(version)


# ------------------------------------------------------------------------------ the numbers

def _num(value, digits: int = 2) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{float(value):.{digits}f}"


def dataset_part(dataset) -> None:
    """Signals, known outcomes, date range and symbols."""
    meta, frame = dataset.meta, dataset.frame
    known = int(frame["hit_target"].notna().sum()) if "hit_target" in frame else len(frame)
    reached = int(frame["hit_target"].sum()) if len(frame) else 0
    first, last = (frame["known_at"].min(), frame["known_at"].max()) if len(frame) else (None,
                                                                                         None)
    cols = st.columns([1, 1, 2, 1])
    cols[0].metric("Signals", f"{int(meta.get('signals', len(frame))):,}")
    cols[1].metric("Known outcomes", f"{known:,}", f"{reached:,} reached target",
                   delta_color="off", delta_arrow="off")
    cols[2].metric("From – to", "—" if first is None else
                   f"{first:%Y-%m-%d} – {last:%Y-%m-%d}")
    cols[3].metric("Symbols", ", ".join(meta.get("symbols") or [str(meta.get("symbol", "—"))]))
    if meta.get("skipped_symbols"):
        st.caption(f"No stored candles for {', '.join(meta['skipped_symbols'])}: left out.")


def verdict_part(card, early) -> None:
    """The verdict sentence and, for a stored model, its walk-forward numbers and baselines."""
    if card is None:
        if early is not None:
            st.warning(f"**Verdict:** {early.verdict}")
        return
    metrics = card.metrics
    words = "the champion" if card.status == "champion" else f"the {card.status} model"
    say = st.success if card.better_than_chance else st.warning
    say(f"**Verdict** ({words} `{card.model_id}`): {metrics['verdict']}")
    if ops.is_pooled(card):
        pool_part(card)
    base = metrics.get("baselines", {})
    rows = [("model (walk-forward)", metrics.get("auc"), metrics.get("brier"),
             metrics.get("log_loss"))]
    rows += [(f"baseline: {kind}", scores.get("auc"), scores.get("brier"),
              scores.get("log_loss")) for kind, scores in base.items()]
    cols = st.columns([1, 2])
    cols[0].metric("AUC", _num(metrics.get("auc")),
                   f"95 % interval {_num(metrics.get('auc_low'))} – "
                   f"{_num(metrics.get('auc_high'))}", delta_color="off", delta_arrow="off")
    cols[0].metric("Expected R above the threshold", _num(metrics.get("expected_r")),
                   _kept(metrics), delta_color="off", delta_arrow="off")
    cols[1].dataframe(pd.DataFrame(rows, columns=["", "AUC", "Brier", "log loss"]),
                      hide_index=True, key="learning_scores",
                      column_config={name: st.column_config.NumberColumn(format="%.3f")
                                     for name in ("AUC", "Brier", "log loss")})
    cols[1].caption(f"{int(metrics.get('n', 0)):,} signals tested out of sample in "
                    f"{int(metrics.get('folds', 0))} walk-forward folds; lower Brier and log "
                    "loss are better; an AUC of 0.5 is chance.")


def pool_part(card) -> None:
    """A pooled model's pool, named: its setups and their signals."""
    pool = card.dataset["pool"]
    members = ", ".join(f"{ref} ({count:,})" for ref, count in pool["signals"].items())
    st.caption(f"**Pooled model** — {card.ref} has too few signals for a model of its own, so "
               f"this model learned from the {int(pool['rows']):,} signals of "
               f"{len(pool['members'])} setups ({members}), with the setup as a feature. Its "
               "numbers are the pool's, tested walk-forward on the pooled signals; similar cases "
               f"come from {card.setup_id}'s own signals first.")


def _kept(metrics: dict) -> str:
    kept, threshold = int(metrics.get("trades_kept", 0)), float(metrics.get("threshold") or 0)
    if not kept:
        return "no threshold keeps enough trades"
    if threshold <= 0:
        return f"all {kept:,} signals (no threshold did better)"
    return f"{kept:,} trades kept at probability ≥ {threshold:.2f}"


def curves_part(card) -> None:
    """Reliability curve and threshold curve, side by side."""
    calibration = pd.DataFrame(card.metrics.get("calibration") or [])
    thresholds = pd.DataFrame(card.metrics.get("thresholds") or [])
    left, right = st.columns(2)
    left.plotly_chart(reliability_figure(calibration), key="learning_chart_calibration")
    right.plotly_chart(threshold_figure(thresholds, card.metrics.get("threshold")),
                       key="learning_chart_threshold")


def reliability_figure(calibration: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect",
                    line={"dash": "dot", "color": "#999"})
    if len(calibration):
        fig.add_scatter(x=calibration["mean_predicted"], y=calibration["observed"],
                        mode="lines+markers", name="model",
                        text=[f"{int(c)} signals" for c in calibration["count"]])
    fig.update_layout(title="Calibration: predicted vs observed (out of sample)", height=300,
                      xaxis_title="predicted probability", yaxis_title="share reached target",
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, showlegend=False)
    return fig


def threshold_figure(thresholds: pd.DataFrame, chosen) -> go.Figure:
    fig = go.Figure()
    if len(thresholds):
        fig.add_scatter(x=thresholds["threshold"], y=thresholds["expected_r"], name="expected R",
                        mode="lines+markers")
        fig.add_bar(x=thresholds["threshold"], y=thresholds["trades"], name="trades kept",
                    yaxis="y2", opacity=0.3, width=0.03)
    if chosen:
        fig.add_vline(x=float(chosen), line_dash="dot", line_color="#888")
    fig.update_layout(title="Threshold: expected R and trades kept (out of sample)", height=300,
                      xaxis_title="probability threshold", yaxis_title="expected R per trade",
                      yaxis2={"overlaying": "y", "side": "right", "title": "trades kept",
                              "showgrid": False},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10},
                      legend={"orientation": "h", "y": -0.3})
    return fig


def features_part(learning: Learning, dataset) -> None:
    """The champion's (or latest model's) most important features in words."""
    weights = _weights(learning.home, (learning.model_stamp, learning.data_stamp),
                       learning.card.model_id, learning.ref, learning.symbol, learning.settings)
    top = sorted(weights.items(), key=lambda item: -item[1])[:8]
    rows = [{"feature": display_name(name)[0], "weight": weight,
             "typical value": format_value(float(dataset.frame[name].median()),
                                           display_name(name)[1])
             if name in dataset.frame else "—"} for name, weight in top]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="learning_features",
                 column_config={"weight": st.column_config.ProgressColumn(
                     "importance", format="%.2f", min_value=0.0,
                     max_value=max([w for _, w in top] + [1.0]))})


# ------------------------------------------------------------------------------ the models

def models_part(learning: Learning) -> None:
    """Every model of this setup version, champion first, with its decision; Promote."""
    if not learning.cards:
        return
    rows = [{"model": c.model_id, "status": c.status, "analyst": c.analyst,
             "trained": c.trained_at[:16].replace("T", " "), "AUC": c.metrics.get("auc"),
             "AUC low": c.metrics.get("auc_low"), "expected R": c.metrics.get("expected_r"),
             "signals": int(c.params.get("rows", c.metrics.get("n", 0))), "why": c.reason}
            for c in sorted(learning.cards, key=lambda c: (c.status != "champion",
                                                           c.trained_at), reverse=False)]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="learning_models",
                 column_config={"AUC": st.column_config.NumberColumn(format="%.3f"),
                                "AUC low": st.column_config.NumberColumn(format="%.3f"),
                                "expected R": st.column_config.NumberColumn(format="%.2f")})
    others = [c.model_id for c in learning.cards if c.status != "champion"]
    if others:
        promote_part(learning, others)


def promote_part(learning: Learning, model_ids: list[str]) -> None:
    left, mid, right = st.columns([2, 2, 1], vertical_alignment="bottom")
    chosen = left.selectbox("Make champion", model_ids, index=len(model_ids) - 1,
                            key=f"learning_promote_{learning.key}")
    sure = mid.checkbox("Yes, replace the champion by hand, whatever its numbers",
                        key=f"learning_promote_sure_{learning.key}")
    if right.button("Promote", key=f"learning_promote_button_{learning.key}", disabled=not sure):
        registry.promote(learning.settings, chosen, reason="promoted by hand on the Learning "
                                                           "page")
        st.session_state[NOTICE_KEY] = f"{chosen} is now the champion of {learning.ref}."
        st.session_state.pop(f"learning_promote_sure_{learning.key}", None)
        st.rerun()


# ------------------------------------------------------------------------------ one signal

@st.fragment
def signal_part(learning: Learning, dataset) -> None:
    """Pick one signal (latest first): its probability, strengths and weaknesses, and its most
    similar past cases with their outcome and a small chart. A fragment: picking another
    signal redraws only this part."""
    frame = dataset.frame.sort_values("known_at", ascending=False)
    ids = frame["signal_id"].astype(str).tolist()
    times = dict(zip(ids, frame["known_at"], strict=True))
    signal = st.selectbox("Signal", ids, key=f"learning_signal_{learning.key}",
                          format_func=lambda s: f"{times[s]:%Y-%m-%d %H:%M} · {s}")
    row, explanation, cases = _story(learning.home, (learning.model_stamp, learning.data_stamp),
                                     learning.card.model_id, learning.ref, learning.symbol,
                                     signal, learning.settings)
    if not learning.card.better_than_chance:
        st.caption(f"Model {learning.card.model_id} is not better than chance: its reasons "
                   "describe what it learned, not an edge.")
    first = row.iloc[0]
    outcome = "reached target" if int(first["hit_target"]) == 1 else "did not reach target"
    left, right = st.columns([1, 2])
    left.metric("Probability of reaching target", f"{explanation.probability:.0%}",
                f"it {outcome} ({float(first['r_multiple']):+.2f} R)", delta_color="off",
                delta_arrow="off")
    right.markdown("\n".join([f"- :green[+] {r.text}" for r in explanation.strengths]
                             + [f"- :red[−] {r.text}" for r in explanation.weaknesses])
                   or "No feature moved this signal's probability.")
    st.markdown(f"**Similar past cases:** {cases.summary}"
                + ("" if math.isnan(cases.average_r) else f", average {cases.average_r:+.2f} R"))
    cases_part(learning, row, cases)


def cases_part(learning: Learning, row: pd.DataFrame, cases) -> None:
    table = cases.rows.assign(
        side=cases.rows["side"].map({1: "long", -1: "short"}),
        outcome=cases.rows["hit_target"].map({1: "target", 0: "stop / exit"}),
        when=cases.rows["known_at"].dt.strftime("%Y-%m-%d %H:%M"))
    st.dataframe(table[["when", "symbol", "side", "outcome", "r_multiple", "distance"]],
                 hide_index=True, key=f"learning_cases_{learning.key}",
                 column_config={"r_multiple": st.column_config.NumberColumn("R", format="%+.2f"),
                                "distance": st.column_config.NumberColumn(format="%.2f")})
    if not len(table):
        return
    timeframe = state.setup_version(learning.setup_id, learning.version).setup.market.timeframe
    labels = [f"{w} · {o}" for w, o in zip(table["when"], table["outcome"], strict=True)]
    pick = st.selectbox("Chart of a similar case", range(len(labels)),
                        format_func=labels.__getitem__, key=f"learning_case_{learning.key}")
    case, signal = table.iloc[int(pick)], row.iloc[0]
    left, right = st.columns(2)
    stamp = learning.data_stamp
    left.plotly_chart(_case_figure(stamp, str(signal["symbol"]), timeframe, signal["known_at"],
                                   "this signal", int(signal["side"])),
                      key="learning_chart_signal")
    right.plotly_chart(_case_figure(stamp, str(case["symbol"]), timeframe, case["known_at"],
                                    f"similar: {case['outcome']} ({case['r_multiple']:+.2f} R)",
                                    int(cases.rows["side"].iloc[int(pick)])),
                      key="learning_chart_case")


# ------------------------------------------------------------------------------ retraining

def retrain_part(learning: Learning) -> None:
    """The Retrain button: a `learn` job on the engine daemon's bus, its progress, its
    result."""
    if st.session_state.get(JOB_KEY):
        status = follow(JOB_KEY)
        if status is None:
            return
        st.session_state.pop(JOB_KEY, None)
        _job_result(status)
    engine = state.engine_state()
    alive = bool(engine and engine["alive"])
    if st.button("Retrain", key=f"learning_retrain_{learning.key}", type="primary"):
        st.session_state[JOB_KEY] = state.job_bus().submit("learn", {"setup": learning.ref})
        st.rerun()
    if not alive:
        st.caption("The engine daemon is not running: a retrain waits in its queue until "
                   "`ita engine start` (or train now in a terminal: "
                   f"`ita learn train {learning.ref}`).")


def _job_result(status: dict) -> None:
    if status["state"] != "done":
        st.error(f"Training {status['state']}: {status.get('error', '')}")
        return
    result = status.get("result") or {}
    if not result.get("trained"):
        st.warning(f"Nothing trained: {result.get('verdict', '')}")
        return
    st.success(f"Model {result['model_id']} ({result['status']}): {result.get('reason', '')}")


def notice() -> None:
    if text := st.session_state.pop(NOTICE_KEY, None):
        st.success(text)
