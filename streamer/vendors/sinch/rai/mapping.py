"""Sinch RAI rows -> drafts. Pure: the status log read in the order things happened (a
``Waiting`` just before a ``Wrap`` folded into it), the snapshot's changes pinpointed in it,
and the statistics buckets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from streamer.engine.emit import Draft
from streamer.timeutil import to_ms
from streamer.vendors.kit import drafts as kit
from streamer.vendors.sinch.common import (
    bucket_label,
    change_ms_of,
    guid,
    handling_state,
    presence_of,
    presence_transition,
    stats_values,
)
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
    "PINPOINT_HORIZON_MS", "PINPOINT_MARGIN_MS", "DEFER_GRACE_MS", "CHANGE_TOLERANCE_MS", "row_drafts",
    "WRAP_FOLD_MS", "FOLD_SETTLE_MS", "Step", "log_steps", "history_drafts", "DEFER", "pinpoint", "agent_fields",
    "lookup_from", "contact_stats_draft", "agent_stats_draft",
]


PINPOINT_HORIZON_MS = 36 * 3600 * 1000
"""How far back the snapshot looks for the row that set an agent's current state."""


PINPOINT_MARGIN_MS = 10_000
DEFER_GRACE_MS = 15_000
"""A snapshot change younger than this that the history does not show yet is looked at
again next poll (the status log is written a moment after the status table)."""


CHANGE_TOLERANCE_MS = 1_000


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
        out.append(("presence", kit.presence_draft(agent=agent, presence=p, at_ms=at, endpoint=endpoint,
                                                   transition=presence_transition("LoggedOut", p))))
    elif row.user_status:
        at = _ms(row.user_status_timestamp, row.change_timestamp)
        p = presence_of(row.user_status, row.profile, row.profile_type, row.profile_reason)
        out.append(("presence", kit.presence_draft(agent=agent, presence=p, at_ms=at, endpoint=endpoint,
                                                   transition=presence_transition(row.user_status, p))))
    if row.sign_on is not None and not logged_out:
        # a sign-on the vendor reports: the same id as the session the presence rule
        # infers when the agent leaves LoggedOut at that instant, so it is published once
        out.append(("presence", kit.session_draft(agent=agent, started=True, at_ms=to_ms(row.sign_on),
                                                  endpoint=endpoint, transition="started")))
    if status:
        at = _ms(row.status_timestamp, row.change_timestamp)
        raw = "LoggedOut" if logged_out else status
        out.append(("state", kit.state_draft(agent=agent, state=handling_state(raw), at_ms=at, endpoint=endpoint,
                                             transition=f"state:{raw}")))
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


def agent_fields(r: AgentStatusRow) -> list[Any]:
    return ([
        r.user_status, r.profile, r.profile_type, r.profile_reason, r.contact_handling_status,
        change_ms_of(r.change_timestamp),
    ])


def lookup_from(r: AgentStatusRow, now_ms: int) -> int:
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
    return kit.stats_draft(endpoint=endpoint, stream=endpoint, scope="queue", entity=f"{queue}@{bucket}",
                           name=row.queue_name, values=values, at_ms=at_ms, ride_along=frozenset(CONTACT_ACTIVE))


def agent_stats_draft(row: AgentStatRow, at_ms: int, endpoint: str) -> Draft | None:
    agent = guid(row.user_id) or "all"
    bucket = bucket_label(row.time_category, change_ms_of(row.max_change_timestamp))
    values = {k: v for k, v in stats_values(row, AGENT_COUNTS + AGENT_DURATIONS).items() if v is not None}
    return kit.stats_draft(endpoint=endpoint, stream=endpoint, scope="agent", entity=f"{agent}@{bucket}",
                           name=row.user_name, values=values, at_ms=at_ms, ride_along=frozenset(AGENT_DURATIONS))
