"""The Data page: an import shows in the sidebar at once, a file whose bars contradict the
chosen timeframe is confirmed at the timeframe it shows, a series is deleted only once the box
is ticked, a symbol is renamed (never over another)."""

from __future__ import annotations

import pandas as pd
from streamlit.testing.v1 import AppTest

from engine.adapters.store import CandleStore
from tests.app._pages import page, texts
from tests.conftest import read_demo_candles


def symbols_in_sidebar(at: AppTest) -> list[str]:
    return list(at.selectbox(key="global_symbol").options)


def listed(at: AppTest) -> list[tuple[str, str, str]]:
    coverage = at.dataframe[0].value
    return sorted(zip(coverage["source"], coverage["symbol"], coverage["timeframe"],
                      strict=True))


def stored(home) -> list[tuple[str, str, str]]:
    return sorted((s.source, s.symbol, s.timeframe)
                  for s in CandleStore(home / "data" / "candles").series())


def hourly_csv(path):
    candles = read_demo_candles().iloc[:6000]
    hourly = candles.resample("1h").agg({"open": "first", "high": "max", "low": "min",
                                         "close": "last", "volume": "sum"})
    hourly.rename_axis("time").to_csv(path)
    return path


def test_an_imported_symbol_is_in_the_sidebar_in_the_same_run(app_home, tmp_path) -> None:
    csv = tmp_path / "eurusd.csv"
    csv.write_text("time,open,high,low,close,volume\n2024-01-02 00:00,1.1,1.2,1.0,1.15,5\n"
                   "2024-01-02 00:01,1.15,1.2,1.1,1.12,3\n")
    at = page("data")
    assert "EURUSD-TEST" not in symbols_in_sidebar(at)
    at.text_input(key="data_path").set_value(str(csv))
    at.text_input(key="data_symbol").set_value("EURUSD-TEST")
    at.button(key="data_import").click().run()
    assert not at.exception
    assert any("2 bars of EURUSD-TEST 1m" in s for s in texts(at.success))
    assert "EURUSD-TEST" in symbols_in_sidebar(at)
    assert ("csv", "EURUSD-TEST", "1m") in listed(at)


def test_a_file_of_another_timeframe_is_imported_once_confirmed(app_home, tmp_path) -> None:
    csv = hourly_csv(tmp_path / "EURUSD_H1.csv")
    at = page("data")
    at.text_input(key="data_path").set_value(str(csv))
    at.text_input(key="data_symbol").set_value("EURUSD")
    at.selectbox(key="data_timeframe").set_value("1m")
    at.button(key="data_import").click().run()
    assert not at.exception
    assert texts(at.warning) == ["EURUSD_H1.csv: its bars are 1h apart, but the timeframe "
                                 "chosen is 1m. Import it as 1h?"]
    assert not at.success and ("csv", "EURUSD", "1m") not in stored(app_home)
    at.button(key="data_import_inferred").click().run()
    assert not at.exception and not at.warning
    assert any("100 bars of EURUSD 1h" in s for s in texts(at.success)), texts(at.success)
    assert ("csv", "EURUSD", "1h") in stored(app_home)
    assert ("csv", "EURUSD", "1m") not in stored(app_home)
    assert "EURUSD" in symbols_in_sidebar(at)


def test_a_mismatch_can_be_cancelled(app_home, tmp_path) -> None:
    at = page("data")
    at.text_input(key="data_path").set_value(str(hourly_csv(tmp_path / "h.csv")))
    at.selectbox(key="data_timeframe").set_value("5m")
    at.button(key="data_import").click().run()
    at.button(key="data_import_cancel").click().run()
    assert not at.warning and not at.success
    assert "EURUSD" not in {symbol for _, symbol, _ in stored(app_home)}
    at.run()
    assert not at.warning  # the question does not come back


def test_delete_needs_the_box_ticked(app_home) -> None:
    at = page("data")
    at.selectbox(key="data_delete_series").set_value("BTC/USD 1m (binanceus)").run()
    assert at.button(key="data_delete").disabled
    at.checkbox(key="data_delete_confirm:BTC/USD 1m (binanceus)").check().run()
    assert not at.button(key="data_delete").disabled
    at.button(key="data_delete").click().run()
    assert not at.exception
    assert "Deleted BTC/USD 1m (binanceus)." in texts(at.success)
    assert stored(app_home) == [("binanceus", "BTC/USDT", "1m")]
    assert listed(at) == [("binanceus", "BTC/USDT", "1m")]
    assert symbols_in_sidebar(at) == ["BTC/USDT"]
    at.run()
    assert at.selectbox(key="data_delete_series").value == "BTC/USDT 1m (binanceus)"
    assert at.button(key="data_delete").disabled  # the next series is not armed


def test_rename_a_symbol_and_refuse_to_overwrite(app_home) -> None:
    at = page("data")
    at.selectbox(key="data_rename_from").set_value("BTC/USD (binanceus)")
    at.text_input(key="data_rename_to").set_value("BTC/USDT").run()
    at.button(key="data_rename").click().run()
    assert any("'BTC/USDT' already has candles from binanceus" in e for e in texts(at.error))
    assert stored(app_home) == [("binanceus", "BTC/USD", "1m"), ("binanceus", "BTC/USDT", "1m")]
    at.text_input(key="data_rename_to").set_value("BTC-USD").run()
    at.button(key="data_rename").click().run()
    assert "Renamed BTC/USD to BTC-USD (binanceus): 1m." in texts(at.success)
    assert stored(app_home) == [("binanceus", "BTC-USD", "1m"), ("binanceus", "BTC/USDT", "1m")]
    assert symbols_in_sidebar(at) == ["BTC-USD", "BTC/USDT"]


def test_gaps_of_the_chosen_series_are_listed(app_home) -> None:
    store = CandleStore(app_home / "data" / "candles")
    candles = read_demo_candles().iloc[:500]
    store.upsert(candles.drop(candles.index[100:103]), source="csv", symbol="GAPPY",
                 timeframe="1m")
    at = page("data")
    at.selectbox(key="global_symbol").set_value("GAPPY").run()
    assert "GAPPY 1m (csv): 1 gap(s), 3 missing bars" in texts(at.caption)
    gaps = pd.DataFrame(at.dataframe[1].value)
    assert gaps["missing_bars"].tolist() == [3]


def test_a_series_without_missing_bars_is_not_read_again_for_its_gaps(app_home,
                                                                       monkeypatch) -> None:
    reads = []
    real = CandleStore.gaps
    monkeypatch.setattr(CandleStore, "gaps",
                        lambda self, *a, **k: reads.append(a) or real(self, *a, **k))
    at = page("data")  # BTC/USDT: the listing counts no missing bar
    assert "BTC/USDT 1m (binanceus): 0 gap(s), 0 missing bars" in texts(at.caption)
    assert reads == []  # the page's first open does not read the 30,240 bars a second time
    assert len(at.dataframe) == 1  # the coverage table, no empty gaps table
