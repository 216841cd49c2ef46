"""Learning: per setup version, what its signals teach — the dataset, an honest verdict with its
numbers and curves, the top features, champion vs challenger, one signal explained with its
similar past cases, the trader's labels, and a Retrain job."""

import streamlit as st

from app import learn_ui
from app.labels_ui import labels_section
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
# one view at a time (st.tabs would run every body: the labels chart's detection on each click)
VIEWS = ["Model", "Explain a signal", "Labels"]
view = st.segmented_control("View", VIEWS, default="Model", key="learning_view",
                            label_visibility="collapsed") or VIEWS[0]
with user_errors():
    if view == "Labels":
        labels_section(current, setup_id, version)
        st.stop()
    learning = learn_ui.Learning(current, setup_id, version)
    dataset = learning.dataset()
    if view == "Explain a signal":
        if learning.card is None or not len(dataset.frame):
            st.info(f"No model of {learning.ref} yet: the **Model** view says how to train "
                    "one; then each signal is explained here with its most similar past "
                    "cases.")
        else:
            learn_ui.signal_part(learning, dataset)
        st.stop()
    learn_ui.dataset_part(dataset)
    early = early_verdict(dataset)
    learn_ui.verdict_part(learning.card, early)
    if learning.card is None and early is not None:
        st.info(f"No model of {learning.ref} yet, and too few signals for one of its own: "
                "**Retrain** below trains the pooled model of every setup (the setup as a "
                "feature); or give it more signals first (import more candles on the Data "
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
