"""History-window cursors: composite cursor, overlap, de-duplication, 31-day and catch-up splits. Pure.

A history endpoint is read in windows ``[cursor - lookback, now - safety_lag)``. The
cursor is composite, (vendor time, tie-break key), and never moves backwards. Rows
re-read in the overlap are recognized by their ids and dropped; open rows (still
ongoing) are published when they start, and their later re-appearance with an end is
dropped the same way. :class:`LookbackSchedule` decides which reads re-read the whole
lookback and which only a short overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import msgspec

__all__ = ["Cursor", "Window", "WindowState", "plan_windows", "MAX_WINDOW_MS", "LookbackSchedule"]

MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
T = TypeVar("T")
_NO_TIME = 2**63
"""Later than any vendor time: ``WindowState.oldest_ms`` of an empty memory."""


class Cursor(msgspec.Struct, frozen=True, order=True):
    """Position in a history: (vendor time in ms, tie-break key). Compared as a tuple."""

    ts_ms: int
    key: str = ""


class Window(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int


def plan_windows(
    cursor: Cursor,
    now_ms: int,
    *,
    lookback_ms: int,
    safety_lag_ms: int,
    max_window_ms: int = MAX_WINDOW_MS,
    max_span_ms: int | None = None,
) -> list[Window]:
    """Windows to read next: from cursor minus lookback up to now minus the safety lag,
    split so that none is longer than ``max_window_ms`` and none moves the cursor more
    than ``max_span_ms`` (the first: past the cursor; the others: past the window before).

    Each window is one commit (read, published, checkpointed) before the next is read,
    so ``max_span_ms`` bounds what a catch-up after a long gap holds at once, whatever
    the gap. Empty when there is nothing new.
    """
    if max_span_ms is not None and max_span_ms <= 0:
        raise ValueError(f"max_span_ms must be positive, got {max_span_ms}")
    end = now_ms - safety_lag_ms
    if end <= cursor.ts_ms:
        return []
    start = max(0, cursor.ts_ms - lookback_ms)
    out = []
    while start < end:
        stop = min(end, start + max_window_ms)
        if max_span_ms is not None:
            stop = min(stop, max(start, cursor.ts_ms) + max_span_ms)
        out.append(Window(start, stop))
        start = stop
    return out


class WindowState(msgspec.Struct, frozen=True, gc=False):
    """A history endpoint's cursor plus the ids admitted inside the lookback.

    Re-reads and a short memory. The ids are kept for twice the re-read horizon (what
    :meth:`close` is given), by the vendor time a read finds their row at, so any read
    of the horizon finds what it admitted before. What this memory cannot vouch for is
    *re-read*: an id whose row a read could first have returned before
    ``known_from_ms``. That is everything before the checkpointed cursor after a start
    or a reset (the memory is empty then: :meth:`resumed`), and everything before what
    :meth:`close` has pruned, which a vendor may still serve (Vonage's ``Processed``
    returns an activity again when it ends, hours after its start). A re-read id may be
    on Kafka already, and the ledger remembers only the last few transitions of a
    stream, so re-read drafts are marked (``Draft.reread``) and admitted only when the
    ledger can tell that they are new (see :meth:`Ledger.may_have_forgotten`): never
    published twice.

    Why not persist the ids, or drop every row before the checkpointed cursor? The ids
    of a busy source's horizon (a lookback plus ``lookback_every``) are thousands: saved
    with every commit they would multiply the checkpoint traffic. Dropping the rows
    would lose every row the vendor writes late across each restart or reset, which is
    what the lookback is for. Marking costs only what the ledger cannot tell: a row
    written late *and* older than the last few transitions of its stream, re-read after
    a restart, is not published.
    """

    cursor: Cursor
    seen: Mapping[str, int] = msgspec.field(default_factory=dict)
    """Each id admitted, with the vendor time that keeps it remembered. Never changed in
    place: a state that admits ids gets a copy, so the state before stays as it was (a
    poll that fails keeps it)."""
    known_from_ms: int = 0
    """Every id admitted from a row that a read could first have returned at or after this
    vendor time is in ``seen``; before it, nothing is known."""
    oldest_ms: int = _NO_TIME
    """The earliest time in ``seen``, which tells :meth:`close` when to forget (2**63: none
    given; a memory given without it is forgotten by the next close)."""

    @classmethod
    def resumed(cls, cursor: Cursor, checkpointed_ms: int | None) -> WindowState:
        """The state of a start or a reset: nothing remembered, so everything a read could
        have returned before the checkpointed cursor is a re-read (nothing, on a first run)."""
        return cls(cursor, {}, checkpointed_ms if checkpointed_ms is not None else 0)

    def admit(self, items: Iterable[tuple[str, int, T]]) -> tuple[list[T], WindowState]:
        """Keep the items (id, vendor ms, payload) not seen before, in input order.

        Does not move the cursor: call :meth:`close` once the whole window is read.
        Whether an item is a re-read is not told: use :meth:`sort_out` for that.
        """
        kept, state = self.sort_out((i, t, t, p) for i, t, p in items)
        return [p for p, _ in kept], state

    def sort_out(self, items: Iterable[tuple[str, int, int, T]]) -> tuple[list[tuple[T, bool]], WindowState]:
        """The items ``(id, first_ms, row_ms, payload)`` not seen before, in input order,
        each with whether it is a re-read (``first_ms`` before :attr:`known_from_ms`).

        ``first_ms``: the earliest vendor time at which a read could have returned the
        id (the start of its row); ``row_ms``: the vendor time the read found its row at
        (the row's end, when it has one), which keeps the id remembered.
        """
        seen, known_from = self.seen, self.known_from_ms
        kept: list[tuple[T, bool]] = []
        added: dict[str, int] = {}
        for item_id, first_ms, row_ms, payload in items:
            if item_id in seen or item_id in added:
                continue
            added[item_id] = max(first_ms, row_ms)
            kept.append((payload, first_ms < known_from))
        if not added:
            return kept, self
        return kept, WindowState(self.cursor, {**seen, **added}, known_from, min(self.oldest_ms, min(added.values())))

    def close(self, window_end: Cursor, *, lookback_ms: int) -> WindowState:
        """The window up to ``window_end`` is fully read: advance (never back) and forget
        the ids older than twice ``lookback_ms`` (the re-read horizon).

        Forgetting reads every id, so it is done in batches: only once the oldest id is a
        quarter of ``lookback_ms`` past the horizon. An id is therefore remembered up to
        that much longer, which only drops more re-reads of rows admitted before.
        """
        cursor = max(self.cursor, window_end)
        horizon = cursor.ts_ms - 2 * lookback_ms
        known_from = max(self.known_from_ms, horizon)
        if self.oldest_ms >= horizon - lookback_ms // 4 and (self.oldest_ms != _NO_TIME or not self.seen):
            return WindowState(cursor, self.seen, known_from, self.oldest_ms)
        kept = {i: t for i, t in self.seen.items() if t >= horizon}
        return WindowState(cursor, kept, known_from, min(kept.values(), default=_NO_TIME))

    def at(self, cursor: Cursor) -> WindowState:
        """The same memory with the cursor moved forward to ``cursor`` (never back)."""
        return WindowState(max(self.cursor, cursor), self.seen, self.known_from_ms, self.oldest_ms)


class LookbackSchedule:
    """Which history reads re-read the whole lookback. Pure.

    Re-reading ``lookback_ms`` on every read multiplies the rows read by lookback over the
    poll interval (30 with the defaults), and nearly all of them come back unchanged. Here
    only a read every ``every_ms`` of cursor progress is *full*; the reads in between start
    ``short_ms`` before the cursor. A full read starts ``lookback_ms`` before where the
    previous full read ended, which is at or before the cursor of every read since: a row
    that turns up late is therefore read by the next full read whenever reading from
    ``cursor - lookback`` on every read would have read it, at most ``every_ms`` (plus an
    interval) later. A short read is made only while it ends within ``every_ms`` of the
    last full read's end, so every checkpointed cursor is; after a restart (or a
    :meth:`forget`) nothing else is known, and the first read re-reads
    ``lookback_ms + every_ms``. ``every_ms`` 0: every read is full.
    """

    __slots__ = ("lookback_ms", "every_ms", "short_ms", "full_end_ms")

    def __init__(self, lookback_ms: int, every_ms: int, short_ms: int) -> None:
        self.lookback_ms = lookback_ms
        self.every_ms = every_ms
        self.short_ms = min(short_ms, lookback_ms)
        self.full_end_ms: int | None = None
        """Where the last full read ended (the cursor after it); None: not known."""

    @property
    def reach_ms(self) -> int:
        """How far before the cursor a full read may start: what ids must be remembered for."""
        return self.lookback_ms + self.every_ms

    def plan(self, cursor_ms: int, end_ms: int) -> tuple[int, bool]:
        """Where the read that ends at ``end_ms`` starts, and whether it is a full one."""
        if self.every_ms <= 0:
            return cursor_ms - self.lookback_ms, True
        if self.full_end_ms is None:
            return cursor_ms - self.reach_ms, True
        if end_ms - self.full_end_ms > self.every_ms:
            return min(cursor_ms, self.full_end_ms) - self.lookback_ms, True
        return cursor_ms - self.short_ms, False

    def done(self, full: bool, cursor_ms: int) -> None:
        """A read planned by :meth:`plan` was read completely; ``cursor_ms`` is the cursor after it."""
        if full:
            self.full_end_ms = cursor_ms

    def forget(self) -> None:
        """Nothing is known about earlier reads (a reset): the next read is full and reaches back further."""
        self.full_end_ms = None
