"""Event contract: deterministic ids, CloudEvents envelope, payload round trips."""

from __future__ import annotations

import json
import uuid
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.contract.events import (
    CONTENT_TYPE,
    EVENT_SPECS,
    AgentPresenceChanged,
    CloudEvent,
    Presence,
    SourceGap,
    event_id,
)

ARGS = ("vonage", "seed", "cc.agent.presence.changed", "002", "presence:Ready", "2019-12-19T16:00:23.249Z")


def test_event_id_is_deterministic_uuid() -> None:
    a, b = event_id(*ARGS), event_id(*ARGS)
    assert a == b
    assert uuid.UUID(a).version == 5


@pytest.mark.parametrize("i", range(len(ARGS)))
def test_event_id_differs_by_each_input(i: int) -> None:
    changed = list(ARGS)
    changed[i] = changed[i] + "x"
    assert event_id(*changed) != event_id(*ARGS)


def test_event_id_fields_do_not_run_together() -> None:
    # ("ab", "c") and ("a", "bc") must not collide
    base = ("v", "s", "t", "e", "tr", "ts")
    assert event_id("ab", "c", *base[2:]) != event_id("a", "bc", *base[2:])


@given(st.lists(st.text(max_size=8), min_size=6, max_size=6), st.lists(st.text(max_size=8), min_size=6, max_size=6))
def test_event_id_injective_on_samples(a: list[str], b: list[str]) -> None:
    if a != b and not any("\x1f" in x for x in a + b):
        assert event_id(*a) != event_id(*b)


def _event(data: Any, type_: str = "cc.agent.presence.changed") -> CloudEvent[Any]:
    return CloudEvent(
        id=event_id(*ARGS), source="/vonage/seed/agent-status", type=type_, subject="002",
        time="2019-12-19T16:00:23.249Z", observedtime="2019-12-19T16:00:25.000Z", data=data,
    )


def test_cloudevent_json_envelope() -> None:
    data = AgentPresenceChanged(
        agent_id="002", previous=None, current=Presence(name="Ready", category="Ready", eligible_for_routing=True),
        since="2019-12-19T16:00:23.249Z",
    )
    doc = json.loads(msgspec.json.encode(_event(data)))
    assert doc["specversion"] == "1.0"
    assert doc["datacontenttype"] == "application/json"
    assert doc["observedtime"] == "2019-12-19T16:00:25.000Z"
    assert doc["time"] == "2019-12-19T16:00:23.249Z"
    for key in ("id", "source", "type", "subject", "time", "data"):
        assert key in doc
    assert doc["data"]["previous"] is None
    assert doc["data"]["current"]["eligible_for_routing"] is True
    assert CONTENT_TYPE == "application/cloudevents+json"


def test_source_gap_uses_from_on_the_wire() -> None:
    gap = SourceGap(source_id="s", endpoint="e", from_="a", to="b", reason="r")
    doc = json.loads(msgspec.json.encode(gap))
    assert doc["from"] == "a" and "from_" not in doc


def _snake(name: str) -> bool:
    return name == name.lower() and "-" not in name


# One hand-written example per payload type; the test fails when a type is added without one.
_EXAMPLES: dict[str, dict[str, Any]] = {
    "cc.agent.presence.changed": {
        "agent_id": "01", "previous": {"name": "Logged Out", "category": "LoggedOut"},
        "current": {"name": "Ready", "category": "Ready", "eligible_for_routing": True}, "since": "T",
        "previous_duration_ms": 9523, "sequence": 2,
    },
    "cc.agent.session.started": {"agent_id": "01", "at": "T", "inferred": True, "rule": "r", "sequence": 3},
    "cc.agent.session.ended": {"agent_id": "01", "at": "T", "inferred": True, "rule": "r"},
    "cc.agent.state.changed": {
        "agent_id": "01", "previous": None, "current": {"state": "Unknown", "raw": "Odd"}, "since": "T",
    },
    "cc.agent.workload.changed": {
        "agent_id": "01", "previous": {"calls": 0}, "current": {"calls": 1, "semi_live": 0, "non_live": 0}, "since": "T",
    },
    "cc.agent.queues.changed": {
        "agent_id": "01", "previous": ["Q1"], "current": ["Q1", "Q2"], "since": "T", "previous_duration_ms": 5,
    },
    "cc.interaction.state.changed": {
        "interaction_id": "i", "agent_id": "01", "previous_state": "Ringing", "state": "Connected", "since": "T",
        "medium": "Phone", "direction": "Inbound", "raw": "Connected", "late": True,
    },
    "cc.interaction.transferred": {
        "interaction_id": "i", "from_agent_id": "01", "to_agent_id": "002", "kind": "consult", "at": "T",
        "inferred": True, "rule": "channel-joins-consult",
    },
    "cc.stats.changed": {"scope": "queue", "entity_id": "q", "changes": {"waiting": [1, 2]}},
    "cc.source.health.changed": {"source_id": "s", "endpoint": "e", "status": "degraded", "previous_status": "healthy"},
    "cc.source.watermark": {"source_id": "s", "endpoint": "e", "complete_up_to": "T"},
    "cc.source.gap": {"source_id": "s", "endpoint": "e", "from": "A", "to": "B", "reason": "429"},
}


def test_every_spec_has_an_example() -> None:
    assert set(_EXAMPLES) == set(EVENT_SPECS)


@pytest.mark.parametrize("type_", sorted(EVENT_SPECS))
def test_payload_round_trips_through_json(type_: str) -> None:
    spec = EVENT_SPECS[type_]
    assert spec.type == type_
    assert spec.topic in {"agent", "interaction", "stats", "source"}
    data = msgspec.convert(_EXAMPLES[type_], spec.payload)
    wire = msgspec.json.encode(_event(data, type_))
    back = msgspec.json.decode(wire, type=CloudEvent[spec.payload])  # type: ignore[name-defined]
    assert back.data == data
    assert back.type == type_
    assert msgspec.json.encode(back) == wire
    doc = json.loads(wire)["data"]
    assert all(_snake(k) for k in doc)
    for k, v in _EXAMPLES[type_].items():
        if isinstance(v, dict) and k != "changes":
            assert {kk: doc[k][kk] for kk in v} == v  # nested defaults are written out too
        else:
            assert doc[k] == v


def test_topics_of_agent_and_interaction_events() -> None:
    assert {t for t, s in EVENT_SPECS.items() if s.topic == "agent"} == {
        "cc.agent.presence.changed", "cc.agent.session.started", "cc.agent.session.ended",
        "cc.agent.state.changed", "cc.agent.workload.changed", "cc.agent.queues.changed",
    }
    assert EVENT_SPECS["cc.interaction.transferred"].topic == "interaction"


def test_bad_transfer_kind_is_rejected() -> None:
    ex = dict(_EXAMPLES["cc.interaction.transferred"], kind="sideways")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(ex, EVENT_SPECS["cc.interaction.transferred"].payload)


@settings(max_examples=500)  # every hex digit at the variant's place, many times over
@given(st.text(), st.text(), st.text())
def test_event_id_is_uuid5_of_the_facts(entity: str, transition: str, vendor_time: str) -> None:
    import uuid

    from streamer.contract.events import _NAMESPACE, event_id

    name = "\x1f".join(("vonage", "src", "cc.agent.presence.changed", entity, transition, vendor_time))
    assert event_id("vonage", "src", "cc.agent.presence.changed", entity, transition, vendor_time) == str(
        uuid.uuid5(_NAMESPACE, name)
    )
