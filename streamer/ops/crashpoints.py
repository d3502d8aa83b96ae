"""Crash injection for the chaos tests: ``CCSTREAM_CRASH_AT=<point>:<probability>`` makes
the process SIGKILL itself at that point with that probability. Unset (always, in
production) it costs one dict lookup.

Points: ``after-publish`` (events for the agent, interaction or stats topics acked, state
and checkpoint not yet written: a commit of only health or watermarks does not count),
``after-state`` (state and checkpoint written, in one send; the checkpoint covers the
output only up to the commit before), ``during-restore`` (tail read, nothing written yet).
"""

from __future__ import annotations

import os
import random
import signal

__all__ = ["crash_point", "POINTS"]

POINTS = ("after-publish", "after-state", "during-restore")


def _parse(spec: str | None) -> tuple[str, float] | None:
    if not spec:
        return None
    point, _, prob = spec.partition(":")
    if point not in POINTS:
        raise ValueError(f"CCSTREAM_CRASH_AT: unknown point {point!r} (known: {', '.join(POINTS)})")
    return point, float(prob or "1")


_SPEC = _parse(os.environ.get("CCSTREAM_CRASH_AT"))


def crash_point(name: str) -> None:
    """SIGKILL this process here if the environment asks for it."""
    if _SPEC is not None and _SPEC[0] == name and random.random() < _SPEC[1]:
        os.kill(os.getpid(), signal.SIGKILL)
