"""Alvaria Cloud Reporting API v2: snapshot queries -> pure trackers -> drafts.

- ``userActivity`` (per team): each user's state (``cc.agent.state.changed``, since
  ``stateStartTime``), the presence it implies (``cc.agent.presence.changed`` when it
  changes: notready/park/loggedon are Away, loggedoff LoggedOut, the working states
  Ready), and so sessions (the shared rule: leaving or entering LoggedOut; a login is
  dated by ``signOnTime``); ``interactionCount`` as ``cc.agent.workload.changed``
  (``total``: Alvaria does not split it by medium). A user missing from a team's
  answer (and from every other team's) is logged out.
- ``teamActivity`` / ``channelActivity`` / ``listActivity`` (per team, work type,
  contact list): ``cc.stats.changed`` scopes ``team``, ``channel``, ``list``. Durations
  (``*Dur``) and ``longestWaitingQueueTime`` ride along without triggering.
- ``presenceUsers`` (``presence/users/data?state=LoggedOn``): sessions of users that no
  configured team covers (appearing / disappearing between two polls).

Teams, work types and contact lists are read as configured; nothing is discovered. The
doc points to provisioning endpoints for the ids (``provisioning/teams``,
``provisioning/workTypes``, ``campaign/lists``) but documents neither their responses
nor their scope, so a discovery could only guess. An empty list turns its endpoints off.

Requests of one endpoint for several teams, work types or lists are spread evenly over
its interval, not fired at once; 408, 429 and 5xx are retried by the HTTP client (Retry-After
honored), and a team that keeps failing does not starve the ones after it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import anyio
import httpx
import msgspec

from streamer.config.model import OAuth2AuthConfig, SourceConfig
from streamer.contract.events import (
    AgentPresenceChanged,
    AgentSessionEnded,
    AgentSessionStarted,
    AgentStateChanged,
    AgentWorkloadChanged,
    Presence,
    StatsChanged,
    Workload,
    WorkState,
)
from streamer.engine.emit import Draft
from streamer.engine.rules import LOGGED_OUT
from streamer.engine.source import Endpoint, PollResult, VendorSpec, endpoint_interval, split_bad
from streamer.errors import ConfigError, RetriableError, SkippableError
from streamer.http.tolerant import fold_key
from streamer.timeutil import format_ts, from_ms, to_ms
from streamer.vendors.alvaria.client import SCOPE, AlvariaClient, build_http
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

__all__ = [
    "SPEC",
    "ALVARIA",
    "AlvariaSource",
    "STATES",
    "work_state",
    "presence_of",
    "workload_draft",
    "UserMemo",
    "UsersState",
    "track_users",
    "LoggedOnState",
    "track_logged_on",
    "stats_draft",
    "team_drafts",
    "channel_drafts",
    "list_drafts",
    "spread_offsets",
]

VENDOR = "alvaria"
USER_ACTIVITY, TEAM_ACTIVITY, CHANNEL_ACTIVITY, LIST_ACTIVITY, PRESENCE_USERS = (
    "userActivity", "teamActivity", "channelActivity", "listActivity", "presenceUsers",
)
ENDPOINTS = (USER_ACTIVITY, TEAM_ACTIVITY, CHANNEL_ACTIVITY, LIST_ACTIVITY, PRESENCE_USERS)

# --- pure mapping ------------------------------------------------------------------------

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


def presence_draft(agent: str, p: Presence, at_ms: int, endpoint: str, *, rule: str | None = None) -> Draft:
    return Draft(
        type="cc.agent.presence.changed", entity_id=agent, stream="presence", transition=_presence_transition(p),
        at_ms=at_ms, value=msgspec.to_builtins(p), previous_type=Presence, endpoint=endpoint,
        payload=AgentPresenceChanged(agent_id=agent, previous=None, current=p, since=format_ts(from_ms(at_ms)),
                                     inferred=rule is not None, rule=rule),
    )


def state_draft(agent: str, ws: WorkState, at_ms: int, endpoint: str, *, rule: str | None = None) -> Draft:
    return Draft(
        type="cc.agent.state.changed", entity_id=agent, stream="state",
        transition=f"state:{ws.raw or ws.state}|{ws.reason or ''}", at_ms=at_ms,
        value=msgspec.to_builtins(ws), previous_type=WorkState, endpoint=endpoint,
        payload=AgentStateChanged(agent_id=agent, previous=None, current=ws, since=format_ts(from_ms(at_ms)),
                                  inferred=rule is not None, rule=rule),
    )


def workload_draft(agent: str, count: int, at_ms: int, endpoint: str, *, rule: str | None = None) -> Draft:
    """``interactionCount`` as a workload: ``total`` only, Alvaria gives no split by medium."""
    w = Workload(total=count)
    return Draft(
        type="cc.agent.workload.changed", entity_id=agent, stream="workload", transition=f"workload:{count}",
        at_ms=at_ms, value=msgspec.to_builtins(w), previous_type=Workload, endpoint=endpoint,
        payload=AgentWorkloadChanged(agent_id=agent, previous=None, current=w, since=format_ts(from_ms(at_ms)),
                                     inferred=rule is not None, rule=rule),
    )


_enc = msgspec.json.Encoder()


_NOT_DIGESTED = (*USER_RIDE, "team_id", "team_name")


def _row_digest(row: UserActivityRow) -> bytes:
    """What a user row says about the user: not the durations that grow with the clock,
    nor the team (a user in two teams is the same user in both answers)."""
    data = msgspec.structs.asdict(row)
    for name in _NOT_DIGESTED:
        data.pop(name, None)
    return hashlib.blake2b(_enc.encode(data), digest_size=16).digest()


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
            drafts.append(presence_draft(uid, pres, since, endpoint))
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
            drafts.append(state_draft(uid, ws, at_ms, endpoint))
        elif memo is not None:
            key = memo.state
        load = memo.workload if memo is not None else None
        count = row.interaction_count
        if count is not None and (load is None or load[0] != count):
            restarted = memo is None or start_ms is None or memo.state[2] != start_ms
            w_since = at_ms if restarted else now_ms
            if load is not None:
                w_since = max(w_since, load[1])
            drafts.append(workload_draft(uid, count, w_since, endpoint))
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
                drafts.append(presence_draft(uid, out, max(now_ms, memo.presence_since_ms), endpoint, rule=ABSENT_RULE))
            if memo.state[0] != "loggedoff":
                ws = WorkState(state="LoggedOut", raw="loggedoff", reason=None)
                drafts.append(state_draft(uid, ws, now_ms, endpoint, rule=ABSENT_RULE))
            load = memo.workload
            if load is not None and load[0] != 0:  # logged out: handling nothing
                load = (0, max(now_ms, load[1]))
                drafts.append(workload_draft(uid, 0, load[1], endpoint, rule=ABSENT_RULE))
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
    at = format_ts(from_ms(at_ms))
    if started:
        return Draft(
            type="cc.agent.session.started", entity_id=uid, stream="session", transition=f"started:{sid or ''}",
            at_ms=at_ms, value="in", previous_field=None, endpoint=endpoint,
            payload=AgentSessionStarted(agent_id=uid, at=at, inferred=True, rule="presence-users-appeared"),
        )
    return Draft(
        type="cc.agent.session.ended", entity_id=uid, stream="session", transition=f"ended:{sid or ''}",
        at_ms=at_ms, value="out", previous_field=None, endpoint=endpoint,
        payload=AgentSessionEnded(agent_id=uid, at=at, inferred=True, rule="presence-users-left"),
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


def stats_draft(
    scope: str, entity: str, name: str | None, values: dict[str, Any], ride: frozenset[str],
    at_ms: int, endpoint: str,
) -> Draft:
    """A snapshot statistic: the poll time is its time (the vendor gives none), a digest of
    the triggering values its transition; emit publishes it only when one of those changed."""
    trig = sorted((k, v) for k, v in values.items() if k not in ride)
    digest = hashlib.blake2b(_enc.encode(trig), digest_size=8).hexdigest()
    return Draft(
        type="cc.stats.changed", entity_id=f"{scope}/{entity}", stream="values", transition=f"values:{digest}",
        at_ms=at_ms, value=values, previous_field=None, endpoint=endpoint, ride_along=ride,
        payload=StatsChanged(scope=scope, entity_id=entity, name=name, changes={}, values=values),
    )


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
        out.append(stats_draft("team", row.team_id or team, row.team_name, values, _ride(values, frozenset()), at_ms, endpoint))
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
        out.append(stats_draft("channel", entity, " / ".join(names) or None, values,
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
        out.append(stats_draft("list", name, name, values, _ride(values, frozenset()), at_ms, endpoint))
    return out



def spread_offsets(n: int, interval: float) -> list[float]:
    """When each of ``n`` requests of one round goes out, in seconds from the round's start."""
    return [i * interval / n for i in range(n)] if n > 0 else []


# --- endpoints (IO) ----------------------------------------------------------------------

Sleep = Callable[[float], Awaitable[None]]


@dataclass(slots=True)
class Roster:
    """Users whose presence and sessions userActivity reports (shared by the endpoints)."""

    covered: set[str] = field(default_factory=set)
    ready: bool = True
    """False while userActivity has not read every team once since (re)start."""


class _PerKey(Endpoint):
    """A snapshot query asked once per key (team, work type, list) each round, the
    requests spread evenly over the interval."""

    history = False

    def __init__(self, name: str, keys: Sequence[str], client: AlvariaClient, cfg: SourceConfig, *,
                 sleep: Sleep, clock: Callable[[], float]) -> None:
        self.name = name
        self.keys = list(keys)
        self.client = client
        self.interval = endpoint_interval(cfg, name)
        self._sleep = sleep
        self._clock = clock
        self._start = 0

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        n = len(self.keys)
        order = self.keys[self._start:] + self.keys[: self._start]
        t0 = self._clock()
        skipped: list[tuple[str, SkippableError]] = []
        for i, (key, offset) in enumerate(zip(order, spread_offsets(n, self.interval))):
            delay = t0 + offset - self._clock()
            if delay > 0:
                await self._sleep(delay)
            at_ms = now_ms + max(0, round((self._clock() - t0) * 1000))
            try:
                result = await self._poll_one(key, at_ms)
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
        self._round_done()
        if skipped:
            what = "; ".join(f"{k}: {e}" for k, e in skipped)
            raise SkippableError(f"{self.name}: {len(skipped)} of {n} unreadable: {what}", raw=skipped[0][1].raw)

    async def _poll_one(self, key: str, at_ms: int) -> PollResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _round_done(self) -> None:
        """A full round was read (some keys may have been skipped)."""


class UserActivityEndpoint(_PerKey):
    def __init__(self, client: AlvariaClient, cfg: SourceConfig, roster: Roster, *, sleep: Sleep,
                 clock: Callable[[], float]) -> None:
        super().__init__(USER_ACTIVITY, cfg.team_ids, client, cfg, sleep=sleep, clock=clock)
        self.roster = roster
        self.state = UsersState()

    def reset(self) -> None:
        self.state = UsersState()

    async def _poll_one(self, team: str, at_ms: int) -> PollResult:
        rows = await self.client.user_activity(team)
        good, bad = split_bad(rows.items)
        drafts, self.state = track_users(team, good, self.state, at_ms, endpoint=self.name, complete=not bad)
        self.roster.covered.update(r.user_id for r in good)
        return PollResult(drafts, bad)

    def _round_done(self) -> None:
        self.roster.ready = True


_Row = TypeVar("_Row")


class _StatsEndpoint(_PerKey, Generic[_Row]):
    def __init__(self, name: str, keys: Sequence[str], client: AlvariaClient, cfg: SourceConfig,
                 read: Callable[[str], Awaitable[Rows[_Row]]],
                 drafts: Callable[[str, Rows[_Row], int, str], list[Draft]], *,
                 sleep: Sleep, clock: Callable[[], float]) -> None:
        super().__init__(name, keys, client, cfg, sleep=sleep, clock=clock)
        self._read = read
        self._drafts = drafts

    async def _poll_one(self, key: str, at_ms: int) -> PollResult:
        rows = await self._read(key)
        _, bad = split_bad(rows.items)
        return PollResult(self._drafts(key, rows, at_ms, self.name), bad)


class PresenceUsersEndpoint(Endpoint):
    """``presence/users/data?state=LoggedOn`` (all work types): sessions of users that
    userActivity does not cover.

    Sent without ``workTypeId`` on purpose: the doc says the query without it lists the
    logged-in users "regardless of workType", the whole set sessions need; one request
    per configured work type would only return subsets of it."""

    history = False

    def __init__(self, client: AlvariaClient, cfg: SourceConfig, roster: Roster) -> None:
        self.name = PRESENCE_USERS
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.roster = roster
        self.state = LoggedOnState()

    def reset(self) -> None:
        self.state = LoggedOnState()

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        rows = await self.client.logged_on_users()
        good, bad = split_bad(rows.items)
        if not self.roster.ready:  # who userActivity covers is not known yet: only seed
            self.state = LoggedOnState(None)
        drafts, self.state = track_logged_on(good, self.state, now_ms, skip=self.roster.covered,
                                             endpoint=self.name, complete=not bad)
        yield PollResult(drafts, bad, complete_up_to_ms=now_ms)


class AlvariaSource:
    """A configured Alvaria organization: one HttpClient, one endpoint per query that has
    something to ask for (teams, work types, contact lists; logged-on users always)."""

    def __init__(
        self, cfg: SourceConfig, *, transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Sleep = anyio.sleep,
    ) -> None:
        assert cfg.org_id is not None  # checked by _check
        self.http = build_http(cfg, transport=transport, clock=clock, sleep=sleep)
        client = AlvariaClient(self.http, cfg.org_id)
        self.roster = Roster()
        kw: dict[str, Any] = {"sleep": sleep, "clock": clock}
        eps: list[Endpoint] = []
        if cfg.team_ids:
            eps.append(UserActivityEndpoint(client, cfg, self.roster, **kw))
            eps.append(_StatsEndpoint(TEAM_ACTIVITY, cfg.team_ids, client, cfg, client.team_activity, team_drafts, **kw))
        if cfg.work_type_ids:
            eps.append(_StatsEndpoint(CHANNEL_ACTIVITY, cfg.work_type_ids, client, cfg, client.channel_activity,
                                      channel_drafts, **kw))
        if cfg.contact_lists:
            eps.append(_StatsEndpoint(LIST_ACTIVITY, cfg.contact_lists, client, cfg, client.list_activity,
                                      list_drafts, **kw))
        eps.append(PresenceUsersEndpoint(client, cfg, self.roster))
        self.endpoints = [e for e in eps if cfg.endpoints.get(e.name) is None or cfg.endpoints[e.name].enabled]
        self.roster.ready = not any(e.name == USER_ACTIVITY for e in self.endpoints)

    async def aclose(self) -> None:
        await self.http.aclose()


_NEEDS = {USER_ACTIVITY: "team_ids", TEAM_ACTIVITY: "team_ids", CHANNEL_ACTIVITY: "work_type_ids",
          LIST_ACTIVITY: "contact_lists"}


def _check(cfg: SourceConfig, path: str) -> None:
    if not isinstance(cfg.auth, OAuth2AuthConfig):
        raise ConfigError(f"{path}.auth.type: alvaria takes oauth2_client_credentials (client id and secret)")
    if cfg.auth.scope is not None and SCOPE not in cfg.auth.scope.split():
        raise ConfigError(f"{path}.auth.scope: alvaria needs the {SCOPE} scope (scopes are space-separated)")
    if not cfg.org_id or not cfg.org_id.strip():
        raise ConfigError(f"{path}.org_id: required for alvaria")
    if cfg.api_key is None or not cfg.api_key.reveal().strip():
        raise ConfigError(f"{path}.api_key: required for alvaria (sent as x-api-key)")
    for key in ("team_ids", "work_type_ids", "contact_lists"):
        seen: set[str] = set()
        for i, value in enumerate(getattr(cfg, key)):
            if not value.strip():
                raise ConfigError(f"{path}.{key}[{i}]: must not be empty")
            if value in seen:
                raise ConfigError(f"{path}.{key}[{i}]: {value!r} is listed twice")
            seen.add(value)
    for name, key in _NEEDS.items():
        ep = cfg.endpoints.get(name)
        if ep is not None and ep.enabled and not getattr(cfg, key):
            raise ConfigError(f"{path}.endpoints.{name}: needs {path}.{key} (it is empty)")


SPEC = ALVARIA = VendorSpec(name=VENDOR, endpoints=ENDPOINTS, build=AlvariaSource, check=_check)
