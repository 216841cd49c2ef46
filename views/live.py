"""Live: the monitor's status and feeds, the setups it watches, the latest alerts and the
trader's decisions. Before any monitor has run (and without Telegram) it shows the demo replay."""

import streamlit as st

from app import live_ui
from app.state import series
from app.ui import sidebar, user_errors

sidebar(series(), market=False)  # live reads no candle range
st.title("Live")

with user_errors():
    current = live_ui.live_state()
    running = bool(current and current.running)
    demo = current is None and not live_ui.telegram_configured()
    if demo:
        st.info(live_ui.HOW_TO)
    live_ui.status_part(running)
    live_ui.setups_part(current)
    live_ui.alerts_part(live_ui.demo_alerts() if demo else live_ui.real_alerts(), running)
