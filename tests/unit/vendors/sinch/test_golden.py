"""Golden events of the Sinch seed examples, plus the facts they must show.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/vendors/sinch/test_golden.py`` and review the diff.
"""

from __future__ import annotations

from typing import Any

from streamer.engine.emit import Draft, SourceContext
from streamer.timeutil import parse_ts, to_ms
from streamer.vendors.sinch.common import decode_rows
from streamer.vendors.sinch.rai.mapping import agent_stats_draft, contact_stats_draft, history_drafts, pinpoint
from streamer.vendors.sinch.rai.models import AgentStatRow, AgentStatusHistoryRow, AgentStatusRow, ContactStatRow
from streamer.vendors.sinch.rmi.mapping import (
    agent_drafts,
    contact_drafts,
    group_transfers,
    queue_status_draft,
    summary_draft,
)
from streamer.vendors.sinch.rmi.models import Agent, Contact, ContactDetail, ContactSummary, QueueStatus
from tests.unit._helpers import events, run_drafts
from tests.unit.vendors._golden import check_golden
from tests.unit.vendors.sinch._fixtures import body

RAI = SourceContext("sinch_rai", "seed", "cc")
RMI = SourceContext("sinch_rmi", "seed", "cc")
FOX = "E936C474B22311D38FBE0090279A922E"


def rows(name: str, model: type[Any]) -> list[Any]:
    out = decode_rows(body(name), model)
    assert all(isinstance(r, model) for r in out), out
    return out


def run(drafts: list[Draft], ctx: SourceContext) -> list[dict[str, Any]]:
    evs = events(run_drafts(drafts, ctx=ctx))
    assert len({e["id"] for e in evs}) == len(evs)
    for e in evs:
        assert e["source"].startswith(f"/{ctx.vendor}/seed/") and e["specversion"] == "1.0"
    return evs


def test_rai_agent_status_history() -> None:
    evs = run(history_drafts(rows("rai/agent_status_history", AgentStatusHistoryRow)), RAI)
    assert len(evs) == 23 and {e["subject"] for e in evs} == {FOX}
    states = [(e["time"], e["data"]["current"]["raw"], (e["data"]["previous"] or {}).get("raw"))
              for e in evs if e["type"] == "cc.agent.state.changed"]
    # S1: the Waiting written 3 ms (and 0 ms) before Wrap is folded: the call goes to Wrap
    assert ("2019-12-03T07:20:37.390Z", "Wrap", "Talking_Outbound_Campaign") in states
    assert ("2019-12-03T07:21:27.600Z", "Wrap", "Waiting") in states
    assert not [s for s in states if s[0] in ("2019-12-03T07:20:37.387Z",)]
    # S2: in status-time order, nothing is late and every change names the state it left
    assert [s[0] for s in states] == sorted(s[0] for s in states)
    assert not [e for e in evs if e["data"].get("late")]
    assert evs[0]["time"] == "2019-12-03T07:19:59.127Z" and evs[-1]["time"] == "2019-12-03T07:40:58.870Z"
    assert [e["type"] for e in evs if "session" in e["type"]] == ["cc.agent.session.started", "cc.agent.session.ended"]
    check_golden("sinch/rai_agent_status_history.events.json", evs)


def test_rai_agent_status_is_pinpointed_in_the_history_never_guessed() -> None:
    (snap,) = rows("rai/agent_status", AgentStatusRow)
    log = rows("rai/agent_status_history", AgentStatusHistoryRow)
    now = to_ms(parse_ts("2019-12-25T10:12:00.000Z"))
    got = pinpoint(snap, log, now_ms=now, recent_from_ms=now - 60_000)
    assert got is not None
    evs = run([d for _, d in got], RAI)
    # the example's snapshot (Talking_Inbound on 12-25) is not in the log, which ends with
    # the sign-off of 12-03: the agent's last known presence and state, at their log times
    assert [(e["type"], e["time"]) for e in evs] == [
        ("cc.agent.presence.changed", "2019-12-03T07:40:58.870Z"),
        ("cc.agent.state.changed", "2019-12-03T07:40:58.870Z"),
    ]
    check_golden("sinch/rai_agent_status.events.json", evs)


def test_rai_statistics() -> None:
    drafts = []
    for name, model, fn in (("rai/contact_statistic", ContactStatRow, contact_stats_draft),
                            ("rai/contact_history", ContactStatRow, contact_stats_draft),
                            ("rai/agent_statistic", AgentStatRow, agent_stats_draft),
                            ("rai/agent_history", AgentStatRow, agent_stats_draft)):
        for r in rows(name, model):
            at = to_ms(r.max_change_timestamp) if r.max_change_timestamp else to_ms(parse_ts("2019-12-25T10:11:12Z"))
            d = fn(r, at, name.split("/")[1])
            assert d is not None
            drafts.append(d)
    evs = run(drafts, RAI)
    # both example rows of a collection are the same queue (or agent) and day: one bucket;
    # the second is the same values, so no event: a bucket publishes when it changes
    assert [(e["source"].rsplit("/", 1)[1], e["subject"]) for e in evs] == [
        ("contact_statistic", "queue/249CEA29B6494EF1B1D16D23FE70E702@2018-09-12"),
        ("contact_history", "queue/249CEA29B6494EF1B1D16D23FE70E702@2018-09-12"),
        ("agent_statistic", "agent/AC083B34470B4164A6A5968DD031B5E5@2018-09-12"),
        ("agent_statistic", "agent/30BAC5C8C39A4CA5A5B1C5509EE4F12B@2018-09-12"),
        ("agent_history", "agent/AC083B34470B4164A6A5968DD031B5E5@2018-09-12"),
        ("agent_history", "agent/30BAC5C8C39A4CA5A5B1C5509EE4F12B@2018-09-12"),
    ]
    contact = evs[0]["data"]
    assert contact["changes"]["count_of_handled_contacts"] == [None, 1]
    assert "active_queuing_duration" not in contact["changes"] and contact["values"]["active_queuing_duration"] == 1000
    agent = evs[2]["data"]
    assert set(agent["changes"]) == {"count_of_handled_call_in", "count_of_handled_call_in_direct",
                                     "count_of_handled_call_out", "count_of_handled_call_out_direct",
                                     "count_of_handled_email_in", "count_of_handled_email_out",
                                     "count_of_handled_chat_in", "count_of_handled_chat_out"}
    check_golden("sinch/rai_statistics.events.json", evs)


def test_rmi_agents() -> None:
    now = to_ms(parse_ts("2016-02-01T10:00:00.000Z"))
    drafts = [d for r in rows("rmi/agents", Agent) for d in agent_drafts(r, now).values()]
    evs = run(sorted(drafts, key=lambda d: d.at_ms), RMI)
    types = [(e["type"], e["subject"][:4]) for e in evs]
    assert ("cc.agent.queues.changed", "E936") in types
    queues = next(e["data"] for e in evs if e["type"] == "cc.agent.queues.changed")
    assert queues["current"] == ["990556DC18244B4AB5BF35D75A89CDEF", "F8C2697F37D044DB929B10F75381C624"]
    assert queues["previous"] is None
    check_golden("sinch/rmi_agents.events.json", evs)


def test_rmi_contacts_and_a_transfer_in_their_group() -> None:
    contacts = rows("rmi/contacts", Contact)
    drafts = sorted([d for c in contacts for d in contact_drafts(c)] + group_transfers(contacts),
                    key=lambda d: d.at_ms)
    evs = run(drafts, RMI)
    # the doc's two example contacts share a contactGroupId and (copied) the same agent id:
    # one agent handling the group twice is not a transfer
    assert [e for e in evs if e["type"] == "cc.interaction.transferred"] == []
    other = Contact(**{**{f: getattr(contacts[1], f) for f in contacts[1].__struct_fields__},
                       "agent_id": "A206C474B22311D38FBE0090279A922E"})
    moved = [d.payload for d in group_transfers([contacts[0], other])]
    assert [(t.from_agent_id, t.to_agent_id, t.kind, t.at) for t in moved] == [
        (FOX, "A206C474B22311D38FBE0090279A922E", "blind", "2016-02-01T09:28:13.000Z")]
    states = [(e["data"]["agent_id"], e["data"]["state"], e["data"]["raw"]) for e in evs
              if e["type"] == "cc.interaction.state.changed"]
    assert (FOX, "Ended", "Handled_AOT") in states and (FOX, "Held", "InProcess_Pending") in states
    check_golden("sinch/rmi_contacts.events.json", evs)


def test_rmi_contact_with_details() -> None:
    (c,) = rows("rmi/contact", Contact)
    details = rows("rmi/contact_details", ContactDetail)
    evs = run(contact_drafts(c, details), RMI)
    # the details example (2016-01-01) predates this contact's arrival: no ringing from it;
    # the example's previewTime (an outbound preview) is the offer to the agent
    assert [(e["data"]["state"], e["data"]["raw"]) for e in evs] == [
        ("Queued", "InQueue"), ("Ringing", "InProcess_Preview"), ("Connected", "InProcess"),
        ("Held", "InProcess_Pending"), ("Wrap", "InProcess_WrapUp"), ("Ended", "Handled_AOT")]
    check_golden("sinch/rmi_contact.events.json", evs)


def test_rmi_queue_statistics() -> None:
    now = to_ms(parse_ts("2019-08-30T08:47:00.000Z"))
    drafts = [queue_status_draft(q, now) for q in rows("rmi/queue_statuses", QueueStatus)]
    drafts += [summary_draft(s, to_ms(s.change_timestamp)) for s in rows("rmi/contact_summaries", ContactSummary)]
    evs = run(drafts, RMI)
    assert [e["subject"] for e in evs] == [
        "queue/F8C2697F37D044DB929B10F75381C624", "queue/E9D2697F37D044DB929B10F75381C735",
        "queue/990556DC18244B4AB5BF35D75A89CDEF",
        "queue/535A3F8292D6433DA215D29B7455A9AB@2019-08-30T08:45:00.000Z",
        "queue/6097A53095644241B0A5E71D0C7622A4@2019-08-30T08:45:00.000Z",
    ]
    first = evs[0]["data"]
    assert "waiting_duration_max" not in first["changes"] and first["values"]["waiting_duration_max"] == 12000
    check_golden("sinch/rmi_queue_statistics.events.json", evs)
