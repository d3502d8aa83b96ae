"""The public event contract: CloudEvents 1.0 envelope, payload types, deterministic ids.

Every Kafka value is one ``CloudEvent`` in structured JSON mode. ``data`` is one of the
payload Structs below; its field names are snake_case. Ids are UUIDv5 over the vendor's
facts (vendor, source id, type, entity, transition, vendor timestamp), so the same
transition seen twice, by two endpoints or after a restart, has the same id.
"""

from __future__ import annotations

import builtins
import hashlib
import uuid
from typing import Any, Generic, Literal, TypeVar

import msgspec

__all__ = [
    "CloudEvent",
    "EventSpec",
    "EVENT_SPECS",
    "Presence",
    "WorkState",
    "Workload",
    "AgentPresenceChanged",
    "AgentSessionStarted",
    "AgentSessionEnded",
    "AgentStateChanged",
    "AgentWorkloadChanged",
    "AgentQueuesChanged",
    "InteractionStateChanged",
    "InteractionTransferred",
    "StatsChanged",
    "SourceHealthChanged",
    "SourceWatermark",
    "SourceGap",
    "AgentCurrent",
    "event_id",
    "CONTENT_TYPE",
    "SCHEMA_VERSION",
]

CONTENT_TYPE = "application/cloudevents+json"
SCHEMA_VERSION = 1
_NAMESPACE = uuid.UUID("6f3c1f4e-3a51-4c1e-9d3b-0cc57ea30001")
_NAMESPACE_BYTES = _NAMESPACE.bytes

D = TypeVar("D")


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""A hex digit with its two top bits set to the RFC 4122 variant (10)."""


def event_id(vendor: str, source_id: str, type_: str, entity: str, transition: str, vendor_time: str) -> str:
    """Deterministic event id: UUIDv5 over the vendor's facts, never over when we saw them."""
    name = "\x1f".join((vendor, source_id, type_, entity, transition, vendor_time))
    # uuid.uuid5 spelled out on the hex digest: the same id, without a UUID object or a
    # byte array per event (every draft needs its id: 1.2-1.8 µs now, 1.8-2.4 µs before).
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"  # version 5


class CloudEvent(msgspec.Struct, Generic[D], kw_only=True, gc=False):
    """CloudEvents 1.0, structured mode. ``observedtime`` is an extension attribute."""

    specversion: str = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: str
    datacontenttype: str = "application/json"
    observedtime: str
    data: D


class _Sequenced(msgspec.Struct, kw_only=True, gc=False):
    sequence: int = 0
    """Per Kafka key (source + entity), +1 per event: consumers detect gaps and reorder."""


class _Change(_Sequenced, kw_only=True):
    """Fields every change payload carries."""

    inferred: bool = False
    """True when the event was derived by a rule rather than reported by the vendor."""
    rule: str | None = None
    fill: bool = False
    """True when a history read published this after a gap (see ``cc.source.gap``)."""
    backfill: bool = False
    """True when ``streamer backfill`` published this (its ``sequence`` counts apart)."""
    late: bool = False
    """True when this transition is older than one already published for the same key
    (a snapshot got ahead of the history that filled in a missed state). ``sequence`` is
    publication order; ``time`` is the vendor's order."""


class Presence(msgspec.Struct, kw_only=True, gc=False):
    name: str | None
    category: str
    """Ready, Away, ExtendedAway, LoggedOut, ... or Unknown (then see ``raw``)."""
    eligible_for_routing: bool | None = None
    reason: str | None = None
    raw: dict[str, Any] | None = None


class WorkState(msgspec.Struct, kw_only=True, gc=False):
    state: str
    """Normalized work state (Idle, Busy, Wrap, NotReady, LoggedOut, Unknown)."""
    raw: str | None = None
    reason: str | None = None


class Workload(msgspec.Struct, kw_only=True, gc=False):
    """Counts of an agent's live (calls), semi-live and non-live interactions. A count
    the vendor's endpoint does not report is absent (Vonage ``agent-status`` reports only
    ``calls``), never null or 0 standing in for it."""

    calls: int | None = None
    semi_live: int | None | msgspec.UnsetType = msgspec.UNSET
    non_live: int | None | msgspec.UnsetType = msgspec.UNSET
    total: int | msgspec.UnsetType = msgspec.UNSET
    """Interactions of any medium, for a vendor that counts only the total (Alvaria's
    ``interactionCount``; then ``calls`` is null and the split counts are absent: not
    split). Absent for vendors that give the split."""


class AgentPresenceChanged(_Change, kw_only=True):
    agent_id: str
    previous: Presence | None
    current: Presence
    since: str
    previous_duration_ms: int | None = None


class AgentSessionStarted(_Change, kw_only=True):
    agent_id: str
    at: str


class AgentSessionEnded(_Change, kw_only=True):
    agent_id: str
    at: str


class AgentStateChanged(_Change, kw_only=True):
    agent_id: str
    previous: WorkState | None
    current: WorkState
    since: str
    previous_duration_ms: int | None = None


class AgentWorkloadChanged(_Change, kw_only=True):
    agent_id: str
    previous: Workload | None
    current: Workload
    since: str
    previous_duration_ms: int | None = None


class AgentQueuesChanged(_Change, kw_only=True):
    """The queues an agent is logged in to (serving) changed."""

    agent_id: str
    previous: list[str] | None
    """Queue ids served before (sorted); null on first sight."""
    current: list[str]
    """Queue ids served now (sorted); empty when logged in to none."""
    since: str
    previous_duration_ms: int | None = None


class InteractionStateChanged(_Change, kw_only=True):
    interaction_id: str
    agent_id: str | None
    medium: str | None = None
    direction: str | None = None
    previous_state: str | None
    state: str
    """Queued, Ringing, Connected, Held, Wrap, Ended, Unexpected, Failed, ... (raw kept)."""
    reason: str | None = None
    since: str
    previous_duration_ms: int | None = None
    raw: str | None = None


class InteractionTransferred(_Change, kw_only=True):
    interaction_id: str
    from_agent_id: str
    to_agent_id: str
    kind: Literal["consult", "blind"]
    at: str


class StatsChanged(_Change, kw_only=True):
    scope: str
    entity_id: str
    name: str | None = None
    changes: dict[str, list[Any]]
    """field -> [before, after]."""
    values: dict[str, Any] | None = None


class SourceHealthChanged(_Sequenced, kw_only=True):
    source_id: str
    endpoint: str
    status: Literal["starting", "healthy", "degraded", "failing", "stopped"]
    previous_status: str | None = None
    reason: str | None = None


class SourceWatermark(_Sequenced, kw_only=True):
    source_id: str
    endpoint: str
    complete_up_to: str


class SourceGap(_Sequenced, kw_only=True, rename={"from_": "from"}):
    source_id: str
    endpoint: str
    from_: str
    to: str
    reason: str


class AgentCurrent(msgspec.Struct, kw_only=True, gc=False):
    """Value of the compacted ``<prefix>.agent.current`` topic: the agent's latest state."""

    source_id: str
    agent_id: str
    presence: Presence | None = None
    presence_since: str | None = None
    workload: Workload | None = None
    state: WorkState | None = None
    updated: str


class EventSpec(msgspec.Struct, frozen=True):
    """What the contract says about one event type."""

    type: str
    payload: builtins.type[msgspec.Struct]
    topic: str
    """Topic name without prefix."""
    summary: str


EVENT_SPECS: dict[str, EventSpec] = {
    s.type: s
    for s in (
        EventSpec("cc.agent.presence.changed", AgentPresenceChanged, "agent", "An agent's presence changed (or was first seen: previous null)."),
        EventSpec("cc.agent.session.started", AgentSessionStarted, "agent", "An agent logged in: left LoggedOut (inferred from presence)."),
        EventSpec("cc.agent.session.ended", AgentSessionEnded, "agent", "An agent logged out: entered LoggedOut (inferred from presence)."),
        EventSpec("cc.agent.state.changed", AgentStateChanged, "agent", "An agent's work state changed (vendor state normalized, raw kept)."),
        EventSpec("cc.agent.workload.changed", AgentWorkloadChanged, "agent", "An agent's count of live/semi-live/non-live interactions (or of all of them: total) changed."),
        EventSpec("cc.agent.queues.changed", AgentQueuesChanged, "agent", "The set of queues an agent is logged in to (serving) changed."),
        EventSpec("cc.interaction.state.changed", InteractionStateChanged, "interaction", "An agent's part in an interaction (or the interaction) changed state."),
        EventSpec("cc.interaction.transferred", InteractionTransferred, "interaction", "An interaction moved from one agent to another (inferred from channel joins)."),
        EventSpec("cc.stats.changed", StatsChanged, "stats", "Aggregate statistics of a queue, team, channel or list changed."),
        EventSpec("cc.source.health.changed", SourceHealthChanged, "source", "A source endpoint's health changed."),
        EventSpec("cc.source.watermark", SourceWatermark, "source", "Every event of the endpoint up to complete_up_to is published."),
        EventSpec("cc.source.gap", SourceGap, "source", "The endpoint could not be read for a time range."),
    )
}
