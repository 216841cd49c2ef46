"""ITA's app: routes the pages and draws the shared sidebar. Pages are thin: they call engine
functions through app/ helpers."""

import streamlit as st

st.set_page_config(page_title="ITA", page_icon=":material/candlestick_chart:", layout="wide")

pages = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
        st.Page("pages/setups.py", title="Setups", icon=":material/extension:"),
        st.Page("pages/editor.py", title="Editor", icon=":material/account_tree:"),
    ],
    "Research": [
        st.Page("pages/backtest.py", title="Backtest", icon=":material/science:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/leaderboard:"),
        st.Page("pages/journal.py", title="Journal", icon=":material/menu_book:"),
    ],
    # Live and Knowledge pages join this section in later releases.
    "System": [st.Page("pages/settings.py", title="Settings", icon=":material/settings:")],
}
st.navigation(pages).run()
