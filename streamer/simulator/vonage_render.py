"""Pure rendering of ground truth in the Vonage Insights Stats JSON shapes.

Every field and constant below comes from the seed documents (``../shared/seeds/``):
AA = vonage-insights-stats-agent-activities.txt, FAQ = vonage-insights-stats-faq.txt,
README = the seeds' README.md (the vendor's public docs, summarized). A value they do
not give is not rendered.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from streamer.simulator.truth import (
    AgentSnapshot,
    TruthActivity,
    TruthChannel,
    TruthEvent,
    TruthInteraction,
)

__all__ = ["iso", "activity_item", "status_item", "interaction_item", "activity_sort_key", "interaction_sort_key"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MEDIUM_MANAGER = "VCC"  # AA examples: "mediumManager": "VCC"
SERVICE_NAME = "Report Gp 2"  # FAQ /interactions example: "serviceName"
CONNECT_TO = "02034631242"  # FAQ /interactions example: "connectTo"
PLAN_MAPPING = {  # FAQ /interactions example: "interactionPlanMapping"
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
    """Start, then agentId, then type (ties broken stably); README: "Sorted by start,
    then agentId, then type"."""
    return (a.start_ms, a.agent_id, a.type, a.interaction_guid or "", a.category or "")


def interaction_sort_key(i: TruthInteraction) -> tuple[int, str]:
    """Start, then guid (README: ``/interactions`` "sorted by start ascending")."""
    return (i.start_ms, i.guid)


def activity_item(a: TruthActivity, statuses: dict[str, str]) -> dict[str, Any]:
    """One ``/agent-activities`` item (AA: the example page and the field lists);
    ``statuses`` maps interaction guid -> status (AA ``status``: Ongoing, Completed,
    InternalError)."""
    interaction = None
    channel = None
    if a.type == "Interaction":
        interaction = {  # AA "interaction": guid, medium, mediumManager, direction
            "guid": a.interaction_guid,
            "medium": a.medium,
            "mediumManager": MEDIUM_MANAGER,
            "direction": a.direction,
        }
        # AA "channel.guid": "Currently this is unused and will return 'null'."
        channel = {"guid": None}
    workload = None
    if a.workload is not None:
        calls, semi, non = a.workload
        workload = {"calls": calls, "semiLive": semi, "nonLive": non}  # AA Workload example
    # AA: every item has these twelve keys, null where they do not apply;
    # "duration" is null while the activity is open
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
    """One ``/agent-status`` item, the FAQ's example shape; every ``since`` is its
    activity's ``start`` (the FAQ's agent 003: workload since = an activity's end)."""
    calls = (s.workload.workload or (0, 0, 0))[0]
    return {
        "agentId": s.agent_id,
        "presence": {
            "since": iso(s.presence.start_ms),
            # FAQ: "name": "Ready", "description": "Ready" -- read as category and label
            # (the README's Vonage section says why; the client accepts either reading)
            "name": s.presence.category,
            "description": s.presence.name,
            "eligibleForRouting": s.presence.eligible,
        },
        # FAQ: the workload has only "since" and "calls" (no semiLive/nonLive here)
        "workload": {"since": iso(s.workload.start_ms), "calls": calls},
        "interaction": [
            {  # FAQ: guid, channelGuid (null), since, medium, mediumManager, direction, state, reason
                "guid": x.interaction_guid,
                "channelGuid": None,
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


EVENT_PROPERTIES: dict[str, tuple[str, ...]] = {
    # FAQ /interactions example: the properties each event type shows; others have null
    "Queue": ("interactionPlan", "presentedSkills", "result"),
    "Held": ("initiatingAgentId", "type"),
    "InteractionPlan": ("reportingGroup",),
    "Applet": ("appletType",),
}


def _properties(i: TruthInteraction, ev: TruthEvent) -> dict[str, Any] | None:
    keys = EVENT_PROPERTIES.get(ev.type)
    if keys is None:
        return None
    props = {"interactionPlan": CONNECT_TO, **(ev.properties or {})}  # FAQ Queue: "interactionPlan" = connectTo
    return {k: props.get(k) for k in keys}


def _event(i: TruthInteraction, ev: TruthEvent) -> dict[str, Any]:
    # FAQ /interactions channel events: type, offset (ms from the interaction start),
    # name, duration, properties
    return {
        "type": ev.type,
        "offset": i.offset_of(ev.start_ms),
        "name": ev.name,
        "duration": _duration(ev.start_ms, ev.end_ms),
        "properties": _properties(i, ev),
    }


def _channel(i: TruthInteraction, ch: TruthChannel) -> dict[str, Any]:
    # FAQ /interactions channels: guid, offset, duration, endReason, party {id, role, touchpoint}, events
    return {
        "guid": ch.guid,
        "offset": i.offset_of(ch.start_ms),
        "duration": _duration(ch.start_ms, ch.end_ms),
        "endReason": ch.end_reason,
        "party": {"id": ch.party_id, "role": ch.role, "touchpoint": ch.touchpoint},
        "events": [_event(i, ev) for ev in sorted(ch.events, key=lambda e: e.start_ms)],
    }


def interaction_item(i: TruthInteraction) -> dict[str, Any]:
    """One ``/interactions`` item with its channels (the FAQ's example shape); CCR
    channels only once completed (FAQ: "CCR channels will only appear over the API when
    they have completed")."""
    channels = [c for c in i.channels if c.party_id != "CCRConnect" or i.end_ms is not None]
    # README: status Ongoing, Completed, InternalError; duration null while ongoing
    return {
        "status": i.status,
        "medium": i.medium,
        "mediumManager": MEDIUM_MANAGER,
        "start": iso(i.start_ms),
        "guid": i.guid,
        "conversationGuid": i.conversation_guid,
        "duration": _duration(i.start_ms, i.end_ms),
        "direction": i.direction,
        "serviceName": SERVICE_NAME,
        "connectTo": CONNECT_TO,
        "connectFrom": i.connect_from,
        "interactionPlanMapping": dict(PLAN_MAPPING),
        "channels": [_channel(i, c) for c in channels],
    }
