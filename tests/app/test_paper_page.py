"""The Paper page as a trader uses it (AppTest): create an account with prop rules, its status
and limits, the replay check "does paper match the backtest?" run by the daemon on a small demo
slice, the kill switch engaged from the page and seen as a banner on another page, released;
a position closed by hand through the engine's `close`.

One demo home with an account replayed over three demo days is built once for the module; each
test that writes gets its own copy."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from tests.app._pages import page, texts

START, END = "2023-03-01", "2023-03-04"


def _settings():
    from engine.settings import get_settings

    return get_settings()


@pytest.fixture(scope="module")
def replayed_home(demo_home, tmp_path_factory):
    """The demo home with account `prop` (50,000 USD, follows sma-cross, FTMO-like limits)
    replayed over three demo days: closed trades and one position still open."""
    from engine.paper.account import Account, AccountStore
    from engine.paper.follow import replay
    from engine.paper.risk import RiskRules

    home = tmp_path_factory.mktemp("ita-paper") / "home"
    shutil.copytree(demo_home, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ITA_HOME", str(home))
        AccountStore(home).create(Account(
            name="prop", starting_balance=50_000, follow=["sma-cross"],
            risk=RiskRules(max_daily_loss_pct=5.0, max_drawdown_pct=10.0,
                           max_open_positions=3, cooldown_after_losses=20)))
        done = replay(home, "prop", "sma-cross", start=START, end=END, chunk_bars=288)
    assert done.same and len(done.paper)
    return home


@pytest.fixture()
def paper_home(replayed_home, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(replayed_home, home)
    monkeypatch.setenv("ITA_HOME", str(home))
    return home


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_no_account_yet_guides_and_creates_one_with_prop_rules(app_home):
    at = page("paper")
    assert any("No paper account yet" in t for t in texts(at.info))
    assert at.number_input(key="paper_new_max_daily_loss_pct").value == 5.0  # prop defaults
    assert "starting balance" in at.number_input(key="paper_new_max_daily_loss_pct").help
    at.text_input(key="paper_new_name").set_value("ftmo-50k")
    at.number_input(key="paper_new_balance").set_value(50_000.0)
    at.multiselect(key="paper_new_follow").set_value(["sma-cross"])
    at.number_input(key="paper_new_cooldown_after_losses").set_value(3)
    at.button(key="paper_create_submit").click()
    _ok(at.run())
    assert any("Created paper account ftmo-50k" in t for t in texts(at.success))
    from engine.paper.account import AccountStore

    account = AccountStore(app_home).load("ftmo-50k")
    assert account.follow == ["sma-cross"] and account.starting_balance == 50_000
    assert account.risk.max_daily_loss_pct == 5.0 and account.risk.max_drawdown_pct == 10.0
    assert account.risk.cooldown_after_losses == 3
    assert account.risk.max_daily_loss_money is None  # an empty field is no limit
    overview = _table(at, "follows")
    assert list(overview["account"]) == ["ftmo-50k"] and overview["balance"].iloc[0] == 50_000


def test_a_bad_name_is_refused_naming_the_field(app_home):
    at = page("paper")
    at.text_input(key="paper_new_name").set_value("my account!")
    at.button(key="paper_create_submit").click()
    _ok(at.run())
    assert any("account name 'my account!'" in t for t in texts(at.error)), texts(at.error)
    assert not (app_home / ".ita" / "paper" / "accounts").exists()


def test_taken_alerts_only_account(app_home):
    at = page("paper")
    at.text_input(key="paper_new_name").set_value("taken")
    at.checkbox(key="paper_new_taken").check()
    at.button(key="paper_create_submit").click()
    _ok(at.run())
    assert _table(at, "follows")["follows"].iloc[0] == "Taken alerts only"


def test_status_limits_ledger_and_versus_backtest(paper_home):
    from engine.paper.account import AccountStore
    from engine.paper.follow import status
    from engine.paper.ledger import Ledger, ledger_path

    account = AccountStore(paper_home).load("prop")
    with Ledger(ledger_path(paper_home)) as ledger:
        expected = status(ledger, account)
        positions = ledger.positions("prop")
    at = page("paper")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Balance"] == f"{expected['balance']:,.2f} USD"
    assert metrics["Open / closed trades"] == f"{len(expected['open'])} / " \
                                              f"{expected['closed_trades']}"
    bars = [p.proto.text for p in at.get("progress")]
    assert any(t.startswith("Daily loss: ") and "of 5 % used" in t for t in bars)
    assert any(t.startswith("Max drawdown (static): ") and "of 10 % used" in t for t in bars)
    assert any(t.startswith(f"Open positions: {len(expected['open'])} of 3") for t in bars)
    assert any(t.startswith("Cooldown: off (") and "of 20 losses in a row" in t for t in bars)
    ledger_table = _table(at, "signal_id")
    assert ledger_table["seq"].is_monotonic_decreasing  # newest first
    assert {"orders", "fills", "balance"} <= set(ledger_table["entry"])
    versus = _table(at, "paper expectancy R")
    closed = positions[positions["status"] == "closed"]
    assert versus["paper trades"].iloc[0] == len(closed)
    assert versus["paper expectancy R"].iloc[0] == pytest.approx(closed["r_net"].mean())
    assert len(at.get("plotly_chart")) == 1


def test_replay_check_runs_as_a_daemon_job_and_says_same_trades(paper_home):
    from engine.jobs.bus import JobBus
    from engine.jobs.daemon import EngineDaemon

    at = page("paper")
    at.date_input(key="paper_replay_start").set_value(dt.date(2023, 3, 1))
    at.date_input(key="paper_replay_end").set_value(dt.date(2023, 3, 2))
    at.button(key="paper_replay").click()
    _ok(at.run())
    jobs = [j for j in JobBus.from_settings(_settings()).list() if j["kind"] == "paper_replay"]
    assert len(jobs) == 1 and jobs[0]["params"] == {"account": "prop", "start": "2023-03-01",
                                                    "end": "2023-03-03"}
    assert EngineDaemon(_settings()).run_pending() == 1
    _ok(at.run())
    done = " ".join(texts(at.success))
    assert "Same trades. sma-cross on BTC/USDT" in done, texts(at.error)


def test_kill_switch_from_the_page_banner_on_other_pages_then_release(paper_home):
    from engine.paper import kill

    at = page("paper")
    assert at.button(key="paper_kill_engage").disabled  # a confirm first
    at.text_input(key="paper_kill_reason").set_value("CPI print")
    at.checkbox(key="paper_kill_close").check()
    at.checkbox(key="paper_kill_confirm").check()
    _ok(at.run())
    at.button(key="paper_kill_engage").click()
    _ok(at.run())
    switch = kill.state(_settings())
    assert switch.engaged and switch.by == "app" and switch.reason == "CPI print"
    assert switch.close_positions
    other = page("runs")
    assert any("KILL SWITCH ON" in t and "CPI print" in t for t in texts(other.error))
    at.button(key="paper_kill_release").click()
    _ok(at.run())
    assert not kill.state(_settings()).engaged
    assert [e.action for e in kill.history(_settings())] == ["engage", "release"]
    assert not any("KILL SWITCH" in t for t in texts(page("runs").error))


def test_close_a_position_by_hand_with_a_confirm(paper_home):
    from engine.paper.ledger import Ledger, ledger_path

    with Ledger(ledger_path(paper_home)) as ledger:
        opened = ledger.open_positions("prop")
    assert len(opened) == 1
    pid = opened["position_id"].iloc[0]
    at = page("paper")
    assert at.button(key=f"paper_close_{pid}").disabled
    at.checkbox(key=f"paper_close_sure_{pid}").check()
    _ok(at.run())
    at.button(key=f"paper_close_{pid}").click()
    _ok(at.run())
    assert any(t.startswith(f"Closed {pid} at ") for t in texts(at.success))
    with Ledger(ledger_path(paper_home)) as ledger:
        assert not len(ledger.open_positions("prop"))
        closed = ledger.positions("prop")
    assert closed.set_index("position_id").loc[pid, "exit_reason"] == "manual"
    assert "Open / closed trades" in {m.label for m in at.metric}
    assert any("No open position" in t for t in texts(at.caption))


def test_follow_and_unfollow_a_setup(paper_home):
    from engine.paper.account import AccountStore

    at = page("paper")
    at.multiselect(key="paper_follow_prop").set_value(["sma-cross", "bos-order-block-retest"])
    at.button(key="paper_follow_save_prop").click()
    _ok(at.run())
    assert AccountStore(paper_home).load("prop").follow == ["sma-cross",
                                                            "bos-order-block-retest"]
    at.multiselect(key="paper_follow_prop").set_value(["bos-order-block-retest"])
    at.button(key="paper_follow_save_prop").click()
    _ok(at.run())
    assert AccountStore(paper_home).load("prop").follow == ["bos-order-block-retest"]


def test_replay_explains_trades_refused_by_the_limits(paper_home):
    """A 3-loss cooldown refuses signals the backtest takes: the check says DIFFERENT and why."""
    from engine.jobs.daemon import EngineDaemon
    from engine.paper.account import Account, AccountStore
    from engine.paper.risk import RiskRules

    AccountStore(paper_home).create(Account(name="strict", follow=["sma-cross"],
                                            risk=RiskRules(cooldown_after_losses=3)))
    at = page("paper")
    at.selectbox(key="paper_account").set_value("strict")
    _ok(at.run())
    at.date_input(key="paper_replay_start").set_value(dt.date(2023, 3, 1))
    at.date_input(key="paper_replay_end").set_value(dt.date(2023, 3, 3))
    at.button(key="paper_replay").click()
    _ok(at.run())
    assert EngineDaemon(_settings()).run_pending() == 1
    _ok(at.run())
    assert any(t.startswith("DIFFERENT trades. sma-cross on BTC/USDT") for t in texts(at.error)), \
        (texts(at.error), texts(at.success), texts(at.caption))
    refused = " ".join(texts(at.warning))
    assert "refused by this account's limits" in refused
    assert "cooldown: 3 losses in a row" in refused
    at.selectbox(key="paper_account").set_value("prop")
    _ok(at.run())  # the check belongs to the account it ran for
    assert not any("DIFFERENT" in t for t in texts(at.error)) and not at.warning
