"""Every JSON example of both Sinch seed docs is read: repaired, tolerated, or dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from streamer.errors import SkippableError
from streamer.http.tolerant import BadRecord
from streamer.vendors.sinch.common import decode_rows, guid, repair_sinch
from streamer.vendors.sinch.rai import models as rai
from streamer.vendors.sinch.rmi import models as rmi
from tests.unit.vendors.sinch._fixtures import body

# fixture -> (model, rows, repairs the doc's JSON needs)
EXAMPLES: dict[str, tuple[type[Any], int, list[str]]] = {
    "rmi/contacts": (rmi.Contact, 2, ["comments", "missing-colon"]),
    "rmi/contact": (rmi.Contact, 1, ["comments", "missing-colon"]),
    "rmi/contact_details": (rmi.ContactDetail, 5, []),
    "rmi/agents": (rmi.Agent, 2, ["missing-comma", "trailing-comma"]),
    "rmi/agent": (rmi.Agent, 1, []),
    "rmi/agent_queues": (rmi.AgentQueue, 2, ["comments"]),
    "rmi/agent_queue": (rmi.AgentQueue, 1, ["comments"]),
    "rmi/agent_queue_put": (rmi.AgentQueue, 1, ["comments"]),
    "rmi/agent_presences": (rmi.PresenceProfile, 4, []),
    "rmi/agent_presence": (rmi.PresenceProfile, 1, []),
    "rmi/agent_presence_put": (rmi.PresenceProfile, 1, []),
    "rmi/ready_state_put": (rmi.ReadyState, 1, []),
    "rmi/queue_statuses": (rmi.QueueStatus, 3, ["comments", "missing-comma", "trailing-comma"]),
    "rmi/queue_status": (rmi.QueueStatus, 1, ["comments", "trailing-comma"]),
    "rmi/user_statuses": (rmi.UserStatus, 2, []),
    "rmi/user_status": (rmi.UserStatus, 1, []),
    "rmi/contact_summaries": (rmi.ContactSummary, 2, ["comments"]),
    "rmi/contact_summary": (rmi.ContactSummary, 1, ["comments"]),
    "rmi/setting_put": (rmi.Setting, 1, ["comments"]),
    "rmi/queue_groups": (rmi.QueueGroup, 3, []),
    "rmi/queue_group": (rmi.QueueGroup, 1, []),
    "rai/contact_history": (rai.ContactStatRow, 2, []),
    "rai/contact_statistic": (rai.ContactStatRow, 2, []),
    "rai/agent_history": (rai.AgentStatRow, 2, []),
    "rai/agent_statistic": (rai.AgentStatRow, 2, []),
    "rai/agent_status": (rai.AgentStatusRow, 1, []),
    "rai/agent_status_history": (rai.AgentStatusHistoryRow, 21, []),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_seed_example_is_read(name: str) -> None:
    model, count, repairs = EXAMPLES[name]
    raw = body(name)
    if repairs:
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(raw)  # the doc's JSON really is broken ...
    assert repair_sinch(raw)[1] == repairs if repairs else True
    rows = decode_rows(raw, model)  # ... and is read anyway
    assert len(rows) == count
    bad = [r for r in rows if isinstance(r, BadRecord)]
    assert not bad, bad


def _one(name: str, model: type[Any], i: int = 0) -> Any:
    row = decode_rows(body(name), model)[i]
    assert isinstance(row, model), row
    return row


def test_drifted_spellings_and_odd_values_are_read() -> None:
    wolf = _one("rmi/contacts", rmi.Contact, 1)  # "agentid", "reportingGroupid", queue id + space
    assert wolf.agent_id == "E936C474B22311D38FBE0090279A922E"
    assert wolf.reporting_group_id == "CB6C223C34784BD38D4430678BB901E9"
    assert guid(wolf.queue_id) == "6A8562F960ED4541BA75F6A6F6C94618"
    assert wolf.disconnect_time is None and wolf.pending_time == datetime(2016, 2, 1, 10, 24, 50, tzinfo=UTC)
    fox = _one("rmi/contacts", rmi.Contact, 0)
    assert fox.source == "0401234XXX"  # the missing colon repaired
    jane = _one("rmi/agents", rmi.Agent, 1)
    assert (jane.number, jane.availability, jane.reporting_group) == ("202", "LoggedOut", "Support")
    john = _one("rmi/agents", rmi.Agent, 0)
    assert [(q.name, q.serving) for q in john.queue_list()] == [("CustomerService", True), ("Sales", True)]
    summary = _one("rmi/contact_summaries", rmi.ContactSummary)
    assert summary.change_timestamp == datetime(2019, 8, 30, 8, 46, 41, 733000, tzinfo=UTC)
    assert summary.hour_time == datetime(2019, 8, 30, 8, 45, tzinfo=UTC)
    groups = _one("rmi/queue_groups", rmi.QueueGroup, 2)
    assert [q.name for q in groups.queue_list()] == ["B2B", "B2C", "B2C Service"]
    status = _one("rai/agent_status", rai.AgentStatusRow)
    assert (status.user_name, status.number, status.active_phone_contacts) == ("Fox, John", "201", 1)
    first = _one("rai/agent_status_history", rai.AgentStatusHistoryRow)
    # zone-less times are UTC; changeTimeStamp / userStatusTimeStamp are the example's spellings
    assert first.sign_on == datetime(2019, 12, 3, 7, 19, 59, 127000, tzinfo=UTC)
    assert first.user_status_timestamp == first.sign_on
    assert first.change_timestamp == datetime(2019, 12, 3, 7, 19, 59, 760000, tzinfo=UTC)
    joined = _one("rai/agent_status_history", rai.AgentStatusHistoryRow, 3)
    assert joined.outbound_serving == "DBE3BEFA75B448F89D52DE51236C03DC"
    assert _one("rai/agent_history", rai.AgentStatRow, 0).max_change_timestamp is None


def test_the_other_spellings_of_the_docs_are_read_too() -> None:
    row = {
        "sessionId": "5E7DA34E9D15EA1180DB00505687F2FD", "UserId": "e936c474-b223-11d3-8fbe-0090279a922e",
        "UserName": "Fox, John", "userStatus": "Ready", "userStatusTimestamp": "2019-12-03T07:19:59.127+01:00",
        "changeTimestamp": "2019-12-03T07:19:59.760", "status": "Waiting", "statusTimestamp": "2019-12-03 07:19:59",
    }
    got = _rows([row], rai.AgentStatusHistoryRow)[0]
    assert guid(got.user_id) == "E936C474B22311D38FBE0090279A922E" and got.user_name == "Fox, John"
    assert got.user_status_timestamp == datetime(2019, 12, 3, 6, 19, 59, 127000, tzinfo=UTC)
    assert got.change_timestamp == datetime(2019, 12, 3, 7, 19, 59, 760000, tzinfo=UTC)
    numbers = {"id": "F8C2697F37D044DB929B10F75381C624", "inQueue": "2", "waitingDurationMax": 12000.0,
               "agentsFree": "1"}
    q = _rows([numbers], rmi.QueueStatus)[0]
    assert (q.in_queue, q.waiting_duration_max, q.agents_free) == (2, 12000, 1)


def _rows(items: list[dict[str, Any]], model: type[Any]) -> list[Any]:
    rows = decode_rows(msgspec.json.encode(items), model)
    assert all(isinstance(r, model) for r in rows), rows
    return rows


def test_an_unreadable_row_is_dead_lettered_with_its_reason_and_the_rest_kept() -> None:
    page = b'[{"userId": "A", "changeTimeStamp": "2019-12-03 07:19:59.760"}, {"userName": "no id"},' \
           b' {"userId": "B", "changeTimeStamp": "yesterday"}]'
    rows = decode_rows(page, rai.AgentStatusHistoryRow)
    assert isinstance(rows[0], rai.AgentStatusHistoryRow)
    assert isinstance(rows[1], BadRecord) and "missing required field `userId`" in rows[1].reason
    assert rows[1].raw == b'{"userName": "no id"}'
    assert isinstance(rows[2], BadRecord) and "changeTimeStamp" in rows[2].reason


@pytest.mark.parametrize("payload", [b"<html>Service Unavailable</html>", b'[{"userId": "A", "changeTime', b'"just a string"'])
def test_an_unreadable_body_is_a_skippable_error_carrying_the_body(payload: bytes) -> None:
    with pytest.raises(SkippableError) as err:
        decode_rows(payload, rai.AgentStatusHistoryRow)
    assert err.value.raw == payload
    assert "JSON" in str(err.value)


def test_repairs_never_touch_text_inside_strings() -> None:
    raw = b'[{"subject": "see http://x // not a comment", "a": "b"\n"c": 1}]'
    repaired, applied = repair_sinch(raw)
    assert msgspec.json.decode(repaired) == [{"subject": "see http://x // not a comment", "a": "b", "c": 1}]
    assert applied == ["missing-comma"]


def test_guids_have_one_spelling() -> None:
    assert guid("2f7a2aa9-6974-4ba7-a854-4c79acd0dcd0") == "2F7A2AA969744BA7A8544C79ACD0DCD0"
    assert guid(" 6A8562F960ED4541BA75F6A6F6C94618 ") == "6A8562F960ED4541BA75F6A6F6C94618"
    assert guid("ALL_QUEUES") == "ALL_QUEUES" and guid("  ") is None and guid(None) is None
