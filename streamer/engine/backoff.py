"""Exponential backoff with full jitter, shared by every retry loop."""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]


def backoff_delay(failures: int, *, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` failures in a row: uniform in [0, min(cap, base * 2^(failures-1))]."""
    r = rng or random
    return r.uniform(0, min(cap, base * 2 ** max(0, failures - 1)))
