"""Vonage models: the seed examples, and tolerance of the vendor's drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.errors import SkippableError
from streamer.vendors.vonage.models import (
    Activity,
    AgentStatus,
    BadRecord,
    Interaction,
    decode_envelope,
    decode_page,
    decode_record,
    documented_envelope,
    tolerant_envelope,
)
from tests.unit.vendors.vonage._fixtures import load


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_seed_agent_activities_page() -> None:
    page = decode_page(load("agent_activities_seed.json"), Activity)
    assert page.meta is not None
    assert (page.meta.page, page.meta.count, page.meta.page_count, page.meta.total_count) == (1, 6, 1, 6)
    assert page.up_to == ts("2019-12-19T15:49:39.389Z")
    items = page.items
    assert len(items) == 6 and all(isinstance(i, Activity) for i in items)
    acts = [i for i in items if isinstance(i, Activity)]
    assert {a.agent_id for a in acts} == {"01"}
    assert [(a.type, a.category) for a in acts] == [
        ("Presence", "LoggedOut"), ("Presence", "Ready"), ("Workload", None),
        ("Interaction", "Ringing"), ("Interaction", "Connected"), ("Interaction", "Wrap"),
    ]
    logged_out, ready, workload, ringing, connected, wrap = acts
    assert logged_out.name == "Logged Out" and logged_out.eligible_for_routing is False
    assert logged_out.duration == 9523 and logged_out.start == ts("2019-12-19T15:47:07.077Z")
    assert ready.duration is None and ready.eligible_for_routing is True  # still open
    assert workload.workload is not None
    assert (workload.workload.calls, workload.workload.semi_live, workload.workload.non_live) == (1, 0, 0)
    assert ringing.start == ts("2019-12-19T15:47:31.289Z") and ringing.start.tzinfo is UTC
    assert ringing.status == "Completed" and ringing.duration == 4547
    assert ringing.interaction is not None
    assert ringing.interaction.guid == "016f1c6b-9766-498c-9756-30afb0354d5b"
    assert (ringing.interaction.medium, ringing.interaction.medium_manager, ringing.interaction.direction) == (
        "Phone", "VCC", "Inbound")
    assert ringing.channel is not None
    assert ringing.channel.guid == "6a6d57c3-2105-42e3-86fe-411a3496a28f"
    assert connected.duration == 80764 and wrap.category == "Wrap"


def test_seed_verbatim_slips_are_repaired() -> None:
    page = decode_page(load("agent_activities_seed_verbatim.json"), Activity)
    repaired = decode_page(load("agent_activities_seed.json"), Activity)
    assert page.items == repaired.items and len(page.items) == 6
    channels = [a.channel.guid for a in page.items if isinstance(a, Activity) and a.channel]
    assert channels == ["6a6d57c3-2105-42e3-86fe-411a3496a28f"] * 3


def test_unrepairable_body_is_a_clear_error_not_a_crash() -> None:
    body = load("agent_activities_seed.json")[:1643]
    with pytest.raises(SkippableError) as info:
        decode_page(body, Activity)
    assert "not valid JSON" in str(info.value)


def test_email_activity_1005() -> None:
    act = decode_record(load("agent_activity_email_1005.json"), Activity)
    assert act.agent_id == "1005" and act.status == "Ongoing" and act.duration == 2078
    assert act.interaction is not None and act.interaction.medium == "Email"
    assert act.channel is not None
    assert act.channel.guid == "015cd2ff017d99a8-f696da3b-44584fe6-a6a48a4c-01909f155ac5221eeec295aa"
    assert act.start == ts("2019-12-19T10:38:58.017Z")


def test_agent_status_faq() -> None:
    page = decode_page(load("agent_status_faq.json"), AgentStatus)
    a002, a003 = page.items
    assert isinstance(a002, AgentStatus) and isinstance(a003, AgentStatus)
    assert a002.agent_id == "002" and a002.presence is not None
    assert a002.presence.name == "Ready" and a002.presence.eligible_for_routing is True
    assert a002.presence.since == ts("2019-12-19T16:00:23.249Z")
    assert a002.workload is not None and a002.workload.calls == 1 and a002.workload.semi_live is None
    (conn,) = a002.interaction
    assert conn.guid == "b6c01065-a5fa-432f-981b-649f98518878" and conn.channel_guid is None
    assert (conn.state, conn.medium, conn.medium_manager, conn.direction) == ("Connected", "Phone", "CC", "Outbound")
    assert a003.interaction == [] and a003.workload is not None and a003.workload.calls == 0
    assert page.up_to == ts("2019-12-23T09:39:07.012Z")


def test_interaction_faq_transfer() -> None:
    inter = decode_record(load("interaction_faq_transfer.json"), Interaction)
    assert inter.guid == "016f8db7-798f-407c-9925-ef8c2b51e6b0" and inter.status == "Completed"
    assert inter.conversation_guid == "0044a6da-f741-4a9f-ad74-2b0fff6d052a"
    assert inter.service_name == "Report Gp 2" and inter.duration == 87028
    assert inter.start == ts("2020-01-10T11:13:05.836Z")
    assert [(c.party.role, c.party.id) for c in inter.channels if c.party] == [
        ("External", None), ("Agent", "01"), ("Agent", "002")]
    agent1, agent2 = inter.channels[1], inter.channels[2]
    assert (agent1.offset, agent1.duration, agent1.end_reason) == (6721, 51897, "Released")
    assert agent2.offset == 30239 and [e.type for e in agent2.events] == ["Ringing", "CallRecording", "Connected", "Wrap"]
    held = inter.channels[0].events[-1]
    assert held.type == "Held" and held.properties == {"initiatingAgentId": "01", "type": "Held"}


@pytest.mark.parametrize("key", ["agentid", "AgentId", "AGENTID", "agent_id"])
def test_agent_id_case_drift(key: str) -> None:
    raw = json.dumps({key: "01", "type": "Presence", "start": "2019-12-19T15:47:07.077Z"}).encode()
    assert decode_record(raw, Activity).agent_id == "01"


def test_optional_field_case_drift_is_not_silently_dropped() -> None:
    raw = b'{"agentId":"01","type":"Presence","start":"2019-12-19T15:47:07.077Z","eligibleforrouting":true,' \
          b'"Workload":{"Calls":2,"SEMILIVE":1,"nonlive":0},"Interaction":{"GUID":"g","MediumManager":"VCC"}}'
    act = decode_record(raw, Activity)
    assert act.eligible_for_routing is True
    assert act.workload is not None and (act.workload.calls, act.workload.semi_live, act.workload.non_live) == (2, 1, 0)
    assert act.interaction is not None and act.interaction.medium_manager == "VCC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-12-03 07:19:59.127", "2019-12-03T07:19:59.127Z"),
        ("2019-12-03T07:19:59.127", "2019-12-03T07:19:59.127Z"),
        ("2019-12-03T08:19:59.127+01:00", "2019-12-03T07:19:59.127Z"),
        ("2019-12-03T07:19:59Z", "2019-12-03T07:19:59Z"),
    ],
)
def test_timestamps_with_or_without_t_and_zone(text: str, expected: str) -> None:
    raw = json.dumps({"agentId": "01", "type": "Presence", "start": text}).encode()
    start = decode_record(raw, Activity).start
    assert start == ts(expected) and start.tzinfo is UTC


def test_numbers_as_strings_and_strings_as_numbers() -> None:
    raw = b'{"agentId":1005,"type":"Workload","start":"2019-12-19T15:47:07.077Z","duration":"9523",' \
          b'"eligibleForRouting":"false","workload":{"calls":"1","semiLive":"0","nonLive":0.0}}'
    act = decode_record(raw, Activity)
    assert act.agent_id == "1005" and act.duration == 9523 and act.eligible_for_routing is False
    assert act.workload is not None and (act.workload.calls, act.workload.semi_live, act.workload.non_live) == (1, 0, 0)


def test_unknown_fields_ignored() -> None:
    raw = b'{"agentId":"01","type":"Presence","start":"2019-12-19T15:47:07.077Z","newThing":{"x":1}}'
    assert decode_record(raw, Activity).agent_id == "01"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"type":"Presence","start":"2019-12-19T15:47:07.077Z"}', "agentId"),
        (b'{"agentId":"01","type":"Presence","start":"yesterday"}', "start"),
        (b'{"agentId":"01","type":"Presence","start":"2019-12-19T15:47:07Z","duration":"long"}', "duration"),
        (b"[1,2]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (b'{"agentId":', "not valid JSON"),
    ],
)
def test_unreadable_records_raise_skippable_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(SkippableError, match=reason):
        decode_record(raw, Activity)


def test_one_bad_item_among_good_ones_becomes_bad_record() -> None:
    bad = b'{"agentId": "02", "type": "Presence", "start": "not a time"}'
    body = (
        b'{"meta":{"page":1,"count":3,"pageCount":1,"totalCount":3},"items":['
        b'{"agentId":"01","type":"Presence","start":"2019-12-19T15:47:07.077Z"},'
        + bad
        + b',{"agentId":"03","type":"Presence","start":"2019-12-19T15:47:08Z"}],"upTo":"2019-12-19T15:49:39.389Z"}'
    )
    page = decode_page(body, Activity)
    first, middle, last = page.items
    assert isinstance(first, Activity) and first.agent_id == "01"
    assert isinstance(last, Activity) and last.agent_id == "03"
    assert isinstance(middle, BadRecord)
    assert middle.raw == bad and "start" in middle.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
        (b'{"meta":{"page":1},"items":[{"agentId":"01"', "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b'{"meta":{"page":1}}', "no 'items'"),
        (b'{"items":{}}', "not an array"),
        (b'{"items":[],"upTo":"later"}', "upTo"),
        (b'{"items":[],"upTo":null}', "no 'meta'"),
        (b'{"meta":null,"items":[],"upTo":null}', "'meta' is unreadable"),
        (b'{"meta":{"page":1,"count":0},"items":[],"upTo":null}', "no 'pageCount'"),
    ],
)
def test_unusable_pages_raise_skippable(body: bytes, reason: str) -> None:
    with pytest.raises(SkippableError, match=reason):
        decode_page(body, Activity)


def test_page_envelope_key_drift_and_null_items() -> None:
    page = decode_page(b'{"Meta":{"PAGE":"1","pagecount":1},"Items":null,"UpTo":"2019-12-03 07:19:59.127"}', Activity)
    assert page.items == [] and page.meta is not None and page.meta.page == 1
    assert page.up_to == ts("2019-12-03T07:19:59.127Z")


def _mangle_case(data: st.DataObject, value: object) -> object:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            style = data.draw(st.sampled_from(["same", "lower", "upper", "title"]))
            new_key = {"same": key, "lower": key.lower(), "upper": key.upper(), "title": key[:1].upper() + key[1:]}[style]
            out[new_key] = _mangle_case(data, item)
        return out
    if isinstance(value, list):
        return [_mangle_case(data, v) for v in value]
    return value


@settings(max_examples=50)
@given(st.data())
def test_any_key_case_decodes_like_the_original(data: st.DataObject) -> None:
    original = json.loads(load("agent_activities_seed.json"))
    expected = decode_page(load("agent_activities_seed.json"), Activity).items
    mangled = _mangle_case(data, original)
    assert decode_page(msgspec.json.encode(mangled), Activity).items == expected


@pytest.mark.parametrize("up_to_key", ["upTo", "UpTo"])
def test_exact_and_drifted_envelopes_read_the_same(up_to_key: str) -> None:
    # %s, not format(): format would double every brace of the JSON
    body = ('{"meta":{"page":1,"pageCount":1},"items":[{"agentId":"7"}],"%s":"2019-12-03T07:19:59.127Z"}'  # noqa: UP031
            % up_to_key).encode()
    page = decode_page(body, AgentStatus)
    assert [s.agent_id for s in page.items] == ["7"]  # type: ignore[union-attr]
    assert page.up_to == ts("2019-12-03T07:19:59.127Z") and page.meta is not None and page.meta.page_count == 1


def test_a_documented_page_reads_the_same_on_both_envelope_paths() -> None:
    """The client reads a documented envelope in place and sends the others to a worker
    thread (see streamer.http.offload): both paths must agree where both can read."""
    body = (b'{"meta":{"page":2,"pageCount":3},"items":[{"agentId":"7"},{"agentId":"8"},[]],'
            b'"upTo":"2019-12-03T07:19:59.127Z"}')
    fast, slow = documented_envelope(body), tolerant_envelope(body)
    assert fast is not None
    assert [bytes(r) for r in fast.raws] == [bytes(r) for r in slow.raws] == [b'{"agentId":"7"}', b'{"agentId":"8"}', b"[]"]
    assert (fast.meta, fast.up_to) == (slow.meta, slow.up_to) and fast.up_to == ts("2019-12-03T07:19:59.127Z")


@pytest.mark.parametrize("body", [
    b'{"Meta":{"page":1,"pageCount":1},"items":[],"upTo":null}',  # a key in another case
    b'{"meta":{"page":1,"pageCount":1},"items":[{"agentId":"7"},],"upTo":null}',  # a slip, repaired
    b'{"meta":{"page":1,"pageCount":1},"items":null,"upTo":null}',
])
def test_a_page_off_the_document_takes_the_tolerant_path(body: bytes) -> None:
    assert documented_envelope(body) is None
    assert tolerant_envelope(body).meta is not None


@pytest.mark.parametrize("body", [
    b'{"meta":{"page":1},"items":[],"upTo":null}',  # read by documented_envelope, then refused
    b'{"META":{"page":1},"items":[],"upTo":null}',  # read by tolerant_envelope, then refused
])
def test_an_unusable_page_is_refused_with_its_body_on_either_path(body: bytes) -> None:
    with pytest.raises(SkippableError, match="no 'pageCount'") as caught:
        decode_envelope(body)
    assert caught.value.raw == body


def test_keep_decides_which_raw_items_are_decoded() -> None:
    body = b'{"meta":{"page":1,"pageCount":1},"items":[{"agentId":"1"},{"agentId":"2"},[]],"upTo":null}'
    seen: list[bytes] = []

    def keep(raws: list[msgspec.Raw]) -> list[msgspec.Raw]:
        seen.extend(bytes(r) for r in raws)
        return [r for r in raws if bytes(r) != b'{"agentId":"1"}']

    page = decode_page(body, AgentStatus, keep=keep)
    assert seen == [b'{"agentId":"1"}', b'{"agentId":"2"}', b"[]"]
    assert [getattr(s, "agent_id", None) for s in page.items] == ["2", None]  # the bad one is still reported
