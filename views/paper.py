"""Paper: the kill switch, the paper accounts (create, follow), and for one account its
equity curve, open positions (close by hand), today's P&L against the prop limits, live vs
backtest per setup and the ledger."""

import streamlit as st

from app import paper_ui
from app.state import series, setup_store
from app.ui import sidebar, user_errors

sidebar(series(), market=False)  # each account follows its setups' own symbols
st.title("Paper")
paper_ui.notice()

with user_errors():
    paper_ui.kill_part()
    names = paper_ui.store().names()
    setup_ids = setup_store().ids()
    if names:
        paper_ui.accounts_table(paper_ui.overview(names))
    else:
        st.info("No paper account yet: create one below (or `ita paper create NAME --follow "
                "SETUP`). A paper account follows setups with the backtester's fills and a "
                "prop firm's limits; no real order is ever placed.")
    paper_ui.create_part(setup_ids, expanded=not names)
    if names:
        if st.session_state.get("paper_account") not in names:
            st.session_state.pop("paper_account", None)
        name = st.selectbox("Account", names, key="paper_account", persist_state="session")
        account = paper_ui.store().load(name)
        paper_ui.follow_part(account, setup_ids)
        paper_ui.account_part(account)
