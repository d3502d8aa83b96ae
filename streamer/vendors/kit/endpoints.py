"""The endpoint kinds vendors declare. Each owns its name, its poll interval, whether the
config turns it on, and what :meth:`reset` forgets; a vendor gives the reads and the
mapping. Endpoints that are really special subclass :class:`VendorEndpoint` directly.

- :class:`HistoryWindow`: a cursor over the vendor's history, read in windows, with the
  memory (:class:`~streamer.track.window.WindowState`) that tells a re-read from a new row.
- :class:`RowSnapshot` / :class:`KeyedSnapshot`: a snapshot whose unchanged rows
  (entities) are not looked at again.
- :class:`StatsEndpoint`: rows of aggregates (a snapshot, or quarter-hour buckets behind
  a cursor) as ``cc.stats.changed``.
- :class:`PerKeyEndpoint`: one snapshot query per configured key (team, work type, list),
  the requests of a round spread evenly over the interval; :class:`PerKeyStats`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, overload

import msgspec

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft
from streamer.engine.source import Endpoint, PollResult, catchup_span_ms, endpoint_interval, window_settings
from streamer.errors import RetriableError, SkippableError
from streamer.http.tolerant import BadRecord
from streamer.timeutil import from_ms
from streamer.track.snapshot import KeyedDigests, RawRows
from streamer.track.window import Cursor, WindowState
from streamer.vendors.kit.helpers import draft_key, endpoint_enabled, split_bad

__all__ = [
    "VendorEndpoint", "enabled_only", "Read", "HistoryWindow", "sort_out", "RowSnapshot", "KeyedSnapshot", "StatsEndpoint",
    "QUARTER_MS", "MAX_STATS_SPAN_MS", "floor_quarter", "Sleep", "spread_offsets", "PerKeyEndpoint", "PerKeyStats",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Sleep = Callable[[float], Awaitable[None]]


class Read(Protocol[T_co]):
    """One response's rows, the unreadable ones as ``BadRecord``."""

    @property
    def items(self) -> Sequence[T_co | BadRecord]: ...


R = TypeVar("R", bound="Read[Any]")


class VendorEndpoint(Endpoint):
    """An endpoint of a vendor source: its ``name``, its ``interval`` (its own
    ``poll_interval``, else the source's) and ``enabled`` (unless the config turns it off)."""

    def __init__(self, name: str, cfg: SourceConfig) -> None:
        self.name = name
        self.interval = endpoint_interval(cfg, name)
        self.enabled = endpoint_enabled(cfg, name)


def enabled_only(endpoints: Iterable[VendorEndpoint]) -> list[Endpoint]:
    """The endpoints the config does not turn off, in order."""
    return [e for e in endpoints if e.enabled]


# --- history windows -------------------------------------------------------------------


def sort_out(window: WindowState, timed: Iterable[tuple[int, int, Draft]]) -> tuple[list[Draft], WindowState]:
    """Drafts given as (earliest read that could have returned it, row time, draft): those
    ``window`` has not admitted yet, in order, the ones read again marked ``reread``."""
    kept, state = window.sort_out((draft_key(d), first, row, d) for first, row, d in timed)
    return [msgspec.structs.replace(d, reread=True) if again else d for d, again in kept], state


class HistoryWindow(VendorEndpoint):
    """A cursor over the vendor's history (``proves`` the event types its rows stand for).

    Settings: ``lookback_ms``, ``lag_ms`` (safety lag), ``initial_ms`` (how far back a
    source without a cursor starts) and ``span_ms`` (how far one commit may move the
    cursor). A poll starts with :meth:`resume`, sorts each window's drafts out with
    :meth:`sort_out` and closes the window into :attr:`window`.
    """

    history = True

    def __init__(self, name: str, cfg: SourceConfig) -> None:
        super().__init__(name, cfg)
        self.lookback_ms, self.lag_ms, self.initial_ms = window_settings(cfg)
        self.span_ms = catchup_span_ms(cfg)
        self.window = WindowState(Cursor(0))
        """Rows admitted within the lookback."""
        self.resuming = True
        """Nothing is remembered (a start or a reset): the next poll anchors the window's
        memory at the checkpointed cursor, before which every row is a re-read."""

    def reset(self) -> None:
        self.window = WindowState(Cursor(0))
        self.resuming = True

    def resume(self, cursor_ms: int | None, now_ms: int) -> Cursor:
        """Where this poll reads from (the checkpointed cursor, else ``initial_ms`` ago),
        the window's memory moved there."""
        cursor = Cursor(cursor_ms if cursor_ms is not None else now_ms - self.initial_ms)
        if self.resuming:
            self.window, self.resuming = WindowState.resumed(cursor, cursor_ms), False
        else:
            self.window = self.window.at(cursor)
        return cursor

    def sort_out(self, timed: Iterable[tuple[int, int, Draft]]) -> tuple[list[Draft], WindowState]:
        """:func:`sort_out` against this endpoint's window."""
        return sort_out(self.window, timed)


# --- snapshots -------------------------------------------------------------------------


class RowSnapshot(VendorEndpoint):
    """A snapshot whose rows are judged on their bytes (:class:`RawRows`): a row served
    as in the previous snapshot is not decoded again."""

    history = False

    def __init__(self, name: str, cfg: SourceConfig) -> None:
        super().__init__(name, cfg)
        self.rows = RawRows()

    def reset(self) -> None:
        self.rows.forget()


class KeyedSnapshot(VendorEndpoint, Generic[T]):
    """A snapshot whose entities are judged on a digest of what matters about each
    (:class:`KeyedDigests`): for rows that change on every read (durations)."""

    history = False

    def __init__(self, name: str, cfg: SourceConfig) -> None:
        super().__init__(name, cfg)
        self.digests: KeyedDigests[T] = KeyedDigests()

    def reset(self) -> None:
        self.digests.forget()


# --- statistics ------------------------------------------------------------------------

QUARTER_MS = 15 * 60 * 1000
MAX_STATS_SPAN_MS = 24 * 3600 * 1000


def floor_quarter(ms: int) -> int:
    return ms - ms % QUARTER_MS


class StatsEndpoint(VendorEndpoint, Generic[T]):
    """Rows of aggregates -> ``cc.stats.changed`` when a triggering value changes.

    ``bucketed`` endpoints (quarter-hour statistics) are read from the quarter hour
    before the cursor (minus the lookback), so a bucket corrected after it closed is
    read again and its correction is one change event; the cursor follows the newest
    vendor change time the rows report (``maxChangeTimestamp``/``changeTimeStamp``), so
    a reporting database that loads late is waited for, not skipped. Snapshot endpoints
    (queue status now) have no cursor and use the poll time as the event time.
    """

    @overload
    def __init__(
        self,
        name: str,
        cfg: SourceConfig,
        read: Callable[[datetime, datetime], Awaitable[Read[T]]],
        *,
        to_draft: Callable[[T, int], Draft | None],
        change_ms: Callable[[T], int | None],
        bucket_ms: Callable[[T], int | None] | None = None,
    ) -> None:
        """A history endpoint: ``read(start, end)`` of a time range."""

    @overload
    def __init__(
        self,
        name: str,
        cfg: SourceConfig,
        read: Callable[[None, datetime], Awaitable[Read[T]]],
        *,
        to_draft: Callable[[T, int], Draft | None],
        bucket_ms: Callable[[T], int | None] | None = None,
    ) -> None:
        """A snapshot endpoint: ``read(None, now)``."""

    def __init__(
        self,
        name: str,
        cfg: SourceConfig,
        # start: a datetime for a history endpoint (change_ms given), None for a snapshot (see the overloads)
        read: Callable[[Any, datetime], Awaitable[Read[T]]],
        *,
        to_draft: Callable[[T, int], Draft | None],
        change_ms: Callable[[T], int | None] | None = None,
        bucket_ms: Callable[[T], int | None] | None = None,
    ) -> None:
        super().__init__(name, cfg)
        self.history = change_ms is not None
        self._read = read
        self._to_draft = to_draft
        self._change_ms = change_ms
        self._bucket_ms = bucket_ms
        """Where a row's bucket starts (None: not a time): given for an endpoint whose
        times select rows, not buckets (contactStatistic), so a bucket begun before the
        read's start is partial there and is not published."""
        self.lookback_ms, self.lag_ms, self.initial_ms = window_settings(cfg)

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        if not self.history:
            read = await self._read(None, from_ms(now_ms))
            good, bad = split_bad(read.items)
            now = [d for d in (self._to_draft(r, now_ms) for r in good) if d is not None]
            yield PollResult(now, bad, complete_up_to_ms=now_ms)
            return
        assert self._change_ms is not None
        cursor = cursor_ms if cursor_ms is not None else now_ms - self.initial_ms
        # the quarter hour before the cursor's, so a closed bucket's late correction is
        # read; never more than a day back (a source with no rows keeps its cursor)
        start = max(floor_quarter(cursor - self.lookback_ms) - QUARTER_MS, floor_quarter(now_ms - MAX_STATS_SPAN_MS))
        read = await self._read(from_ms(start), from_ms(now_ms))
        good, bad = split_bad(read.items)
        drafts: list[Draft] = []
        newest = cursor
        for row in good:
            begins = self._bucket_ms(row) if self._bucket_ms is not None else None
            if begins is not None and begins < start:
                continue
            changed = self._change_ms(row)
            d = self._to_draft(row, changed if changed is not None else now_ms)
            if d is not None:
                drafts.append(d)
            if changed is not None:
                newest = max(newest, changed)
        drafts.sort(key=lambda d: (d.at_ms, d.entity_id))
        new_cursor = max(cursor, min(newest, now_ms - self.lag_ms))
        yield PollResult(drafts, bad, cursor_ms=new_cursor, complete_up_to_ms=new_cursor)


# --- per-key rounds --------------------------------------------------------------------


def spread_offsets(n: int, interval: float) -> list[float]:
    """When each of ``n`` requests of one round goes out, in seconds from the round's start."""
    return [i * interval / n for i in range(n)] if n > 0 else []


class PerKeyEndpoint(VendorEndpoint):
    """A snapshot query asked once per key (team, work type, list) each round, the
    requests spread evenly over the interval. A key that keeps failing does not starve
    the ones after it: the next round starts after it."""

    history = False

    def __init__(self, name: str, keys: Sequence[str], cfg: SourceConfig, *, sleep: Sleep,
                 clock: Callable[[], float]) -> None:
        super().__init__(name, cfg)
        self.keys = list(keys)
        self._sleep = sleep
        self.clock = clock
        """Seconds, monotonic: spreads a round's requests and times each one's events."""
        self._start = 0

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        n = len(self.keys)
        order = self.keys[self._start:] + self.keys[: self._start]
        t0 = self.clock()
        skipped: list[tuple[str, SkippableError]] = []
        for i, (key, offset) in enumerate(zip(order, spread_offsets(n, self.interval))):
            delay = t0 + offset - self.clock()
            if delay > 0:
                await self._sleep(delay)
            at_ms = now_ms + max(0, round((self.clock() - t0) * 1000))
            try:
                result = await self.poll_one(key, at_ms)
            except SkippableError as exc:
                skipped.append((key, exc))
                continue
            except RetriableError:
                # next round starts after the failing key: a key that keeps failing
                # (or a rate limit that hits the same spot) cannot starve the others
                self._start = (self._start + i + 1) % n
                raise
            if i == n - 1 and not skipped:
                result.complete_up_to_ms = now_ms
            yield result
        self.round_done()
        if skipped:
            what = "; ".join(f"{k}: {e}" for k, e in skipped)
            raise SkippableError(f"{self.name}: {len(skipped)} of {n} unreadable: {what}", raw=skipped[0][1].raw)

    async def poll_one(self, key: str, at_ms: int) -> PollResult:  # pragma: no cover - abstract
        """Read one key at ``at_ms`` (the time its request went out)."""
        raise NotImplementedError

    def round_done(self) -> None:
        """A full round was read (some keys may have been skipped)."""


class PerKeyStats(PerKeyEndpoint, Generic[R]):
    """Statistics asked once per key: ``read(key)`` -> rows (with ``items``, bad ones as
    ``BadRecord``), ``drafts(key, rows, at_ms, endpoint)`` -> ``cc.stats.changed`` drafts."""

    def __init__(self, name: str, keys: Sequence[str], cfg: SourceConfig, read: Callable[[str], Awaitable[R]],
                 drafts: Callable[[str, R, int, str], list[Draft]], *, sleep: Sleep,
                 clock: Callable[[], float]) -> None:
        super().__init__(name, keys, cfg, sleep=sleep, clock=clock)
        self._read = read
        self._drafts = drafts

    async def poll_one(self, key: str, at_ms: int) -> PollResult:
        rows = await self._read(key)
        _, bad = split_bad(rows.items)
        return PollResult(self._drafts(key, rows, at_ms, self.name), bad)
