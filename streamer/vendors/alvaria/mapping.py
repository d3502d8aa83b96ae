"""Alvaria rows -> drafts. Pure: the state table, the userActivity and presenceUsers trackers
(their memory is a value passed in and returned), and the statistics views."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from streamer.contract.events import (
    Presence,
    Workload,
    WorkState,
)
from streamer.engine.emit import Draft
from streamer.engine.rules import LOGGED_OUT
from streamer.http.tolerant import fold_key
from streamer.timeutil import format_ts, to_ms
from streamer.track.snapshot import digest as _digest
from streamer.vendors.alvaria.models import (
    BadRecord,
    ChannelActivityRow,
    ListActivityRow,
    PresenceUser,
    Rows,
    TeamActivityRow,
    UserActivityRow,
    extra_fields,
)
from streamer.vendors.kit import drafts as kit

__all__ = [
    "USER_ACTIVITY", "TEAM_ACTIVITY", "CHANNEL_ACTIVITY", "LIST_ACTIVITY", "PRESENCE_USERS", "STATES",
    "REASON_STATES", "work_state", "presence_of", "UserMemo", "UsersState", "ABSENT_RULE", "track_users",
    "LoggedOnState", "track_logged_on", "CHANNEL_RIDE", "team_drafts", "channel_drafts", "list_drafts",
]

USER_ACTIVITY, TEAM_ACTIVITY, CHANNEL_ACTIVITY, LIST_ACTIVITY, PRESENCE_USERS = (
    "userActivity", "teamActivity", "channelActivity", "listActivity", "presenceUsers",
)


STATES: dict[str, tuple[str, str]] = {
    "idle": ("Idle", "Ready"),
    "active": ("Busy", "Ready"),
    "held": ("Busy", "Ready"),
    "multiline": ("Busy", "Ready"),
    "pendingactive": ("Busy", "Ready"),
    "preview": ("Busy", "Ready"),
    "reserved": ("Busy", "Ready"),
    "wrap": ("Wrap", "Ready"),
    "wrapwarning": ("Wrap", "Ready"),
    "notready": ("NotReady", "Away"),
    "park": ("NotReady", "Away"),
    "parkwarning": ("NotReady", "Away"),
    "loggedon": ("NotReady", "Away"),
    "loggedoff": ("LoggedOut", LOGGED_OUT),
}
"""Alvaria ``stateId`` -> (normalized work state, presence category). Any other state
(``uninitialized``, ``exception``, ``usercleared``, new ones) is Unknown, raw kept."""


REASON_STATES = frozenset({"notready", "park", "parkwarning", "loggedoff"})
"""States a reason belongs to (the doc: notready, park, loggedout). Elsewhere a
``reasonId`` is a leftover of an earlier state (the doc's example: ``active``/``break``)."""


READY = "Ready"
USER_RIDE = ("state_dur", "sign_on_dur")
"""Row fields that grow with the clock: they never make a user row 'changed'."""


def _state_key(row: UserActivityRow) -> str:
    return fold_key(row.state_id or row.state_name or "")


def _reason(row: UserActivityRow) -> str | None:
    if _state_key(row) not in REASON_STATES:
        return None
    return (row.reason_name or "").strip() or (row.reason_id or "").strip() or None


def work_state(row: UserActivityRow) -> WorkState:
    """The row's work state: normalized (Idle, Busy, Wrap, NotReady, LoggedOut, Unknown), raw ``stateId``."""
    norm, _ = STATES.get(_state_key(row), ("Unknown", "Unknown"))
    return WorkState(state=norm, raw=row.state_id or row.state_name, reason=_reason(row))


def presence_of(row: UserActivityRow) -> Presence:
    """The presence a state implies. The working states are one presence, ``Ready``, so
    idle -> active -> wrap is a state change, not a presence change."""
    key = _state_key(row)
    known = STATES.get(key)
    if known is None:
        return Presence(name=row.state_name or None, category="Unknown", eligible_for_routing=None,
                        reason=_reason(row), raw={"stateId": row.state_id, "stateName": row.state_name})
    category = known[1]
    if category == READY:
        return Presence(name=READY, category=READY, eligible_for_routing=True)
    return Presence(name=row.state_name or None, category=category, eligible_for_routing=False, reason=_reason(row))


def _presence_transition(p: Presence) -> str:
    raw = p.raw.get("stateId") if p.raw else None
    return f"presence:{raw or p.category}|{p.name or ''}|{p.reason or ''}"


def _state_transition(ws: WorkState) -> str:
    return f"state:{ws.raw or ws.state}|{ws.reason or ''}"


_NOT_DIGESTED = (*USER_RIDE, "team_id", "team_name")


def _row_digest(row: UserActivityRow) -> bytes:
    """What a user row says about the user: not the durations that grow with the clock,
    nor the team (a user in two teams is the same user in both answers)."""
    data = msgspec.structs.asdict(row)
    for name in _NOT_DIGESTED:
        data.pop(name, None)
    return _digest(data)


@dataclass(frozen=True, slots=True)
class UserMemo:
    """What the tracker last saw of one user."""

    digest: bytes
    state: tuple[str | None, str | None, int | None]
    """(raw state, reason, stateStartTime ms) of the state last drafted."""
    presence: Presence
    presence_since_ms: int
    absent: bool = False
    """Missing from every team's answer: taken as logged out."""
    workload: tuple[int, int] | None = None
    """(``interactionCount``, since ms) last drafted; None while the rows had none."""


@dataclass(frozen=True, slots=True)
class UsersState:
    """The userActivity tracker's memory (in memory only; rebuilt after a restart)."""

    users: Mapping[str, UserMemo] = field(default_factory=dict)
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """User ids of each team's last non-empty, fully readable answer."""


ABSENT_RULE = "absent-from-userActivity"


def track_users(
    team: str, rows: Sequence[UserActivityRow], state: UsersState, now_ms: int, *,
    endpoint: str = USER_ACTIVITY, complete: bool = True,
) -> tuple[list[Draft], UsersState]:
    """One team's answer -> drafts of what changed since the tracker last saw each user. Pure.

    - state: drafted when (state, reason, ``stateStartTime``) differs; the event time is
      ``stateStartTime`` (the vendor's), so the same state seen again has the same id.
    - presence: drafted when it differs from the user's last presence; since the state's
      start, or ``signOnTime`` when the user comes back from LoggedOut (the login time).
    - workload: ``interactionCount``, drafted when it differs; since ``stateStartTime``
      (an interaction coming or going changes the state, and the doc says the field then
      holds "the last state change event"), or the poll time when the count changed
      while ``stateStartTime`` did not.
    - a user the team no longer answers with, and no other team does either, is logged
      out at ``now_ms`` (inferred). An empty answer, or one with unreadable rows
      (``complete=False``), says nothing about who is gone: the doc warns that a 0-row
      answer may be a permission problem.
    """
    users = dict(state.users)
    teams = dict(state.teams)
    drafts: list[Draft] = []
    present: set[str] = set()
    for row in rows:
        uid = row.user_id
        if not uid or uid in present:
            continue
        present.add(uid)
        memo = users.get(uid)
        digest = _row_digest(row)
        if memo is not None and not memo.absent and memo.digest == digest:
            continue
        ws = work_state(row)
        start_ms = to_ms(row.state_start_time) if row.state_start_time is not None else None
        at_ms = start_ms if start_ms is not None else now_ms
        pres = presence_of(row)
        p_since = memo.presence_since_ms if memo is not None else at_ms
        if memo is None or memo.presence != pres:
            since = at_ms
            if (memo is not None and memo.presence.category == LOGGED_OUT and pres.category != LOGGED_OUT
                    and row.sign_on_time is not None and to_ms(row.sign_on_time) > memo.presence_since_ms):
                since = to_ms(row.sign_on_time)  # the login itself, not the first state seen after it
            if memo is not None:
                since = max(since, memo.presence_since_ms)
            drafts.append(kit.presence_draft(agent=uid, presence=pres, at_ms=since, endpoint=endpoint,
                                              transition=_presence_transition(pres)))
            p_since = since
        key = (ws.raw, ws.reason, start_ms)
        if memo is None:
            new_state = True
        elif memo.absent and ws.state == "LoggedOut":
            new_state = False  # already said: logged out
        else:
            before = memo.state
            new_state = before[:2] != key[:2] or (start_ms is not None and before[2] != start_ms)
        if new_state:
            drafts.append(kit.state_draft(agent=uid, state=ws, at_ms=at_ms, endpoint=endpoint,
                                          transition=_state_transition(ws)))
        elif memo is not None:
            key = memo.state
        load = memo.workload if memo is not None else None
        count = row.interaction_count
        if count is not None and (load is None or load[0] != count):
            restarted = memo is None or start_ms is None or memo.state[2] != start_ms
            w_since = at_ms if restarted else now_ms
            if load is not None:
                w_since = max(w_since, load[1])
            drafts.append(kit.workload_draft(agent=uid, workload=Workload(total=count), at_ms=w_since, endpoint=endpoint,
                                             transition=f"workload:{count}"))
            load = (count, w_since)
        users[uid] = UserMemo(digest, key, pres, p_since, workload=load)
    if present and complete:
        previous = state.teams.get(team, frozenset())
        teams[team] = frozenset(present)
        elsewhere: set[str] = set()
        for t, members in teams.items():
            if t != team:
                elsewhere |= members
        for uid in sorted(previous - present - elsewhere):
            memo = users.get(uid)
            if memo is None or memo.absent:
                continue
            out = Presence(name="Logged Off", category=LOGGED_OUT, eligible_for_routing=False)
            if memo.presence.category != LOGGED_OUT:
                drafts.append(kit.presence_draft(agent=uid, presence=out, at_ms=max(now_ms, memo.presence_since_ms),
                                                 endpoint=endpoint, transition=_presence_transition(out),
                                                 rule=ABSENT_RULE))
            if memo.state[0] != "loggedoff":
                ws = WorkState(state="LoggedOut", raw="loggedoff", reason=None)
                drafts.append(kit.state_draft(agent=uid, state=ws, at_ms=now_ms, endpoint=endpoint,
                                              transition=_state_transition(ws), rule=ABSENT_RULE))
            load = memo.workload
            if load is not None and load[0] != 0:  # logged out: handling nothing
                load = (0, max(now_ms, load[1]))
                drafts.append(kit.workload_draft(agent=uid, workload=Workload(total=0), at_ms=load[1], endpoint=endpoint,
                                                 transition="workload:0", rule=ABSENT_RULE))
            if memo.presence.category == LOGGED_OUT:  # keep what was published
                out, since = memo.presence, memo.presence_since_ms
            else:
                since = max(now_ms, memo.presence_since_ms)
            users[uid] = UserMemo(b"", ("loggedoff", None, now_ms), out, since, absent=True, workload=load)
    return drafts, UsersState(users, teams)


@dataclass(frozen=True, slots=True)
class LoggedOnState:
    """The presenceUsers tracker's memory: user -> ehub session id; ``None`` until seeded."""

    sessions: Mapping[str, str | None] | None = None


def _session_draft(uid: str, started: bool, sid: str | None, at_ms: int, endpoint: str) -> Draft:
    return kit.session_draft(
        agent=uid, started=started, at_ms=at_ms, endpoint=endpoint,
        transition=f"{'started' if started else 'ended'}:{sid or ''}",
        rule="presence-users-appeared" if started else "presence-users-left",
    )


def track_logged_on(
    users: Sequence[PresenceUser], state: LoggedOnState, now_ms: int, *,
    skip: Container[str] = (), endpoint: str = PRESENCE_USERS, complete: bool = True,
) -> tuple[list[Draft], LoggedOnState]:
    """Sessions from the logged-on list: a user that appears started one, a user that
    disappears ended it (a new ``ehubSessionId`` is both), at the poll time. Pure.

    The first answer only seeds the memory (who was logged on before is unknown), so a
    restart never repeats a session; ``skip`` are users whose sessions another endpoint
    (userActivity) reports. With unreadable entries (``complete=False``) nobody is taken
    for gone: the unreadable one may be them.
    """
    current: dict[str, str | None] = {}
    for u in users:
        current.setdefault(u.user_id, u.ehub_session_id)
    if state.sessions is None:
        return [], LoggedOnState(current)
    drafts: list[Draft] = []
    before = state.sessions
    if not complete:
        for uid, sid in before.items():
            current.setdefault(uid, sid)
    for uid, sid in current.items():
        if uid in skip:
            continue
        if uid not in before:
            drafts.append(_session_draft(uid, True, sid, now_ms, endpoint))
        elif before[uid] != sid:
            drafts.append(_session_draft(uid, False, before[uid], now_ms, endpoint))
            drafts.append(_session_draft(uid, True, sid, now_ms, endpoint))
    for uid in before:
        if uid not in current and uid not in skip:
            drafts.append(_session_draft(uid, False, before[uid], now_ms, endpoint))
    return drafts, LoggedOnState(current)


def _stats(scope: str, entity: str, name: str | None, values: dict[str, Any], ride: frozenset[str],
           at_ms: int, endpoint: str) -> Draft:
    """A snapshot statistic: the poll time is its time (the vendor gives none); one stream, ``values``."""
    return kit.stats_draft(scope=scope, entity=entity, name=name, values=values, ride_along=ride, at_ms=at_ms,
                           endpoint=endpoint, stream="values")


def _values(row: msgspec.Struct, raw: bytes | None, skip: Iterable[str]) -> dict[str, Any]:
    skipped = set(skip)
    out: dict[str, Any] = {}
    for k, v in msgspec.structs.asdict(row).items():
        if k in skipped:
            continue
        out[k] = format_ts(v) if isinstance(v, datetime) else v
    if raw is not None:
        for k, v in extra_fields(raw, type(row)).items():
            out.setdefault(k, v)
    return out


def _ride(values: Mapping[str, Any], fixed: frozenset[str]) -> frozenset[str]:
    return fixed | {k for k in values if k.endswith("_dur")}


CHANNEL_RIDE = frozenset({"self_service_dur", "queue_dur", "active_dur", "preview_dur", "max_queue_dur",
                          "longest_waiting_queue_time"})


def team_drafts(team: str, rows: Rows[TeamActivityRow], at_ms: int, endpoint: str = TEAM_ACTIVITY) -> list[Draft]:
    """One ``cc.stats.changed`` draft per team row (scope ``team``)."""
    out = []
    for row, raw in zip(rows.items, rows.raws):
        if isinstance(row, BadRecord):
            continue
        values = _values(row, raw, ("team_id", "team_name"))
        out.append(_stats("team", row.team_id or team, row.team_name, values, _ride(values, frozenset()), at_ms, endpoint))
    return out


def channel_drafts(work_type: str, rows: Rows[ChannelActivityRow], at_ms: int,
                   endpoint: str = CHANNEL_ACTIVITY) -> list[Draft]:
    """One draft per (work type, interaction type) row (scope ``channel``)."""
    out = []
    for row, raw in zip(rows.items, rows.raws):
        if isinstance(row, BadRecord):
            continue
        wt = row.work_type_id or work_type
        entity = f"{wt}/{row.interaction_type_id}" if row.interaction_type_id else wt
        names = [n for n in (row.work_type_name, row.interaction_type_name) if n]
        values = _values(row, raw, ("work_type_id", "interaction_type_id", "work_type_name",
                                    "interaction_type_name", "channel_type_name"))
        out.append(_stats("channel", entity, " / ".join(names) or None, values,
                               _ride(values, CHANNEL_RIDE), at_ms, endpoint))
    return out


def list_drafts(contact_list: str, rows: Rows[ListActivityRow], at_ms: int, endpoint: str = LIST_ACTIVITY) -> list[Draft]:
    """One draft per contact list (scope ``list``)."""
    out = []
    for row, raw in zip(rows.items, rows.raws):
        if isinstance(row, BadRecord):
            continue
        name = row.contact_list or contact_list
        values = _values(row, raw, ("kind", "contact_list"))
        out.append(_stats("list", name, name, values, _ride(values, frozenset()), at_ms, endpoint))
    return out
