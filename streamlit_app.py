"""ITA's app: routes the pages and draws the shared sidebar. Pages are thin: they call engine
functions through app/ helpers.

The pages live in `views/`, not `pages/`: Streamlit treats a `pages/` folder beside the entry
script as a legacy multipage app until `st.navigation` first runs, so opening a bookmarked page
(e.g. /backtest) on a fresh server ran that file alone, without this navigation or layout."""

import streamlit as st

from app.auth import require_password
from app.state import page_run, warm_up

st.set_page_config(page_title="ITA", page_icon=":material/candlestick_chart:", layout="wide")
require_password()  # stops here unless this visitor may see the pages (ITA_APP_PASSWORD)

pages = {
    "Workbench": [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/data.py", title="Data", icon=":material/database:"),
        st.Page("views/setups.py", title="Setups", icon=":material/extension:"),
        st.Page("views/editor.py", title="Editor", icon=":material/account_tree:"),
    ],
    "Research": [
        st.Page("views/backtest.py", title="Backtest", icon=":material/science:"),
        st.Page("views/research.py", title="Research", icon=":material/tune:"),
        st.Page("views/runs.py", title="Runs", icon=":material/leaderboard:"),
        st.Page("views/journal.py", title="Journal", icon=":material/menu_book:"),
        st.Page("views/live.py", title="Live", icon=":material/notifications_active:"),
        st.Page("views/paper.py", title="Paper", icon=":material/account_balance_wallet:"),
        st.Page("views/knowledge.py", title="Knowledge", icon=":material/local_library:"),
        st.Page("views/learning.py", title="Learning", icon=":material/psychology:"),
    ],
    "System": [st.Page("views/settings.py", title="Settings", icon=":material/settings:")],
}
with page_run():  # the server's background work waits while a page is drawn
    try:
        st.navigation(pages, expanded=True).run()  # 13 pages: never "View 3 more"
    finally:  # once per server, after the first page is drawn (or stopped): the others' imports
        warm_up()
