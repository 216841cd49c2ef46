"""What the Learning page's labels section needs from the label store: where each label came
from, times typed in the trader's zone, and the labels inside a chart's window."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from engine.errors import DataError
from engine.learn.labels import LabelStore, add_label, make_label, parse_time
from engine.settings import get_settings

SETUP = "london-asia-sweep-fvg"


@pytest.fixture()
def settings(home, tmp_path, monkeypatch):
    monkeypatch.setenv("ITA_HOME", str(home))
    return get_settings().model_copy(update={"shared_kb_dir": tmp_path / "shared_kb"})


def test_a_naive_time_is_read_in_the_given_zone() -> None:
    assert parse_time("2023-03-07 17:20", tz="Europe/Athens") == pd.Timestamp(
        "2023-03-07 15:20", tz="UTC")
    assert parse_time("2023-03-07 15:20+00:00", tz="Europe/Athens") == pd.Timestamp(
        "2023-03-07 15:20", tz="UTC")
    assert parse_time("2023-03-07 15:20") == pd.Timestamp("2023-03-07 15:20", tz="UTC")


def test_a_local_time_a_clock_change_skips_is_a_data_error() -> None:
    with pytest.raises(DataError, match="time: .*Europe/London"):
        make_label(SETUP, symbol="BTC/USDT", timeframe="5m", time="2023-03-26 01:30",
                   label="setup", tz="Europe/London")


def test_labels_remember_their_source(settings, tmp_path) -> None:
    from tests.learn.test_labels import png

    cli = add_label(settings, SETUP, time="2023-03-07 15:20", label="setup")
    shot = tmp_path / "a.png"
    shot.write_bytes(png())
    pictured = add_label(settings, SETUP, time="2023-03-07 16:20", label="not",
                         screenshot=shot)
    store = LabelStore.from_settings(settings)
    clicked = store.save(make_label(SETUP, symbol="BTC/USDT", timeframe="5m",
                                    time="2023-03-07 17:20", label="setup", source="chart"))
    assert [store.get(x.label_id).origin for x in (cli, pictured, clicked)] == [
        "cli", "screenshot", "chart"]
    with pytest.raises(DataError, match="source: must be one of chart, screenshot, cli"):
        make_label(SETUP, symbol="BTC/USDT", timeframe="5m", time="2023-03-07 17:20",
                   label="setup", source="telepathy")


def test_a_label_saved_before_sources_were_kept_still_reads(settings) -> None:
    store = LabelStore.from_settings(settings)
    made = store.save(make_label(SETUP, symbol="BTC/USDT", timeframe="5m",
                                 time="2023-03-07 15:20", label="setup"))
    path = store.root / f"{made.label_id}.yaml"
    data = yaml.safe_load(path.read_text())
    data.pop("source")
    path.write_text(yaml.safe_dump(data))
    assert store.get(made.label_id).origin == "cli"


def test_labels_in_a_window_are_the_symbols_own_between_its_ends(settings) -> None:
    store = LabelStore.from_settings(settings)
    for symbol, time in (("BTC/USDT", "2023-03-07 15:20"), ("BTC/USDT", "2023-03-08 10:00"),
                         ("ETH/USDT", "2023-03-07 15:25"), ("BTC/USDT", "2023-03-09 10:00")):
        store.save(make_label(SETUP, symbol=symbol, timeframe="5m", time=time, label="setup"))
    found = store.labels_in(SETUP, "BTC/USDT", "2023-03-07 15:20", "2023-03-08 10:00")
    assert [f"{x.timestamp:%d %H:%M}" for x in found] == ["07 15:20", "08 10:00"]
    assert store.labels_in("sma-cross", "BTC/USDT", "2023-03-01", "2023-03-31") == []


def test_the_disagreement_picture_names_the_bar_in_the_traders_zone(settings, monkeypatch):
    from matplotlib.figure import Figure

    from engine.learn.labels import check_labels, disagreement_png
    from engine.pipeline import detect_setup

    index = detect_setup(SETUP).candles.index
    made = add_label(settings, SETUP, time=index[30], label="setup")
    check = check_labels(settings, SETUP)
    titles = []
    real = Figure.suptitle
    monkeypatch.setattr(Figure, "suptitle",
                        lambda self, text, **kw: titles.append(text) or real(self, text, **kw))
    disagreement_png(check, made.label_id, tz="Europe/Athens")
    local = index[30].tz_convert("Europe/Athens")
    assert titles and titles[0].endswith(f"{local:%Y-%m-%d %H:%M} EET")
