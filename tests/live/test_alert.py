"""The alert a trader's phone shows: the chart PNG (real demo candles and signals) and the
Telegram caption (escaping, the 1,024-character limit, the trader's zone, the late mark)."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser

import pandas as pd
import pytest
from PIL import Image

from engine.candles import resample
from engine.live.alert import (
    CAPTION_LIMIT,
    DPI,
    HEIGHT,
    WIDTH,
    caption,
    render_png,
    telegram_length,
)
from engine.live.rank import NO_HISTORY, Rank
from engine.setups.compile import compile_setup
from engine.setups.parse import parse_setup
from tests.conftest import ROOT
from tests.live.test_rank import LiveSignal, make_signal


@pytest.fixture(scope="module")
def candles_5m(demo_candles) -> pd.DataFrame:
    return resample(demo_candles, "5m", source_timeframe="1m")


def demo_signals(candles: pd.DataFrame, setup_id: str) -> list[LiveSignal]:
    """Every signal of an example setup on the demo candles, as live signals."""
    text = (ROOT / "examples" / "setups" / f"{setup_id}.yaml").read_text()
    setup = parse_setup(text)
    frame = compile_setup(setup, version=1)(candles, symbol="BTC/USDT")
    return [LiveSignal.from_row(row, timeframe=setup.market.timeframe, source="binanceus")
            for _, row in frame.iterrows()]


def image(png: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(png))
    picture.load()
    return picture


# --- the chart ------------------------------------------------------------------------------


@pytest.mark.parametrize("setup_id", ["london-asia-sweep-fvg", "pdh-sweep-reversal"])
def test_png_of_a_real_signal_decodes(candles_5m, setup_id) -> None:
    signal = demo_signals(candles_5m, setup_id)[-1]
    png = render_png(candles_5m, signal, tz="Europe/London")
    picture = image(png)
    assert picture.format == "PNG"
    assert picture.size == (round(WIDTH * DPI), round(HEIGHT * DPI))  # 1,080 x 672
    assert len(png) < 500_000  # a phone photo, not a poster


def test_png_never_shows_a_bar_after_the_signal(candles_5m) -> None:
    signal = demo_signals(candles_5m, "london-asia-sweep-fvg")[-1]
    known = signal.known_at
    cut = render_png(candles_5m.loc[:known], signal, tz="UTC")
    assert render_png(candles_5m, signal, tz="UTC") == cut  # later bars change nothing
    earlier = render_png(candles_5m.loc[:known].iloc[:-1], signal, tz="UTC")
    assert earlier != cut  # ... while the signal bar itself is drawn


def test_png_draws_the_reasons_and_survives_bad_ones(candles_5m) -> None:
    signal = demo_signals(candles_5m, "london-asia-sweep-fvg")[-1]
    assert json.loads(signal.reasons)  # a sweep and an FVG
    drawn = render_png(candles_5m, signal, tz="UTC")
    bare = render_png(candles_5m, _with(signal, reasons="[]"), tz="UTC")
    assert drawn != bare
    for reasons in ("not json", "{}", '[1, "x", {"kind": "fvg"}]', None):
        image(render_png(candles_5m, _with(signal, reasons=reasons), tz="UTC"))


def test_png_times_follow_the_traders_zone(candles_5m) -> None:
    signal = demo_signals(candles_5m, "pdh-sweep-reversal")[-1]
    assert render_png(candles_5m, signal, tz="Asia/Tokyo") != render_png(
        candles_5m, signal, tz="UTC")


def test_png_of_a_short_window_and_a_structure_break(candles_5m) -> None:
    signal = _with(demo_signals(candles_5m, "pdh-sweep-reversal")[-1], reasons=json.dumps([
        {"condition": "bos", "kind": "bos", "direction": -1, "at": "2023-03-20T08:20:00Z",
         "known_at": "2023-03-20T08:20:00Z", "top": 28300.0, "bottom": 28300.0},
        {"condition": "pdh", "kind": "pdh", "direction": 0, "at": "2023-03-20T00:00:00Z",
         "known_at": "2023-03-20T00:00:00Z", "top": 28381.43, "bottom": 28381.43}]))
    few = candles_5m.loc[:signal.known_at].iloc[-3:]
    assert image(render_png(few, signal, tz="UTC", bars=150)).size[0] == 1080


# --- the caption ----------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def parsed(text: str) -> _Tags:
    tags = _Tags()
    tags.feed(text)
    tags.close()
    return tags


RANK = Rank(score=0.23, strengths=("London session: +0.42 R over 61 trades, 48% won",),
            weaknesses=("Sundays: -0.10 R over 12 trades, 33% won",), size=0.3213,
            risk_money=50.0, warnings=(), trades=61)


def test_caption_says_the_plan_in_the_traders_zone() -> None:
    text = caption(make_signal(), RANK, tz="Asia/Tokyo", decimals=2)
    lines = text.split("\n")
    assert lines[0] == "🟢 <b>LONDON-ASIA-SWEEP-FVG v1</b> · BTC/USDT 5m · <b>LONG</b>"
    assert ("Entry <code>26,997.10</code> limit · Stop <code>26,841.49</code> · "
            "Target <code>27,308.32</code> · <b>2.00 R</b>") in lines
    assert "Bar 2023-03-19 17:20–17:25 Asia/Tokyo" in lines  # 08:20 UTC
    assert "Score <b>+0.23 R</b>/trade · from 61 trades" in lines
    assert "Risk <b>50.00</b> → size <b>0.3213</b> (stop 155.61 away)" in lines
    assert "✅ London session: +0.42 R over 61 trades, 48% won" in lines
    assert "❌ Sundays: -0.10 R over 12 trades, 33% won" in lines
    assert lines[-1] == ("Why: asia_low_sweep: sweep 26,917.17 at 15:45 · "
                         "bull_fvg: fvg 26,979.91–26,997.10 at 17:15")
    assert "LATE" not in text
    assert set(parsed(text).tags) <= {"b", "code"}


def test_caption_marks_a_late_alert_and_no_history() -> None:
    text = caption(make_signal(), Rank(score=0.0, weaknesses=(NO_HISTORY,)), tz="UTC",
                   late=True)
    assert "⏰ <b>LATE</b>" in text.split("\n")[1]
    assert "Score <b>+0.00 R</b> · no history yet" in text
    assert f"❌ {NO_HISTORY}" in text


def test_caption_escapes_every_text_it_did_not_write() -> None:
    hostile = "<b>&amp;</b><a href='x'>"
    signal = make_signal(symbol="A<B&C", reasons=json.dumps([
        {"condition": hostile, "kind": "<i>fvg", "direction": 1, "at": "2023-03-19T08:15:00Z",
         "top": 1.5, "bottom": 1.0}]))
    rank = Rank(score=0.1, strengths=(hostile,), weaknesses=(hostile,), warnings=(hostile,),
                trades=9)
    text = caption(signal, rank, tz="UTC")
    tags = parsed(text)
    assert set(tags.tags) <= {"b", "code"}  # nothing the setup or symbol said became a tag
    shown = "".join(tags.text)
    assert "A<B&C" in shown and shown.count(hostile) == 4 and "<i>fvg" in shown


def test_caption_fits_telegram_with_long_reasons_and_many_sentences() -> None:
    reasons = [{"condition": f"condition_{i}_" + "x" * 50, "kind": "order_block",
                "direction": 1, "at": "2023-03-19T08:15:00Z", "top": 27000.0 + i,
                "bottom": 26900.0} for i in range(40)]
    signal = make_signal(reasons=json.dumps(reasons))
    rank = Rank(score=0.3, trades=200, size=1.0, risk_money=100.0,
                strengths=tuple(f"strength {i}: " + "é" * 60 for i in range(20)),
                weaknesses=tuple(f"weakness {i}: " + "😬" * 40 for i in range(20)),
                warnings=("stop 0.30 away is only 2.1x the round-trip costs",))
    text = caption(signal, rank, tz="Europe/London", late=True)
    assert telegram_length(text) <= CAPTION_LIMIT
    lines = text.split("\n")
    assert "Stop <code>26,841.49</code>" in lines[2]  # the plan is never cut
    assert any(line.startswith("✅ strength 0:") for line in lines)  # the best ones stay
    assert any(line.startswith("❌ weakness 0:") for line in lines)
    assert not any(line.startswith("✅ strength 1:") for line in lines)
    assert "⚠️ stop 0.30 away" in text and "LATE" in text
    assert lines[-1].startswith("Why: condition_0_") and lines[-1].endswith("…")
    assert set(parsed(text).tags) <= {"b", "code"}  # cut between tags, never inside one


def test_caption_counts_as_telegram_does() -> None:
    assert telegram_length("😬") == 2 and telegram_length("é") == 1
    # a caption of emoji-heavy sentences stays within 1,024 UTF-16 code units
    rank = Rank(score=0.0, trades=1, strengths=tuple("😬" * 300 for _ in range(5)))
    assert telegram_length(caption(make_signal(), rank, tz="UTC")) <= CAPTION_LIMIT


def _with(signal, **changes):
    import dataclasses

    return dataclasses.replace(signal, **changes)


def test_png_renders_from_several_threads_at_once(candles_5m) -> None:
    """No pyplot state: the monitor may draw alerts of one bar in parallel."""
    from concurrent.futures import ThreadPoolExecutor

    signals = demo_signals(candles_5m, "london-asia-sweep-fvg")[-4:]
    alone = [render_png(candles_5m, s, tz="Europe/London") for s in signals]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda s: render_png(candles_5m, s, tz="Europe/London"),
                                 signals * 2))
    assert together == alone * 2
