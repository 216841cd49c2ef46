"""Cross-field checks of a setup: names that must exist, with the nearest valid name."""

from __future__ import annotations

import difflib

from engine.setups import schema


def _nearest(name: str, choices) -> str:
    near = difflib.get_close_matches(name, list(choices), n=1)
    return f" — did you mean {near[0]!r}?" if near else f" (known: {', '.join(choices)})"


def check_references(setup: schema.Setup) -> None:
    names = setup.conditions.keys()
    for used in schema.signal_names(setup.signal):
        if used not in names:
            raise ValueError(f"signal uses unknown condition {used!r}{_nearest(used, names)}")
    plan = setup.plan
    referenced = {ref.split(".")[0] for ref in (plan.entry.level, plan.stop.level,
                                                plan.target.level) if ref}
    unused = [n for n in names if n not in schema.signal_names(setup.signal)
              and n not in referenced]
    if unused:
        raise ValueError(f"signal: condition {unused[0]!r} is used neither by the signal nor by"
                         " the plan; use it or delete it")
    refs = [("plan.entry.level", plan.entry.level), ("plan.stop.level", plan.stop.level),
            ("plan.target.level", plan.target.level)]
    for where, ref in refs:
        if ref is None:
            continue
        name, _, _ = ref.partition(".")
        if name not in names:
            raise ValueError(f"{where}: unknown condition {name!r}{_nearest(name, names)}")
        if setup.conditions[name].detector not in schema.EVENT_DETECTORS - {"ma_cross"}:
            raise ValueError(f"{where}: {name!r} is a filter and has no price levels")
    from engine.detect.sessions import SESSIONS

    sessions = list(setup.filters.sessions or [])
    sessions += [c.session for c in setup.conditions.values()
                 if getattr(c, "detector", "") in ("session", "sweep") and c.session]
    for session in sessions:
        if session not in SESSIONS:
            raise ValueError(f"unknown session {session!r}{_nearest(session, SESSIONS)}")
    if setup.market.context_timeframe is None and any(
            getattr(c, "timeframe", "base") == "context" for c in setup.conditions.values()):
        raise ValueError("a condition uses timeframe=context but market.context_timeframe is "
                         "not set")
