"""Fixtures of the Alvaria tests: the seed document's JSON examples, verbatim, and the
"changed after a few polls" variants derived from them by exact text replacement."""

from __future__ import annotations

from tests import paths

FIXTURES = paths.FIXTURES / "alvaria"
SEED_DOC = paths.SEEDS / "alvaria-cloud-reporting-api.txt"

EXAMPLES = {
    # fixture -> (model, what it is)
    "user_activity.json": "userActivity 200 response",
    "team_activity.json": "teamActivity 200 response",
    "channel_activity.json": "channelActivity 200 response",
    "list_activity.json": "listActivity 200 response",
    "presence_users.json": "presence/users 200 response",
    "user_activity_row.json": "userActivityRow schema",
    "team_activity_row.json": "teamActivityRows schema",
    "channel_activity_row.json": "channelActivityRow schema",
    "user_row.json": "userRow schema",
    "error_response.json": "ErrorResponse schema",
    "error_response_obj.json": "ErrorResponseObj schema",
    "error_response_item.json": "ErrorResponseItem schema",
}


def load(name: str) -> bytes:
    """The bytes of ``tests/fixtures/alvaria/<name>``."""
    return (FIXTURES / name).read_bytes()


def _replace(body: bytes, *pairs: tuple[bytes, bytes]) -> bytes:
    for old, new in pairs:
        assert body.count(old) == 1, old
        body = body.replace(old, new)
    return body


def user_activity_changed(state_dur: int = 3) -> bytes:
    """The seed's userActivity after Keran123 finished the call: active -> wrap 76 s later
    (durations as the vendor would count them)."""
    return _replace(
        load("user_activity.json"),
        (b'"stateId": "active"', b'"stateId": "wrap"'),
        (b'"stateName": "Active"', b'"stateName": "Wrap"'),
        (b'"stateStartTime": "2018-02-07T11:29:46Z"', b'"stateStartTime": "2018-02-07T11:31:02Z"'),
        (b'"stateStartTimeLocal": "2018-02-07T11:29:46-07:00"', b'"stateStartTimeLocal": "2018-02-07T11:31:02-07:00"'),
        (b'"interactionCount": 1', b'"interactionCount": 0'),
        (b'"stateDur": 5', b'"stateDur": %d' % state_dur),
        (b'"signOnDur": 664', b'"signOnDur": %d' % (740 + state_dur)),
    )


def user_activity_durations(state_dur: int) -> bytes:
    """The seed's userActivity, only the clock-driven durations moved on."""
    return _replace(
        load("user_activity.json"),
        (b'"stateDur": 5', b'"stateDur": %d' % state_dur),
        (b'"signOnDur": 664', b'"signOnDur": %d' % (659 + state_dur)),
    )


def team_activity_changed() -> bytes:
    """The seed's teamActivity once its idle user went to wrap."""
    return _replace(
        load("team_activity.json"),
        (b'"idleCount": 1', b'"idleCount": 0'),
        (b'"wrapCount": 0', b'"wrapCount": 1'),
    )


def channel_activity_durations(queue_dur: int) -> bytes:
    """The seed's channelActivity, only the queue durations moved on."""
    return _replace(
        load("channel_activity.json"),
        (b'"queueDur": 5', b'"queueDur": %d' % queue_dur),
        (b'"maxQueueDur": 0', b'"maxQueueDur": %d' % queue_dur),
    )


def user_activity_state(state_id: str, state_name: str, start: str = "2018-02-07T11:31:02Z") -> bytes:
    """The seed's userActivity with Keran123 in another state of the doc's enumeration
    since ``start`` (everything else, the leftover ``reasonId`` "break" too, as served)."""
    return _replace(
        load("user_activity.json"),
        (b'"stateId": "active"', b'"stateId": "%s"' % state_id.encode()),
        (b'"stateName": "Active"', b'"stateName": "%s"' % state_name.encode()),
        (b'"stateStartTime": "2018-02-07T11:29:46Z"', b'"stateStartTime": "%s"' % start.encode()),
    )
