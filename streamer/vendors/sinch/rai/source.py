"""Sinch RAI, declared: endpoints (IO) -> the pure mapping of :mod:`.mapping` -> drafts.

- ``agentStatusHistory`` (history window): every presence, handling-status and sign-on
  row, each carrying its own ``statusTimestamp``/``userStatusTimestamp`` as the vendor
  time (``since``), emitted in that order (the log may write a status after a newer one),
  a ``Waiting`` just before a ``Wrap`` folded into it (:func:`log_steps`). A row belongs to the window its ``changeTimestamp`` falls in: windows are half-open, every
  page is read before the window is closed, and rows re-read in the lookback overlap
  are recognized by their identity, so rows sharing a timestamp at a page or window
  edge are published once each.
- ``agentStatus`` (snapshot): a cheap poll that notices which agents changed; their
  exact transitions are then read from ``agentStatusHistory`` (the same rows, the same
  mapping), so a transition seen by both endpoints has one event id. The snapshot has
  durations but no timestamps, so it never invents a time: an agent whose change is
  not in the history yet is looked at again on the next poll.
- ``contactStatistic``/``agentStatistic`` (today) and ``contactHistory``/
  ``agentHistory`` (reporting DB): quarter-hour buckets -> ``cc.stats.changed``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft
from streamer.engine.source import PollResult, VendorSpec
from streamer.http.build import build_http
from streamer.timeutil import from_ms, to_ms
from streamer.track.window import Cursor, Window, WindowState, plan_windows
from streamer.vendors.kit.endpoints import HistoryWindow, KeyedSnapshot, StatsEndpoint, VendorEndpoint, enabled_only
from streamer.vendors.kit.endpoints import sort_out as kit_sort_out
from streamer.vendors.kit.helpers import split_bad
from streamer.vendors.sinch.common import (
    ROW_LIMIT,
    SinchOptions,
    bucket_start_ms,
    change_ms_of,
    check_sinch,
    guid,
    sinch_headers,
)
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.mapping import (
    DEFER,
    PINPOINT_HORIZON_MS,
    PINPOINT_MARGIN_MS,
    agent_fields,
    agent_stats_draft,
    contact_stats_draft,
    log_steps,
    lookup_from,
    pinpoint,
)
from streamer.vendors.sinch.rai.models import (
    AgentStatusHistoryRow,
    AgentStatusRow,
)

__all__ = [
    "SPEC", "VENDOR", "RaiSource", "sort_out", "AgentStatusHistoryEndpoint", "AgentStatusEndpoint", "log_steps",
]

VENDOR = "sinch_rai"
MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
"""Longest history window asked for in one read (none is documented; reads also split
themselves when they return exactly the row limit)."""
USER_FILTER_MAX = 50
"""More changed agents than this: read the history of every agent (URL length)."""


# --- endpoints (IO) --------------------------------------------------------------------


def sort_out(window: WindowState, drafts: Sequence[tuple[int, Draft]]) -> tuple[list[Draft], WindowState]:
    """The drafts (``changeTimestamp`` ms, draft) the window has not admitted, in order,
    the re-read ones marked. A row carrying a transition can be no older than it (the
    status was set, then the row written), so the earliest read that could have
    returned it is at the older of the two times."""
    return kit_sort_out(window, ((min(d.at_ms, change), change, d) for change, d in drafts))


class AgentStatusHistoryEndpoint(HistoryWindow):
    """History windows over ``changeTimestamp``: ``[cursor - lookback, now - safety_lag)``,
    the cursor being the newest ``changeTimestamp`` read (vendor time, never the local
    clock). After a start or a reset the first window re-reads the lookback before the
    checkpointed cursor too, so a row written late is not lost to the restart."""

    proves = frozenset({"cc.agent.presence.changed", "cc.agent.state.changed"})

    def __init__(self, client: RaiClient, cfg: SourceConfig) -> None:
        super().__init__("agentStatusHistory", cfg)
        self.client = client
        self.row_limit = ROW_LIMIT
        self.reset()

    def reset(self) -> None:
        super().reset()  # the window: rows admitted within the lookback (by this endpoint and by the snapshot)
        self.polled_to: int | None = None
        """End of the last window read in this process (the snapshot waits for one)."""
        self.floor_ms: int | None = None
        """The checkpointed cursor this process started from: rows before it were read
        before the start (or reset). This endpoint reads the lookback before it again,
        for rows written late, as re-reads (:class:`WindowState`); the snapshot emits in
        full only the rows from it on."""

    async def read_window(self, start_ms: int, end_ms: int) -> tuple[list[AgentStatusHistoryRow], list[Any], int | None]:
        """The rows of ``[start_ms, end_ms)``, the bad ones, and the vendor's clock when it
        answered (None without a ``Date`` header). A read that returns exactly the row limit
        may have been cut there by the server: the window is halved and read again."""
        read = await self.client.agent_status_history(from_ms(start_ms), from_ms(end_ms))
        if len(read.items) == self.row_limit and end_ms - start_ms > 1:
            mid = start_ms + (end_ms - start_ms) // 2
            a, bad_a, _ = await self.read_window(start_ms, mid)
            b, bad_b, server_ms = await self.read_window(mid, end_ms)
            return a + b, bad_a + bad_b, server_ms
        good, bad = split_bad(read.items)
        return [r for r in good if start_ms <= to_ms(r.change_timestamp) < end_ms], bad, read.server_ms

    def _cursor_after(
        self, rows: list[AgentStatusHistoryRow], current: Cursor, window_end_ms: int, server_ms: int | None
    ) -> Cursor:
        """Vendor time only: the newest ``changeTimestamp`` read. A window with no row moves
        the cursor to the vendor's own clock (its ``Date``) less the safety lag, never past
        the window's end, so a quiet tenant is not read again from its last row on every
        poll, and a host clock that jumps still cannot carry the cursor past unread rows."""
        newest = max((to_ms(r.change_timestamp) for r in rows), default=None)
        if newest is not None:
            return Cursor(newest)
        if server_ms is None:
            return current
        quiet_to = min(window_end_ms, server_ms - self.lag_ms - 1000)  # Date has whole seconds
        return Cursor(quiet_to) if quiet_to > current.ts_ms else current

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        if self.resuming:
            self.floor_ms = cursor_ms
        cursor = self.resume(cursor_ms, now_ms)
        windows = plan_windows(cursor, now_ms, lookback_ms=self.lookback_ms, safety_lag_ms=self.lag_ms,
                               max_window_ms=MAX_WINDOW_MS, max_span_ms=self.span_ms)
        while windows:
            w = windows.pop(0)
            rows, bad, server_ms = await self.read_window(w.start_ms, w.end_ms)
            steps, held = log_steps(rows, self.name, settled_to_ms=w.end_ms)
            fresh, state = sort_out(self.window, [(s.change_ms, s.draft) for s in steps])
            # The cursor is vendor time (see _cursor_after): a reporting database that lags,
            # a skewed or jumping host clock, cannot move it past rows not yet read. Nor past
            # a Waiting held back (its Wrap may come): the next read has it again.
            after = self._cursor_after(rows, state.cursor, w.end_ms, server_ms)
            complete_to = w.end_ms
            if held:
                held_from = min(s.change_ms for s in held)
                after = min(after, Cursor(held_from))
                complete_to = min(complete_to, min(s.draft.at_ms for s in held))
                if windows:  # a catch-up goes on: its next window reads the held rows again
                    windows[0] = Window(min(held_from, windows[0].start_ms), windows[0].end_ms)
            self.window = state.close(after, lookback_ms=self.lookback_ms)
            self.polled_to = w.end_ms
            yield PollResult(fresh, bad, cursor_ms=self.window.cursor.ts_ms, complete_up_to_ms=complete_to)
        if not windows and self.polled_to is None:
            self.polled_to = cursor.ts_ms


class AgentStatusEndpoint(KeyedSnapshot[str]):
    """The snapshot: detects changed agents (a digest of their status fields: the row's
    durations grow on every read), pinpoints their transitions in the history."""

    def __init__(self, client: RaiClient, cfg: SourceConfig, history: AgentStatusHistoryEndpoint | None) -> None:
        super().__init__("agentStatus", cfg)
        self.client = client
        self.lookback_ms = int(cfg.lookback * 1000)
        self.history_ep = history
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.seen: dict[str, int] = {}
        """When each agent's change was last pinpointed: log rows since then are new."""
        self.window = WindowState(Cursor(0))
        """Rows admitted, when there is no history endpoint to share its memory with."""
        self.resuming = True
        """Nothing is remembered: rows before the next poll may be on Kafka (re-reads)."""

    def _recent_from(self, now_ms: int) -> int | None:
        """Rows from here on are emitted in full; None: wait for the history endpoint."""
        h = self.history_ep
        if h is None:
            return now_ms - self.lookback_ms
        if h.polled_to is None:
            return None  # its first window decides what is history's to publish
        return max(h.polled_to - self.lookback_ms, h.floor_ms if h.floor_ms is not None else 0)

    def _admit(self, drafts: list[tuple[int, Draft]], now_ms: int) -> list[Draft]:
        """Drop what either endpoint admitted already; remember the rest for both."""
        owner: AgentStatusHistoryEndpoint | AgentStatusEndpoint = self.history_ep if self.history_ep is not None else self
        fresh, state = sort_out(owner.window, drafts)
        if self.history_ep is None:
            state = state.close(Cursor(now_ms), lookback_ms=self.lookback_ms)
        owner.window = state
        return fresh

    def _since_seen(self, agent: str, now_ms: int) -> int:
        return self.seen[agent] - PINPOINT_MARGIN_MS

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        if self.resuming:
            self.window, self.resuming = WindowState.resumed(Cursor(0), now_ms), False
        recent_from = self._recent_from(now_ms)
        if recent_from is None:
            yield PollResult([], complete_up_to_ms=None)
            return
        read = await self.client.agent_status(now=from_ms(now_ms))
        good, bad = split_bad(read.items)
        rows: dict[str, AgentStatusRow] = {(guid(r.user_id) or r.user_id): r for r in good}
        self.digests.begin()
        changed = [a for a, r in rows.items() if self.digests.changed(a, agent_fields(r))]
        drafts: list[Draft] = []
        if changed:
            by_agent: dict[str, list[AgentStatusHistoryRow]] = {}
            # Agents seen before: their rows since the change we saw last. First sight (a
            # start or restart): back to where the oldest of their current values was set.
            known = [a for a in changed if a in self.seen]
            new = [a for a in changed if a not in self.seen]
            groups: tuple[tuple[list[str], Callable[[str], int]], ...] = (
                (known, lambda a: self._since_seen(a, now_ms)), (new, lambda a: lookup_from(rows[a], now_ms)))
            for group, since in groups:
                if not group:
                    continue
                start = max(min(since(a) for a in group), now_ms - PINPOINT_HORIZON_MS)
                ids = [rows[a].user_id for a in group] if len(group) <= USER_FILTER_MAX else []
                hist = await self.client.agent_status_history(from_ms(start), user_ids=ids)
                hgood, hbad = split_bad(hist.items)
                bad += hbad
                for r in hgood:
                    by_agent.setdefault(guid(r.user_id) or r.user_id, []).append(r)
            for a in changed:
                got = pinpoint(rows[a], by_agent.get(a, []), now_ms=now_ms, recent_from_ms=recent_from,
                               endpoint=self.name)
                if got is DEFER:
                    self.digests.keep(a)
                    continue
                drafts.extend(self._admit(got, now_ms))
                self.seen[a] = now_ms
        self.digests.end()
        for a in rows.keys() - set(changed):  # unchanged: nothing new in the log up to now
            if a in self.seen:
                self.seen[a] = now_ms
        self.seen = {a: t for a, t in self.seen.items() if a in rows}
        # Per agent the drafts are in log order (pinpoint); agents are separate keys.
        yield PollResult(drafts, bad, complete_up_to_ms=now_ms)


class RaiSource:
    """A configured RAI interface: one HttpClient, its endpoints."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(cfg, headers=sinch_headers(cfg))
        client = RaiClient(self.http, page_limit=cfg.page_limit)
        history = AgentStatusHistoryEndpoint(client, cfg)
        has_history = history.enabled
        all_eps: list[VendorEndpoint] = [
            AgentStatusEndpoint(client, cfg, history if has_history else None),
            history,
            StatsEndpoint("contactStatistic", cfg, client.contact_statistic,
                          to_draft=lambda r, at: contact_stats_draft(r, at, "contactStatistic"),
                          change_ms=lambda r: change_ms_of(r.max_change_timestamp),
                          bucket_ms=lambda r: bucket_start_ms(r.time_category)),
            StatsEndpoint("agentStatistic", cfg, client.agent_statistic,
                          to_draft=lambda r, at: agent_stats_draft(r, at, "agentStatistic"),
                          change_ms=lambda r: change_ms_of(r.max_change_timestamp)),
            StatsEndpoint("contactHistory", cfg, client.contact_history,
                          to_draft=lambda r, at: contact_stats_draft(r, at, "contactHistory"),
                          change_ms=lambda r: change_ms_of(r.max_change_timestamp)),
            StatsEndpoint("agentHistory", cfg, client.agent_history,
                          to_draft=lambda r, at: agent_stats_draft(r, at, "agentHistory"),
                          change_ms=lambda r: change_ms_of(r.max_change_timestamp)),
        ]
        self.endpoints = enabled_only(all_eps)

    async def aclose(self) -> None:
        await self.http.aclose()


def _check(cfg: SourceConfig, path: str) -> None:
    check_sinch(cfg, path, VENDOR, "/RI/rai")


ENDPOINTS = ("agentStatus", "agentStatusHistory", "contactStatistic", "agentStatistic", "contactHistory", "agentHistory")

SPEC = VendorSpec(name=VENDOR, endpoints=ENDPOINTS, build=RaiSource, check=_check, options=SinchOptions)
