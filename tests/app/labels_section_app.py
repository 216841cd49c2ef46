"""The labels section alone on a page, as the Learning page calls it (AppTest script for
tests/app/test_labels_ui.py; setup and version from ITA_TEST_SETUP, default the demo's
london-asia-sweep-fvg v1)."""

import os

from app.labels_ui import labels_section
from app.state import settings

setup_id, _, version = os.environ.get("ITA_TEST_SETUP", "london-asia-sweep-fvg@1").partition("@")
labels_section(settings(), setup_id, int(version))
