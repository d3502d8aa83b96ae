"""emit: chaining through the ledger, records, CloudEvents; rules: sessions from presence."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamer.contract.events import AgentPresenceChanged, AgentWorkloadChanged, Presence, Workload, event_id
from streamer.engine.emit import H_ENTITY, H_SINCE, H_STREAM, H_VALUE, Draft, SourceContext, agent_current_record, emit
from streamer.engine.rules import emit_with_rules, session_drafts
from streamer.timeutil import format_ts, from_ms, parse_ts, to_ms
from streamer.track.ledger import Admission, Ledger, Mark
from streamer.vendors.vonage.mapping import presence_draft, workload_draft
from tests.unit._helpers import CTX, OBSERVED_MS, events, run_drafts

T0 = parse_ts("2019-12-19T15:47:07.077Z")
T1 = parse_ts("2019-12-19T15:47:16.600Z")
T2 = parse_ts("2019-12-19T15:50:00.000Z")


def pres(cat: str, at, agent: str = "01", endpoint: str = "agent-activities") -> Draft:  # type: ignore[no-untyped-def]
    return presence_draft(agent, Presence(name=cat, category=cat, eligible_for_routing=cat == "Ready"), at, endpoint)


def test_emit_first_sight_then_chain() -> None:
    led = Ledger()
    r1 = emit(pres("LoggedOut", T0), led, CTX, OBSERVED_MS)
    r2 = emit(pres("Ready", T1), led, CTX, OBSERVED_MS)
    assert r1 is not None and r2 is not None
    e1, e2 = json.loads(r1[0].value), json.loads(r2[0].value)  # type: ignore[arg-type]
    assert e1["data"]["sequence"] == 1
    assert e1["data"]["previous"] is None
    assert e1["data"]["previous_duration_ms"] is None
    assert e2["data"]["sequence"] == 2
    assert e2["data"]["previous"]["category"] == "LoggedOut"
    assert e2["data"]["previous"]["name"] == "LoggedOut"
    assert e2["data"]["previous_duration_ms"] == 9_523
    assert e2["data"]["current"]["category"] == "Ready"
    assert "late" not in e2["data"] or e2["data"]["late"] is False


def test_emit_second_time_is_none() -> None:
    led = Ledger()
    assert emit(pres("Ready", T1), led, CTX, OBSERVED_MS) is not None
    assert emit(pres("Ready", T1), led, CTX, OBSERVED_MS + 5000) is None
    # the same transition from the other endpoint, also refused
    assert emit(pres("Ready", T1, endpoint="agent-status"), led, CTX, OBSERVED_MS) is None


def test_record_key_topic_headers_and_envelope() -> None:
    rec, adm = emit(pres("Ready", T1, agent="002", endpoint="agent-status"), Ledger(), CTX, OBSERVED_MS)  # type: ignore[misc]
    assert rec.key == b"seed/002"
    assert rec.topic == "cc.agent"
    assert rec.type == "cc.agent.presence.changed"
    headers = dict(rec.headers)
    assert headers["content-type"] == b"application/cloudevents+json"
    assert headers[H_ENTITY] == b"agent/002"
    assert headers[H_STREAM] == b"presence"
    assert headers[H_SINCE] == str(to_ms(T1)).encode()
    assert json.loads(headers[H_VALUE])["category"] == "Ready"
    ev = json.loads(rec.value)  # type: ignore[arg-type]
    assert ev["specversion"] == "1.0"
    assert ev["id"] == rec.event_id
    assert ev["id"] == event_id("vonage", "seed", "cc.agent.presence.changed", "002", "presence:Ready", "2019-12-19T15:47:16.600Z")
    assert ev["source"] == "/vonage/seed/agent-status"
    assert ev["subject"] == "002"
    assert ev["time"] == "2019-12-19T15:47:16.600Z"
    assert ev["observedtime"] == format_ts(from_ms(OBSERVED_MS))
    assert ev["datacontenttype"] == "application/json"
    assert adm == Admission(1, None, None, False, True)


def test_topic_prefix_and_source_in_key() -> None:
    ctx = SourceContext("vonage", "tenant-b", "prod")
    rec, _ = emit(pres("Ready", T1), Ledger(), ctx, OBSERVED_MS)  # type: ignore[misc]
    assert rec.topic == "prod.agent" and rec.key == b"tenant-b/01"


def test_same_agent_in_two_sources_has_different_ids() -> None:
    a, _ = emit(pres("Ready", T1), Ledger(), SourceContext("vonage", "s1", "cc"), OBSERVED_MS)  # type: ignore[misc]
    b, _ = emit(pres("Ready", T1), Ledger(), SourceContext("vonage", "s2", "cc"), OBSERVED_MS)  # type: ignore[misc]
    assert a.event_id != b.event_id and a.key != b.key


def test_observed_time_does_not_change_the_id() -> None:
    a, _ = emit(pres("Ready", T1), Ledger(), CTX, 1)  # type: ignore[misc]
    b, _ = emit(pres("Ready", T1), Ledger(), CTX, 2)  # type: ignore[misc]
    assert a.event_id == b.event_id and a.value != b.value


def test_late_event_is_flagged() -> None:
    led = Ledger()
    emit(pres("LoggedOut", T0), led, CTX, OBSERVED_MS)
    emit(pres("Away", T2), led, CTX, OBSERVED_MS)
    rec, adm = emit(pres("Ready", T1), led, CTX, OBSERVED_MS)  # type: ignore[misc]
    data = json.loads(rec.value)["data"]  # type: ignore[arg-type]
    assert adm.late and data["late"] is True
    assert data["previous"]["category"] == "LoggedOut"
    assert data["previous_duration_ms"] == 9_523
    assert data["sequence"] == 3


def test_sequence_shared_by_all_agent_streams() -> None:
    w = workload_draft("01", Workload(calls=1, semi_live=0, non_live=0), T2, "agent-activities")
    recs = run_drafts([pres("LoggedOut", T0), pres("Ready", T1), w])
    evs = events(recs)
    assert [e["type"] for e in evs] == [
        "cc.agent.presence.changed", "cc.agent.presence.changed", "cc.agent.session.started", "cc.agent.workload.changed",
    ]
    assert [e["data"]["sequence"] for e in evs] == [1, 2, 3, 4]
    assert evs[3]["data"]["previous"] is None  # first workload: previous null
    assert {r.key for r in recs} == {b"seed/01"}


def test_workload_previous_is_typed() -> None:
    led = Ledger()
    emit(workload_draft("01", Workload(calls=1), T0, "x"), led, CTX, OBSERVED_MS)
    rec, _ = emit(workload_draft("01", Workload(calls=0), T1, "x"), led, CTX, OBSERVED_MS)  # type: ignore[misc]
    data = json.loads(rec.value)["data"]  # type: ignore[arg-type]
    assert data["previous"] == {"calls": 1}  # counts not reported are absent, not null
    assert data["current"]["calls"] == 0


# --- sessions ----------------------------------------------------------------------------


def _adm(previous: object) -> Admission:
    return Admission(2, previous, 10, False, previous is None)


def test_login_gives_session_started() -> None:
    d = pres("Ready", T1)
    (s,) = session_drafts(d, _adm({"category": "LoggedOut"}))
    assert s.type == "cc.agent.session.started"
    assert s.entity_id == "01" and s.at_ms == to_ms(T1)
    assert s.payload.inferred is True and s.payload.rule == "presence-left-LoggedOut"
    assert s.payload.at == "2019-12-19T15:47:16.600Z"
    assert s.endpoint == d.endpoint


def test_logout_gives_session_ended() -> None:
    (s,) = session_drafts(pres("LoggedOut", T2), _adm({"category": "Ready"}))
    assert s.type == "cc.agent.session.ended"
    assert s.payload.inferred is True and s.payload.rule == "presence-entered-LoggedOut"


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, "Ready"), (None, "LoggedOut"), ("Ready", "Away"), ("Away", "ExtendedAway"), ("LoggedOut", "LoggedOut")],
)
def test_no_session_event(before: str | None, after: str) -> None:
    prev = None if before is None else {"category": before}
    assert session_drafts(pres(after, T1), _adm(prev)) == []


def test_session_ids_are_stable_and_events_chain() -> None:
    drafts = [pres("LoggedOut", T0), pres("Ready", T1), pres("LoggedOut", T2)]
    evs = events(run_drafts(drafts))
    assert [e["type"] for e in evs] == [
        "cc.agent.presence.changed", "cc.agent.presence.changed", "cc.agent.session.started",
        "cc.agent.presence.changed", "cc.agent.session.ended",
    ]
    start, end = evs[2], evs[4]
    assert start["time"] == "2019-12-19T15:47:16.600Z" and end["data"]["at"] == "2019-12-19T15:50:00.000Z"
    assert "previous" not in start["data"]  # session events carry no previous
    again = events(run_drafts(drafts))
    assert [e["id"] for e in again] == [e["id"] for e in evs]


def test_rerun_through_same_ledger_emits_nothing() -> None:
    led = Ledger()
    drafts = [pres("LoggedOut", T0), pres("Ready", T1)]
    assert len(run_drafts(drafts, led)) == 3
    assert run_drafts(drafts, led) == []


# --- agent.current -------------------------------------------------------------------------


def test_agent_current_record() -> None:
    led = Ledger()
    run_drafts([pres("LoggedOut", T0), pres("Ready", T1), workload_draft("01", Workload(calls=1, semi_live=0, non_live=0), T2, "x")], led)
    rec = agent_current_record(led, CTX, "01", OBSERVED_MS)
    assert rec.topic == "cc.agent.current"
    assert rec.key == b"seed/01"
    v = json.loads(rec.value)  # type: ignore[arg-type]
    assert v["source_id"] == "seed" and v["agent_id"] == "01"
    assert v["presence"]["category"] == "Ready"
    assert v["presence_since"] == "2019-12-19T15:47:16.600Z"
    assert v["workload"] == {"calls": 1, "semi_live": 0, "non_live": 0}
    assert v["state"] is None
    assert v["updated"] == format_ts(from_ms(OBSERVED_MS))


def test_agent_current_for_unknown_agent_is_empty() -> None:
    v = json.loads(agent_current_record(Ledger(), CTX, "zz", OBSERVED_MS).value)  # type: ignore[arg-type]
    assert v["presence"] is None and v["workload"] is None and v["presence_since"] is None


def test_payload_types_unchanged_by_emit() -> None:
    d = pres("Ready", T1)
    emit(d, Ledger(), CTX, OBSERVED_MS)
    assert isinstance(d.payload, AgentPresenceChanged) and d.payload.sequence == 0  # draft not mutated
    assert isinstance(workload_draft("01", Workload(), T1, "x").payload, AgentWorkloadChanged)


class _MarksIgnored(Ledger):
    """A ledger that never answers from its marks: every draft goes through the id and admit."""

    def presented_before(self, entity: str, stream: str, mark: Mark, observed_ms: int) -> bool:
        return False


_presented = st.lists(
    st.tuples(
        st.sampled_from(["01", "02"]),
        st.sampled_from(["LoggedOut", "Ready", "Away", "calls"]),
        st.integers(0, 5),  # vendor time, in seconds past T0: late and repeated ones included
        st.booleans(),  # commit (freeze every entity) after this draft
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_presented)
@example([("01", "LoggedOut", t, False) for t in range(6)]  # then three late ones push the first out
         + [("01", "Ready", t, False) for t in range(3)] + [("01", "LoggedOut", 0, False)])
def test_marks_refuse_only_what_the_ledger_holds(presented: list[tuple[str, str, int, bool]]) -> None:
    """Drafts presented in any order and again, with commits in between: through the marks,
    nothing is published that the ledger alone would not publish, and when the ledger alone
    publishes nothing twice, the records are the same. (Both can publish a late transition
    again once the stream's memory dropped it; the marks only ever refuse more.)"""
    fast, slow = Ledger(), _MarksIgnored()
    out: dict[str, list[bytes | None]] = {"fast": [], "slow": []}
    ids: dict[str, list[str | None]] = {"fast": [], "slow": []}
    for agent, what, second, commit in presented:
        at = from_ms(to_ms(T0) + second * 1_000)
        draft = workload_draft(agent, Workload(calls=second), at, "agent-status") if what == "calls" else pres(what, at, agent)
        for name, led in (("fast", fast), ("slow", slow)):
            for rec, _ in emit_with_rules([draft], led, CTX, OBSERVED_MS + second):
                out[name].append(rec.value)
                ids[name].append(rec.event_id)
            if commit:
                led.take_dirty()
    assert set(ids["fast"]) <= set(ids["slow"])
    if len(set(ids["slow"])) == len(ids["slow"]):  # the ledger alone published nothing twice either
        assert out["fast"] == out["slow"]


def test_a_transition_presented_again_is_refused_without_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The marks' point: a draft presented again costs no SHA-1. (Every other test of the
    marks passes with them unused, as the ledger refuses the same drafts by their ids.)"""
    import streamer.engine.emit as emit_module

    led = Ledger()
    first = emit(pres("Ready", T1), led, CTX, OBSERVED_MS)
    assert first is not None
    led.take_dirty()

    def no_id(*args: object, **kwargs: object) -> str:
        raise AssertionError("the event id was computed for a transition presented again")

    monkeypatch.setattr(emit_module, "draft_event_id", no_id)
    assert emit(pres("Ready", T1), led, CTX, OBSERVED_MS + 1) is None
    with pytest.raises(AssertionError, match="event id was computed"):  # a new transition still needs its id
        emit(pres("Away", T2), led, CTX, OBSERVED_MS + 2)
