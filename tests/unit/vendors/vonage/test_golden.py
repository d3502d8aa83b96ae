"""Golden events of the Vonage fixtures, plus the facts they must show, asserted explicitly.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/vendors/vonage/test_golden.py``.
"""

from __future__ import annotations

from typing import Any

from streamer.engine.emit import Draft
from streamer.timeutil import to_ms
from streamer.vendors.vonage.mapping import activity_drafts, interaction_drafts, part_end_draft, status_drafts
from streamer.vendors.vonage.models import Activity, AgentStatus, Interaction, decode_page, decode_record
from streamer.vendors.vonage.parts import PartEnds
from tests import paths
from tests.unit._helpers import events, run_drafts
from tests.unit.vendors._golden import check_golden

FIXTURES = paths.FIXTURES / "vonage"
SEED_GUID = "016f1c6b-9766-498c-9756-30afb0354d5b"


def _history_order(drafts: list[Draft]) -> list[Draft]:
    """The order the history endpoints emit a window in."""
    return sorted(drafts, key=lambda d: (d.at_ms, d.entity_id, d.type))


def seed_events() -> list[dict[str, Any]]:
    page = decode_page((FIXTURES / "agent_activities_seed.json").read_bytes(), Activity)
    assert all(isinstance(a, Activity) for a in page.items) and page.up_to is not None
    parts = PartEnds(keep_ms=0)
    for a in page.items:
        parts.see(a)  # type: ignore[arg-type]
    ends = [part_end_draft(p) for p in parts.settled(to_ms(page.up_to))]  # the page vouches up to upTo
    drafts = _history_order([d for a in page.items for d in activity_drafts(a)] + ends)  # type: ignore[arg-type]
    return events(run_drafts(drafts))


def status_events() -> list[dict[str, Any]]:
    page = decode_page((FIXTURES / "agent_status_faq.json").read_bytes(), AgentStatus)
    assert all(isinstance(s, AgentStatus) for s in page.items)
    return events(run_drafts([d for s in page.items for d in status_drafts(s)]))  # type: ignore[arg-type]


def transfer_events() -> list[dict[str, Any]]:
    it = decode_record((FIXTURES / "interaction_faq_transfer.json").read_bytes(), Interaction)
    return events(run_drafts(_history_order(interaction_drafts(it))))


def _common(evs: list[dict[str, Any]]) -> None:
    assert len({e["id"] for e in evs}) == len(evs)
    for e in evs:
        assert e["specversion"] == "1.0" and e["datacontenttype"] == "application/json"
        assert e["source"].startswith("/vonage/seed/")
        assert e["observedtime"] == "2023-11-14T22:13:20.000Z"
    # per-subject sequences count 1, 2, 3 ... in emission order
    by_topic_subject: dict[tuple[str, str], list[int]] = {}
    for e in evs:
        topic = "interaction" if e["type"].startswith("cc.interaction.") else "agent"
        by_topic_subject.setdefault((topic, e["subject"]), []).append(e["data"]["sequence"])
    for seqs in by_topic_subject.values():
        assert seqs == list(range(1, len(seqs) + 1))


def test_agent_activities_seed() -> None:
    evs = seed_events()
    _common(evs)
    summary = [(e["type"], e["subject"], e["time"]) for e in evs]
    assert summary == [
        ("cc.agent.presence.changed", "01", "2019-12-19T15:47:07.077Z"),
        ("cc.agent.presence.changed", "01", "2019-12-19T15:47:16.600Z"),
        ("cc.agent.session.started", "01", "2019-12-19T15:47:16.600Z"),
        ("cc.agent.workload.changed", "01", "2019-12-19T15:47:30.246Z"),
        ("cc.interaction.state.changed", SEED_GUID, "2019-12-19T15:47:31.289Z"),
        ("cc.interaction.state.changed", SEED_GUID, "2019-12-19T15:47:35.836Z"),
        ("cc.interaction.state.changed", SEED_GUID, "2019-12-19T15:48:56.600Z"),
        ("cc.interaction.state.changed", SEED_GUID, "2019-12-19T15:49:00.512Z"),  # issue 15, V1
    ]
    logged_out, ready, session, workload, ringing, connected, wrap, ended = (e["data"] for e in evs)
    assert logged_out["previous"] is None and logged_out["current"]["category"] == "LoggedOut"
    assert logged_out["current"]["name"] == "Logged Out" and logged_out["current"]["eligible_for_routing"] is False
    assert ready["previous"]["category"] == "LoggedOut" and ready["current"]["category"] == "Ready"
    assert ready["previous_duration_ms"] == 9523
    assert session == {
        "agent_id": "01", "at": "2019-12-19T15:47:16.600Z", "inferred": True, "late": False, "fill": False,
        "backfill": False,
        "rule": "presence-left-LoggedOut", "sequence": 3,
    }
    assert workload["previous"] is None
    assert workload["current"] == {"calls": 1, "semi_live": 0, "non_live": 0}
    assert [(d["previous_state"], d["state"]) for d in (ringing, connected, wrap)] == [
        (None, "Ringing"), ("Ringing", "Connected"), ("Connected", "Wrap"),
    ]
    assert [d["previous_duration_ms"] for d in (ringing, connected, wrap)] == [None, 4547, 80764]
    for d in (ringing, connected, wrap, ended):
        assert (d["interaction_id"], d["agent_id"], d["medium"], d["direction"]) == (SEED_GUID, "01", "Phone", "Inbound")
    # agent 01's part ends with its last activity: Wrap 15:48:56.600 + 3912 ms
    assert (ended["previous_state"], ended["state"], ended["since"]) == ("Wrap", "Ended", "2019-12-19T15:49:00.512Z")
    assert ended["previous_duration_ms"] == 3912 and ended["inferred"] is True
    check_golden("vonage/agent_activities_seed.events.json", evs)


def test_interaction_faq_transfer() -> None:
    evs = transfer_events()
    _common(evs)
    assert [(e["type"], e["time"], e["data"].get("agent_id"), e["data"].get("state")) for e in evs] == [
        # issue 15, V4: the customer's Queue event (result Delivered) and agent 01's Held
        ("cc.interaction.state.changed", "2020-01-10T11:13:11.561Z", None, "Queued"),
        ("cc.interaction.state.changed", "2020-01-10T11:13:36.069Z", "01", "Held"),
        ("cc.interaction.transferred", "2020-01-10T11:13:59.237Z", None, None),
        ("cc.interaction.state.changed", "2020-01-10T11:14:32.864Z", None, "Ended"),
    ]
    queued, held, transfer, ended = evs
    assert queued["data"]["reason"] == "Delivered" and queued["data"]["raw"] == "Queue"
    # the hold ended 1 ms after agent 01 left (11:13:59.237): 01 is not Connected again
    assert held["data"]["raw"] == "Held"
    assert transfer["subject"] == "016f8db7-798f-407c-9925-ef8c2b51e6b0"
    assert transfer["time"] == "2020-01-10T11:13:59.237Z"
    t = transfer["data"]
    assert (t["from_agent_id"], t["to_agent_id"], t["kind"], t["at"]) == ("01", "002", "consult", "2020-01-10T11:13:59.237Z")
    assert t["inferred"] is True and t["rule"] == "channel-joins-consult"
    assert ended["data"]["state"] == "Ended" and ended["data"]["reason"] == "Completed"
    assert ended["time"] == "2020-01-10T11:14:32.864Z"  # start + duration 87028 ms
    assert ended["data"]["agent_id"] is None
    check_golden("vonage/interaction_faq_transfer.events.json", evs)


def test_agent_status_faq() -> None:
    evs = status_events()
    _common(evs)
    assert [(e["type"], e["subject"]) for e in evs] == [
        ("cc.agent.presence.changed", "002"),
        ("cc.agent.workload.changed", "002"),
        ("cc.interaction.state.changed", "b6c01065-a5fa-432f-981b-649f98518878"),
        ("cc.agent.presence.changed", "003"),
        ("cc.agent.workload.changed", "003"),
    ]
    p002, w002, i002, p003, w003 = (e["data"] for e in evs)
    assert p002["current"]["category"] == "Ready" and p002["previous"] is None and p002["since"] == "2019-12-19T16:00:23.249Z"
    # issue 15, V3: the FAQ's agent-status workload has only calls; no null counts stand in
    assert w002["current"] == {"calls": 1} and w003["current"] == {"calls": 0}
    assert w003["since"] == "2019-12-19T15:49:00.512Z"
    assert p003["since"] == "2019-12-19T16:00:30.145Z"
    assert (i002["agent_id"], i002["state"], i002["previous_state"], i002["direction"]) == ("002", "Connected", None, "Outbound")
    assert all(e["source"] == "/vonage/seed/agent-status" for e in evs)
    check_golden("vonage/agent_status_faq.events.json", evs)


def test_golden_runs_are_deterministic() -> None:
    assert seed_events() == seed_events()
    assert [e["id"] for e in transfer_events()] == [e["id"] for e in transfer_events()]
