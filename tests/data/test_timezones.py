"""One time-zone parser for the importers, the MT5 source and settings: every spelling works
everywhere, an unknown zone is one line naming the field with a did-you-mean."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from engine.adapters.importers import read_candles_file
from engine.adapters.mt5_source import MT5Source
from engine.errors import DataError
from engine.timezones import parse_timezone
from tests.data.test_sources import _stand_in

WINTER = dt.datetime(2024, 1, 15, 12, 0)
SUMMER = dt.datetime(2024, 7, 15, 12, 0)
#: spelling -> hours ahead of UTC in winter, in summer
SPELLINGS = {
    "UTC": (0, 0), "utc": (0, 0), "GMT": (0, 0), "Z": (0, 0),
    "Europe/Athens": (2, 3), "europe/athens": (2, 3), "America/New_York": (-5, -4),
    "Etc/GMT-2": (2, 2), "Etc/GMT+5": (-5, -5),
    "+02:00": (2, 2), "-05:00": (-5, -5), "+0200": (2, 2), "+2": (2, 2), "-5": (-5, -5),
    "UTC+2": (2, 2), "GMT+2": (2, 2), "UTC-05:30": (-5.5, -5.5), "UTC+00:00": (0, 0),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_parses(spelling) -> None:
    zone = parse_timezone(spelling)
    winter, summer = SPELLINGS[spelling]
    assert zone.utcoffset(WINTER) == dt.timedelta(hours=winter)
    assert zone.utcoffset(SUMMER) == dt.timedelta(hours=summer)


@pytest.mark.parametrize("text,message", [
    ("Europe/Athen", "--tz 'Europe/Athen' is not a time zone — did you mean 'Europe/Athens'?"),
    ("America/NewYork", "did you mean 'America/New_York'?"),
    ("Mars/Olympus", "--tz 'Mars/Olympus' is not a time zone (use an IANA name"),
    ("+15:00", "--tz '+15:00' is not a UTC offset (at most ±14:00"),
    ("+02:75", "is not a UTC offset"),
    ("", "--tz is empty"),
])
def test_unknown_zones_are_one_line_with_a_suggestion(text, message) -> None:
    with pytest.raises(DataError) as error:
        parse_timezone(text, field="--tz")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def _naive_csv(tmp_path, wall_times: list[str]):
    path = tmp_path / "bars.csv"
    rows = [f"{t},1,2,0.5,1.5,10" for t in wall_times]
    path.write_text("time,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_importer_reads_every_spelling(tmp_path, spelling) -> None:
    path = _naive_csv(tmp_path, ["2024-01-15 12:00:00", "2024-07-15 12:00:00"])
    frame = read_candles_file(path, tz=spelling)
    winter, summer = SPELLINGS[spelling]
    assert frame.index[0] == pd.Timestamp("2024-01-15 12:00", tz="UTC") - pd.Timedelta(
        hours=winter)
    assert frame.index[1] == pd.Timestamp("2024-07-15 12:00", tz="UTC") - pd.Timedelta(
        hours=summer)


def test_the_importer_names_the_file_and_suggests_a_zone(tmp_path) -> None:
    path = _naive_csv(tmp_path, ["2024-01-15 12:00:00"])
    with pytest.raises(DataError, match="^bars.csv: --tz 'Europe/Athen' is not a time zone — "
                                        "did you mean 'Europe/Athens'"):
        read_candles_file(path, tz="Europe/Athen")


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_the_mt5_source_reads_every_spelling(demo_candles, spelling) -> None:
    bars = demo_candles.iloc[:30]  # March 2023: winter time in Athens and New York
    winter, _ = SPELLINGS[spelling]
    server_wall = bars.set_axis(bars.index + pd.Timedelta(hours=winter))  # what MT5 reports
    source = MT5Source(server_tz=spelling, module=_stand_in(server_wall, 0))
    frame = source.history("EURUSD", "1m", start=bars.index[0], end=bars.index[-1])
    assert frame.index.equals(bars.index.as_unit("ns").rename("time"))


def test_the_mt5_source_refuses_an_unknown_zone(demo_candles) -> None:
    with pytest.raises(DataError, match="MT5 server time zone \\(--tz\\) 'Europe/Athen' is not "
                                        "a time zone — did you mean 'Europe/Athens'"):
        MT5Source(server_tz="Europe/Athen", module=_stand_in(demo_candles.iloc[:5], 0))
