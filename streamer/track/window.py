"""History-window cursors: composite cursor, overlap, de-duplication, 31-day splits. Pure.

A history endpoint is read in windows ``[cursor - lookback, now - safety_lag)``. The
cursor is composite, (vendor time, tie-break key), and never moves backwards. Rows
re-read in the overlap are recognized by their ids and dropped; open rows (still
ongoing) are published when they start, and their later re-appearance with an end is
dropped the same way.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

import msgspec

__all__ = ["Cursor", "Window", "WindowState", "plan_windows", "MAX_WINDOW_MS", "Seen"]

MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
T = TypeVar("T")


class Cursor(msgspec.Struct, frozen=True, order=True):
    """Position in a history: (vendor time in ms, tie-break key). Compared as a tuple."""

    ts_ms: int
    key: str = ""


class Window(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int


class Seen(msgspec.Struct, frozen=True):
    """An item already admitted: its id and vendor time (for pruning)."""

    id: str
    ts_ms: int


def plan_windows(
    cursor: Cursor,
    now_ms: int,
    *,
    lookback_ms: int,
    safety_lag_ms: int,
    max_window_ms: int = MAX_WINDOW_MS,
) -> list[Window]:
    """Windows to read next: from cursor minus lookback up to now minus the safety lag,
    split so that none is longer than ``max_window_ms``. Empty when there is nothing new."""
    end = now_ms - safety_lag_ms
    if end <= cursor.ts_ms:
        return []
    start = max(0, cursor.ts_ms - lookback_ms)
    out = []
    while start < end:
        stop = min(end, start + max_window_ms)
        out.append(Window(start, stop))
        start = stop
    return out


class WindowState(msgspec.Struct, frozen=True):
    """A history endpoint's cursor plus the ids admitted inside the lookback."""

    cursor: Cursor
    seen: tuple[Seen, ...] = ()

    def admit(self, items: Iterable[tuple[str, int, T]]) -> tuple[list[T], "WindowState"]:
        """Keep the items (id, vendor ms, payload) not seen before, in input order.

        Does not move the cursor: call :meth:`close` once the whole window is read.
        """
        known = {s.id for s in self.seen}
        fresh: list[T] = []
        added: list[Seen] = []
        for item_id, ts_ms, payload in items:
            if item_id in known:
                continue
            known.add(item_id)
            added.append(Seen(item_id, ts_ms))
            fresh.append(payload)
        return fresh, WindowState(self.cursor, self.seen + tuple(added))

    def close(self, window_end: Cursor, *, lookback_ms: int) -> "WindowState":
        """The window up to ``window_end`` is fully read: advance (never back) and prune."""
        cursor = max(self.cursor, window_end)
        horizon = cursor.ts_ms - 2 * lookback_ms
        return WindowState(cursor, tuple(s for s in self.seen if s.ts_ms >= horizon))

