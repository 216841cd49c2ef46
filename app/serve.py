"""`python -m app.serve [streamlit options]`: start the app with its heavy parts already loaded.

`make run` (`scripts/start.sh`) and the browser test start the app this way. Before Streamlit
opens its port, this process imports what the pages need at their first use — numba's
detectors (loaded or compiled once per setup), plotly and its validators, Chroma and the
knowledge base's embedding model (~3 s) — in its main thread. Done later, in the server's
background warm-up, that work ran while the trader's first clicks were being answered, and a
click that met a seconds-long import waited for it (the same process, one interpreter lock):
the first minute of every start was slower than the rest. The in-session warm-up
(`app.state.warm_up`) still fills the loaders, which need a running server, and registers the
components, which must be imported under a page's script context.

A failure here is logged and the app starts anyway: the first page to need that part loads it
itself and says what is wrong.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "streamlit_app.py"
log = logging.getLogger("ita.serve")


def preload() -> float:
    """Import `app.preload.PRELOAD`, draw one figure of each trace type, run each setup's
    detectors once and load the embedding model; the seconds it took."""
    from app.preload import PRELOAD, warm_detectors, warm_figures
    from engine.kb.embed import embed_query
    from engine.settings import get_settings
    from engine.setups.store import SetupStore

    started = time.monotonic()
    steps = [functools.partial(importlib.import_module, name) for name in PRELOAD]
    steps += [warm_figures, lambda: warm_detectors(SetupStore.from_settings(get_settings())),
              functools.partial(embed_query, "warm up")]
    for step in steps:
        try:
            step()
        except Exception:  # an optimisation: the page that needs it says what is wrong
            log.exception("preloading failed")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> None:
    """Preload, then hand over to Streamlit's own command line (`streamlit run`)."""
    logging.basicConfig(level=logging.WARNING)
    seconds = preload()
    print(f"ITA loaded its detectors, charts and knowledge model in {seconds:.1f} s",
          file=sys.stderr)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(SCRIPT), *(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
