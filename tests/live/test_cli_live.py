"""`ita live status`, `ita live replay`, `ita alerts test` through the CLI."""

from __future__ import annotations

import json

import ccxt
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.adapters.store import CandleStore
from engine.cli import app
from engine.errors import ConfigurationError
from engine.live.evaluate import LiveEvaluator
from engine.live.monitor import LiveMonitor
from engine.live.state import state_path
from engine.settings import Settings
from engine.setups import compile_setup, parse_setup
from engine.setups.store import SetupStore
from tests.fakes.telegram_api import FakeTelegram
from tests.live.test_monitor import SMA

runner = CliRunner()


@pytest.fixture()
def home(ita_home, demo_candles):
    SetupStore(ita_home / "setups").save(SMA.format(id="sma-a", fast=3, slow=8))
    CandleStore(ita_home / "data" / "candles").upsert(
        demo_candles.iloc[:1400], source="binance", symbol="BTC/USDT", timeframe="1m")
    return ita_home


def test_status_says_running_with_feeds_and_not_running_when_stale(home) -> None:
    assert "never ran" in runner.invoke(app, ["live", "status"]).output
    settings = Settings(home=home, live_exchange="binance")
    monitor = LiveMonitor(settings, exchange=ccxt.binance(), telegram=None,
                          evaluator=LiveEvaluator(home), updates=False)
    try:
        monitor.refresh_setups(pd.Timestamp.now(tz="UTC"))
        monitor.write_state()
    finally:
        monitor.close()
    result = runner.invoke(app, ["live", "status"])
    assert result.exit_code == 0, result.output
    assert "running" in result.output and "not running" not in result.output
    assert "binance:BTC/USDT" in result.output and "setup sma-a v1" in result.output
    assert "alerts today: 0" in result.output
    state = json.loads(state_path(home).read_text())
    state["feeds"][0]["error"] = "NetworkError: timed out"
    state_path(home).write_text(json.dumps(state))
    output = runner.invoke(app, ["live", "status"]).output
    assert "failing" in output and "binance:BTC/USDT 1m: NetworkError: timed out" in output
    state["updated_at"] = "2020-01-01T00:00:00Z"
    state_path(home).write_text(json.dumps(state))
    assert "not running" in runner.invoke(app, ["live", "status"]).output


def test_replay_writes_each_alert_picture_and_caption(home, demo_candles, tmp_path) -> None:
    out = tmp_path / "replayed"
    start = demo_candles.index[1000]
    result = runner.invoke(app, ["live", "replay", "sma-a", "--symbol", "BTC/USDT", "--from",
                                 str(start), "--out", str(out)])
    assert result.exit_code == 0, result.output
    compiled = compile_setup(parse_setup(SMA.format(id="sma-a", fast=3, slow=8)), version=1)
    expected = compiled(demo_candles.iloc[:1400], symbol="BTC/USDT")
    expected = expected[expected["known_at"] >= start]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["alerts"] == len(expected) > 0
    pictures = sorted(out.glob("*.png"))
    assert len(pictures) == len(expected) == len(list(out.glob("*.txt")))
    assert pictures[0].read_bytes()[:4] == b"\x89PNG"
    first = expected.iloc[0]
    name = f"{first['known_at']:%Y%m%dT%H%MZ}-{'long' if first['direction'] > 0 else 'short'}"
    assert "SMA-A v1" in (out / f"{name}.txt").read_text()
    assert f"{len(expected)} alert(s)" in result.output


def test_alerts_test_needs_the_token_and_sends_a_chart(home, monkeypatch) -> None:
    monkeypatch.delenv("ITA_TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("ITA_TELEGRAM_CHAT_ID", raising=False)
    monkeypatch.setattr(Settings, "model_config", {**Settings.model_config, "env_file": None})
    result = runner.invoke(app, ["alerts", "test"])
    assert isinstance(result.exception, ConfigurationError)
    assert "ITA_TELEGRAM_TOKEN and ITA_TELEGRAM_CHAT_ID" in str(result.exception)
    with FakeTelegram() as fake:
        monkeypatch.setenv("ITA_TELEGRAM_TOKEN", "123:abc")
        monkeypatch.setenv("ITA_TELEGRAM_CHAT_ID", "42, 43")
        monkeypatch.setenv("ITA_TELEGRAM_API_URL", fake.base_url)
        result = runner.invoke(app, ["alerts", "test"])
        assert result.exit_code == 0, result.output
        photos = fake.sent()
    assert sorted(p.chat_id for p in photos) == ["42", "43"]
    assert photos[0].files["photo"][:4] == b"\x89PNG"
    assert "Test alert" in photos[0].caption and "BTC/USDT" in photos[0].caption
