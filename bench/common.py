"""Shared pieces of the benchmarks: figures with targets, process CPU/RSS from /proc."""

from __future__ import annotations

import os
import statistics
from typing import Any

import msgspec

__all__ = ["Figure", "cpu_seconds", "rss_bytes", "percentiles"]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Figure(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One measured figure. ``met`` is None when the figure has no target."""

    name: str
    value: float
    unit: str
    target: str | None = None
    met: bool | None = None
    detail: str | None = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (default: this process), from /proc/<pid>/statm."""
    with open(f"/proc/{pid or os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``values`` (which must not be empty)."""
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50": q[49], "p99": q[98], "max": ordered[-1], "count": len(ordered)}


def as_builtins(figures: list[Figure], **extra: Any) -> dict[str, Any]:
    return {"figures": msgspec.to_builtins(figures), **extra}
