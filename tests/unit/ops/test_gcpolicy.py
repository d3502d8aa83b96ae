"""The cycle collector's settings, and the Structs it need not track."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import msgspec
import pytest

from streamer.contract.events import AgentPresenceChanged, CloudEvent, Presence
from streamer.engine.emit import Draft, OutRecord
from streamer.ops.gcpolicy import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_collector
from streamer.track.ledger import EntityState, Ledger, Recent, StreamState
from streamer.vendors.vonage.models import AgentStatus, Interaction


@pytest.fixture
def restore_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_tune_collector_freezes_start_up_and_collects_less_often(restore_gc: None) -> None:
    gc.unfreeze()
    tune_collector()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert gc.get_freeze_count() > 1000  # the imported modules, at least


def _hot_path_objects() -> list[object]:
    """One of each Struct the daemon makes by the thousand, holding containers (a Struct
    of scalars only is never tracked anyway)."""
    presence = Presence(name="Ready", category="Ready", eligible_for_routing=True, raw={"code": [1]})
    payload = AgentPresenceChanged(agent_id="a1", previous=None, current=presence, since="2026-12-03T10:00:00.000Z")
    draft = Draft(type="cc.agent.presence.changed", entity_id="a1", stream="presence", transition="Ready",
                  at_ms=1, value={"name": "Ready"}, payload=payload, endpoint="agent-status")
    event = CloudEvent(id="x", source="/s", type="t", subject="a1", time="t", observedtime="t", data=payload)
    record = OutRecord("cc.agent", b"s/a1", b"{}", [("content-type", b"application/json")])
    entity = EntityState(streams={"presence": StreamState({"name": "Ready"}, 1, [Recent(b"x", 1, {"n": 1})])})
    status = msgspec.json.decode(
        b'{"agentId":"a1","presence":{"since":"2026-12-03T10:00:00Z","name":"Ready"},'
        b'"interaction":[{"guid":"g1","since":"2026-12-03T10:00:00Z"}]}', type=AgentStatus)
    interaction = msgspec.json.decode(
        b'{"guid":"g1","start":"2026-12-03T10:00:00Z","channels":[{"offset":0,"events":[{"type":"Join","offset":0}]}],'
        b'"interactionPlanMapping":{"k":{"v":1}}}', type=Interaction)
    return [presence, payload, draft, event, record, entity, *entity.streams.values(),
            *entity.streams["presence"].recent, status, status.interaction[0], interaction, interaction.channels[0]]


def test_hot_path_structs_are_not_tracked_by_the_cycle_collector() -> None:
    tracked = [type(o).__name__ for o in _hot_path_objects() if gc.is_tracked(o)]
    assert tracked == []


def test_a_thawed_ledger_entity_is_not_tracked() -> None:
    led = Ledger()
    led.admit("agent/1", "presence", "e1", 1_000, {"name": "Ready", "raw": {"code": [1]}})
    led.take_dirty()
    e = led.entity("agent/1")
    assert e is not None and not gc.is_tracked(e)
    assert not any(gc.is_tracked(s) for s in e.streams.values())
