"""Page state a trader relies on: the Setups editor never loses typed edits and agrees with
the table and the selector; the Backtest page runs what its form says and its header says what
ran; the sidebar shows only what a page honours and keeps its choices across pages; Settings
reads the daemon's state in words; the candle caches follow the disk."""

from __future__ import annotations

import json
import os

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.app._pages import page, texts
from tests.app.conftest import ROOT
from tests.app.test_pages import store, yaml_area


def table(at: AppTest) -> pd.DataFrame:
    return pd.DataFrame(at.dataframe[0].value).set_index("id")


def version_box(at: AppTest, setup_id: str):
    return at.selectbox(key=f"setups_version_{setup_id}")


# --- Setups: switching setups ----------------------------------------------------------------

def test_switching_setup_shows_the_new_setups_active_version(app_home) -> None:
    s = store()
    for setup_id in ("sma-cross", "pdh-sweep-reversal"):  # both at v2, v2 active
        s.save(s.load(setup_id).text + "\n# v2\n")
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    version_box(at, "sma-cross").set_value(1).run()  # look at sma-cross's older version
    at.selectbox(key="setups_id").set_value("pdh-sweep-reversal").run()
    assert version_box(at, "pdh-sweep-reversal").value == 2  # its active one, not "v1"
    assert yaml_area(at, "pdh-sweep-reversal").value == s.load("pdh-sweep-reversal@2").text
    assert "Editing pdh-sweep-reversal v2 (active)" in texts(at.caption)


def test_typed_edits_survive_switching_to_another_setup_and_back(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    edited = yaml_area(at, "sma-cross").value.replace("fast: 10", "fast: 8")
    yaml_area(at, "sma-cross").set_value(edited).run()
    at.selectbox(key="setups_id").set_value("pdh-sweep-reversal").run()
    assert any("Unsaved edits kept for sma-cross v1" in i for i in texts(at.info))
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    assert yaml_area(at, "sma-cross").value == edited  # the edits are back
    assert any("Unsaved edits to v1" in w for w in texts(at.warning))
    at.button(key="setups_validate").click().run()
    assert any(v.startswith("Valid: SMA 10/30") and v.endswith("(edited; not saved yet)")
               for v in texts(at.success)), texts(at.success)
    at.button(key="setups_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Saved sma-cross v2 and made it active." in texts(at.success)
    assert store().load("sma-cross@2").text == edited


def test_discarding_edits_puts_the_versions_text_back(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    original = yaml_area(at, "sma-cross").value
    yaml_area(at, "sma-cross").set_value(original.replace("fast: 10", "fast: 8")).run()
    at.button(key="setups_discard").click().run()
    assert yaml_area(at, "sma-cross").value == original
    assert not any("Unsaved edits" in w for w in texts(at.warning))


# --- Setups: table, selector and editor agree --------------------------------------------------

def test_after_a_save_table_selector_and_editor_show_the_saved_version(app_home) -> None:
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    edited = yaml_area(at, "sma-cross").value.replace("fast: 10", "fast: 8")
    yaml_area(at, "sma-cross").set_value(edited).run()
    at.button(key="setups_save").click().run()
    row = table(at).loc["sma-cross"]
    assert (row["versions"], row["active"]) == (2, 2)
    assert version_box(at, "sma-cross").value == 2
    assert yaml_area(at, "sma-cross").value == edited
    assert "Editing sma-cross v2 (active)" in texts(at.caption)


def test_activating_an_older_version_updates_table_and_selector_at_once(app_home) -> None:
    s = store()
    s.save(s.load("sma-cross").text.replace("fast: 10", "fast: 8"))  # v2, active
    at = page("setups")
    at.selectbox(key="setups_id").set_value("sma-cross").run()
    version_box(at, "sma-cross").set_value(1).run()
    at.segmented_control(key="setups_view").set_value("Diff & activate").run()
    at.button(key="setups_activate").click().run()
    assert s.active("sma-cross") == 1
    assert table(at).loc["sma-cross", "active"] == 1
    box = version_box(at, "sma-cross")
    assert box.value == 1 and box.options == ["v1 (active)", "v2"]
    assert "v1 is active." in texts(at.success)


# --- Backtest ---------------------------------------------------------------------------------

def test_backtest_runs_the_forms_symbol_and_range_and_its_header_says_what_ran(app_home) -> None:
    s = store()
    s.save(s.load("sma-cross").text.replace("fee_bps: 0.0", "fee_bps: 9.0"))  # v2, fee 9
    at = page("backtest")
    at.selectbox(key="backtest_setup").set_value("sma-cross").run()
    at.selectbox(key="backtest_symbol").set_value("BTC/USD")
    at.date_input(key="backtest_start").set_value(pd.Timestamp("2023-03-06").date())
    at.date_input(key="backtest_end").set_value(pd.Timestamp("2023-03-07").date())
    at.button[0].click().run()  # the form's submit button
    assert not at.exception, [e.value for e in at.exception]
    assert at.subheader[0].value == ("sma-cross @ v2 — BTC/USD 1m, 2023-03-06 00:00 → "
                                     "2023-03-07 23:59 UTC")
    details = texts(at.caption)
    assert any(d.startswith("fee 9 bps per side, slippage 0 bps · risk 1 % of equity per "
                            "trade · initial equity 10,000 · 2,880 bars · run ") for d in details)


def test_backtest_shows_the_progress_not_the_old_result_while_a_job_waits(app_home) -> None:
    from engine.backtest.run import run_backtest

    run_backtest("sma-cross", symbol="BTC/USDT", start="2023-03-01", end="2023-03-02")
    now = pd.Timestamp.now(tz="UTC").isoformat()
    (app_home / "exchange").mkdir(exist_ok=True)
    (app_home / "exchange" / "engine.json").write_text(json.dumps(
        {"pid": 4242, "started_at": now, "last_seen": now, "current_job": None,
         "jobs_done": 0, "queued": 0}))
    at = page("backtest")
    assert at.subheader and at.metric  # the latest run, before a new one is asked for
    at.selectbox(key="backtest_setup").set_value("sma-cross").run()
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.metric and not at.subheader  # no old result under the waiting job
    assert any(c.startswith("Running sma-cross@1 on BTC/USDT from ") for c in texts(at.caption))


# --- Sidebar ----------------------------------------------------------------------------------

def sidebar_keys(at: AppTest) -> set[str]:
    return {w.key for kind in ("selectbox", "date_input") for w in getattr(at.sidebar, kind)}


def test_the_sidebar_shows_only_the_choices_a_page_honours(app_home) -> None:
    market = {"global_symbol", "global_start", "global_end"}
    assert sidebar_keys(page("data")) == market | {"global_timeframe"}
    assert sidebar_keys(page("setups")) == market  # a setup fixes its own timeframe
    assert sidebar_keys(page("editor")) == market
    assert sidebar_keys(page("backtest")) == set()  # symbol and range are in its form
    assert sidebar_keys(page("settings")) == set()


def test_sidebar_choices_outlive_pages_that_do_not_show_them(app_home) -> None:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/data.py").run()
    at.sidebar.selectbox(key="global_symbol").set_value("BTC/USD").run()
    at.sidebar.selectbox(key="global_timeframe").set_value("1h").run()
    at.switch_page("views/settings.py").run()
    assert "global_symbol" not in sidebar_keys(at)
    at.switch_page("views/backtest.py").run()
    assert at.selectbox(key="backtest_symbol").value == "BTC/USD"  # the form starts there
    at.switch_page("views/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.sidebar.selectbox(key="global_symbol").value == "BTC/USD"
    assert at.sidebar.selectbox(key="global_timeframe").value == "1h"


# --- Settings ---------------------------------------------------------------------------------

def settings_fields(at: AppTest) -> dict[str, str]:
    frame = pd.DataFrame(at.dataframe[0].value)
    return dict(zip(frame[""], frame["value"], strict=True))


def test_settings_reads_a_running_daemon_and_its_current_job(app_home) -> None:
    from engine.jobs.bus import JobBus

    job = JobBus.from_settings().submit("backtest", {"setup": "sma-cross@1",
                                                     "symbol": "BTC/USDT"})
    now = pd.Timestamp.now(tz="UTC")
    (app_home / "exchange" / "engine.json").write_text(json.dumps(
        {"pid": 4242, "started_at": "2024-05-01T08:00:00+00:00",
         "last_seen": (now - pd.Timedelta(seconds=3)).isoformat(), "current_job": job,
         "jobs_done": 7, "queued": 1}))
    fields = settings_fields(page("settings"))
    assert fields["state"] == "running" and fields["since"] == "2024-05-01 08:00:00 UTC"
    assert fields["last heartbeat"] in {"3 s ago", "4 s ago", "5 s ago"}
    assert fields["current job"].startswith("backtest sma-cross@1 BTC/USDT (queued, 0%)")
    assert fields["jobs done"] == "7"


def test_settings_says_a_stale_daemon_is_not_running(app_home) -> None:
    (app_home / "exchange").mkdir(exist_ok=True)
    (app_home / "exchange" / "engine.json").write_text(json.dumps(
        {"pid": 4242, "started_at": "2024-05-01T08:00:00+00:00",
         "last_seen": "2024-05-01T09:30:00+00:00", "current_job": None}))
    at = page("settings")
    fields = settings_fields(at)
    assert fields["state"] == "not running (its heartbeat stopped)"
    assert fields["last heartbeat"].endswith("min ago")
    assert any("engine daemon is not running" in w for w in texts(at.warning))


def test_settings_lists_every_secret_a_feature_reads_never_their_values(app_home,
                                                                        monkeypatch) -> None:
    from engine.settings import _SECRETS
    from views.settings import SECRETS_IN_USE

    for name in ("ITA_OPENAI_API_KEY", "ITA_EXCHANGE_API_KEY", "ITA_EXCHANGE_SECRET",
                 "ITA_NOTION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ITA_TELEGRAM_TOKEN", "tg-secret-value-123")
    monkeypatch.setenv("NOTION_TOKEN", "nt-secret-value-789")
    monkeypatch.setenv("ITA_APP_PASSWORD", "pw-secret-value-456")
    at = page("settings")
    secrets = pd.DataFrame(at.dataframe[2].value).set_index("secret")["set"].to_dict()
    assert set(SECRETS_IN_USE) == set(_SECRETS)  # every feature's secret, none of a future one
    assert secrets == {"ITA_TELEGRAM_TOKEN": "yes", "NOTION_TOKEN": "yes",
                       "ITA_OPENAI_API_KEY": "no", "ITA_EXCHANGE_API_KEY": "no",
                       "ITA_EXCHANGE_SECRET": "no", "ITA_APP_PASSWORD": "yes"}
    shown = [str(e.value) for kind in ("dataframe", "markdown", "caption", "text_input")
             for e in getattr(at, kind)]
    assert not any("secret-value" in text for text in shown)


# --- Candle caches ----------------------------------------------------------------------------

def test_the_symbol_list_follows_a_renamed_series(app_home) -> None:
    from app import state

    root = app_home / "data" / "candles" / "binanceus"
    assert set(state.series()["symbol"]) == {"BTC/USD", "BTC/USDT"}
    os.rename(root / "BTC%2FUSD", root / "XBT%2FUSD")  # a rename keeps every mtime
    assert set(state.series()["symbol"]) == {"XBT/USD", "BTC/USDT"}


def test_candles_changed_forgets_a_rewrite_within_the_same_timestamp(app_home) -> None:
    from app import state
    from engine.adapters.store import CandleStore

    path = next((app_home / "data" / "candles").glob("*/BTC%2FUSD/1m.parquet"))
    stamp = path.stat().st_mtime_ns
    before = state.candles("BTC/USD", "1m", "2023-03-01", "2023-03-02")
    bar = before.iloc[[0]].assign(close=before["close"].iloc[0] + 1.0)
    CandleStore.from_settings().upsert(bar, source="binanceus", symbol="BTC/USD", timeframe="1m")
    os.utime(path, ns=(stamp, stamp))  # a coarse clock (FAT, a synced folder): same mtime
    assert state.candles("BTC/USD", "1m", "2023-03-01", "2023-03-02").equals(before)  # cached
    state.candles_changed()
    after = state.candles("BTC/USD", "1m", "2023-03-01", "2023-03-02")
    assert after["close"].iloc[0] == before["close"].iloc[0] + 1.0


def test_settings_saves_the_analyst_name_where_settings_read_it(app_home, monkeypatch,
                                                                tmp_path) -> None:
    from engine.settings import Settings

    env = tmp_path / "project.env"  # stands for the project's .env (ITA_HOME is elsewhere)
    env.write_text("ITA_MT5_SERVER_TZ=Europe/Athens\n")
    monkeypatch.setitem(Settings.model_config, "env_file", env)
    monkeypatch.delenv("ITA_ANALYST", raising=False)
    at = page("settings")
    at.text_input(key="settings_analyst").set_value("maria").run()
    at.button(key="settings_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert env.read_text() == "ITA_MT5_SERVER_TZ=Europe/Athens\nITA_ANALYST=maria\n"
    assert Settings().analyst == "maria"
    assert "analyst: **maria**" in texts(at.sidebar.caption)
