"""Every JSON example of the Alvaria seed parses; tolerant decoding of the vendor's drift."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import httpx
import msgspec
import pytest

from streamer.errors import SkippableError
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.http.jsonrepair import repair_json
from streamer.secrets import Secret
from streamer.vendors.alvaria.models import (
    BadRecord,
    ChannelActivityRow,
    ListActivityRow,
    PresenceUser,
    TeamActivityRow,
    UserActivityRow,
    decode_list_activity,
    decode_record,
    decode_rows,
    extra_fields,
    snake,
)
from tests.unit.vendors.alvaria._fixtures import EXAMPLES, FIXTURES, SEED_DOC, load


def _seed_json_blocks(text: str) -> list[str]:
    """Top-level ``{ ... }`` blocks of the doc (a line that is just ``{`` opens one)."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "{":
            i += 1
            continue
        depth, j = 0, i
        while j < len(lines):
            depth += lines[j].count("{") - lines[j].count("}")
            if depth == 0:
                break
            j += 1
        out.append("\n".join(lines[i : j + 1]) + "\n")
        i = j + 1
    return out


@pytest.mark.skipif(not SEED_DOC.exists(), reason="the seed documents are not next to this checkout")
def test_fixtures_are_every_json_example_of_the_seed_verbatim() -> None:
    text = SEED_DOC.read_text()
    blocks = _seed_json_blocks(text)
    json_blocks, other = [], []
    for b in blocks:
        try:
            json.loads(b)
            json_blocks.append(b)
        except json.JSONDecodeError:
            other.append(b)
    # what does not parse is the JavaScript sample's fetch options, not an example
    assert other and all("method: 'GET'" in b for b in other), other
    fixtures = {name: load(name).decode() for name in EXAMPLES}
    for name, body in fixtures.items():
        assert body in text, f"{name} is not verbatim in the seed"
    assert set(json_blocks) == set(fixtures.values())
    assert len(json_blocks) == 17  # five 200 responses appear twice (operation + schema)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_example_is_valid_json_needing_no_repair(name: str) -> None:
    body = load(name)
    msgspec.json.decode(body)
    assert repair_json(body) == (body, [])


def test_user_activity_example() -> None:
    rows = decode_rows(load("user_activity.json"), UserActivityRow)
    assert rows.kind == "via#queryDataList" and rows.total_items == 2  # the doc's count, not trusted
    (row,) = rows.items
    assert isinstance(row, UserActivityRow)
    assert (row.user_id, row.team_id, row.state_id, row.state_name) == ("Keran123", "salseTeam", "active", "Active")
    assert row.state_start_time == datetime(2018, 2, 7, 11, 29, 46, tzinfo=UTC)
    assert row.sign_on_time == datetime(2018, 2, 7, 11, 29, 46, tzinfo=UTC)
    assert (row.reason_id, row.reason_name, row.interaction_count) == ("break", "", 1)
    assert (row.state_dur, row.sign_on_dur) == (5, 664)
    assert row.state_start_time_local == "2018-02-07T11:29:46-07:00"  # kept as text, not used
    assert decode_record(load("user_activity_row.json"), UserActivityRow) == row


def test_team_activity_example() -> None:
    rows = decode_rows(load("team_activity.json"), TeamActivityRow)
    (row,) = rows.items
    assert isinstance(row, TeamActivityRow)
    assert (row.team_id, row.team_name, row.idle_count, row.wrap_count) == ("salesTeam", "Sales Team", 1, 0)
    assert decode_record(load("team_activity_row.json"), TeamActivityRow) == row
    assert extra_fields(rows.raws[0], TeamActivityRow) == {}


def test_channel_activity_example() -> None:
    rows = decode_rows(load("channel_activity.json"), ChannelActivityRow)
    (row,) = rows.items
    assert isinstance(row, ChannelActivityRow)
    assert (row.work_type_id, row.interaction_type_id, row.channel_type_id) == ("worktype30_id", "InboundEmail", "email")
    assert row.longest_waiting_queue_time == datetime(2018, 2, 7, 11, 29, 46, tzinfo=UTC)
    assert (row.queue_dur, row.self_service_dur, row.max_queue_dur) == (5, 5, 0)
    assert decode_record(load("channel_activity_row.json"), ChannelActivityRow) == row


def test_list_activity_example_is_one_flat_object() -> None:
    rows = decode_list_activity(load("list_activity.json"))
    (row,) = rows.items
    assert isinstance(row, ListActivityRow)
    assert row.contact_list == "ContactList1" and row.kind == "via#listActivity"
    assert (row.records_available, row.records_in_active, row.calls_busy, row.list_saturation) == (100, 100, 25, 40)
    # a rows envelope is read too
    wrapped = b'{"kind": "via#queryDataList", "rows": [' + load("list_activity.json") + b"]}"
    (again,) = decode_list_activity(wrapped).items
    assert again == row


def test_presence_users_example_session_id_number_read_as_string() -> None:
    rows = decode_rows(load("presence_users.json"), PresenceUser, key="users")
    (user,) = rows.items
    assert isinstance(user, PresenceUser)
    assert (user.user_id, user.ehub_session_id, user.first_name) == ("Keran123", "2323", "Mahesh")
    assert decode_record(load("user_row.json"), PresenceUser) == user


async def _error_message(status: int, body: bytes) -> str:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    http = HttpClient("https://x.example", BearerAuth(Secret("t")), transport=httpx.MockTransport(handler),
                      rng=random.Random(1))
    async with http:
        with pytest.raises(SkippableError) as info:
            await http.get("/via/v2/organizations/o/reporting/queries/teamActivity/data")
    return str(info.value)


async def test_error_examples_give_their_message() -> None:
    assert (await _error_message(400, load("error_response.json"))).endswith(": Bad Request")
    # ErrorResponseObj's "errors" is a string where the schema says array: the message still reads
    assert (await _error_message(404, load("error_response_obj.json"))).endswith(": Not Found")
    item = msgspec.json.decode(load("error_response_item.json"))
    assert item == {"scope": "scope", "reason": "reason", "message": "message"}


def test_drifted_case_zoneless_and_string_numbers_read_like_the_original() -> None:
    original = decode_rows(load("user_activity.json"), UserActivityRow).items[0]
    drifted = (
        b'{"kind": "via#queryDataList", "totalItems": 1, "rows": [{"userid": "Keran123", "TeamId": "salseTeam",'
        b' "preferredName": "Keran Bloggs", "teamName": "Sales team", "signontime": "2018-02-07 11:29:46",'
        b' "StateId": "active", "stateName": "Active", "state_start_time": "2018-02-07T11:29:46",'
        b' "reasonId": "break", "reasonName": "", "interactionCount": "1",'
        b' "signOnTimeLocal": "2018-02-07T11:29:46-07:00", "stateStartTimeLocal": "2018-02-07T11:29:46-07:00",'
        b' "stateDur": "5", "signOnDur": 664.0}]}'
    )
    (row,) = decode_rows(drifted, UserActivityRow).items
    assert row == original


def test_a_bad_row_is_kept_with_its_bytes_and_the_rest_is_read() -> None:
    body = (
        b'{"rows": [{"userId": "a", "stateId": "idle", "stateStartTime": "2018-02-07T11:29:46Z"},'
        b' {"userId": "b", "stateStartTime": "yesterday"}, {"stateId": "idle"}], "totalItems": 3}'
    )
    items = decode_rows(body, UserActivityRow).items
    assert [type(i) for i in items] == [UserActivityRow, BadRecord, BadRecord]
    bad = items[1]
    assert isinstance(bad, BadRecord) and json.loads(bad.raw)["userId"] == "b"
    assert "UserActivityRow" in bad.reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!DOCTYPE html><html>maintenance</html>", "not valid JSON"),
        (b'["rows"]', "not a JSON object"),
        (b'{"error": "Bad Request"}', "no 'rows' array"),
        (b'{"rows": {"userId": "a"}}', "'rows' is not an array"),
        (load("user_activity.json")[:120], "not valid JSON"),
    ],
)
def test_unreadable_bodies_are_skippable_with_their_bytes(body: bytes, reason: str) -> None:
    with pytest.raises(SkippableError, match=reason) as info:
        decode_rows(body, UserActivityRow)
    assert info.value.raw == body


def test_bodies_unreadable_beyond_syntax_are_skippable_too() -> None:
    deep = b'{"rows": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(SkippableError) as info:
        decode_rows(deep, UserActivityRow)
    assert info.value.raw == deep
    (bad,) = decode_rows(b'{"rows": [{"userId": "\xff"}], "totalItems": 1}', UserActivityRow).items
    assert isinstance(bad, BadRecord) and bad.raw == b'{"userId": "\xff"}'


def test_empty_snapshots() -> None:
    assert decode_rows(b'{"kind": "via#queryDataList", "totalItems": 0}', TeamActivityRow).items == []
    assert decode_rows(b'{"totalItems": 0, "rows": null}', TeamActivityRow).items == []
    assert decode_rows(b'{"totalItems": 0, "rows": []}', TeamActivityRow).items == []


def test_a_glued_literal_is_repaired_like_in_the_other_seeds() -> None:
    body = load("team_activity.json").replace(b'"teamName": "Sales Team"', b'"teamName": null"Sales Team"')
    (row,) = decode_rows(body, TeamActivityRow).items
    assert isinstance(row, TeamActivityRow) and row.team_name == "Sales Team"


def test_unknown_statistics_pass_through() -> None:
    raw = b'{"teamId": "t", "idleCount": 1, "reservedCount": 2, "avgHandleDur": 30, "nested": {"a": 1}}'
    assert extra_fields(raw, TeamActivityRow) == {"reserved_count": 2, "avg_handle_dur": 30}
    assert snake("recordsInActive") == "records_in_active" and snake("maxQueueDur") == "max_queue_dur"


def test_fixtures_dir_has_only_the_examples_and_the_readme() -> None:
    names = {p.name for p in FIXTURES.iterdir()}
    assert names == set(EXAMPLES) | {"README.md"}
