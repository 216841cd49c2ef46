"""Run every benchmark section and write BENCHMARKS.md (machine, date, targets, peer ratios).

    python -m bench                 # all sections
    python -m bench detect backtest # only these
    python -m bench live_latency    # live alerts: bar close -> Telegram (issue 11)
    python -m bench --quick detect  # smoke run of the harness: one month of data, at most
                                    # two timed calls each, printed only (BENCHMARKS.md kept)
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import platform
import sys
from pathlib import Path

from bench._common import Result, quick

HERE = Path(__file__).resolve().parent
# live_eval (s-evalspeed's bench/live_eval.py) joins by itself once its module exists
SECTIONS = ["data", "detect", "setups", "backtest"] + [
    name for name in ("live_latency", "live_eval", "kb", "learn", "scale")
    if (HERE / f"{name}.py").exists()]
OUT = HERE.parent / "BENCHMARKS.md"


def _machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def _fmt(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _table(results: list[Result]) -> list[str]:
    lines = ["| measurement | ITA | target | met | peer | peer time | ITA faster by | note |",
             "| --- | ---: | ---: | :---: | --- | ---: | ---: | --- |"]
    for r in results:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        ratio = "" if r.ratio is None else f"{r.ratio:,.1f}×"
        target = " and ".join(filter(None, [_fmt(r.target), r.min_ratio and
                                            f"≥ {r.min_ratio:g}× peer"]))
        lines.append(f"| {r.name} | {_fmt(r.seconds)} | {target} | {met} | "
                     f"{r.peer or ''} | {_fmt(r.peer_seconds)} | {ratio} | {r.note} |")
    return lines


def _kept_sections(replaced: set[str]) -> dict[str, list[str]]:
    """Sections of the current BENCHMARKS.md not being re-measured, by title."""
    kept: dict[str, list[str]] = {}
    if not OUT.exists():
        return kept
    title = None
    for line in OUT.read_text().splitlines():
        if line.startswith("## "):
            title = line[3:]
        if title and title not in replaced:
            kept.setdefault(title, []).append(line)
    return kept


def _header() -> list[str]:
    return [
        "# Benchmarks", "",
        f"Measured {dt.date.today().isoformat()} by `make bench` on {_machine()}.",
        "ITA and every peer are timed by one function (`bench._common.measure`), each pair of a",
        "comparison with the same counts: warm-up calls first (numba compiled, lazy imports",
        "done), then the best of N timed calls (counts under each section's table). Every",
        "call gets a candle frame of its own, built outside the timer (new arrays and a new",
        "index object), so no cache keyed on a frame or its index is carried from one",
        "repetition to the next; a peer's input format (a tz-naive frame, vectorbt's entries,",
        "smc's swings) is built outside the timer too, and peers are imported before timing.",
        "Data is generated in the benchmark (seeded random walk, 525,600 1m bars = one year);",
        "none is committed.", "",
    ]


def main(argv: list[str]) -> int:
    if "--quick" in argv:
        os.environ["ITA_BENCH_QUICK"] = "1"
        argv = [arg for arg in argv if arg != "--quick"]
    names = argv or SECTIONS
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
        return 2
    titles = {name: importlib.import_module(f"bench.{name}").TITLE for name in SECTIONS}
    kept = _kept_sections({titles[name] for name in names})
    body: list[str] = []
    failed = 0
    for name in SECTIONS:
        module = importlib.import_module(f"bench.{name}")
        if name not in names:  # keep the last measurement of a section not run now
            body += kept.get(module.TITLE, [])
            continue
        print(f"== {name}", flush=True)
        results = module.run()
        for r in results:
            print(f"  {r.name}: {_fmt(r.seconds)}"
                  + (f" (peer {r.peer}: {_fmt(r.peer_seconds)})" if r.peer else "")
                  + (f" [{r.note}]" if r.note else ""), flush=True)
        failed += sum(1 for r in results if r.met is False)
        body += [f"## {module.TITLE}", "", *(module.__doc__ or "").strip().splitlines(), "",
                 *_table(results), "", f"Timing: {module.TIMING}", ""]
    if quick():
        print(f"quick run: {OUT.name} not written ({failed} target(s) missed)")
        return 0
    OUT.write_text("\n".join(_header() + body) + "\n")
    print(f"wrote {OUT} ({failed} target(s) missed)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
