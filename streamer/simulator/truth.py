"""Ground-truth record types of the simulated contact center.

Plain dataclasses, times in integer milliseconds since the epoch. ``end_ms`` is
``None`` while a thing is still open. The vendor renderers and the tests both read
these; neither mutates the copies the :class:`~streamer.simulator.world.World` hands out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TruthActivity",
    "TruthEvent",
    "TruthChannel",
    "TruthInteraction",
    "TruthTransfer",
    "AgentSnapshot",
]


@dataclass(slots=True)
class TruthActivity:
    """One agent activity: Presence, Workload or Interaction."""

    agent_id: str
    type: str
    start_ms: int
    end_ms: int | None = None
    category: str | None = None
    name: str | None = None
    eligible: bool | None = None
    reason: str | None = None
    interaction_guid: str | None = None
    channel_guid: str | None = None
    medium: str | None = None
    direction: str | None = None
    workload: tuple[int, int, int] | None = None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds spent in the activity, ``None`` while open."""
        return None if self.end_ms is None else self.end_ms - self.start_ms


@dataclass(slots=True)
class TruthEvent:
    """One event of an interaction channel (Ringing, Connected, Held, Wrap, ...)."""

    type: str
    start_ms: int
    end_ms: int | None = None
    name: str | None = None
    properties: dict[str, Any] | None = None


@dataclass(slots=True)
class TruthChannel:
    """One party's leg of an interaction."""

    guid: str
    party_id: str | None
    role: str
    touchpoint: str | None
    start_ms: int
    end_ms: int | None = None
    end_reason: str | None = None
    events: list[TruthEvent] = field(default_factory=list)


@dataclass(slots=True)
class TruthInteraction:
    """One interaction (a phone call) with its channels."""

    guid: str
    conversation_guid: str
    start_ms: int
    connect_from: str
    end_ms: int | None = None
    status: str = "Ongoing"
    medium: str = "Phone"
    direction: str = "Inbound"
    channels: list[TruthChannel] = field(default_factory=list)

    def offset_of(self, ms: int) -> int:
        """Offset of an absolute time relative to the interaction start."""
        return ms - self.start_ms


@dataclass(slots=True)
class TruthTransfer:
    """A transfer: consult (``at_ms`` = first agent's Connected end) or blind."""

    interaction_guid: str
    from_agent: str
    to_agent: str
    kind: str
    at_ms: int


@dataclass(slots=True)
class AgentSnapshot:
    """An agent's open activities at one instant (the agent-status view)."""

    agent_id: str
    presence: TruthActivity
    workload: TruthActivity
    interactions: list[TruthActivity]
