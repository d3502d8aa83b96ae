"""Sinch RAI: endpoints -> pure mapping -> drafts.

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
from datetime import datetime
from typing import Any

import msgspec

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft
from streamer.engine.source import Endpoint, PollResult, VendorSpec, catchup_span_ms, window_settings
from streamer.http.build import build_http
from streamer.timeutil import from_ms, to_ms
from streamer.track.window import Cursor, Window, WindowState, plan_windows
from streamer.vendors.sinch.common import (
    ROW_LIMIT,
    StatsEndpoint,
    bucket_label,
    bucket_start_ms,
    change_ms_of,
    check_sinch,
    endpoint_enabled,
    endpoint_interval,
    guid,
    presence_draft,
    presence_of,
    session_started_draft,
    sinch_headers,
    split_bad,
    state_draft,
    stats_draft,
    stats_values,
)
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.models import (
    AGENT_COUNTS,
    AGENT_DURATIONS,
    CONTACT_ACTIVE,
    CONTACT_COUNTS,
    CONTACT_DURATIONS,
    AgentStatRow,
    AgentStatusHistoryRow,
    AgentStatusRow,
    ContactStatRow,
)

__all__ = [
    "SPEC",
    "VENDOR",
    "RaiSource",
    "row_drafts",
    "history_drafts",
    "log_steps",
    "Step",
    "WRAP_FOLD_MS",
    "FOLD_SETTLE_MS",
    "pinpoint",
    "AgentStatusHistoryEndpoint",
    "AgentStatusEndpoint",
    "contact_stats_draft",
    "agent_stats_draft",
]

VENDOR = "sinch_rai"
MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
"""Longest history window asked for in one read (none is documented; reads also split
themselves when they return exactly the row limit)."""
PINPOINT_HORIZON_MS = 36 * 3600 * 1000
"""How far back the snapshot looks for the row that set an agent's current state."""
PINPOINT_MARGIN_MS = 10_000
DEFER_GRACE_MS = 15_000
"""A snapshot change younger than this that the history does not show yet is looked at
again next poll (the status log is written a moment after the status table)."""
CHANGE_TOLERANCE_MS = 1_000
USER_FILTER_MAX = 50
"""More changed agents than this: read the history of every agent (URL length)."""


# --- pure mapping: rows -> drafts -------------------------------------------------------


def _ms(dt: datetime | None, fallback: datetime) -> int:
    return to_ms(dt if dt is not None else fallback)


def row_drafts(row: AgentStatusHistoryRow, endpoint: str = "agentStatusHistory") -> list[tuple[str, Draft]]:
    """One agentStatusHistory row -> (aspect, draft) pairs; aspect is presence or state.

    ``userStatus`` + profile -> presence at ``userStatusTimestamp``; ``signOn`` -> the
    session start; ``status`` -> the work state at ``statusTimestamp``. A ``status`` of
    ``LoggedOut`` (how the log records a sign-off) is also the presence LoggedOut, so
    the session ends at that instant.
    """
    agent = guid(row.user_id) or row.user_id
    out: list[tuple[str, Draft]] = []
    status = row.status.strip() if row.status else None
    logged_out = status is not None and status.casefold() == "loggedout"
    if logged_out:
        at = _ms(row.status_timestamp, row.change_timestamp)
        p = presence_of("LoggedOut", None, None, row.profile_reason)
        out.append(("presence", presence_draft(agent, p, "LoggedOut", at, endpoint)))
    elif row.user_status:
        at = _ms(row.user_status_timestamp, row.change_timestamp)
        p = presence_of(row.user_status, row.profile, row.profile_type, row.profile_reason)
        out.append(("presence", presence_draft(agent, p, row.user_status, at, endpoint)))
    if row.sign_on is not None and not logged_out:
        out.append(("presence", session_started_draft(agent, to_ms(row.sign_on), endpoint)))
    if status:
        at = _ms(row.status_timestamp, row.change_timestamp)
        out.append(("state", state_draft(agent, "LoggedOut" if logged_out else status, at, endpoint)))
    return out


WRAP_FOLD_MS = 1_000
"""A ``Waiting`` at most this long before a ``Wrap`` (status times) is folded: it is the
log noting the contact's end, not time the agent was idle. The docs' example writes
``Waiting`` 3 ms and 0 ms before each ``Wrap`` (07:20:37.387/.390, 07:21:27.600)."""
FOLD_SETTLE_MS = 2_000
"""How long after a ``Waiting`` row was written its ``Wrap`` may still come: a trailing
``Waiting`` written less than this before the end of what was read is held back (not
published, the cursor kept before it) and decided on the next read, so the fold never
depends on where a window ends."""


class Step(msgspec.Struct, frozen=True):
    """One draft of the status log with where it came from: the row's ``changeTimestamp``,
    its index in the vendor's order, and the aspect it belongs to (presence or state)."""

    change_ms: int
    row: int
    aspect: str
    draft: Draft


def _is(d: Draft, raw: str) -> bool:
    return d.type == "cc.agent.state.changed" and d.transition.casefold() == f"state:{raw}".casefold()


def log_steps(
    rows: Sequence[AgentStatusHistoryRow], endpoint: str = "agentStatusHistory", *, settled_to_ms: int | None = None,
) -> tuple[list[Step], list[Step]]:
    """The log's drafts in the order things happened, the foldable ``Waiting`` folded.

    Order: each draft's own vendor time (``statusTimestamp``, ``userStatusTimestamp``,
    ``signOn``), not ``changeTimestamp``: the log writes a status late, after a newer one
    (the docs' ``Dialing_Outbound_Campaign`` at 07:20:16.027 is written after ``Waiting``
    at 07:20:21.250). Ties keep the log's order (``changeTimestamp``, then the vendor's).
    A ``Waiting`` followed by its agent's ``Wrap`` within :data:`WRAP_FOLD_MS` is dropped.

    ``settled_to_ms``: the log is complete up to this ``changeTimestamp`` (a window's
    end); an agent's last ``Waiting`` written within :data:`FOLD_SETTLE_MS` of it is held
    back, with the agent's steps after it. Returns the steps and the held-back ``Waiting``
    steps. None for ``settled_to_ms``: the log is complete, nothing is held.
    """
    # A row served twice (paging over a log that grew, a retried page) is one change: the
    # fold below compares an agent's consecutive states, and a repeat would sit between.
    rows = list({msgspec.json.encode(r): r for r in rows}.values())
    by_change = sorted(range(len(rows)), key=lambda i: (to_ms(rows[i].change_timestamp), i))
    steps = [Step(to_ms(rows[i].change_timestamp), n, aspect, d)
             for n, i in enumerate(by_change) for aspect, d in row_drafts(rows[i], endpoint)]
    # Stable: a row's drafts keep their order. A Waiting and a Wrap at the same instant (the
    # docs show 0 ms apart) are the call's end, then its wrap-up, whatever order the log has.
    waiting_rows = {s.row for s in steps if _is(s.draft, "Waiting")}
    steps.sort(key=lambda s: (s.draft.at_ms, s.change_ms, s.row not in waiting_rows, s.row))
    states: dict[str, list[int]] = {}
    for k, s in enumerate(steps):
        if s.draft.type == "cc.agent.state.changed":
            states.setdefault(s.draft.entity_id, []).append(k)
    drop: set[int] = set()
    held: list[Step] = []
    for idx in states.values():
        for a, b in zip(idx, idx[1:]):
            wait, wrap = steps[a].draft, steps[b].draft
            if _is(wait, "Waiting") and _is(wrap, "Wrap") and wrap.at_ms - wait.at_ms <= WRAP_FOLD_MS:
                drop.add(a)
        last = steps[idx[-1]]
        if settled_to_ms is not None and _is(last.draft, "Waiting") and last.change_ms > settled_to_ms - FOLD_SETTLE_MS:
            # a Wrap may still be written for it: this agent's steps from there on wait
            drop.update(k for k in range(idx[-1], len(steps)) if steps[k].draft.entity_id == last.draft.entity_id)
            held.append(last)
    return [s for k, s in enumerate(steps) if k not in drop], held


def history_drafts(rows: Sequence[AgentStatusHistoryRow], endpoint: str = "agentStatusHistory") -> list[Draft]:
    """A complete log -> its drafts in the order things happened (see :func:`log_steps`)."""
    return [s.draft for s in log_steps(rows, endpoint)[0]]


DEFER = None


def pinpoint(
    snap: AgentStatusRow, rows: Sequence[AgentStatusHistoryRow], *, now_ms: int, recent_from_ms: int,
    endpoint: str = "agentStatus",
) -> list[tuple[int, Draft]] | None:
    """The exact transitions behind one changed snapshot row, from its agent's history,
    as (``changeTimestamp`` ms, draft) in the order they happened (:func:`log_steps`).

    Every row from ``recent_from_ms`` on is emitted (those the history endpoint has not
    covered yet), plus, per aspect (presence, state), the row that set the current value
    if it is older. ``None`` (:data:`DEFER`): the change is younger than the grace period
    and the history does not show it yet, or the agent's last ``Waiting`` may still be
    folded into a ``Wrap``; look again next poll. An agent whose change is older than
    anything the history still holds gets nothing (no invented times).
    """
    snap_ms = change_ms_of(snap.change_timestamp)
    fresh = snap_ms is not None and snap_ms >= now_ms - DEFER_GRACE_MS
    if not rows:
        return DEFER if fresh else []
    newest = max(to_ms(r.change_timestamp) for r in rows)
    if fresh and snap_ms is not None and newest < snap_ms - CHANGE_TOLERANCE_MS:
        return DEFER
    steps, held = log_steps(rows, endpoint, settled_to_ms=now_ms)
    if held:
        return DEFER
    latest: dict[str, int] = {}
    for s in steps:
        latest[s.aspect] = s.row
    return [(s.change_ms, s.draft) for s in steps if s.change_ms >= recent_from_ms or latest.get(s.aspect) == s.row]


def _agent_digest(r: AgentStatusRow) -> bytes:
    return msgspec.json.encode([
        r.user_status, r.profile, r.profile_type, r.profile_reason, r.contact_handling_status,
        change_ms_of(r.change_timestamp),
    ])


def _lookup_from(r: AgentStatusRow, now_ms: int) -> int:
    """Where the row that set the oldest of the agent's current values can be: the
    durations are measured to the request, so now minus the longest one, with margin."""
    durations = [d for d in (r.user_status_duration, r.profile_duration, r.contact_handling_status_duration) if d]
    candidates = [now_ms - max(durations)] if durations else []
    if r.change_timestamp is not None:
        candidates.append(to_ms(r.change_timestamp))
    return (min(candidates) if candidates else now_ms - PINPOINT_HORIZON_MS) - PINPOINT_MARGIN_MS


def contact_stats_draft(row: ContactStatRow, at_ms: int, endpoint: str) -> Draft | None:
    queue = guid(row.queue_id) or "all"
    bucket = bucket_label(row.time_category, change_ms_of(row.max_change_timestamp))
    fields = CONTACT_COUNTS + CONTACT_DURATIONS + CONTACT_ACTIVE
    values = {k: v for k, v in stats_values(row, fields).items() if v is not None}
    return stats_draft(endpoint=endpoint, scope="queue", entity=f"{queue}@{bucket}", name=row.queue_name,
                       values=values, at_ms=at_ms, ride_along=frozenset(CONTACT_ACTIVE))


def agent_stats_draft(row: AgentStatRow, at_ms: int, endpoint: str) -> Draft | None:
    agent = guid(row.user_id) or "all"
    bucket = bucket_label(row.time_category, change_ms_of(row.max_change_timestamp))
    values = {k: v for k, v in stats_values(row, AGENT_COUNTS + AGENT_DURATIONS).items() if v is not None}
    return stats_draft(endpoint=endpoint, scope="agent", entity=f"{agent}@{bucket}", name=row.user_name,
                       values=values, at_ms=at_ms, ride_along=frozenset(AGENT_DURATIONS))


# --- endpoints (IO) --------------------------------------------------------------------


def _draft_key(d: Draft) -> str:
    return f"{d.type}|{d.entity_id}|{d.transition}|{d.at_ms}"


def sort_out(window: WindowState, drafts: Sequence[tuple[int, Draft]]) -> tuple[list[Draft], WindowState]:
    """The drafts (``changeTimestamp`` ms, draft) the window has not admitted, in order,
    the re-read ones marked. A row carrying a transition can be no older than it (the
    status was set, then the row written), so the earliest read that could have
    returned it is at the older of the two times."""
    kept, state = window.sort_out((_draft_key(d), min(d.at_ms, change), change, d) for change, d in drafts)
    return [msgspec.structs.replace(d, reread=True) if again else d for d, again in kept], state


class AgentStatusHistoryEndpoint(Endpoint):
    """History windows over ``changeTimestamp``: ``[cursor - lookback, now - safety_lag)``,
    the cursor being the newest ``changeTimestamp`` read (vendor time, never the local
    clock). After a start or a reset the first window re-reads the lookback before the
    checkpointed cursor too, so a row written late is not lost to the restart."""

    history = True
    proves = frozenset({"cc.agent.presence.changed", "cc.agent.state.changed"})

    def __init__(self, client: RaiClient, cfg: SourceConfig) -> None:
        self.name = "agentStatusHistory"
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.lookback_ms, self.lag_ms, self.initial_ms = window_settings(cfg)
        self.span_ms = catchup_span_ms(cfg)
        self.row_limit = ROW_LIMIT
        self.reset()

    def reset(self) -> None:
        self.window = WindowState(Cursor(0))
        """Rows admitted within the lookback (by this endpoint and by the snapshot)."""
        self.resuming = True
        """Nothing is remembered: the next poll anchors the memory at the checkpointed cursor."""
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
        cursor = Cursor(cursor_ms if cursor_ms is not None else now_ms - self.initial_ms)
        if self.resuming:
            self.floor_ms = cursor_ms
            self.window, self.resuming = WindowState.resumed(cursor, cursor_ms), False
        else:
            self.window = self.window.at(cursor)
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


class AgentStatusEndpoint(Endpoint):
    """The snapshot: detects changed agents, pinpoints their transitions in the history."""

    history = False

    def __init__(self, client: RaiClient, cfg: SourceConfig, history: AgentStatusHistoryEndpoint | None) -> None:
        self.name = "agentStatus"
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.lookback_ms = int(cfg.lookback * 1000)
        self.history_ep = history
        self.reset()

    def reset(self) -> None:
        self.digests: dict[str, bytes] = {}
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
        current = {a: _agent_digest(r) for a, r in rows.items()}
        changed = [a for a, dg in current.items() if self.digests.get(a) != dg]
        digests = dict(current)
        drafts: list[Draft] = []
        if changed:
            by_agent: dict[str, list[AgentStatusHistoryRow]] = {}
            # Agents seen before: their rows since the change we saw last. First sight (a
            # start or restart): back to where the oldest of their current values was set.
            known = [a for a in changed if a in self.seen]
            new = [a for a in changed if a not in self.seen]
            groups: tuple[tuple[list[str], Callable[[str], int]], ...] = (
                (known, lambda a: self._since_seen(a, now_ms)), (new, lambda a: _lookup_from(rows[a], now_ms)))
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
                    if a in self.digests:
                        digests[a] = self.digests[a]
                    else:
                        digests.pop(a)
                    continue
                drafts.extend(self._admit(got, now_ms))
                self.seen[a] = now_ms
        self.digests = digests
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
        has_history = endpoint_enabled(cfg, history.name)
        all_eps: list[Endpoint] = [
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
        self.endpoints = [e for e in all_eps if endpoint_enabled(cfg, e.name)]

    async def aclose(self) -> None:
        await self.http.aclose()


def _check(cfg: SourceConfig, path: str) -> None:
    check_sinch(cfg, path, VENDOR, "/RI/rai")


ENDPOINTS = ("agentStatus", "agentStatusHistory", "contactStatistic", "agentStatistic", "contactHistory", "agentHistory")

SPEC = VendorSpec(name=VENDOR, endpoints=ENDPOINTS, build=RaiSource, check=_check)
