"""Pure rendering of ground truth in the Vonage Insights Stats JSON shapes."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from typing import Any

from streamer.simulator.truth import (
    AgentSnapshot,
    TruthActivity,
    TruthChannel,
    TruthEvent,
    TruthInteraction,
)

__all__ = ["iso", "activity_item", "status_item", "interaction_item", "activity_sort_key", "interaction_sort_key"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MEDIUM_MANAGER = "VCC"
PLAN_MAPPING = {
    "addressName": "Main Support Number",
    "mappingName": "Mapping1",
    "interactionPlanName": "Customer Support Plan",
}


@functools.lru_cache(maxsize=1 << 18)  # snapshots and re-read windows repeat their times
def iso(ms: int) -> str:
    """``2019-12-19T15:47:07.077Z`` from epoch milliseconds."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def activity_sort_key(a: TruthActivity) -> tuple[int, str, str, str, str]:
    """Start, then agentId, then type (ties broken stably)."""
    return (a.start_ms, a.agent_id, a.type, a.interaction_guid or "", a.category or "")


def interaction_sort_key(i: TruthInteraction) -> tuple[int, str]:
    """Start, then guid."""
    return (i.start_ms, i.guid)


def activity_item(a: TruthActivity, statuses: dict[str, str]) -> dict[str, Any]:
    """One ``/agent-activities`` item; ``statuses`` maps interaction guid -> status."""
    interaction = None
    channel = None
    if a.type == "Interaction":
        interaction = {
            "guid": a.interaction_guid,
            "medium": a.medium,
            "mediumManager": MEDIUM_MANAGER,
            "direction": a.direction,
        }
        channel = {"guid": a.channel_guid}
    workload = None
    if a.workload is not None:
        calls, semi, non = a.workload
        workload = {"calls": calls, "semiLive": semi, "nonLive": non}
    return {
        "agentId": a.agent_id,
        "type": a.type,
        "category": a.category,
        "name": a.name,
        "eligibleForRouting": a.eligible,
        "start": iso(a.start_ms),
        "status": statuses.get(a.interaction_guid or "") if a.type == "Interaction" else None,
        "duration": a.duration_ms,
        "reason": a.reason,
        "interaction": interaction,
        "channel": channel,
        "workload": workload,
    }


def status_item(s: AgentSnapshot) -> dict[str, Any]:
    """One ``/agent-status`` item; every ``since`` is its activity's ``start``."""
    calls, semi, non = s.workload.workload or (0, 0, 0)
    return {
        "agentId": s.agent_id,
        "presence": {
            "since": iso(s.presence.start_ms),
            "name": s.presence.category,
            "description": s.presence.name,
            "eligibleForRouting": s.presence.eligible,
        },
        "workload": {"since": iso(s.workload.start_ms), "calls": calls, "semiLive": semi, "nonLive": non},
        "interaction": [
            {
                "guid": x.interaction_guid,
                "channelGuid": x.channel_guid,
                "since": iso(x.start_ms),
                "medium": x.medium,
                "mediumManager": MEDIUM_MANAGER,
                "direction": x.direction,
                "state": x.category,
                "reason": x.reason,
            }
            for x in sorted(s.interactions, key=lambda x: (x.start_ms, x.interaction_guid or ""))
        ],
    }


def _duration(start_ms: int, end_ms: int | None) -> int | None:
    return None if end_ms is None else end_ms - start_ms


def _event(i: TruthInteraction, ev: TruthEvent) -> dict[str, Any]:
    return {
        "type": ev.type,
        "offset": i.offset_of(ev.start_ms),
        "name": ev.name,
        "duration": _duration(ev.start_ms, ev.end_ms),
        "properties": ev.properties,
    }


def _channel(i: TruthInteraction, ch: TruthChannel) -> dict[str, Any]:
    return {
        "guid": ch.guid,
        "offset": i.offset_of(ch.start_ms),
        "duration": _duration(ch.start_ms, ch.end_ms),
        "endReason": ch.end_reason,
        "party": {"id": ch.party_id, "role": ch.role, "touchpoint": ch.touchpoint},
        "events": [_event(i, ev) for ev in sorted(ch.events, key=lambda e: e.start_ms)],
    }


def interaction_item(i: TruthInteraction) -> dict[str, Any]:
    """One ``/interactions`` item with its channels (CCR channels only once completed)."""
    channels = [c for c in i.channels if c.party_id != "CCRConnect" or i.end_ms is not None]
    return {
        "status": i.status,
        "medium": i.medium,
        "mediumManager": MEDIUM_MANAGER,
        "start": iso(i.start_ms),
        "guid": i.guid,
        "conversationGuid": i.conversation_guid,
        "duration": _duration(i.start_ms, i.end_ms),
        "direction": i.direction,
        "serviceName": "Support",
        "connectTo": "02034631242",
        "connectFrom": i.connect_from,
        "interactionPlanMapping": dict(PLAN_MAPPING),
        "channels": [_channel(i, c) for c in channels],
    }
