"""Learning: per setup version, what its signals teach — the dataset, an honest verdict with its
numbers and curves, the top features, champion vs challenger, one signal explained with its
similar past cases, the trader's labels, and a Retrain job."""

import importlib.util

import streamlit as st

from app import learn_ui
from app.state import series, settings
from app.ui import sidebar, user_errors
from engine.learn.ops import early_verdict

sidebar(series(), market=False)  # each setup reads its own symbols and timeframe
st.title("Learning")
learn_ui.notice()
current = settings()
chosen = learn_ui.choose_version()
if chosen is None:
    st.stop()
setup_id, version = chosen
with user_errors():
    learning = learn_ui.Learning(current, setup_id, version)
    dataset = learning.dataset()
    learn_ui.dataset_part(dataset)
    early = early_verdict(dataset)
    learn_ui.verdict_part(learning.card, early)
    if learning.card is None and early is not None:
        st.info(f"No model of {learning.ref} yet, and training now would learn nothing: give "
                "it more signals first (a longer history: import more candles on the Data "
                "page).")
    elif learning.card is None:
        st.info(f"No model of {learning.ref} yet: press **Retrain** below (or run "
                f"`ita learn train {learning.ref}` in a terminal); training happens in the "
                "engine daemon, never while this page opens.")
    else:
        st.subheader("Calibration and threshold")
        learn_ui.curves_part(learning.card)
        st.subheader("What matters most")
        learn_ui.features_part(learning, dataset)
    st.subheader("Champion and challengers" if learning.cards else "Train")
    learn_ui.models_part(learning)
    learn_ui.retrain_part(learning)
    if learning.card is not None and len(dataset.frame):
        st.subheader("Explain one signal")
        learn_ui.signal_part(learning, dataset)
if importlib.util.find_spec("app.labels_ui"):  # the lead removes this guard at merge
    from app.labels_ui import labels_section

    st.subheader("Your labels")
    with user_errors():
        labels_section(current, setup_id, version)
