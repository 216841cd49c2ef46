"""Settings: paths, analyst name, which secrets are set (never their values), engine state."""

from pathlib import Path

import streamlit as st

from app import state
from app.ui import sidebar
from engine._io import write_text_atomic

sidebar(state.series())
st.title("Settings")
s = state.settings()
st.subheader("Folders")
st.dataframe([{"what": k, "path": str(v)} for k, v in {
    "ITA home": s.home, "candles": s.candles_dir, "setups": s.setups_dir, "runs": s.runs_dir,
    "exchange (jobs, alerts)": s.exchange_dir, "shared folder": s.shared_kb_dir}.items()],
    hide_index=True, width="stretch")

st.subheader("Analyst")
name = st.text_input("Your name in the shared folder", value=s.analyst, key="settings_analyst")
if st.button("Save name", key="settings_save") and name.strip():
    env = Path(s.home) / ".env"
    lines = env.read_text().splitlines() if env.exists() else []
    lines = [line for line in lines if not line.startswith("ITA_ANALYST=")]
    write_text_atomic(env, "\n".join([*lines, f"ITA_ANALYST={name.strip()}"]) + "\n")
    st.success("Saved to .env (local, never synced).")

st.subheader("Secrets")
st.caption("Set them in the environment or in .env; ITA shows only whether each is set.")
st.dataframe([{"secret": k, "set": "yes" if v else "no"} for k, v in s.secrets_status().items()],
             hide_index=True)

st.subheader("Engine daemon")
engine = state.engine_state()
st.json(engine or {"state": "not running"})
