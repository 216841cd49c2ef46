"""The trader's labels as a dataset column (``trader_label``): matched to signals within the
labels check's tolerance, the nearer label winning, never a feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.learn.dataset import (
    LABEL_TOLERANCE_BARS,
    build_dataset,
    load_dataset,
    save_dataset,
    trader_labels,
)
from engine.learn.labels import add_label, make_label
from engine.settings import get_settings

SETUP = "london-asia-sweep-fvg"


@pytest.fixture()
def settings(home, tmp_path, monkeypatch):
    """The demo's candles and setups, with this test's own (empty) shared folder."""
    monkeypatch.setenv("ITA_HOME", str(home))
    monkeypatch.setenv("ITA_ANALYST", "anna")
    return get_settings().model_copy(update={"shared_kb_dir": tmp_path / "shared_kb"})


def _bars(dataset, index) -> np.ndarray:
    return index.searchsorted(pd.DatetimeIndex(dataset.frame["known_at"]), side="right") - 1


def test_labels_join_the_rows_they_mark_on_the_demo(settings) -> None:
    plain = build_dataset(settings, SETUP)
    assert plain.frame["trader_label"].isna().all() and plain.meta["labelled"] == 0
    from engine.pipeline import detect_setup

    index = detect_setup(SETUP).candles.index
    rows = _bars(plain, index)
    alone = [i for i, p in enumerate(rows)
             if all(abs(p - q) > 12 for j, q in enumerate(rows) if j != i)]
    a, b, c, d = (int(rows[i]) for i in alone[:4])
    add_label(settings, SETUP, time=index[a - LABEL_TOLERANCE_BARS], label="setup")  # within
    add_label(settings, SETUP, time=index[b + LABEL_TOLERANCE_BARS + 1], label="setup")  # out
    add_label(settings, SETUP, time=index[c], label="not")
    add_label(settings, SETUP, time=index[d + 2], label="not")
    add_label(settings, SETUP, time=index[d - 1], label="setup")  # nearer: wins
    dataset = build_dataset(settings, SETUP)
    marked = dict(zip(_bars(dataset, index).tolist(), dataset.frame["trader_label"],
                      strict=True))
    assert marked[a] == 1.0 and np.isnan(marked[b]) and marked[c] == 0.0 and marked[d] == 1.0
    assert dataset.meta["labelled"] == 3 == int(dataset.frame["trader_label"].notna().sum())
    assert "trader_label" not in dataset.features
    assert dataset.X.equals(plain.X)  # features stay what was known at known_at


def test_tie_goes_to_the_earlier_label_and_other_timeframes_or_outside_mark_nothing() -> None:
    index = pd.date_range("2023-03-01", periods=40, freq="5min", tz="UTC")
    known = pd.Series(index[[10, 30]])

    def label(position, kind, timeframe="5m"):
        return make_label("s", symbol="X", timeframe=timeframe, time=index[position],
                          label=kind)

    out = trader_labels(index, known, [label(12, "not"), label(8, "setup")])
    assert out[0] == 1.0 and np.isnan(out[1])  # both 2 bars away: the earlier bar wins
    assert np.isnan(trader_labels(index, known, [label(30, "setup")], 0)[0])
    assert trader_labels(index, known, [label(30, "setup")], 0)[1] == 1.0
    late = make_label("s", symbol="X", timeframe="5m", time=index[-1] + pd.Timedelta("1h"),
                      label="setup")
    assert np.isnan(trader_labels(index, known, [late], 40)).all()


def test_an_old_dataset_file_without_the_column_still_loads(settings, tmp_path) -> None:
    dataset = build_dataset(settings, SETUP)
    old = type(dataset)(dataset.frame.drop(columns="trader_label"), dataset.features,
                        dataset.meta)
    loaded = load_dataset(save_dataset(old, tmp_path / "old.parquet"))
    assert loaded.frame["trader_label"].isna().all()
