"""Importers on real files, every bad input named in issue 2, and the store left untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.adapters.importers import TimeframeMismatch, import_file, read_candles_file
from engine.adapters.store import CandleStore
from engine.errors import DataError
from tests.conftest import BTCUSDT_CSV


def _store_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def store(tmp_path) -> CandleStore:
    return CandleStore(tmp_path / "candles")


def test_binance_demo_file_imports_exactly(store, demo_candles) -> None:
    report = import_file(BTCUSDT_CSV, symbol="BTC/USDT", timeframe="1m", store=store,
                         source="binanceus")
    assert (report.rows, report.added) == (30_240, 30_240)
    stored = store.read("BTC/USDT", "1m")
    pd.testing.assert_frame_equal(stored, demo_candles, check_index_type=False,
                                  check_names=False)
    assert (stored["volume"] == 0).sum() == 658  # zero-volume bars are kept


def test_import_twice_changes_nothing(store) -> None:
    import_file(BTCUSDT_CSV, symbol="BTC/USDT", timeframe="1m", store=store, source="b")
    before = _store_digest(store.root)
    again = import_file(BTCUSDT_CSV, symbol="BTC/USDT", timeframe="1m", store=store,
                        source="b")
    assert (again.added, again.replaced, again.unchanged) == (0, 0, 30_240)
    assert _store_digest(store.root) == before


def test_overlap_merges_and_corrections_are_counted(store, demo_candles) -> None:
    store.upsert(demo_candles.iloc[:1000], source="b", symbol="X", timeframe="1m")
    part = demo_candles.iloc[500:1500].copy()
    part.iloc[0, part.columns.get_loc("close")] = part.iloc[0]["high"]  # a corrected bar
    report = store.upsert(part, source="b", symbol="X", timeframe="1m")
    assert (report.added, report.replaced, report.unchanged) == (500, 1, 499)
    merged = store.read("X", "1m")
    assert len(merged) == 1500 and merged.iloc[500]["close"] == part.iloc[0]["high"]


def _mt5_text(candles: pd.DataFrame, zone: str) -> str:
    local = candles.index.tz_convert(zone).tz_localize(None)
    lines = ["<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"]
    for t, row in zip(local, candles.itertuples(), strict=True):
        lines.append(f"{t:%Y.%m.%d}\t{t:%H:%M:%S}\t{row.open}\t{row.high}\t{row.low}\t"
                     f"{row.close}\t{int(row.volume * 100)}\t0\t12")
    return "\n".join(lines) + "\n"


def test_mt5_export_in_a_dst_zone_round_trips_to_utc(tmp_path, demo_candles) -> None:
    # New York changed clocks on 12 March 2023: the file's local times jump, UTC does not
    candles = demo_candles.loc["2023-03-11 20:00":"2023-03-12 12:00"]
    path = tmp_path / "EURUSD_M1.csv"
    path.write_text(_mt5_text(candles, "America/New_York"))
    parsed = read_candles_file(path, format="auto", tz="America/New_York")
    assert parsed.index.equals(candles.index.as_unit("ns").rename("time"))
    np.testing.assert_allclose(parsed["close"], candles["close"])
    np.testing.assert_allclose(parsed["volume"], (candles["volume"] * 100).astype(int))
    fixed = read_candles_file(path, format="mt5", tz="+02:00")
    assert fixed.index[0] == pd.Timestamp(candles.index.tz_convert("America/New_York")[0]
                                          .tz_localize(None)) .tz_localize("UTC") - \
        pd.Timedelta(hours=2)


def test_mt5_without_time_zone_is_refused(tmp_path, demo_candles) -> None:
    path = tmp_path / "x.csv"
    path.write_text(_mt5_text(demo_candles.iloc[:5], "UTC"))
    with pytest.raises(DataError, match="x.csv: MetaTrader 5 times are broker server time"):
        read_candles_file(path)


@pytest.mark.parametrize("time_values,name", [
    (["1700000000", "1700000060"], "epoch seconds"),
    (["1700000000000", "1700000060000"], "epoch milliseconds"),
    (["2023-11-14T22:13:20Z", "2023-11-14T22:14:20Z"], "ISO with zone"),
])
def test_generic_csv_time_formats(tmp_path, time_values, name) -> None:
    path = tmp_path / "g.csv"
    path.write_text("TIMESTAMP;Open;High;Low;Close;Volume\n" + "\n".join(
        f"{t};1;2;0.5;1.5;10" for t in time_values) + "\n")
    frame = read_candles_file(path)
    assert frame.index[0] == pd.Timestamp("2023-11-14 22:13:20", tz="UTC"), name
    assert frame.index[1] - frame.index[0] == pd.Timedelta(minutes=1)


def test_unsorted_rows_are_sorted(tmp_path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("time,open,high,low,close,volume\n2024-01-01 00:01,1,2,0,1,1\n"
                    "2024-01-01 00:00,1,2,0,1,1\n")
    assert read_candles_file(path).index.is_monotonic_increasing


BAD = {
    "missing column": ("time,open,high,low,close\n2024-01-01,1,2,0,1\n", "missing column"),
    "bad time": ("time,open,high,low,close,volume\n2024-01-01,1,2,0,1,1\nsoon,1,2,0,1,1\n",
                 r"b.csv:3: cannot read the time 'soon'"),
    "high below low": ("time,open,high,low,close,volume\n2024-01-01,1,1,2,1,1\n",
                       r"b.csv:2: high 1.0 is below low 2.0"),
    "open outside": ("time,open,high,low,close,volume\n2024-01-01,5,2,0,1,1\n",
                     r"b.csv:2: open 5.0 is outside"),
    "close outside": ("time,open,high,low,close,volume\n2024-01-01,1,2,0,9,1\n",
                      r"b.csv:2: close 9.0 is outside"),
    "negative volume": ("time,open,high,low,close,volume\n2024-01-01,1,2,0,1,-3\n",
                        r"b.csv:2: volume -3.0 is negative"),
    "duplicates differ": ("time,open,high,low,close,volume\n2024-01-01,1,2,0,1,1\n"
                          "2024-01-01,1,2,0,1.5,1\n", "duplicate time"),
    "not a number": ("time,open,high,low,close,volume\n2024-01-01,1,2,0,x,1\n",
                     r"b.csv:2: close 'x' is not a number"),
    "empty": ("", "the file is empty"),
    "header only": ("time,open,high,low,close,volume\n", "no candles"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_line_and_leaves_the_store(tmp_path, store, demo_candles,
                                                       case) -> None:
    store.upsert(demo_candles.iloc[:100], source="csv", symbol="B", timeframe="1m")
    before = _store_digest(store.root)
    text, message = BAD[case]
    path = tmp_path / "b.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as error:
        import_file(path, symbol="B", timeframe="1m", store=store)
    assert "\n" not in str(error.value)
    assert _store_digest(store.root) == before


def test_binary_file_is_refused(tmp_path, store) -> None:
    path = tmp_path / "b.csv"
    path.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(DataError, match="binary file"):
        import_file(path, symbol="B", timeframe="1m", store=store)


def test_identical_duplicates_are_collapsed(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("time,open,high,low,close,volume\n2024-01-01,1,2,0,1,1\n"
                    "2024-01-01,1,2,0,1,1\n")
    assert len(read_candles_file(path)) == 1


def test_large_file_is_read_in_chunks(tmp_path, monkeypatch, demo_candles) -> None:
    import engine.adapters.importers as importers

    monkeypatch.setattr(importers, "CHUNK_ROWS", 1000)
    frame = read_candles_file(BTCUSDT_CSV)
    assert len(frame) == 30_240
    bad = tmp_path / "late.csv"
    lines = BTCUSDT_CSV.read_text().splitlines()
    lines[25_001] = lines[25_001].replace(",", ",-", 1)  # negative open deep in the file
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="late.csv:25002"):
        read_candles_file(bad)


# --- the declared timeframe must match the bars -------------------------------------------

def _hourly_csv(path: Path, demo_candles: pd.DataFrame) -> Path:
    hourly = demo_candles.resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                              "close": "last", "volume": "sum"})
    hourly.rename_axis("time").to_csv(path, date_format="%Y-%m-%d %H:%M:%S")
    return path


def test_hourly_file_declared_as_1m_is_refused_and_nothing_is_stored(tmp_path, store,
                                                                     demo_candles) -> None:
    path = _hourly_csv(tmp_path / "EURUSD_H1.csv", demo_candles)
    with pytest.raises(TimeframeMismatch) as error:
        import_file(path, symbol="EURUSD", timeframe="1m", store=store)
    assert str(error.value) == ("EURUSD_H1.csv: bars are 1h apart but --timeframe 1m was "
                                "given; use --timeframe 1h")
    assert (error.value.spacing, error.value.suggested) == ("1h", "1h")
    assert store.series() == []
    report = import_file(path, symbol="EURUSD", timeframe="1h", store=store)
    assert report.rows == 504 and store.series()[0].missing_bars == 0


def test_minute_file_declared_as_1h_is_refused(tmp_path, store) -> None:
    with pytest.raises(TimeframeMismatch, match=r"^binanceus_BTCUSDT_1m_2023-03-01_2023-03-21"
                       r"\.csv: bars are 1m apart but --timeframe 1h was given; use "
                       r"--timeframe 1m$"):
        import_file(BTCUSDT_CSV, symbol="BTC/USDT", timeframe="1h", store=store)
    assert not store.root.exists() or _store_digest(store.root) == {}


def test_spacing_that_is_no_timeframe_is_refused(tmp_path, store, demo_candles) -> None:
    path = tmp_path / "ten.csv"
    demo_candles.iloc[::10].rename_axis("time").to_csv(path)
    with pytest.raises(TimeframeMismatch, match="ten.csv: bars are 10m apart but --timeframe "
                                                "1m was given; ITA's timeframes are 1m, 3m"):
        import_file(path, symbol="T", timeframe="1m", store=store)


def test_gaps_do_not_change_the_inferred_timeframe(tmp_path, store, demo_candles) -> None:
    # a 1m file with every weekend cut out and a few single bars dropped still is 1m
    weekdays = demo_candles[demo_candles.index.day_of_week < 5].drop(demo_candles.index[7:9])
    path = tmp_path / "weekdays.csv"
    weekdays.rename_axis("time").to_csv(path)
    report = import_file(path, symbol="W", timeframe="1m", store=store)
    info = store.series()[0]
    expected = (info.last - info.first) // pd.Timedelta(minutes=1) + 1 - report.rows
    assert info.missing_bars == expected > 0


def test_mt5_h4_export_across_a_dst_change_imports_without_phantom_gaps(tmp_path, store,
                                                                        demo_candles) -> None:
    # H4 bars on broker server time (Europe/Athens): in UTC one step is 3 h, at the 26 March
    # 2023 change; the old count made that -1 missing bars
    times = pd.date_range("2023-03-20", "2023-03-31", freq="4h").tz_localize("Europe/Athens")
    bars = demo_candles.iloc[:len(times)].set_axis(times.tz_convert("UTC"))
    path = tmp_path / "EURUSD_H4.csv"
    path.write_text(_mt5_text(bars, "Europe/Athens"))
    import_file(path, symbol="EURUSD", timeframe="4h", store=store, tz="Europe/Athens")
    steps = set(np.diff(store.read("EURUSD", "4h").index.asi8) // 3_600_000_000_000)
    assert steps == {4, 3}  # the clocks went forward: one step is shorter in UTC
    assert store.gaps("EURUSD", "4h").empty and store.series()[0].missing_bars == 0


def test_a_longer_step_than_one_bar_is_no_gap(store, demo_candles) -> None:
    # 4h bars with one 5h step (a fall-back DST change on server time): nothing is missing
    times = pd.DatetimeIndex(["2023-10-28 13:00", "2023-10-28 17:00", "2023-10-28 22:00",
                              "2023-10-29 02:00", "2023-10-29 14:00"], tz="UTC")
    store.upsert(demo_candles.iloc[:5].set_axis(times), source="x", symbol="S",
                 timeframe="4h")
    gaps = store.gaps("S", "4h")
    assert gaps["missing_bars"].tolist() == [2]  # 02:00 -> 14:00 misses 06:00 and 10:00
    assert store.series()[0].missing_bars == 2


def test_missing_bars_are_never_negative_for_a_series_stored_before_the_check(store,
                                                                              demo_candles):
    # earlier versions stored a 1m file declared as 1h: 60 bars in one hour
    store.upsert(demo_candles.iloc[:60], source="csv", symbol="OLD", timeframe="1h")
    assert store.series()[0].missing_bars == 0
    assert store.gaps("OLD", "1h").empty


def test_unknown_timeframe_is_refused_before_reading(tmp_path, store) -> None:
    with pytest.raises(DataError, match="timeframe '10m' is not one of ITA's timeframes"):
        import_file(BTCUSDT_CSV, symbol="B", timeframe="10m", store=store)
