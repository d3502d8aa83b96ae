"""Vonage pure mapping: rows -> drafts -> events; the same fact from two endpoints is one event."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from streamer.engine.emit import emit
from streamer.track.ledger import Ledger
from streamer.vendors.vonage.mapping import activity_drafts, interaction_drafts, status_drafts
from streamer.vendors.vonage.models import Activity, AgentStatus, Interaction, decode_record
from tests.unit._helpers import CTX, OBSERVED_MS, events, run_drafts

T = "2019-12-19T16:00:23.249Z"


def rec(model: type, doc: dict[str, Any]) -> Any:
    return decode_record(msgspec.json.encode(doc), model)


def activity(**kw: Any) -> Activity:
    doc = {"agentId": "002", "type": "Presence", "category": "Ready", "name": "Ready", "eligibleForRouting": True, "start": T}
    doc.update(kw)
    return rec(Activity, doc)


def status(**kw: Any) -> AgentStatus:
    doc: dict[str, Any] = {
        "agentId": "002",
        "presence": {"since": T, "name": "Ready", "description": "Ready", "eligibleForRouting": True},
    }
    doc.update(kw)
    return rec(AgentStatus, doc)


def test_same_presence_from_both_endpoints_has_same_id() -> None:
    (h,) = activity_drafts(activity())
    (s,) = status_drafts(status())
    assert h.endpoint == "agent-activities" and s.endpoint == "agent-status"
    led = Ledger()
    first = emit(s, led, CTX, OBSERVED_MS)
    assert first is not None
    assert emit(h, led, CTX, OBSERVED_MS + 10_000) is None  # published once
    other = emit(h, Ledger(), CTX, OBSERVED_MS)
    assert other is not None and other[0].event_id == first[0].event_id
    a, b = json.loads(first[0].value)["data"], json.loads(other[0].value)["data"]  # type: ignore[arg-type]
    assert a["current"] == b["current"] == {
        "name": "Ready", "category": "Ready", "eligible_for_routing": True, "reason": None, "raw": None,
    }


def test_same_workload_and_interaction_from_both_endpoints_have_same_ids() -> None:
    w_at, i_at = "2019-12-19T16:05:30.212Z", "2019-12-19T16:05:31.000Z"
    guid = "b6c01065-a5fa-432f-981b-649f98518878"
    hist = activity_drafts(activity(type="Workload", category=None, name=None, start=w_at,
                                    workload={"calls": 1, "semiLive": 0, "nonLive": 0}))
    hist += activity_drafts(activity(type="Interaction", category="Connected", name=None, start=i_at,
                                     interaction={"guid": guid, "medium": "Phone", "direction": "Outbound"}))
    snap = status_drafts(status(
        workload={"since": w_at, "calls": 1, "semiLive": 0, "nonLive": 0},
        interaction=[{"guid": guid, "since": i_at, "medium": "Phone", "direction": "Outbound", "state": "Connected"}],
    ))
    led = Ledger()
    snap_recs = run_drafts(snap, led)
    assert [r.type for r in snap_recs] == [
        "cc.agent.presence.changed", "cc.agent.workload.changed", "cc.interaction.state.changed",
    ]
    assert run_drafts(hist, led) == []
    hist_ids = {r.event_id for r in run_drafts(hist)}
    assert hist_ids == {r.event_id for r in snap_recs[1:]}


def test_different_since_gives_different_id() -> None:
    (a,) = activity_drafts(activity())
    (b,) = activity_drafts(activity(start="2019-12-19T16:00:23.250Z"))
    led = Ledger()
    ra, rb = emit(a, led, CTX, OBSERVED_MS), emit(b, led, CTX, OBSERVED_MS)
    assert ra is not None and rb is not None and ra[0].event_id != rb[0].event_id


def test_zoneless_and_offset_timestamps_give_the_same_id() -> None:
    ids = set()
    for start in (T, "2019-12-19 16:00:23.249", "2019-12-19T17:00:23.249+01:00"):
        (d,) = activity_drafts(activity(start=start))
        r = emit(d, Ledger(), CTX, OBSERVED_MS)
        assert r is not None
        ids.add(r[0].event_id)
    assert len(ids) == 1


def test_unknown_presence_category_kept_raw() -> None:
    (d,) = activity_drafts(activity(category="OnBreak", name="Coffee"))
    data = events(run_drafts([d]))[0]["data"]
    assert data["current"]["category"] == "Unknown"
    assert data["current"]["raw"] == {"category": "OnBreak", "name": "Coffee"}
    assert data["current"]["name"] == "Coffee"
    # two different unknown categories at the same time are two different transitions
    (d2,) = activity_drafts(activity(category="Training", name="Coffee"))
    assert d.transition != d2.transition


def test_snapshot_presence_without_a_category_is_left_to_the_history() -> None:
    """Issue 15, V2: neither ``name`` nor ``description`` is a category (the label in
    both): the snapshot cannot give the history's id, so it gives nothing."""
    assert status_drafts(status(presence={"since": T, "name": "OnBreak", "description": "Coffee"})) == []


@pytest.mark.parametrize("cat", ["Ready", "Away", "ExtendedAway", "LoggedOut"])
def test_known_presence_categories(cat: str) -> None:
    (d,) = activity_drafts(activity(category=cat))
    assert d.payload.current.category == cat and d.payload.current.raw is None


def test_unknown_interaction_state_kept_raw() -> None:
    (d,) = activity_drafts(activity(type="Interaction", category="Parked", interaction={"guid": "g1"}))
    assert d.payload.state == "Unknown" and d.payload.raw == "Parked"
    assert d.entity_id == "g1" and d.stream == "agent/002"


def test_unhandled_activity_types_give_nothing() -> None:
    assert activity_drafts(activity(type="Something")) == []
    assert activity_drafts(activity(type="Workload", workload=None)) == []
    assert activity_drafts(activity(type="Interaction", interaction=None)) == []


def test_activity_type_case_insensitive() -> None:
    assert len(activity_drafts(activity(type="presence"))) == 1


def _interaction(channels: list[dict[str, Any]], **kw: Any) -> Interaction:
    doc = {"guid": "int-1", "start": "2020-01-10T11:13:05.836Z", "status": "Completed", "duration": 100_000,
           "medium": "Phone", "direction": "Inbound", "channels": channels}
    doc.update(kw)
    return rec(Interaction, doc)


def _channel(guid: str, party: str | None, role: str, offset: int, connected: tuple[int, int] | None) -> dict[str, Any]:
    evs = [] if connected is None else [{"type": "Connected", "offset": connected[0], "duration": connected[1]}]
    return {"guid": guid, "offset": offset, "party": {"id": party, "role": role}, "events": evs}


def test_ccr_channel_never_reported_as_agent() -> None:
    customer = _channel("c", None, "External", 0, (0, 90_000))
    agent = _channel("a", "01", "Agent", 1_000, (2_000, 30_000))  # leaves at 32_000
    ccr = _channel("r", "CCRConnect", "Agent", 10_000, (10_000, 60_000))  # joined while 01 was on
    drafts = interaction_drafts(_interaction([customer, agent, ccr]))
    assert [d.type for d in drafts] == ["cc.interaction.state.changed"]
    blob = msgspec.json.encode([d.payload for d in drafts])
    assert b"CCRConnect" not in blob
    # the same shape with a real agent is a consult transfer: the CCR filter is what stops it
    real = _channel("r", "002", "Agent", 10_000, (10_000, 60_000))
    (t, end) = interaction_drafts(_interaction([customer, agent, real]))
    assert (t.payload.from_agent_id, t.payload.to_agent_id, t.payload.kind) == ("01", "002", "consult")
    assert end.payload.state == "Ended"


def test_ccr_channel_not_a_blind_transfer_target() -> None:
    customer = _channel("c", None, "External", 0, (0, 90_000))
    agent = _channel("a", "01", "Agent", 1_000, (2_000, 30_000))
    ccr = _channel("r", "CCRConnect", "Agent", 40_000, (40_000, 10_000))
    assert [d.type for d in interaction_drafts(_interaction([customer, agent, ccr]))] == ["cc.interaction.state.changed"]


def test_open_interaction_has_no_end() -> None:
    it = _interaction([_channel("c", None, "External", 0, (0, 1000))], status="InProgress", duration=None)
    assert interaction_drafts(it) == []


def test_internal_error_end_reason() -> None:
    it = _interaction([], status="InternalError", duration=5_000)
    (d,) = interaction_drafts(it)
    assert d.payload.state == "Ended" and d.payload.reason == "InternalError"
    assert d.payload.agent_id is None and d.stream == "lifecycle"
    assert d.payload.since == "2020-01-10T11:13:10.836Z"


def test_status_row_without_since_gives_nothing_for_that_part() -> None:
    s = status(presence=None, workload={"calls": 2}, interaction=[{"guid": "g", "state": "Connected"}])
    assert status_drafts(s) == []
