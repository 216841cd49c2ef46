"""Knowledge: the trader's theory as a searchable base — add files, search (and ask), the
documents, the shared folder's sync, who contributed what."""

import streamlit as st

from app import kb_share, kb_ui
from app.state import series, settings
from app.ui import sidebar, user_errors

sidebar(series(), market=False)  # the knowledge base reads no candles
st.title("Knowledge")
current = settings()
if notice := st.session_state.pop("knowledge_notice", None):
    st.success(notice)

VIEWS = ["Search", "Add files", "Documents", "Sync", "Analysts"]
empty = not kb_ui.has_documents(current)
view = st.segmented_control("View", VIEWS, default="Add files" if empty else "Search",
                            key="knowledge_view", label_visibility="collapsed") or VIEWS[0]
with user_errors():
    if view == "Search":
        kb_ui.search_part(current)
    elif view == "Add files":
        kb_ui.add_part(current)
    elif view == "Documents":
        kb_ui.documents_part(current)
    elif view == "Sync":
        kb_share.sync_part(current)
    else:
        kb_share.analysts_part(current)
kb_ui.warm_in_background(current)  # after this run: the model and the index, if not ready
