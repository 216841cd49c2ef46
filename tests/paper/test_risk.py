"""Each prop-firm limit refusing a signal and allowing the one just below it (engine.paper.risk)."""

from __future__ import annotations

import datetime as dt
import doctest
import os

import pytest

from engine.errors import ConfigurationError, DataError
from engine.paper import risk
from engine.paper.risk import (
    AccountState,
    OpenPosition,
    Proposal,
    RiskRules,
    check,
    drawdown_floor,
    load_news,
    nearing,
    rules_from_dict,
    trading_day_start,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # a Friday


def state(**changes) -> AccountState:
    base = dict(balance=100_000.0, equity=100_000.0, equity_high=100_000.0,
                start_balance=100_000.0, day_start_equity=100_000.0)
    base.update(changes)
    return AccountState(**base)


def test_doctests():
    assert doctest.testmod(risk).failed == 0


def test_no_rules_allow_everything():
    verdict = check(RiskRules(), state(), Proposal("EURUSD", 50_000), NOW)
    assert verdict.allowed and verdict.reason == "" and verdict.reasons == ()


def test_risk_per_trade():
    rules = RiskRules(max_risk_per_trade_pct=1)
    assert check(rules, state(), Proposal("EURUSD", 1_000), NOW).allowed
    verdict = check(rules, state(), Proposal("EURUSD", 1_001), NOW)
    assert not verdict.allowed
    assert verdict.reason == "risk per trade: this trade risks 1 % of the balance, the limit is 1 %"
    # % of the *current* balance
    assert not check(rules, state(balance=90_000.0), Proposal("EURUSD", 1_000), NOW).allowed


def test_open_positions_total_and_per_symbol():
    rules = RiskRules(max_open_positions=2, max_open_per_symbol=1)
    one = state(open_positions=(OpenPosition("EURUSD", 100.0),))
    assert check(rules, one, Proposal("GBPUSD", 100), NOW).allowed
    same = check(rules, one, Proposal("eurusd", 100), NOW)
    assert not same.allowed and same.reason == "open positions on eurusd: 1 of 1 already open"
    two = state(open_positions=(OpenPosition("EURUSD", 1.0), OpenPosition("GBPUSD", 1.0)))
    full = check(rules, two, Proposal("XAUUSD", 100), NOW)
    assert not full.allowed and full.reason == "open positions: 2 of 2 already open"


def test_daily_loss_message_in_a_traders_words():
    rules = RiskRules(max_daily_loss_pct=5)
    down = state(equity=95_400.0)
    verdict = check(rules, down, Proposal("EURUSD", 1_000), NOW)
    assert not verdict.allowed
    assert verdict.reason == "daily loss limit: 4.6 % of 5 % used, this trade risks 1 %"
    assert check(rules, down, Proposal("EURUSD", 400), NOW).allowed  # exactly reaches 5 %
    assert not check(rules, down, Proposal("EURUSD", 401), NOW).allowed


def test_daily_loss_counts_open_risk_and_money_limit():
    rules = RiskRules(max_daily_loss_pct=5, max_daily_loss_money=3_000)  # the smaller applies
    open_ = state(equity=99_000.0, open_positions=(OpenPosition("EURUSD", 1_000.0),))
    assert check(rules, open_, Proposal("GBPUSD", 1_000), NOW).allowed
    verdict = check(rules, open_, Proposal("GBPUSD", 1_001), NOW)
    assert verdict.reason == ("daily loss limit: 1 % of 3 % used, open positions risk 1 %, "
                              "this trade risks 1 %")


def test_daily_reset_at_17_new_york_across_dst():
    rules = RiskRules(timezone="America/New_York", daily_reset="17:00", max_daily_loss_pct=5)
    # Summer (EDT, UTC-4): 17:00 New York is 21:00 UTC.
    assert trading_day_start(rules, dt.datetime(2026, 10, 30, 20, 59, tzinfo=UTC)) == \
        dt.datetime(2026, 10, 29, 21, 0, tzinfo=UTC)
    assert trading_day_start(rules, dt.datetime(2026, 10, 30, 21, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 10, 30, 21, 0, tzinfo=UTC)
    # DST ends on 2026-11-01; from then (EST, UTC-5) 17:00 New York is 22:00 UTC.
    assert trading_day_start(rules, dt.datetime(2026, 11, 2, 21, 30, tzinfo=UTC)) == \
        dt.datetime(2026, 11, 1, 22, 0, tzinfo=UTC)
    assert trading_day_start(rules, dt.datetime(2026, 11, 2, 22, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
    # A state whose day started at the previous reset: refused before the reset, allowed after.
    down = state(equity=95_500.0, day_start=dt.datetime(2026, 11, 1, 22, 0, tzinfo=UTC))
    before = dt.datetime(2026, 11, 2, 21, 59, tzinfo=UTC)  # 16:59 EST, 21:59 would be EDT's 17:59
    after = dt.datetime(2026, 11, 2, 22, 0, tzinfo=UTC)
    assert not check(rules, down, Proposal("ES", 1_000), before).allowed
    assert check(rules, down, Proposal("ES", 1_000), after).allowed


def test_reset_inside_a_skipped_hour():
    rules = RiskRules(timezone="America/New_York", daily_reset="02:30")
    # 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 -> 03:00).
    start = trading_day_start(rules, dt.datetime(2026, 3, 8, 12, 0, tzinfo=UTC))
    assert start.astimezone(UTC) == dt.datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_static_vs_trailing_drawdown_on_a_hand_made_equity_path():
    static = RiskRules(max_drawdown_pct=10)
    trailing = RiskRules(max_drawdown_pct=10, drawdown_mode="trailing")
    locked = RiskRules(max_drawdown_pct=10, drawdown_mode="trailing", trailing_lock=True)
    path = [100_000, 104_000, 112_000, 103_000]
    high = float(max(path))
    now = state(equity=float(path[-1]), balance=float(path[-1]), equity_high=high)
    assert drawdown_floor(static, now) == 90_000
    assert drawdown_floor(trailing, now) == 102_000  # 112k high - 10k
    assert drawdown_floor(locked, now) == 100_000  # stops rising at the start balance
    trade = Proposal("NQ", 1_000)
    assert check(static, now, trade, NOW).allowed
    assert check(trailing, now, trade, NOW).allowed  # 103k - 1k = 102k: exactly on the floor
    refused = check(trailing, now, Proposal("NQ", 1_001), NOW)
    assert not refused.allowed and refused.reason.startswith("max drawdown (trailing): ")
    assert check(locked, now, Proposal("NQ", 3_000), NOW).allowed  # 100k: on the locked floor
    assert not check(locked, now, Proposal("NQ", 3_001), NOW).allowed
    assert check(static, now, Proposal("NQ", 13_000), NOW).allowed
    assert not check(static, now, Proposal("NQ", 13_001), NOW).allowed
    # Before the high passes start + 10k, the locked floor still trails.
    early = state(equity=104_000.0, balance=104_000.0, equity_high=104_000.0)
    assert drawdown_floor(locked, early) == drawdown_floor(trailing, early) == 94_000
    stale_high = state(equity=105_000.0, balance=100_000.0, equity_high=104_000.0)
    assert drawdown_floor(trailing, stale_high) == 95_000


def test_cooldown_minutes_and_until_next_day():
    last = dt.datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
    streak = state(consecutive_losses=3, last_loss_at=last)
    rules = RiskRules(cooldown_after_losses=3, cooldown_minutes=60)
    verdict = check(rules, streak, Proposal("EURUSD", 10), last + dt.timedelta(minutes=59))
    assert not verdict.allowed
    assert verdict.reason == "cooldown: 3 losses in a row, no new trade until 2026-11-27 15:00 UTC"
    assert check(rules, streak, Proposal("EURUSD", 10), last + dt.timedelta(minutes=60)).allowed
    assert check(rules, state(consecutive_losses=2, last_loss_at=last),
                 Proposal("EURUSD", 10), last).allowed
    next_day = RiskRules(cooldown_after_losses=3, timezone="America/New_York",
                         daily_reset="17:00")
    assert not check(next_day, streak, Proposal("EURUSD", 10),
                     dt.datetime(2026, 11, 27, 21, 59, tzinfo=UTC)).allowed
    assert check(next_day, streak, Proposal("EURUSD", 10),
                 dt.datetime(2026, 11, 27, 22, 0, tzinfo=UTC)).allowed


def test_trading_hours_and_no_trade_windows():
    rules = RiskRules(timezone="Europe/London", trading_hours=["07:00-16:00", "22:00-02:00"],
                      no_trade_windows=["12:00-12:30"])
    at = lambda h, m=0: dt.datetime(2026, 11, 27, h, m, tzinfo=UTC)  # noqa: E731 (GMT = UTC)
    trade = Proposal("GBPUSD", 10)
    assert check(rules, state(), trade, at(7)).allowed
    out = check(rules, state(), trade, at(6, 59))
    assert out.reason == ("outside trading hours (07:00-16:00, 22:00-02:00 Europe/London) at "
                          "06:59")
    assert not check(rules, state(), trade, at(16)).allowed  # end excluded
    assert check(rules, state(), trade, at(23, 30)).allowed  # across midnight
    assert check(rules, state(), trade, at(1, 59)).allowed
    lunch = check(rules, state(), trade, at(12, 10))
    assert lunch.reason == "no-trade window 12:00-12:30 Europe/London at 12:10"
    assert check(rules, state(), trade, at(12, 30)).allowed


def test_bad_rules_are_one_line_errors():
    with pytest.raises(ConfigurationError, match=r"^acct.yaml: daily_reset: .*HH:MM"):
        rules_from_dict({"daily_reset": "5pm"}, source="acct.yaml")
    with pytest.raises(ConfigurationError, match=r"^r: max_daily_los: Extra inputs"):
        rules_from_dict({"max_daily_los": 5}, source="r")
    with pytest.raises(ConfigurationError, match=r"^r: trading_hours: .*'8-17' is not a window"):
        rules_from_dict({"trading_hours": ["8-17"]}, source="r")
    with pytest.raises(ConfigurationError, match=r"^r: timezone: .*Mars/Olympus"):
        rules_from_dict({"timezone": "Mars/Olympus"}, source="r")
    with pytest.raises(ConfigurationError, match=r"max_daily_loss_pct"):
        rules_from_dict({"max_daily_loss_pct": "5"}, source="r")  # strict: no string numbers


def test_news_window_from_a_yaml_calendar(tmp_path):
    calendar = tmp_path / "news.yaml"
    calendar.write_text(
        "events:\n"
        "  - {time: '2026-12-04T13:30:00Z', title: NFP, currency: USD,\n"
        "     minutes_before: 15, minutes_after: 30}\n"
        "  - {time: '2026-12-04T09:00:00+01:00', symbol: GER40, minutes_after: 5}\n",
        encoding="utf-8")
    news = load_news(calendar)
    rules = RiskRules()
    at = lambda h, m: dt.datetime(2026, 12, 4, h, m, tzinfo=UTC)  # noqa: E731
    refused = check(rules, state(), Proposal("EURUSD", 10), at(13, 15), news=news)
    assert refused.reason == ("news window: NFP at 13:30 UTC, no trade from 15 min before to "
                              "30 min after")
    assert check(rules, state(), Proposal("EURUSD", 10), at(13, 14), news=news).allowed
    assert check(rules, state(), Proposal("EURUSD", 10), at(14, 0), news=news).allowed
    assert not check(rules, state(), Proposal("BTC/USDT", 10), at(13, 59), news=news).allowed
    assert check(rules, state(), Proposal("EURGBP", 10), at(13, 30), news=news).allowed
    assert not check(rules, state(), Proposal("ger40", 10), at(8, 0), news=news).allowed
    assert check(rules, state(), Proposal("ger40", 10), at(8, 5), news=news).allowed
    # minutes_before left out: the rules' default (2, FTMO's news rule)
    assert check(rules, state(), Proposal("GER40", 10), at(7, 57), news=news).allowed
    blocked = check(rules, state(), Proposal("GER40", 10), at(7, 58), news=news)
    assert blocked.reason == ("news window: GER40 at 08:00 UTC, no trade from 2 min before to "
                              "5 min after")
    wider = RiskRules(news_minutes_before=30)
    assert not check(wider, state(), Proposal("GER40", 10), at(7, 31), news=news).allowed


def test_news_window_from_a_csv_calendar(tmp_path):
    calendar = tmp_path / "news.csv"
    calendar.write_text("time,title,currency,minutes_before,minutes_after\n"
                        "2026-12-04 13:30,NFP,USD,10,10\n", encoding="utf-8")
    (event,) = load_news(calendar)
    assert event.at == dt.datetime(2026, 12, 4, 13, 30, tzinfo=UTC)  # no offset: UTC
    assert (event.minutes_before, event.minutes_after, event.currency) == (10, 10, "USD")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("bad.csv", "time,currency,minutes_before\n2026-12-04T13:30Z,USD,ten\n",
     r"^.*bad\.csv: row 2: minutes_before 'ten' is not a whole number of minutes$"),
    ("bad.csv", "when,currency\nx,USD\n", r"bad\.csv: the CSV header must name a 'time' column"),
    ("bad.yaml", "- {time: tomorrow, currency: USD}\n",
     r"bad\.yaml: row 1: time 'tomorrow' is not an ISO time"),
    ("bad.yaml", "- {time: '2026-12-04T13:30Z', curency: USD}\n",
     r"bad\.yaml: row 1: unknown field 'curency'"),
    ("bad.yaml", "- {time: '2026-12-04T13:30Z', minutes_after: -5}\n",
     r"bad\.yaml: row 1: minutes_after must be 0 to 1440 minutes, got -5"),
    ("bad.yaml", "- {time: '2026-12-04T13:30Z', minutes_before: 1441}\n",
     r"bad\.yaml: row 1: minutes_before must be 0 to 1440 minutes, got 1441"),
    ("bad.yaml", "events: [unclosed\n", r"bad\.yaml: line \d+ not valid YAML"),
    ("bad.yaml", "just text\n", r"bad\.yaml: expected a list of events"),
])
def test_bad_calendar_is_a_one_line_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message) as caught:
        load_news(path)
    assert "\n" not in str(caught.value)


def test_missing_calendar(tmp_path):
    with pytest.raises(DataError, match="news calendar not found"):
        load_news(tmp_path / "none.yaml")


def test_nearing_warns_at_80_percent_with_a_stable_key():
    rules = RiskRules(max_daily_loss_pct=5, max_drawdown_pct=10, timezone="America/New_York",
                      daily_reset="17:00")
    assert nearing(rules, state(equity=96_001.0), NOW) == []  # 79.98 % of the daily limit
    (daily,) = nearing(rules, state(equity=96_000.0), NOW)
    assert daily.key == "daily_loss:2026-11-26" and daily.used_pct == pytest.approx(80)
    assert daily.text == "daily loss limit nearly reached: 80 % of it used (4 % of 5 %)"
    later = nearing(rules, state(equity=95_500.0), NOW + dt.timedelta(hours=1))
    assert [w.key for w in later] == ["daily_loss:2026-11-26"]  # same day: the same key
    next_day = nearing(rules, state(equity=95_500.0), NOW + dt.timedelta(hours=8))
    assert [w.key for w in next_day] == ["daily_loss:2026-11-27"]
    deep = nearing(rules, state(equity=91_000.0, day_start_equity=91_500.0), NOW)
    assert [w.key for w in deep] == ["drawdown:2026-11-26"]
    verdict = check(rules, state(equity=96_000.0), Proposal("ES", 10), NOW)
    assert verdict.allowed and verdict.warnings == (daily.text,)


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        check(RiskRules(), state(), Proposal("EURUSD", 1), dt.datetime(2026, 11, 27))


def test_a_proposal_without_a_real_risk_is_refused_outright():
    for bad in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="must be a finite amount of money >= 0"):
            Proposal("EURUSD", bad)


def test_the_kill_switch_refuses_first():
    from engine.paper.kill import KillState

    on = KillState(engaged=True, by="cli", reason="news spike")
    verdict = check(RiskRules(max_risk_per_trade_pct=1), state(), Proposal("EURUSD", 5_000), NOW,
                    kill_switch=on)
    assert verdict.reasons == ("kill switch on (by cli): news spike",
                               "risk per trade: this trade risks 5 % of the balance, the limit "
                               "is 1 %")
    assert check(RiskRules(), state(), Proposal("EURUSD", 1), NOW,
                 kill_switch=KillState()).allowed


def test_drawdown_in_money_the_smaller_limit_applies():
    rules = RiskRules(max_drawdown_pct=10, max_drawdown_money=2_000)
    now = state(equity=99_000.0, balance=99_000.0)
    assert drawdown_floor(rules, now) == 98_000
    assert check(rules, now, Proposal("ES", 1_000), NOW).allowed
    refused = check(rules, now, Proposal("ES", 1_000.5), NOW)
    assert refused.reason == ("max drawdown (static): 1 % of 2 % used (floor 98,000.00, equity "
                              "99,000.00), this trade risks 1 %")


def test_the_calendar_is_read_under_the_ita_home(tmp_path):
    (tmp_path / "calendar").mkdir()
    (tmp_path / "calendar" / "news.csv").write_text(
        "time,currency,minutes_before,minutes_after\n2026-12-04T13:30Z,USD,5,5\n",
        encoding="utf-8")
    assert risk.news_for(tmp_path, RiskRules()) == []
    [event] = risk.news_for(tmp_path, RiskRules(news_calendar="calendar/news.csv"))
    assert event.currency == "USD" and event.row == 2
    with pytest.raises(ConfigurationError, match="must be a file under the ITA home"):
        risk.news_for(tmp_path, RiskRules(news_calendar="../elsewhere.csv"))
    with pytest.raises(DataError, match="news calendar not found"):
        risk.news_for(tmp_path, RiskRules(news_calendar="calendar/none.csv"))
    # An edited calendar is read again (the cache is keyed on the file's version).
    path = tmp_path / "calendar" / "news.csv"
    path.write_text("time,symbol\n2026-12-05T08:00Z,GER40\n2026-12-05T09:00Z,UK100\n",
                    encoding="utf-8")
    os.utime(path, ns=(1, 2_000_000_000))
    events = risk.news_for(tmp_path, RiskRules(news_calendar="calendar/news.csv"))
    assert [e.symbol for e in events] == ["GER40", "UK100"]


def test_risk_stays_pure():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, engine.paper.risk; print(sorted(m for m in ('filelock', "
            "'engine.paper.kill', 'duckdb', 'streamlit', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={"PYTHONPATH": str(root), "PATH": ""}, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_a_losing_day_warns_once_per_limit_and_day():
    """The caller keeps the keys it sent: an equity path sliding past 80 % and on, over two
    trading days, sends the daily warning once a day."""
    rules = RiskRules(max_daily_loss_pct=5, daily_reset="17:00", timezone="America/New_York")
    sent: list[str] = []
    path = [(NOW, 97_000.0), (NOW + dt.timedelta(minutes=5), 95_900.0),
            (NOW + dt.timedelta(minutes=10), 95_500.0), (NOW + dt.timedelta(minutes=15), 96_100.0),
            (NOW + dt.timedelta(hours=8), 95_800.0), (NOW + dt.timedelta(hours=9), 95_600.0)]
    for moment, equity in path:
        for warning in nearing(rules, state(equity=equity), moment):
            if warning.key not in sent:
                sent.append(warning.key)
    assert sent == ["daily_loss:2026-11-26", "daily_loss:2026-11-27"]


def test_every_rule_is_documented_for_the_editor():
    schema = RiskRules.model_json_schema()
    undocumented = [name for name, spec in schema["properties"].items()
                    if not spec.get("description")]
    assert undocumented == []
    assert schema["additionalProperties"] is False
