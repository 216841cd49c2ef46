"""Home loads the Editor canvas's script in an empty frame after it is drawn (issue 10, speed of
pages: the canvas's 2.8 MB script cost the Editor's first open seconds of browser time)."""

from __future__ import annotations

import html
import importlib.util
from pathlib import Path

from app import preload
from tests.app._pages import page


def test_the_flow_bundle_is_found_in_the_installed_package():
    build = Path(importlib.util.find_spec("streamlit_flow").origin).parent / "frontend" / "build"
    files = preload.flow_bundle_files()
    scripts = [name for name in files if name.endswith(".js")]
    assert len(scripts) == 1 and scripts[0].startswith("static/js/main.")
    assert all((build / name).is_file() for name in files)


def test_home_loads_the_canvas_script_in_a_hidden_frame(app_home):
    at = page("home")
    frames = [e for e in at.get("iframe") if "srcdoc" in str(e.proto)]
    script = next(n for n in preload.flow_bundle_files() if n.endswith(".js"))
    url = f"component/{preload.FLOW_COMPONENT}/{script}"
    assert len(frames) == 1
    source = html.unescape(frames[0].proto.srcdoc)
    assert f'src="{url}"' in source and "<iframe hidden" in source
