"""The password gate in front of every page (`streamlit_app.py` calls it before navigation).

- Served beyond this machine without ``ITA_ALLOW_REMOTE=1`` and ``ITA_APP_PASSWORD``: a refusal,
  no page (`engine.access` says why).
- ``ITA_APP_PASSWORD`` set: a password form until the right one is given in this browser
  session; compared with `hmac.compare_digest`, never shown, logged or kept in the session
  (the session keeps only a digest, so changing the password logs everybody out).
- Otherwise (127.0.0.1, no password): the pages, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import time

import streamlit as st

from engine.access import remote_problem
from engine.settings import get_settings

WRONG_PASSWORD_DELAY_S = 1.0
_SESSION_KEY = "auth_digest"


def served_address() -> str | None:
    """The address Streamlit listens on (None or "" means every interface)."""
    return st.get_option("server.address")


def _digest(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def require_password() -> None:
    """Return if the visitor may see ITA; otherwise draw the refusal or the form and stop."""
    settings = get_settings()
    problem = remote_problem(served_address(), settings)
    if problem:
        st.error(problem)
        st.stop()
    if settings.app_password is None:
        return
    expected = _digest(settings.app_password.get_secret_value())
    if hmac.compare_digest(st.session_state.get(_SESSION_KEY, ""), expected):
        return
    st.title("ITA")
    with st.form("auth_form", clear_on_submit=True):
        entered = st.text_input("Password", type="password", key="auth_password")
        submitted = st.form_submit_button("Open ITA")
    if submitted:
        if hmac.compare_digest(_digest(entered), expected):
            st.session_state[_SESSION_KEY] = expected
            st.rerun()
        time.sleep(WRONG_PASSWORD_DELAY_S)  # slows down guessing
        st.error("Wrong password.")
    st.stop()
