"""Vonage rows -> drafts. Pure: the vendor's spellings, and how it identifies each change
(the transitions), on the kit's draft builders (:mod:`streamer.vendors.kit.drafts`)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from streamer.contract.events import Presence, Workload
from streamer.engine.emit import Draft
from streamer.http.tolerant import fold_key
from streamer.timeutil import from_ms, to_ms
from streamer.track.transfer import Leg, detect_transfers, leg_from_channel_events
from streamer.vendors.kit import drafts as kit
from streamer.vendors.vonage.models import Activity, AgentStatus, Channel, ChannelEvent, Interaction
from streamer.vendors.vonage.parts import PartEnd, is_monitoring

__all__ = [
    "PRESENCE_CATEGORIES", "INTERACTION_STATES", "interaction_state", "snapshot_presence", "presence_draft",
    "workload", "workload_draft", "interaction_state_draft", "activity_drafts", "part_end_draft", "status_drafts",
    "channel_legs", "channel_state_drafts", "interaction_drafts", "party_channels",
]


PRESENCE_CATEGORIES = frozenset({"Ready", "Away", "ExtendedAway", "LoggedOut"})
INTERACTION_STATES = frozenset({"Queued", "Ringing", "Connected", "Held", "Wrap", "Unexpected", "Failed", "Ended"})
_STATE_SPELLINGS = {fold_key(s): s for s in INTERACTION_STATES} | {
    "wrapup": "Wrap",  # the FAQ's prose: "an interaction state of Wrap Up"
    "queue": "Queued",  # an interaction channel's Queue event (the FAQ's /interactions example)
}


def interaction_state(raw: str | None) -> str:
    """The normalized state of a vendor spelling (any case; ``Wrap Up`` is Wrap), else Unknown."""
    return _STATE_SPELLINGS.get(fold_key(raw or ""), "Unknown")


def _presence(category: str | None, name: str | None, eligible: bool | None, reason: str | None) -> Presence:
    raw = category or ""
    known = raw in PRESENCE_CATEGORIES
    return Presence(
        name=name,
        category=raw if known else "Unknown",
        eligible_for_routing=eligible,
        reason=reason,
        raw=None if known else {"category": category, "name": name},
    )


def snapshot_presence(name: str | None, description: str | None) -> tuple[str, str | None] | None:
    """(category, label) of an ``agent-status`` presence, or None when it has no category.

    The FAQ's only example has ``name`` and ``description`` both ``Ready``, so which one is
    the category is ambiguous. Reading chosen: ``name`` is the category and
    ``description`` the configured label (as the example reads best). Also accepted: the
    agent-activities reading, where ``name`` is the label ("Lunch") -- then a category in
    ``description`` is used, and a presence with no category in either field is left to
    the history (which has ``category``), so that both endpoints give one event per change.
    """
    if name in PRESENCE_CATEGORIES:
        return name, description
    if description in PRESENCE_CATEGORIES:
        return description, name
    return None


def presence_draft(agent: str, p: Presence, at: datetime, endpoint: str) -> Draft:
    """A presence row: one change per category the vendor sent (its raw one when unknown)."""
    raw_cat = p.raw["category"] if p.raw else p.category
    return kit.presence_draft(agent=agent, presence=p, at_ms=to_ms(at), endpoint=endpoint,
                              transition=f"presence:{raw_cat}")


def workload(calls: int | None, semi_live: int | None = None, non_live: int | None = None) -> Workload:
    """A workload with only the counts the source reports: a count it does not have is
    absent from the event, never a null or zero fact (the FAQ's ``agent-status`` workload
    has only ``calls``; agent-activities has ``calls``, ``semiLive``, ``nonLive``)."""
    return Workload(
        calls=calls,
        semi_live=msgspec.UNSET if semi_live is None else semi_live,
        non_live=msgspec.UNSET if non_live is None else non_live,
    )


def workload_draft(agent: str, w: Workload, at: datetime, endpoint: str) -> Draft:
    """A workload row: the counts since ``at`` (the row's time alone identifies it)."""
    return kit.workload_draft(agent=agent, workload=w, at_ms=to_ms(at), endpoint=endpoint, transition="workload")


def interaction_state_draft(
    guid: str, agent: str | None, state_raw: str | None, at: datetime, endpoint: str, *,
    medium: str | None = None, direction: str | None = None, reason: str | None = None,
    rule: str | None = None, keep_raw: bool = True,
) -> Draft:
    """An interaction's (or an agent's part's) state as the vendor spells it."""
    raw = state_raw or ""
    state = interaction_state(raw)
    return kit.interaction_state_draft(
        interaction=guid, agent=agent, state=state, at_ms=to_ms(at), endpoint=endpoint,
        # the normalized state when known: "Wrap Up" (snapshot) and "Wrap" (history) are one change
        transition=f"{agent or '-'}:{raw if state == 'Unknown' else state}",
        raw=(raw or None) if keep_raw else None, medium=medium, direction=direction, reason=reason, rule=rule,
    )


def activity_drafts(a: Activity, endpoint: str = "agent-activities") -> list[Draft]:
    """One agent-activities row -> the transition it starts (its ``start`` is the vendor time).

    A supervisor monitoring an interaction (``reason: Monitor``) is not an agent's state.
    """
    kind = (a.type or "").lower()
    if kind == "presence":
        return [presence_draft(a.agent_id, _presence(a.category, a.name, a.eligible_for_routing, a.reason), a.start, endpoint)]
    if kind == "workload" and a.workload is not None:
        w = workload(a.workload.calls, a.workload.semi_live, a.workload.non_live)
        return [workload_draft(a.agent_id, w, a.start, endpoint)]
    if kind == "interaction" and a.interaction is not None and not is_monitoring(a.reason):
        i = a.interaction
        return [interaction_state_draft(i.guid, a.agent_id, a.category, a.start, endpoint,
                                        medium=i.medium, direction=i.direction, reason=a.reason)]
    return []


def part_end_draft(p: PartEnd, endpoint: str = "agent-activities") -> Draft:
    """An agent's part in an interaction ended: its last activity's start plus duration
    (inferred: no row says it was the last; ``raw`` null: no vendor value says Ended)."""
    return interaction_state_draft(
        p.interaction_id, p.agent_id, "Ended", from_ms(p.end_ms), endpoint, medium=p.medium, direction=p.direction,
        rule="last-activity-ended", keep_raw=False,
    )


def status_drafts(s: AgentStatus, endpoint: str = "agent-status") -> list[Draft]:
    """One agent-status row -> the transitions that put the agent where it is now.

    ``since`` equals the history ``start``, so the same change from both endpoints has
    one id. An interaction that is gone from the row gives nothing here: its end is the
    history's (see :mod:`.parts`).
    """
    out: list[Draft] = []
    if s.presence is not None and s.presence.since is not None:
        p = s.presence
        read = snapshot_presence(p.name, p.description)
        if read is not None:
            out.append(presence_draft(s.agent_id, _presence(read[0], read[1], p.eligible_for_routing, None), p.since, endpoint))
    w = s.workload
    if w is not None and w.since is not None:
        out.append(workload_draft(s.agent_id, workload(w.calls, w.semi_live, w.non_live), w.since, endpoint))
    for i in s.interaction:
        if i.since is None or is_monitoring(i.reason):
            continue
        out.append(interaction_state_draft(i.guid, s.agent_id, i.state, i.since, endpoint,
                                           medium=i.medium, direction=i.direction, reason=i.reason))
    return out


def channel_legs(it: Interaction, parties: list[Channel] | None = None) -> list[Leg]:
    """One leg per channel, by the tested builder; monitoring channels are no party.
    ``parties``: :func:`party_channels` of ``it``, when the caller has them already."""
    start = to_ms(it.start)
    return [
        leg_from_channel_events(
            ch.guid or f"{it.guid}#{ch.offset}",
            ch.party.id if ch.party else None,
            ch.party.role if ch.party else None,
            start, ch.offset, ch.duration,
            ((e.type, e.offset, e.duration) for e in ch.events),
        )
        for ch in (party_channels(it) if parties is None else parties)
    ]


def party_channels(it: Interaction) -> list[Channel]:
    """The interaction's channels but a supervisor's monitoring ones (no party to it)."""
    return [ch for ch in it.channels if not _monitoring_channel(ch)]


def _monitoring_channel(ch: Channel) -> bool:
    """A supervisor's monitoring channel. The documents name ``Monitor`` only as an
    activity ``reason``; read here: an event of the channel whose ``name`` or
    ``properties.reason`` is Monitor, or a party role Supervisor/Monitor."""
    role = fold_key(ch.party.role or "") if ch.party else ""
    if role in ("supervisor", "monitor"):
        return True
    return any(is_monitoring(e.name) or is_monitoring(_prop(e, "reason")) for e in ch.events)


def _prop(e: ChannelEvent, name: str) -> str | None:
    """A channel event property by name in any case (``initiatingAgentId`` drifts)."""
    if not e.properties:
        return None
    want = fold_key(name)
    for k, v in e.properties.items():
        if fold_key(k) == want:
            return v if isinstance(v, str) else None if v is None else str(v)
    return None


def channel_state_drafts(it: Interaction, endpoint: str = "interactions", parties: list[Channel] | None = None) -> list[Draft]:
    """Queue and Held events of the interaction's channels (the FAQ's /interactions example).

    ``Queue`` (in the customer's channel, ``result`` Delivered/...): the interaction is
    Queued at its offset, reason the ``result``. ``Held`` (``initiatingAgentId``): that
    agent's part is Held at its offset; when the hold ends while the agent is still
    connected, the part is Connected again (inferred).
    """
    start = to_ms(it.start)
    out: list[Draft] = []
    connected: dict[str, list[tuple[int, int | None]]] = {}
    channels = party_channels(it) if parties is None else parties
    for ch in channels:
        if ch.party is None or ch.party.id is None:
            continue
        for e in ch.events:
            if fold_key(e.type or "") == "connected":
                connected.setdefault(ch.party.id, []).append((e.offset, e.duration))
    for ch in channels:
        for e in ch.events:
            kind = fold_key(e.type or "")
            if kind == "queue":
                out.append(interaction_state_draft(it.guid, None, e.type, from_ms(start + e.offset), endpoint,
                                                   medium=it.medium, direction=it.direction, reason=_prop(e, "result")))
            elif kind == "held":
                agent = _prop(e, "initiatingAgentId")
                out.append(interaction_state_draft(it.guid, agent, e.type, from_ms(start + e.offset), endpoint,
                                                   medium=it.medium, direction=it.direction))
                if agent is None or e.duration is None:
                    continue
                back = e.offset + e.duration
                if any(o <= back and (d is None or back < o + d) for o, d in connected.get(agent, ())):
                    out.append(interaction_state_draft(it.guid, agent, "Connected", from_ms(start + back), endpoint,
                                                       medium=it.medium, direction=it.direction,
                                                       rule="hold-ended"))
    return out


def interaction_drafts(it: Interaction, endpoint: str = "interactions") -> list[Draft]:
    """Transfers inferred from channel joins, queue and hold events, and the interaction's end."""
    out: list[Draft] = []
    parties = party_channels(it)
    for t in detect_transfers(channel_legs(it, parties)):
        out.append(kit.transfer_draft(interaction=it.guid, transfer=t, endpoint=endpoint, rule=f"channel-joins-{t.kind}"))
    out.extend(channel_state_drafts(it, endpoint, parties))
    if (it.status or "") in ("Completed", "InternalError") and it.duration is not None:
        end = from_ms(to_ms(it.start) + it.duration)
        out.append(interaction_state_draft(it.guid, None, "Ended", end, endpoint, medium=it.medium,
                                           direction=it.direction, reason=it.status))
    return out
