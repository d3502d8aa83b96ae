"""Pure rendering of the world's ground truth as Sinch Contact Center RMI and RAI rows.

Ids are 32-hex GUIDs derived deterministically from the world's ids. The agent status
log (RAI ``agentStatusHistory``) is derived from the world's activities:

* a login (LoggedOut -> Ready) is one row with ``signOn``, ``status`` Waiting and
  ``userStatus`` Ready (as the docs' example starts a session);
* presence changes are ``userStatus`` + profile rows: Ready = Ready/Available,
  Break = Pause/Available, Lunch = NotReady/Lunch (Absence), Meeting = NotReady/Meeting
  (Absence, reason MEETING);
* a logout is a ``status`` LoggedOut row (as the docs' example ends one);
* a call: Talking_Inbound when connected; when it ends, Waiting then Wrap at the same
  instant (the docs' example writes Waiting 3 ms and 0 ms before each Wrap: RAI
  agentStatusHistory, 07:20:37.387/.390 and 07:21:27.600); Waiting when the wrap-up
  ends. Ringing has no status of its own in the documented enum: the agent stays Waiting.
* ``late_status`` (the ``sinch_late_status`` fault): a Talking_Inbound row is written
  late, right after the agent's next row and with its changeTimeStamp, so statusTimestamp
  goes backwards in changeTimeStamp order, as the docs' example writes
  Dialing_Outbound_Campaign (07:20:16.027) after Waiting (07:20:21.250), both at 07:20:22.013.

Each row is written a little after it happened (``changeTimeStamp`` = status time +
60..460 ms, rounded up to a 250 ms tick, never before the agent's previous row), so
rows of different agents often share a ``changeTimeStamp``, as in production.

A call is one contact group (``contactGroupId`` = the interaction guid); its first
contact covers the queue and the first agent who answered; every further agent who
answered (consult, blind transfer, conference) is a new contact of the group.
"""

from __future__ import annotations

import math
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from streamer.simulator.truth import TruthActivity, TruthChannel, TruthInteraction

if TYPE_CHECKING:  # faults needs starlette; the renderers do not
    pass

__all__ = [
    "sguid",
    "agent_guid",
    "agent_name",
    "group_guid",
    "Queue",
    "QUEUES",
    "queue_of",
    "StatusRow",
    "status_rows",
    "AgentNow",
    "agents_now",
    "SimContact",
    "contacts_of",
    "iso",
    "bucket_start",
    "QUARTER_MS",
]

_NS = uuid.UUID("5c1a7c00-0000-4000-8000-00000000c0de")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
QUARTER_MS = 15 * 60 * 1000
AOT_S = 15
FALSE_ATTEMPT_S = 10

#: world presence name -> (userStatus, profile, profileType, profileReason)
PROFILES: dict[str, tuple[str, str, str, str]] = {
    "Ready": ("Ready", "Available", "Presence", "NONE"),
    "Break": ("Pause", "Available", "Presence", "NONE"),
    "Lunch": ("NotReady", "Lunch", "Absence", "NONE"),
    "Meeting": ("NotReady", "Meeting", "Absence", "MEETING"),
}


def iso(ms: int) -> str:
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def bucket_start(ms: int) -> int:
    return ms - ms % QUARTER_MS


def sguid(kind: str, key: str) -> str:
    """A deterministic 32-hex GUID for one of the world's things."""
    return uuid.uuid5(_NS, f"{kind}:{key}").hex.upper()


def agent_guid(agent_id: str) -> str:
    return sguid("agent", agent_id)


def agent_name(agent_id: str) -> str:
    return f"Agent, {agent_id}"


def group_guid(interaction_guid: str) -> str:
    return interaction_guid.replace("-", "").upper()


@dataclass(frozen=True, slots=True)
class Queue:
    id: str
    name: str
    type: str = "Phone"


QUEUES = (Queue(sguid("queue", "CustomerService"), "CustomerService"), Queue(sguid("queue", "Sales"), "Sales"))


def queue_of(interaction_guid: str) -> Queue:
    return QUEUES[int(group_guid(interaction_guid)[:8], 16) % len(QUEUES)]


# --------------------------------------------------------------------- agent status log
@dataclass(slots=True)
class StatusRow:
    """One agentStatusHistory row (times in epoch ms)."""

    agent_id: str
    session: str
    change_ms: int
    seq: int
    sign_on_ms: int | None = None
    status: str | None = None
    status_ms: int | None = None
    user_status: str | None = None
    user_status_ms: int | None = None
    profile: str | None = None
    profile_type: str | None = None
    profile_reason: str | None = None

    def render(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sessionId": self.session, "userId": agent_guid(self.agent_id),
                               "userName": agent_name(self.agent_id)}
        if self.sign_on_ms is not None:
            out["signOn"] = iso(self.sign_on_ms)
        if self.profile is not None:
            out["profile"] = self.profile
        if self.profile_reason is not None:
            out["profileReason"] = self.profile_reason
        if self.profile_type is not None:
            out["profileType"] = self.profile_type
        if self.status is not None:
            out["status"] = self.status
            out["statusTimestamp"] = iso(self.status_ms or self.change_ms)
        if self.user_status is not None:
            out["userStatus"] = self.user_status
            out["userStatusTimeStamp"] = iso(self.user_status_ms or self.change_ms)
        out["changeTimeStamp"] = iso(self.change_ms)
        return out


def _write_delay(agent_id: str, t: int) -> int:
    return 60 + zlib.crc32(f"{agent_id}:{t}".encode()) % 400


def status_rows(activities: Iterable[TruthActivity], *, late_status: bool = False) -> list[StatusRow]:
    """The whole status log the activities imply, in (changeTimeStamp, write) order;
    ``late_status``: each Talking_Inbound row written with the agent's next row, after it."""
    events: list[tuple[int, int, int, TruthActivity, str]] = []
    for n, a in enumerate(activities):
        if a.type == "Presence":
            events.append((a.start_ms, 1, n, a, "presence"))
        elif a.type == "Interaction":
            if a.category in ("Connected", "Wrap"):
                events.append((a.start_ms, 1, n, a, "status"))
            if a.category == "Wrap" and a.end_ms is not None:
                events.append((a.end_ms, 0, n, a, "idle"))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    session: dict[str, str | None] = {}
    last_change: dict[str, int] = {}
    rows: list[StatusRow] = []
    late: dict[str, dict[str, Any]] = {}

    def add(agent: str, t: int, **kw: Any) -> None:
        sess = session.get(agent)
        raw = t + _write_delay(agent, t)
        change = max(math.ceil(raw / 250) * 250, last_change.get(agent, 0))
        last_change[agent] = change
        rows.append(StatusRow(agent, sess or "", change, len(rows), **kw))
        if agent in late:  # the row held back goes in now, after this one, with its changeTimeStamp
            rows.append(StatusRow(agent, sess or "", change, len(rows), **late.pop(agent)))

    for t, _, _, a, kind in events:
        agent = a.agent_id
        if kind == "presence":
            if a.category == "LoggedOut":
                if session.get(agent):
                    add(agent, t, status="LoggedOut", status_ms=t, profile_reason="-")
                    session[agent] = None
                continue
            us, profile, ptype, reason = PROFILES.get(a.name or "", ("NotReady", a.name, "Absence", "NONE"))
            if not session.get(agent):
                session[agent] = sguid("session", f"{agent}:{t}")
                add(agent, t, sign_on_ms=t, status="Waiting", status_ms=t, user_status=us, user_status_ms=t,
                    profile=profile, profile_type=ptype, profile_reason=reason)
            else:
                add(agent, t, user_status=us, user_status_ms=t, profile=profile, profile_type=ptype,
                    profile_reason=reason)
        elif not session.get(agent):
            continue
        elif kind == "status" and a.category == "Connected":
            if late_status:
                late[agent] = {"status": "Talking_Inbound", "status_ms": t}
            else:
                add(agent, t, status="Talking_Inbound", status_ms=t)
        elif kind == "status":  # the contact ended: Waiting, then Wrap (the docs' example)
            add(agent, t, status="Waiting", status_ms=t)
            add(agent, t, status="Wrap", status_ms=t)
        else:
            add(agent, t, status="Waiting", status_ms=t)
    rows.sort(key=lambda r: (r.change_ms, r.seq))
    return rows


# --------------------------------------------------------------------- agents now
@dataclass(slots=True)
class AgentNow:
    """One agent's current status as the status tables hold it at ``now``."""

    agent_id: str
    user_status: str = "LoggedOut"
    user_status_ms: int = 0
    profile: str | None = None
    profile_type: str | None = None
    profile_reason: str | None = None
    status: str | None = None
    status_ms: int = 0
    change_ms: int = 0
    sessions: int = 0
    serving: tuple[str, ...] = ()
    active_calls: int = 0
    """Connected or in wrap-up: the contacts in process (status InProcess*), which the
    docs count as active (RMI ``activePhoneContacts``, RAI ``phoneActiveInboundContacts``)."""
    active_since_ms: int | None = None
    ringing: int = 0
    """Offered, not answered: not an active contact, but the agent is not Free."""
    handled: int = 0

    @property
    def logged_in(self) -> bool:
        return self.user_status != "LoggedOut"

    @property
    def availability(self) -> str:
        if not self.logged_in:
            return "LoggedOut"
        if self.user_status != "Ready":
            return "Away"
        return "Free" if self.status in (None, "Waiting") and not self.active_calls and not self.ringing else "Busy"

    @property
    def handling_status(self) -> str | None:
        """The status table's ``contactHandlingStatus``: the log's status where the table's
        enum has it. Neither RMI /agents nor RAI /agentStatus lists a wrap value, so an
        agent in wrap-up shows the Waiting the log wrote as the contact ended (its
        duration runs from then); the wrap-up shows as that Waiting with a contact still
        active, and availability Busy."""
        return "Waiting" if self.status == "Wrap" else self.status


def serving_queues(agent_id: str, sessions: int) -> tuple[str, ...]:
    """Queue logins per session: the agent's home queue always; the other one in some
    sessions, so queue logins change at some sign-ons."""
    i = int(agent_id) if agent_id.isdigit() else zlib.crc32(agent_id.encode())
    home = QUEUES[i % len(QUEUES)]
    other = QUEUES[(i + 1) % len(QUEUES)]
    both = (i + sessions) % 3 == 0
    return tuple(sorted({home.id, other.id} if both else {home.id}))


def agents_now(agent_ids: Sequence[str], rows: Sequence[StatusRow], open_activities: dict[str, list[TruthActivity]],
               handled: dict[str, int], now_ms: int, start_ms: int) -> list[AgentNow]:
    """Fold the visible log (``changeTimeStamp <= now``) into each agent's current status."""
    out = {a: AgentNow(a, user_status_ms=start_ms, status_ms=start_ms, change_ms=start_ms,
                       serving=serving_queues(a, 0)) for a in agent_ids}
    for r in rows:
        if r.change_ms > now_ms:
            break
        s = out.get(r.agent_id)
        if s is None:
            continue
        s.change_ms = r.change_ms
        if r.sign_on_ms is not None:
            s.sessions += 1
            s.serving = serving_queues(r.agent_id, s.sessions)
        if r.status == "LoggedOut":
            s.user_status, s.user_status_ms = "LoggedOut", r.status_ms or r.change_ms
            s.profile = s.profile_type = s.profile_reason = None
            s.status, s.status_ms = None, r.status_ms or r.change_ms
            continue
        if r.status is not None and (r.status_ms or r.change_ms) >= s.status_ms:  # a late row is older
            s.status, s.status_ms = r.status, r.status_ms or r.change_ms
        if r.user_status is not None:
            s.user_status, s.user_status_ms = r.user_status, r.user_status_ms or r.change_ms
            s.profile, s.profile_type, s.profile_reason = r.profile, r.profile_type, r.profile_reason
    for a, s in out.items():
        acts = [x for x in open_activities.get(a, []) if x.category in ("Connected", "Wrap")]
        s.active_calls = len(acts)
        s.active_since_ms = min((x.start_ms for x in acts), default=None)
        s.ringing = sum(1 for x in open_activities.get(a, []) if x.category in ("Ringing", "Unexpected"))
        s.handled = handled.get(a, 0)
    return [out[a] for a in agent_ids]


# --------------------------------------------------------------------- contacts
@dataclass(slots=True)
class SimContact:
    """One contact (one agent's part of a call, or the call waiting in the queue)."""

    id: str
    group: str
    queue: Queue
    arrival_ms: int
    arrival_queue_ms: int | None
    agent_id: str | None = None
    connect_ms: int | None = None
    disconnect_ms: int | None = None
    wrap_begin_ms: int | None = None
    wrap_end_ms: int | None = None
    status: str = "InQueue"
    source: str = ""
    details: list[tuple[int, str, str, str]] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.status in ("Handled", "Handled_AOT", "NotHandled_FA", "NotHandled_Ab", "ServiceClosed")

    def last_change_ms(self) -> int:
        return max(t for t in (self.arrival_ms, self.connect_ms, self.disconnect_ms, self.wrap_begin_ms,
                               self.wrap_end_ms) if t is not None)

    def render(self, now_ms: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "contactGroupId": self.group, "channel": "PHONE", "type": "CallIn",
            "status": self.status, "source": self.source, "destination": "320",
            "queueId": self.queue.id, "queueName": self.queue.name,
            "origQueueId": self.queue.id, "origQueueName": self.queue.name,
            "applicationId": sguid("application", "ContactCenter"), "applicationName": "ContactCenter",
            "arrivalTime": iso(self.arrival_ms),
        }
        if self.agent_id is not None:
            out["agentId"] = agent_guid(self.agent_id)
            out["agentName"] = agent_name(self.agent_id)
        for key, value in (("arrivalQueueTime", self.arrival_queue_ms), ("connectTime", self.connect_ms),
                           ("disconnectTime", self.disconnect_ms), ("wrapUpBeginTime", self.wrap_begin_ms),
                           ("wrapUpEndTime", self.wrap_end_ms)):
            if value is not None:
                out[key] = iso(value)
        end = self.disconnect_ms if self.disconnect_ms is not None else now_ms
        queued_until = self.connect_ms if self.connect_ms is not None else end
        out["queuingDuration"] = max(0, queued_until - (self.arrival_queue_ms or self.arrival_ms))
        out["handlingDuration"] = 0 if self.connect_ms is None else max(0, end - self.connect_ms)
        wrap_end = self.wrap_end_ms if self.wrap_end_ms is not None else now_ms
        out["wrapUpTotalDuration"] = 0 if self.wrap_begin_ms is None else max(0, wrap_end - self.wrap_begin_ms)
        out["totalDuration"] = max(0, end - self.arrival_ms)
        out["waitingDuration"] = max(0, queued_until - self.arrival_ms)
        out["serviceClosed"] = False
        out["record"] = True
        out["answeredOnTimeThreshold"] = AOT_S
        out["falseAttemptTimeThreshold"] = FALSE_ATTEMPT_S
        return out

    def render_details(self) -> list[dict[str, Any]]:
        return [
            {"id": sguid("detail", f"{self.id}:{n}"), "time": iso(t), "event": ev, "value1": v1, "value2": v2}
            for n, (t, ev, v1, v2) in enumerate(sorted(self.details, key=lambda d: d[0]))
        ]


def _connected(ch: TruthChannel) -> int | None:
    return min((e.start_ms for e in ch.events if e.type == "Connected"), default=None)


def _wrap(ch: TruthChannel) -> tuple[int | None, int | None]:
    for e in ch.events:
        if e.type == "Wrap":
            return e.start_ms, e.end_ms
    return None, None


def _serve(c: SimContact, ch: TruthChannel) -> None:
    """Fill in an answering agent's part from its channel."""
    c.agent_id = ch.party_id
    c.connect_ms = _connected(ch)
    wrap_begin, wrap_end = _wrap(ch)
    c.wrap_begin_ms = wrap_begin
    c.disconnect_ms = wrap_begin if wrap_begin is not None else ch.end_ms
    c.wrap_end_ms = wrap_end
    queue = c.queue.name
    c.details.append((c.connect_ms or c.arrival_ms, "ConnectedToOper", agent_name(ch.party_id or ""), queue))
    if c.disconnect_ms is not None:
        c.details.append((c.disconnect_ms, "Disconnected", ";0", queue))
    if wrap_end is not None:
        waited = (c.connect_ms or c.arrival_ms) - c.arrival_ms
        c.status = "Handled_AOT" if waited <= AOT_S * 1000 else "Handled"
    elif wrap_begin is not None:
        c.status = "InProcess_WrapUp"
    else:
        c.status = "InProcess"


def contacts_of(i: TruthInteraction) -> list[SimContact]:
    """The contacts of one call, as the monitoring tables hold them now."""
    queue = queue_of(i.guid)
    group = group_guid(i.guid)
    ext = next((ch for ch in i.channels if ch.role == "External"), None)
    agents = sorted((ch for ch in i.channels if ch.role == "Agent" and ch.party_id not in (None, "CCRConnect")),
                    key=lambda ch: (ch.start_ms, ch.guid))
    answered = [ch for ch in agents if _connected(ch) is not None]
    first = answered[0] if answered else None
    c0 = SimContact(sguid("contact", f"{i.guid}:0"), group, queue, i.start_ms, i.start_ms,
                    source=i.connect_from)
    c0.details.append((i.start_ms, "Queing", queue.name, ""))
    cut = _connected(first) if first is not None else None
    for ch in agents:
        if cut is not None and ch.start_ms > cut:
            break
        c0.details.append((ch.start_ms, "DestAllocated", agent_name(ch.party_id or ""), queue.name))
        if ch is not first and ch.end_ms is not None:
            c0.details.append((ch.end_ms, "DestUnAllocated", queue.name, "NoAnswer"))
    if first is not None:
        _serve(c0, first)
    elif ext is not None and ext.end_ms is not None:
        c0.disconnect_ms = ext.end_ms
        c0.status = "NotHandled_Ab" if ext.end_ms - i.start_ms > FALSE_ATTEMPT_S * 1000 else "NotHandled_FA"
        c0.details.append((ext.end_ms, "Disconnected", ";0", queue.name))
    out = [c0]
    for n, ch in enumerate(answered[1:], start=1):
        c = SimContact(sguid("contact", f"{i.guid}:{n}"), group, queue, ch.start_ms, None, source=i.connect_from)
        c.details.append((ch.start_ms, "DestAllocated", agent_name(ch.party_id or ""), queue.name))
        _serve(c, ch)
        out.append(c)
    return out


# --------------------------------------------------------------------- statistics
def _clip(lo: int, hi: int | None, b0: int, b1: int) -> int:
    end = b1 if hi is None else min(hi, b1)
    return max(0, end - max(lo, b0))


def contact_stats(contacts: Iterable[SimContact], now_ms: int, *, active: bool) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (queue id, quarter hour of arrival): the queue contacts (first contact of each
    call), as RAI's contactStatistic (``active``: with in-progress figures) and
    contactHistory aggregate them."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for c in contacts:
        if c.arrival_queue_ms is None or c.arrival_ms > now_ms:
            continue
        key = (c.queue.id, bucket_start(c.arrival_ms))
        s = out.setdefault(key, {"queue": c.queue, "max_change_ms": 0, "count_of_arrived_contacts": 0,
                                 "count_of_completed_contacts": 0, "count_of_handled_contacts": 0,
                                 "count_of_abandoned_contacts": 0, "count_of_false_attempt_contacts": 0,
                                 "count_of_answered_on_time_contacts": 0, "waiting_duration": 0,
                                 "max_waiting_duration": 0, "handling_duration": 0, "max_handling_duration": 0,
                                 "afterwork_duration": 0, "max_afterwork_duration": 0})
        if active:
            for k in ("count_of_queuing_contacts", "count_of_in_process_contacts", "active_queuing_duration",
                      "active_max_queuing_duration", "active_handling_duration", "active_max_handling_duration"):
                s.setdefault(k, 0)
        s["max_change_ms"] = max(s["max_change_ms"], c.last_change_ms())
        s["count_of_arrived_contacts"] += 1
        if c.connect_ms is not None:
            s["count_of_handled_contacts"] += 1
            if c.connect_ms - c.arrival_ms <= AOT_S * 1000:
                s["count_of_answered_on_time_contacts"] += 1
        if c.disconnect_ms is not None:
            s["count_of_completed_contacts"] += 1
            wait = (c.connect_ms or c.disconnect_ms) - c.arrival_ms
            s["waiting_duration"] += wait
            s["max_waiting_duration"] = max(s["max_waiting_duration"], wait)
            if c.connect_ms is not None:
                handle = c.disconnect_ms - c.connect_ms
                s["handling_duration"] += handle
                s["max_handling_duration"] = max(s["max_handling_duration"], handle)
        if c.status == "NotHandled_Ab":
            s["count_of_abandoned_contacts"] += 1
        if c.status == "NotHandled_FA":
            s["count_of_false_attempt_contacts"] += 1
        if c.wrap_begin_ms is not None and c.wrap_end_ms is not None:
            wrap = c.wrap_end_ms - c.wrap_begin_ms
            s["afterwork_duration"] += wrap
            s["max_afterwork_duration"] = max(s["max_afterwork_duration"], wrap)
        if active and c.status == "InQueue":
            s["count_of_queuing_contacts"] += 1
            s["active_queuing_duration"] += now_ms - c.arrival_ms
            s["active_max_queuing_duration"] = max(s["active_max_queuing_duration"], now_ms - c.arrival_ms)
        if active and c.connect_ms is not None and c.disconnect_ms is None:
            s["count_of_in_process_contacts"] += 1
            s["active_handling_duration"] += now_ms - c.connect_ms
            s["active_max_handling_duration"] = max(s["active_max_handling_duration"], now_ms - c.connect_ms)
    return out


_PRESENCE_FIELD = {"Ready": "ready_duration", "Break": "pause_duration", "Lunch": "not_ready_duration",
                   "Meeting": "not_ready_duration"}


def agent_stats(activities: Iterable[TruthActivity], now_ms: int, buckets: Sequence[int]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (agent, quarter hour): time in each state and handled calls (RAI agentStatistic)."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for a in activities:
        end = a.end_ms if a.end_ms is not None else now_ms
        for b0 in buckets:
            b1 = min(b0 + QUARTER_MS, now_ms)
            spent = _clip(a.start_ms, end, b0, b1)
            ended_here = a.end_ms is not None and b0 <= a.end_ms < b1
            if spent <= 0 and not ended_here:
                continue
            if a.type == "Presence" and a.category == "LoggedOut":
                continue
            s = out.setdefault((a.agent_id, b0), {"max_change_ms": 0, "serving_duration": 0, "ready_duration": 0,
                                                  "not_ready_duration": 0, "pause_duration": 0,
                                                  "contact_handling_duration": 0, "afterwork_duration": 0,
                                                  "count_of_handled_call_in": 0, "call_in_duration": 0})
            for t in (a.start_ms, a.end_ms):
                if t is not None and b0 <= t < b1:
                    s["max_change_ms"] = max(s["max_change_ms"], t)
            if a.type == "Presence":
                s["serving_duration"] += spent
                field_name = _PRESENCE_FIELD.get(a.name or "")
                if field_name:
                    s[field_name] += spent
            elif a.category == "Connected":
                s["contact_handling_duration"] += spent
                s["call_in_duration"] += spent
            elif a.category == "Wrap":
                s["afterwork_duration"] += spent
                if ended_here:
                    s["count_of_handled_call_in"] += 1
    return {k: v for k, v in out.items() if v["max_change_ms"] or v["serving_duration"]}


def ceil_quarter(ms: int) -> int:
    return -(-ms // QUARTER_MS) * QUARTER_MS


def time_category(bucket_ms: int) -> str:
    """A quarter-hour bucket label as the API renders timeCategory (zone-less, UTC)."""
    return iso(bucket_ms)[:16].replace("T", " ")
