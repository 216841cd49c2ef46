"""The dataset end to end on the demo store: labels equal the backtester's trades, the rows
are deterministic, the Parquet file round-trips with its meta."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from engine.backtest.run import run_backtest
from engine.errors import DataError
from engine.learn.dataset import LABELS, build_dataset, load_dataset, save_dataset
from engine.settings import get_settings


@pytest.fixture()
def settings(home, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return get_settings()


@pytest.mark.parametrize("ref", ["london-asia-sweep-fvg", "sma-cross"])
def test_labels_equal_the_backtesters_trades(settings, ref) -> None:
    dataset = build_dataset(settings, ref)
    trades = run_backtest(ref).result.trades
    closed = trades[trades["exit_reason"] != "end"]
    assert len(closed) >= 3
    rows = dataset.frame.set_index("known_at")
    assert len(dataset.frame) >= len(closed)  # the signals the one-position rule skipped too
    for _, trade in closed.iterrows():
        row = rows.loc[trade["signal_time"]]
        assert row["outcome_at"] == trade["exit_time"]
        assert row["hit_target"] == int(trade["exit_reason"] == "target")
        assert np.isclose(row["r_multiple"], trade["r_net"], rtol=1e-9, atol=1e-12)
        assert row["side"] == trade["direction"]


def test_the_dataset_follows_its_contract(settings) -> None:
    dataset = build_dataset(settings, "london-asia-sweep-fvg")
    frame = dataset.frame
    assert list(frame.columns) == [*dataset.features, *LABELS]
    assert isinstance(frame.index, pd.RangeIndex) and frame["known_at"].is_monotonic_increasing
    assert str(frame["known_at"].dt.tz) == "UTC" and str(frame["outcome_at"].dt.tz) == "UTC"
    assert (frame["outcome_at"] > frame["known_at"]).all()
    assert set(frame["hit_target"]) <= {0, 1} and set(frame["side"]) <= {-1, 1}
    assert frame["signal_id"].is_unique and frame["signal_id"].dtype == object
    assert all(str(frame[f].dtype) == "float64" for f in dataset.features)
    meta = dataset.meta
    for key in ("setup_id", "setup_version", "rule_hash", "symbol", "timeframe", "data_start",
                "data_end", "data_hash", "costs", "feature_set"):
        assert meta[key] is not None, key
    assert meta["feature_set"] == "features_v1" and meta["lower_timeframe_resolution"]
    dropped = sum(meta["dropped"].values())
    assert meta["signals"] == meta["rows"] + dropped == len(frame) + dropped


def test_same_inputs_give_the_same_rows_and_bytes(settings, tmp_path) -> None:
    a = build_dataset(settings, "sma-cross")
    b = build_dataset(settings, "sma-cross")
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
    assert a.meta == b.meta
    first, second = save_dataset(a, tmp_path / "a.parquet"), save_dataset(b, tmp_path / "b.parquet")
    assert first.read_bytes() == second.read_bytes()
    loaded = load_dataset(first)
    pd.testing.assert_frame_equal(loaded.frame, a.frame, check_exact=True)
    assert loaded.features == a.features and loaded.meta == a.meta
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_that_is_not_a_dataset_is_refused(tmp_path) -> None:
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"x": [1.0]}).to_parquet(plain)
    with pytest.raises(DataError, match="plain.parquet: not an ITA dataset"):
        load_dataset(plain)
    broken = tmp_path / "broken.parquet"
    broken.write_text("nope")
    with pytest.raises(DataError, match="broken.parquet: not a readable dataset"):
        load_dataset(broken)


def test_no_signal_gives_an_empty_dataset_with_every_column(demo_candles) -> None:
    from pathlib import Path

    from engine.candles import resample
    from engine.learn.dataset import make_dataset
    from engine.setups import parse_setup

    text = (Path(__file__).resolve().parents[2] / "examples" / "setups" /
            "pdh-sweep-reversal.yaml").read_text()
    setup = parse_setup(text)
    dataset = make_dataset(setup, resample(demo_candles.iloc[:600], setup.market.timeframe),
                           symbol="BTC/USDT", version=2)
    assert dataset.meta["signals"] == 0 and dataset.frame.empty
    assert list(dataset.frame.columns) == [*dataset.features, *LABELS]
    assert len(dataset.features) > 20


def test_pooled_datasets_keep_every_row_with_the_setup_as_a_feature(settings) -> None:
    from engine.learn.dataset import pool_datasets

    a = build_dataset(settings, "london-asia-sweep-fvg")
    b = build_dataset(settings, "bos-order-block-retest")
    pooled = pool_datasets([a, b])
    frame = pooled.frame
    assert len(frame) == len(a.frame) + len(b.frame)
    assert frame["known_at"].is_monotonic_increasing
    assert list(frame.columns) == [*pooled.features, *LABELS]
    for dataset, column in ((a, "setup_london-asia-sweep-fvg"),
                            (b, "setup_bos-order-block-retest")):
        mine = frame[frame["setup_id"] == dataset.meta["setup_id"]].reset_index(drop=True)
        assert (mine[column] == 1.0).all() and len(mine) == len(dataset.frame)
        pd.testing.assert_frame_equal(mine[list(dataset.features)],
                                      dataset.frame[list(dataset.features)], check_exact=True)
    only_a = [f for f in a.features if f not in b.features]
    assert only_a and frame.loc[frame["setup_id"] == "bos-order-block-retest", only_a].isna(
    ).all().all()
    with pytest.raises(DataError, match="no dataset to pool"):
        pool_datasets([])


def test_the_journal_joins_the_rows_by_signal_id(home, monkeypatch, tmp_path) -> None:
    import shutil

    from engine.adapters.journal import JournalStore
    from engine.journal import TradeKey, entry_id

    copy = tmp_path / "home"
    shutil.copytree(home, copy)  # the module's home stays unannotated
    monkeypatch.setenv("ITA_HOME", str(copy))
    settings = get_settings()
    before = build_dataset(settings, "sma-cross")
    row = before.frame.iloc[5]
    key = TradeKey(row["setup_id"], row["setup_version"], row["symbol"], row["known_at"],
                   row["side"])
    assert row["signal_id"] == entry_id(key) and row["journal_tags"] == ""
    JournalStore.from_settings(settings).annotate(key, tags="a+, news", mistakes="late-entry")
    after = build_dataset(settings, "sma-cross")
    assert after.frame.loc[5, "journal_tags"] == "a+,news"
    assert after.frame.loc[5, "journal_mistakes"] == "late-entry"
    assert (after.frame.drop(index=5)["journal_tags"] == "").all()
    assert after.features == before.features  # the trader's labels are not features
