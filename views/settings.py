"""Settings: folders, analyst name, the secrets ITA uses today (whether set, never their
values), the engine daemon's state, Notion's state (from the local state file: no request)."""

import os
from pathlib import Path

import streamlit as st

from app import state
from app.engine_status import engine_fields
from app.reports_ui import notion_section
from app.ui import sidebar
from engine._io import write_text_atomic

SECRETS_IN_USE = {  # every secret a feature reads (engine.settings._SECRETS), with that feature
    "telegram_token": ("ITA_TELEGRAM_TOKEN", "live alerts, the weekly summary and the /kill, "
                                             "/positions commands on Telegram"),
    "notion_token": ("NOTION_TOKEN", "the Notion journal, parameter table and reports "
                                     "(docs/NOTION.md)"),
    "openai_api_key": ("ITA_OPENAI_API_KEY", "the optional short LLM comment on a live alert"),
    "exchange_api_key": ("ITA_EXCHANGE_API_KEY", "real orders of a paper account with "
                                                 "execution: live (docs/EXECUTION.md)"),
    "exchange_secret": ("ITA_EXCHANGE_SECRET", "the same, with the key above"),
    "app_password": ("ITA_APP_PASSWORD", "the password this app asks for; needed to serve it "
                                         "beyond this machine (with ITA_ALLOW_REMOTE=1)"),
}


def fields_table(fields: dict[str, str], header: str = "value") -> None:
    st.dataframe([{"": k, header: v} for k, v in fields.items()], hide_index=True,
                 width="stretch")


sidebar(state.series(), market=False)
st.title("Settings")
s = state.settings()

st.subheader("Engine daemon")
engine = state.engine_state()
if engine and engine["alive"]:
    st.success("The engine daemon is running: backtests from the Backtest page run there.")
else:
    st.warning("The engine daemon is not running: backtests run in the app instead.")
fields_table(engine_fields(engine))
st.button("Refresh", key="settings_refresh")

st.subheader("Notion")
notion_section(s)

st.subheader("Folders")
st.dataframe([{"what": k, "path": str(v)} for k, v in {
    "ITA home": s.home, "candles": s.candles_dir, "setups": s.setups_dir, "runs": s.runs_dir,
    "exchange (jobs, alerts)": s.exchange_dir, "shared folder": s.shared_kb_dir}.items()],
    hide_index=True, width="stretch")

st.subheader("Analyst")
if "settings_notice" in st.session_state:
    st.success(st.session_state.pop("settings_notice"))
name = st.text_input("Your name in the shared folder", value=s.analyst, key="settings_analyst")
if st.button("Save name", key="settings_save") and name.strip():
    env = Path(s.model_config["env_file"])  # the .env the settings are read from
    lines = env.read_text().splitlines() if env.exists() else []
    lines = [line for line in lines if not line.startswith("ITA_ANALYST=")]
    write_text_atomic(env, "\n".join([*lines, f"ITA_ANALYST={name.strip()}"]) + "\n")
    if os.environ.get("ITA_ANALYST"):
        st.warning(f"Saved to {env}, but the environment variable ITA_ANALYST wins over it.")
    else:
        st.session_state["settings_notice"] = f"Saved to {env} (local, never synced)."
        st.rerun()  # the sidebar, drawn above, shows the new name

st.subheader("Secrets")
st.caption("Set them in the environment or in .env; ITA shows only whether each is set, "
           "never its value.")
status = s.secrets_status()
st.dataframe([{"secret": variable, "set": "yes" if status[name] else "no", "used for": use}
              for name, (variable, use) in SECRETS_IN_USE.items()], hide_index=True,
             width="stretch")
st.caption("`ita data fetch` reads public candles: it needs no exchange API key. "
           f"MetaTrader 5 server zone (ITA_MT5_SERVER_TZ): {s.mt5_server_tz or 'not set'}.")
