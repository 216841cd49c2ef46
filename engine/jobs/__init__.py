"""Long jobs on the file bus and the engine daemon that runs them."""

from engine.jobs.bus import JobBus

__all__ = ["JobBus"]
