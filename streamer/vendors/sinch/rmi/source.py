"""Sinch RMI: endpoints -> pure mapping -> drafts.

- ``agents`` (snapshot): presence (``userStatus`` + profile), work state
  (``contactHandlingStatus``; wrap-up, which it has no value for, is ``Waiting`` with a
  contact still active: :func:`wrapping`), workload (active phone/chat/email contacts) and queue
  logins (the ``serving`` flags) of every agent. RMI reports how long each value has
  held, not since when: ``since`` is the poll time minus that duration, floored to the
  second. Queue logins carry no time at all: their ``since`` is the start of the
  agent's current ``userStatus`` (queue logins change at sign-on in practice); a
  workload dropping to zero is timed when it is seen.
- ``contacts`` (moving ``startTime`` + ``showAllInProcess=1``): each contact's
  lifecycle from its own timestamps (exact, so re-reads and restarts give the same
  ids): queued, ringing (``DestAllocated`` in ``/contacts/{id}/details``, read for
  changed contacts with bounded concurrency), connected, pending, wrap-up, and its
  final status. ``contactGroupId`` is the interaction; a later contact of the group
  with another agent is a transfer (consult when that agent connected before the
  first left, blind otherwise). A contact that was in process and is no longer listed
  is read by id to learn how it ended.
- ``queueStatuses`` (snapshot) and ``contactSummaries`` (quarter hours):
  ``cc.stats.changed``; the longest current wait rides along.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec

from streamer.config.model import SourceConfig
from streamer.contract.events import (
    AgentQueuesChanged,
    AgentWorkloadChanged,
    InteractionStateChanged,
    InteractionTransferred,
    Workload,
    WorkState,
)
from streamer.engine.emit import Draft, draft_order
from streamer.engine.source import BadInput, Endpoint, PollResult, VendorSpec, window_settings
from streamer.errors import SkippableError, StreamerError
from streamer.http.build import build_http
from streamer.timeutil import format_ts, from_ms, to_ms
from streamer.track.transfer import Leg, detect_transfers
from streamer.vendors.sinch.common import (
    RowsRead,
    StatsEndpoint,
    bucket_label,
    change_ms_of,
    check_sinch,
    endpoint_enabled,
    endpoint_interval,
    guid,
    presence_draft,
    presence_of,
    sinch_headers,
    split_bad,
    state_draft,
    stats_draft,
    stats_values,
)
from streamer.vendors.sinch.rmi.client import RmiClient
from streamer.vendors.sinch.rmi.models import (
    QUEUE_STATUS_COUNTS,
    QUEUE_STATUS_GROWING,
    SUMMARY_FIELDS,
    Agent,
    Contact,
    ContactDetail,
    ContactSummary,
    QueueStatus,
)

__all__ = [
    "SPEC",
    "VENDOR",
    "RmiSource",
    "agent_drafts",
    "contact_drafts",
    "group_transfers",
    "queue_status_draft",
    "summary_draft",
    "AgentsEndpoint",
    "ContactsEndpoint",
    "FINAL_STATUSES",
    "WRAP_RULE",
    "wrapping",
    "direction_of",
]

VENDOR = "sinch_rmi"
FINAL_STATUSES = frozenset({"ServiceClosed", "Handled", "Handled_AOT", "NotHandled_FA", "NotHandled_Ab"})
DETAILS_CONCURRENCY = 4
GROUP_MEMORY_MS = 15 * 60 * 1000
"""How long the contacts of an interaction are remembered after last being served
(transfers are read off the group; a restart re-reads the lookback instead)."""
_MEDIUM = {"PHONE": "Phone", "CHAT": "Chat", "EMAIL": "Email"}
_INBOUND = ("callin", "emailin", "chatin", "voicemailin", "cbr")
_OUTBOUND = ("callout", "emailout", "chatout")
_INTERNAL = ("cbrintcallin",)
"""RMI contact types: "CBRIntCallIn (=internal call, which is made to queue to get agent
to handle callback request)"."""
WRAP_RULE = "sinch-waiting-with-active-contact"


# --- pure mapping: agents -------------------------------------------------------------


def _floor_s(ms: int) -> int:
    return ms - ms % 1000


def _since(now_ms: int, *durations: int | None) -> int:
    """Poll time minus the shortest known duration (the latest change), floored to 1 s."""
    known = [d for d in durations if d is not None and d >= 0]
    return _floor_s(now_ms - (min(known) if known else 0))


def _logged_out(a: Agent) -> bool:
    return (a.user_status or "").strip().casefold() == "loggedout"


def wrapping(a: Agent) -> bool:
    """Whether the agent is in wrap-up. RMI ``/agents`` lists no wrap value for
    ``contactHandlingStatus`` (nor RAI ``/agentStatus``); the status log writes ``Waiting``
    as a contact ends and ``Wrap`` just after, while the contact stays in process
    (``InProcess_WrapUp``) and so active. Read: ``Waiting`` with an active contact is
    wrap-up. A ``Wrap`` value, should a server send one, is read as wrap-up too."""
    if (a.contact_handling_status or "").strip().casefold() != "waiting":
        return False
    return any((c or 0) > 0 for c in (a.active_phone_contacts, a.active_chat_contacts, a.active_email_contacts))


def _wrap_draft(agent: str, raw: str, at_ms: int, endpoint: str) -> Draft:
    d = state_draft(agent, raw, at_ms, endpoint)
    state = WorkState(state="Wrap", raw=raw)
    return msgspec.structs.replace(
        d, transition=f"state:{raw}:wrap", value=msgspec.to_builtins(state),
        payload=msgspec.structs.replace(d.payload, current=state, inferred=True, rule=WRAP_RULE),
    )


def agent_drafts(a: Agent, now_ms: int, endpoint: str = "agents") -> dict[str, Draft]:
    """One /agents row -> its current presence, state, workload and queue logins, keyed
    by aspect (the endpoint publishes an aspect when its value changed)."""
    agent = guid(a.id) or a.id
    out: dict[str, Draft] = {}
    presence_ms = _since(now_ms, a.user_status_duration, a.profile_duration)
    status_ms = _since(now_ms, a.user_status_duration)
    if a.user_status:
        p = presence_of(a.user_status, None if _logged_out(a) else a.profile, a.profile_type, None)
        out["presence"] = presence_draft(agent, p, a.user_status.strip(), presence_ms, endpoint)
    if _logged_out(a):
        out["state"] = state_draft(agent, "LoggedOut", status_ms, endpoint)
    elif a.contact_handling_status:
        at = _since(now_ms, a.contact_handling_status_duration)
        raw = a.contact_handling_status.strip()
        out["state"] = (_wrap_draft if wrapping(a) else state_draft)(agent, raw, at, endpoint)
    counts = (a.active_phone_contacts, a.active_chat_contacts, a.active_email_contacts)
    if any(c is not None for c in counts) or _logged_out(a):
        w = Workload(calls=counts[0] or 0, semi_live=counts[1] or 0, non_live=counts[2] or 0)
        busy = (w.calls or 0) + (w.semi_live or 0) + (w.non_live or 0) > 0
        if busy:  # since the oldest active contact began
            at = _since(now_ms, a.active_contact_duration)
        else:  # RMI does not say when the last contact ended: when we saw it
            at = status_ms if _logged_out(a) else _floor_s(now_ms)
        out["workload"] = Draft(
            type="cc.agent.workload.changed", entity_id=agent, stream="workload",
            transition=f"workload:{w.calls}/{w.semi_live}/{w.non_live}",
            at_ms=at, value=msgspec.to_builtins(w), previous_type=Workload, endpoint=endpoint,
            payload=AgentWorkloadChanged(agent_id=agent, previous=None, current=w, since=format_ts(from_ms(at))),
        )
    queues = a.queue_list()
    if queues or a.queues is not None:
        serving = sorted({guid(q.id) or q.id for q in queues if q.serving})
        out["queues"] = Draft(
            type="cc.agent.queues.changed", entity_id=agent, stream="queues",
            transition="queues:" + ",".join(serving), at_ms=status_ms, value=serving,
            previous_type=list[str], endpoint=endpoint,
            payload=AgentQueuesChanged(agent_id=agent, previous=None, current=serving,
                                       since=format_ts(from_ms(status_ms))),
        )
    return out


def _aspect_digest(d: Draft) -> bytes:
    return msgspec.json.encode([d.transition, d.value])


# --- pure mapping: contacts ----------------------------------------------------------


def direction_of(kind: str | None) -> str | None:
    """A contact ``type`` as a direction: Inbound, Outbound, Internal, or None."""
    k = (kind or "").casefold()
    if k.startswith(_INTERNAL):
        return "Internal"
    if k.startswith(_OUTBOUND) or k.startswith("cbrcallout"):
        return "Outbound"
    if k.startswith(_INBOUND) or k == "ivr":
        return "Inbound"
    return None


def _interaction_draft(
    c: Contact, agent: str | None, state: str, raw: str, at: datetime, endpoint: str, reason: str | None = None,
) -> Draft:
    interaction = guid(c.contact_group_id) or guid(c.id) or c.id
    at_ms = to_ms(at)
    return Draft(
        type="cc.interaction.state.changed",
        entity_id=interaction,
        stream=f"agent/{agent}" if agent else "lifecycle",
        transition=f"{agent or '-'}:{raw}",
        at_ms=at_ms,
        value=state,
        previous_field="previous_state",
        endpoint=endpoint,
        payload=InteractionStateChanged(
            interaction_id=interaction, agent_id=agent, medium=_MEDIUM.get((c.channel or "").upper(), c.channel),
            direction=direction_of(c.type), previous_state=None, state=state, reason=reason,
            since=format_ts(at), raw=raw,
        ),
    )


def _ringing(c: Contact, details: Sequence[ContactDetail]) -> datetime | None:
    """The last allocation of this contact to its agent before it connected."""
    name = (c.agent_name or "").strip().casefold()
    best = None
    for d in details:
        if (d.event or "").casefold() != "destallocated":
            continue
        if name and (d.value1 or "").strip().casefold() != name:
            continue
        if d.time < c.arrival_time or (c.connect_time is not None and d.time > c.connect_time):
            continue
        if best is None or d.time >= best:
            best = d.time
    return best


def contact_drafts(c: Contact, details: Sequence[ContactDetail] = (), endpoint: str = "contacts") -> list[Draft]:
    """One contact -> the lifecycle its timestamps show, in time order.

    Interaction level (no agent): Queued at ``arrivalQueueTime``; a contact that ends
    without an agent ends there. The agent's part: Ringing (details' ``DestAllocated``),
    Ringing at ``previewTime`` (outbound preview), Connected at ``connectTime``, Held at
    ``pendingTime`` (email set pending), Wrap at ``wrapUpBeginTime``, and Ended with the
    final status (Handled, Handled_AOT, NotHandled_FA, NotHandled_Ab, ServiceClosed) as
    ``raw`` and ``reason`` at ``wrapUpEndTime`` (else ``disconnectTime``).
    """
    agent = guid(c.agent_id)
    status = (c.status or "").strip()
    final = status in FINAL_STATUSES
    out: list[Draft] = []
    if c.arrival_queue_time is not None:
        out.append(_interaction_draft(c, None, "Queued", "InQueue", c.arrival_queue_time, endpoint))
    if agent is None:
        if final:
            end = c.disconnect_time or c.arrival_queue_time or c.arrival_time
            out.append(_interaction_draft(c, None, "Ended", status, end, endpoint, reason=status))
        return sorted(out, key=lambda d: d.at_ms)
    ringing = _ringing(c, details)
    if ringing is not None:
        out.append(_interaction_draft(c, agent, "Ringing", "DestAllocated", ringing, endpoint))
    if c.preview_time is not None:
        out.append(_interaction_draft(c, agent, "Ringing", "InProcess_Preview", c.preview_time, endpoint))
    if c.connect_time is not None:
        out.append(_interaction_draft(c, agent, "Connected", "InProcess", c.connect_time, endpoint))
    if c.pending_time is not None:
        out.append(_interaction_draft(c, agent, "Held", "InProcess_Pending", c.pending_time, endpoint))
    wrap = c.wrap_up_begin_time
    if wrap is None and status == "InProcess_WrapUp":
        wrap = c.disconnect_time
    if wrap is not None:
        out.append(_interaction_draft(c, agent, "Wrap", "InProcess_WrapUp", wrap, endpoint))
    if final:
        end = c.wrap_up_end_time or c.disconnect_time or wrap or c.connect_time or c.arrival_time
        out.append(_interaction_draft(c, agent, "Ended", status, end, endpoint, reason=status))
    return sorted(out, key=lambda d: d.at_ms)


def _leg(c: Contact) -> Leg:
    return Leg(
        channel_id=guid(c.id) or c.id,
        party_id=guid(c.agent_id),
        role="Agent",
        joined_ms=to_ms(c.arrival_time),
        connected_ms=change_ms_of(c.connect_time),
        disconnected_ms=change_ms_of(c.disconnect_time),
    )


def group_transfers(contacts: Sequence[Contact], endpoint: str = "contacts") -> list[Draft]:
    """Transfers within one contact group (one interaction), from its contacts as legs.

    The customer is on the line from the first arrival until every contact of the group
    has disconnected (then until the last disconnect): a blind transfer is a new contact
    that connects after the previous agent left while the customer stays; a consult
    transfer, one that connected before; agents leaving together (the customer hung up)
    are a conference, not a transfer.
    """
    agent_contacts = [c for c in contacts if guid(c.agent_id) and c.connect_time is not None]
    if len({guid(c.agent_id) for c in agent_contacts}) < 2:
        return []
    legs = [_leg(c) for c in agent_contacts]
    first = min(to_ms(c.arrival_time) for c in contacts)
    ends = [change_ms_of(c.disconnect_time) for c in contacts]
    customer_end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    legs.append(Leg("customer", None, "External", first, first, customer_end))
    interaction = guid(contacts[0].contact_group_id) or guid(contacts[0].id) or contacts[0].id
    out = []
    for t in detect_transfers(legs):
        out.append(Draft(
            type="cc.interaction.transferred", entity_id=interaction, stream="transfers",
            transition=f"{t.from_agent_id}>{t.to_agent_id}:{t.kind}", at_ms=t.at_ms, previous_field=None,
            endpoint=endpoint,
            payload=InteractionTransferred(
                interaction_id=interaction, from_agent_id=t.from_agent_id, to_agent_id=t.to_agent_id,
                kind=t.kind, at=format_ts(from_ms(t.at_ms)), inferred=True, rule=f"contact-group-{t.kind}",
            ),
        ))
    return out


def _contact_digest(c: Contact) -> bytes:
    return msgspec.json.encode([
        c.status, c.agent_id, c.arrival_queue_time, c.preview_time, c.connect_time, c.pending_time,
        c.disconnect_time, c.wrap_up_begin_time, c.wrap_up_end_time,
    ])


# --- pure mapping: statistics ----------------------------------------------------------


def queue_status_draft(q: QueueStatus, at_ms: int, endpoint: str = "queueStatuses") -> Draft:
    values = {k: v for k, v in stats_values(q, QUEUE_STATUS_COUNTS + QUEUE_STATUS_GROWING).items() if v is not None}
    return stats_draft(endpoint=endpoint, scope="queue", entity=guid(q.id) or q.id, name=q.name, values=values,
                       at_ms=at_ms, ride_along=frozenset(QUEUE_STATUS_GROWING))


def summary_draft(s: ContactSummary, at_ms: int, endpoint: str = "contactSummaries") -> Draft:
    bucket = bucket_label(format_ts(s.hour_time) if s.hour_time else None, change_ms_of(s.change_timestamp))
    values = {k: v for k, v in stats_values(s, SUMMARY_FIELDS).items() if v is not None}
    return stats_draft(endpoint=endpoint, scope="queue", entity=f"{guid(s.queue_id) or s.queue_id}@{bucket}",
                       name=s.queue_name, values=values, at_ms=at_ms, ride_along=frozenset())


# --- endpoints (IO) --------------------------------------------------------------------


def _day_start(now_ms: int) -> datetime:
    return from_ms(now_ms - now_ms % 86_400_000).astimezone(UTC)


class AgentsEndpoint(Endpoint):
    """Snapshot of ``/agents``: an aspect is drafted on first sight and when its value changes."""

    history = False

    def __init__(self, client: RmiClient, cfg: SourceConfig) -> None:
        self.name = "agents"
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.digests: dict[tuple[str, str], bytes] = {}

    def reset(self) -> None:
        self.digests = {}

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        read = await self.client.agents(_day_start(now_ms))
        good, bad = split_bad(read.items)
        drafts: list[Draft] = []
        digests: dict[tuple[str, str], bytes] = {}
        for a in good:
            for aspect, d in agent_drafts(a, now_ms, self.name).items():
                key = (d.entity_id, aspect)
                digests[key] = _aspect_digest(d)
                if self.digests.get(key) != digests[key]:
                    drafts.append(d)
        self.digests = digests
        drafts.sort(key=draft_order)  # estimates of one view, in time order
        yield PollResult(drafts, bad, complete_up_to_ms=now_ms)


def _latest_ms(c: Contact) -> int:
    """The newest vendor time a contact row shows."""
    times = (c.arrival_time, c.arrival_queue_time, c.preview_time, c.connect_time, c.pending_time, c.pick_time,
             c.disconnect_time, c.wrap_up_begin_time, c.wrap_up_end_time)
    return max(to_ms(t) for t in times if t is not None)


class ContactsEndpoint(Endpoint):
    """``/contacts`` with a moving ``startTime`` (the cursor, the newest vendor time read,
    minus the lookback): interaction lifecycles and transfers."""

    history = True
    proves = frozenset({"cc.interaction.state.changed", "cc.interaction.transferred"})

    def __init__(self, client: RmiClient, cfg: SourceConfig) -> None:
        self.name = "contacts"
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.lookback_ms, self.lag_ms, self.initial_ms = window_settings(cfg)
        self.concurrency = DETAILS_CONCURRENCY
        self.reset()

    def reset(self) -> None:
        self.digests: dict[str, bytes] = {}
        self.details: dict[str, list[ContactDetail]] = {}
        self.open: dict[str, Contact] = {}
        self.groups: dict[str, dict[str, Contact]] = {}
        self.group_seen: dict[str, int] = {}

    async def _each(self, ids: Sequence[str], fetch: Any) -> None:
        """Run ``fetch(id)`` for every id, at most ``concurrency`` at a time; the first
        retriable or fatal error is raised after the others finished."""
        limiter = anyio.CapacityLimiter(self.concurrency)
        failures: list[StreamerError] = []

        async def one(cid: str) -> None:
            async with limiter:
                try:
                    await fetch(cid)
                except StreamerError as e:  # translated, so the engine's table applies
                    failures.append(e)

        async with anyio.create_task_group() as tg:
            for cid in ids:
                tg.start_soon(one, cid)
        if failures:
            raise failures[0]

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        cursor = cursor_ms if cursor_ms is not None else now_ms - self.initial_ms
        read = await self.client.contacts(from_ms(cursor - self.lookback_ms))
        good, bad = split_bad(read.items)
        served: dict[str, Contact] = {(guid(c.id) or c.id): c for c in good}

        async def ended(cid: str) -> None:
            try:
                served[cid] = await self.client.contact(self.open[cid].id)
            except SkippableError as e:
                bad.append(BadInput(f"contact {cid} was in process and is no longer listed: {e}", e.raw))

        gone = [cid for cid in self.open if cid not in served]
        await self._each(gone, ended)

        changed = [cid for cid, c in served.items() if self.digests.get(cid) != _contact_digest(c)]

        async def details(cid: str) -> None:
            try:
                rows = await self.client.contact_details(served[cid].id)
            except SkippableError as e:
                bad.append(BadInput(f"details of contact {cid}: {e}", e.raw))
                return
            ok, wrong = split_bad(rows)
            bad.extend(wrong)
            self.details[cid] = ok

        await self._each(changed, details)

        drafts: list[Draft] = []
        touched: set[str] = set()
        for cid, c in served.items():
            drafts.extend(contact_drafts(c, self.details.get(cid, ()), self.name))
            group = guid(c.contact_group_id) or cid
            self.groups.setdefault(group, {})[cid] = c
            self.group_seen[group] = now_ms
            touched.add(group)
        for group in sorted(touched):
            drafts.extend(group_transfers(list(self.groups[group].values()), self.name))
        drafts.sort(key=draft_order)

        self.digests = {cid: _contact_digest(c) for cid, c in served.items()}
        self.open = {cid: c for cid, c in served.items() if (c.status or "").strip() not in FINAL_STATUSES}
        self.details = {cid: v for cid, v in self.details.items() if cid in served}
        for group in [g for g, t in self.group_seen.items() if t < now_ms - GROUP_MEMORY_MS]:
            self.groups.pop(group, None)
            self.group_seen.pop(group, None)
        # The cursor is vendor time: the newest time a served contact shows. The local
        # clock (a skewed or jumping host) could move it past contacts not yet read.
        newest = max((_latest_ms(c) for c in served.values()), default=cursor)
        up_to = now_ms - self.lag_ms
        yield PollResult(drafts, bad, cursor_ms=max(cursor, min(newest, up_to)), complete_up_to_ms=up_to)


class RmiSource:
    """A configured RMI interface: one HttpClient, its endpoints."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(cfg, headers=sinch_headers(cfg))
        client = RmiClient(self.http, page_limit=cfg.page_limit)

        async def queue_statuses(_start: None, _end: datetime) -> RowsRead[QueueStatus]:
            return await client.queue_statuses()

        async def summaries(start: datetime, _end: datetime) -> RowsRead[ContactSummary]:
            return await client.contact_summaries(start)

        all_eps: list[Endpoint] = [
            AgentsEndpoint(client, cfg),
            ContactsEndpoint(client, cfg),
            StatsEndpoint("queueStatuses", cfg, queue_statuses, to_draft=queue_status_draft),
            StatsEndpoint("contactSummaries", cfg, summaries, to_draft=summary_draft,
                          change_ms=lambda s: change_ms_of(s.change_timestamp)),
        ]
        self.endpoints = [e for e in all_eps if endpoint_enabled(cfg, e.name)]

    async def aclose(self) -> None:
        await self.http.aclose()


def _check(cfg: SourceConfig, path: str) -> None:
    check_sinch(cfg, path, VENDOR, "/RI/rmi")


ENDPOINTS = ("agents", "contacts", "queueStatuses", "contactSummaries")

SPEC = VendorSpec(name=VENDOR, endpoints=ENDPOINTS, build=RmiSource, check=_check)
