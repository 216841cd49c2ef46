"""ITA's app: routes the pages and draws the shared sidebar. Pages are thin: they call engine
functions through app/ helpers."""

import streamlit as st

st.set_page_config(page_title="ITA", page_icon="📈", layout="wide")

pages = {
    "Workbench": [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
        st.Page("pages/data.py", title="Data", icon="🗄️"),
        st.Page("pages/setups.py", title="Setups", icon="🧩"),
        st.Page("pages/editor.py", title="Editor", icon="🕸️"),
    ],
    "Research": [
        st.Page("pages/backtest.py", title="Backtest", icon="🧪"),
        st.Page("pages/runs.py", title="Runs", icon="📊"),
        st.Page("pages/journal.py", title="Journal", icon="📓"),
    ],
    # Live and Knowledge pages join this section in later releases.
    "System": [st.Page("pages/settings.py", title="Settings", icon="⚙️")],
}
st.navigation(pages).run()
