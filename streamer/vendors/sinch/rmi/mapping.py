"""Sinch RMI rows -> drafts. Pure: agents (presence, work state, workload, queue logins, timed
from the durations RMI reports), contacts (lifecycles and transfers from their own
timestamps) and statistics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from streamer.contract.events import (
    Workload,
    WorkState,
)
from streamer.engine.emit import Draft
from streamer.timeutil import format_ts, to_ms
from streamer.track.transfer import Leg, detect_transfers
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
    "FINAL_STATUSES", "WRAP_RULE", "wrapping", "agent_drafts", "direction_of", "contact_drafts", "group_transfers",
    "contact_fields", "queue_status_draft", "summary_draft",
]


FINAL_STATUSES = frozenset({"ServiceClosed", "Handled", "Handled_AOT", "NotHandled_FA", "NotHandled_Ab"})
_MEDIUM = {"PHONE": "Phone", "CHAT": "Chat", "EMAIL": "Email"}
_INBOUND = ("callin", "emailin", "chatin", "voicemailin", "cbr")
_OUTBOUND = ("callout", "emailout", "chatout")
_INTERNAL = ("cbrintcallin",)
"""RMI contact types: "CBRIntCallIn (=internal call, which is made to queue to get agent
to handle callback request)"."""


WRAP_RULE = "sinch-waiting-with-active-contact"


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


def _state_draft(agent: str, raw: str, at_ms: int, endpoint: str, *, wrap: bool = False) -> Draft:
    if wrap:  # inferred (:func:`wrapping`): its own transition, so it is not the Waiting it reads as
        return kit.state_draft(agent=agent, state=WorkState(state="Wrap", raw=raw), at_ms=at_ms, endpoint=endpoint,
                               transition=f"state:{raw}:wrap", rule=WRAP_RULE)
    return kit.state_draft(agent=agent, state=handling_state(raw), at_ms=at_ms, endpoint=endpoint,
                           transition=f"state:{raw}")


def agent_drafts(a: Agent, now_ms: int, endpoint: str = "agents") -> dict[str, Draft]:
    """One /agents row -> its current presence, state, workload and queue logins, keyed
    by aspect (the endpoint publishes an aspect when its value changed)."""
    agent = guid(a.id) or a.id
    out: dict[str, Draft] = {}
    presence_ms = _since(now_ms, a.user_status_duration, a.profile_duration)
    status_ms = _since(now_ms, a.user_status_duration)
    if a.user_status:
        p = presence_of(a.user_status, None if _logged_out(a) else a.profile, a.profile_type, None)
        out["presence"] = kit.presence_draft(agent=agent, presence=p, at_ms=presence_ms, endpoint=endpoint,
                                             transition=presence_transition(a.user_status.strip(), p))
    if _logged_out(a):
        out["state"] = _state_draft(agent, "LoggedOut", status_ms, endpoint)
    elif a.contact_handling_status:
        at = _since(now_ms, a.contact_handling_status_duration)
        raw = a.contact_handling_status.strip()
        out["state"] = _state_draft(agent, raw, at, endpoint, wrap=wrapping(a))
    counts = (a.active_phone_contacts, a.active_chat_contacts, a.active_email_contacts)
    if any(c is not None for c in counts) or _logged_out(a):
        w = Workload(calls=counts[0] or 0, semi_live=counts[1] or 0, non_live=counts[2] or 0)
        busy = (w.calls or 0) + (w.semi_live or 0) + (w.non_live or 0) > 0
        if busy:  # since the oldest active contact began
            at = _since(now_ms, a.active_contact_duration)
        else:  # RMI does not say when the last contact ended: when we saw it
            at = status_ms if _logged_out(a) else _floor_s(now_ms)
        out["workload"] = kit.workload_draft(agent=agent, workload=w, at_ms=at, endpoint=endpoint,
                                             transition=f"workload:{w.calls}/{w.semi_live}/{w.non_live}")
    queues = a.queue_list()
    if queues or a.queues is not None:
        serving = sorted({guid(q.id) or q.id for q in queues if q.serving})
        out["queues"] = kit.queues_draft(agent=agent, serving=serving, at_ms=status_ms, endpoint=endpoint,
                                         transition="queues:" + ",".join(serving))
    return out


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
    return kit.interaction_state_draft(
        interaction=guid(c.contact_group_id) or guid(c.id) or c.id, agent=agent, state=state, at_ms=to_ms(at),
        endpoint=endpoint, transition=f"{agent or '-'}:{raw}", raw=raw,
        medium=_MEDIUM.get((c.channel or "").upper(), c.channel), direction=direction_of(c.type), reason=reason,
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
    return [kit.transfer_draft(interaction=interaction, transfer=t, endpoint=endpoint, rule=f"contact-group-{t.kind}")
            for t in detect_transfers(legs)]


def contact_fields(c: Contact) -> list[Any]:
    return ([
        c.status, c.agent_id, c.arrival_queue_time, c.preview_time, c.connect_time, c.pending_time,
        c.disconnect_time, c.wrap_up_begin_time, c.wrap_up_end_time,
    ])


def queue_status_draft(q: QueueStatus, at_ms: int, endpoint: str = "queueStatuses") -> Draft:
    values = {k: v for k, v in stats_values(q, QUEUE_STATUS_COUNTS + QUEUE_STATUS_GROWING).items() if v is not None}
    return kit.stats_draft(endpoint=endpoint, stream=endpoint, scope="queue", entity=guid(q.id) or q.id, name=q.name,
                           values=values, at_ms=at_ms, ride_along=frozenset(QUEUE_STATUS_GROWING))


def summary_draft(s: ContactSummary, at_ms: int, endpoint: str = "contactSummaries") -> Draft:
    bucket = bucket_label(format_ts(s.hour_time) if s.hour_time else None, change_ms_of(s.change_timestamp))
    values = {k: v for k, v in stats_values(s, SUMMARY_FIELDS).items() if v is not None}
    return kit.stats_draft(endpoint=endpoint, stream=endpoint, scope="queue",
                           entity=f"{guid(s.queue_id) or s.queue_id}@{bucket}", name=s.queue_name, values=values,
                           at_ms=at_ms, ride_along=frozenset())
