"""Golden events of the Alvaria seed examples (each fed as successive polls), plus the facts
they must show, asserted explicitly.

Regenerate with ``UPDATE_GOLDEN=1 pytest tests/unit/vendors/alvaria/test_golden.py``; review the diff.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from streamer.engine.emit import Draft, SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.track.ledger import Ledger
from streamer.vendors.alvaria.mapping import (
    LoggedOnState,
    UsersState,
    channel_drafts,
    list_drafts,
    team_drafts,
    track_logged_on,
    track_users,
)
from streamer.vendors.alvaria.models import (
    ChannelActivityRow,
    PresenceUser,
    TeamActivityRow,
    UserActivityRow,
    decode_list_activity,
    decode_rows,
)
from tests.unit.vendors._golden import check_golden as shared_check_golden
from tests.unit.vendors.alvaria._fixtures import (
    channel_activity_durations,
    load,
    team_activity_changed,
    user_activity_changed,
    user_activity_durations,
)

CTX = SourceContext("alvaria", "seed", "cc")
OBSERVED_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z, the first poll
POLL_MS = 2_000


def check_golden(name: str, evs: list[dict[str, Any]]) -> None:
    shared_check_golden(f"alvaria/{name}.events.json", evs)


def polls(bodies: list[bytes], drafts_of: Callable[[bytes, int], list[Draft]]) -> list[dict[str, Any]]:
    """Each body is one poll, ``POLL_MS`` apart, through one ledger (emit + session rule)."""
    ledger = Ledger()
    out: list[dict[str, Any]] = []
    for i, body in enumerate(bodies):
        now = OBSERVED_MS + i * POLL_MS
        out += [msgspec.json.decode(r.value) for r, _ in emit_with_rules(drafts_of(body, now), ledger, CTX, now)]
    return out


def _common(evs: list[dict[str, Any]], endpoint: str) -> None:
    assert len({e["id"] for e in evs}) == len(evs)
    for e in evs:
        assert e["specversion"] == "1.0" and e["source"] == f"/alvaria/seed/{endpoint}"
    seqs: dict[str, list[int]] = {}
    for e in evs:
        seqs.setdefault(e["subject"], []).append(e["data"]["sequence"])
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values()), seqs


def user_events() -> list[dict[str, Any]]:
    state = UsersState()

    def drafts(body: bytes, now: int) -> list[Draft]:
        nonlocal state
        rows = [r for r in decode_rows(body, UserActivityRow).items if isinstance(r, UserActivityRow)]
        out, state = track_users("salesTeam", rows, state, now)
        return out

    bodies = [load("user_activity.json"), user_activity_durations(7), user_activity_durations(9),
              user_activity_changed(1), user_activity_changed(3)]
    return polls(bodies, drafts)


def test_user_activity_seed() -> None:
    evs = user_events()
    _common(evs, "userActivity")
    assert [(e["type"], e["subject"], e["time"]) for e in evs] == [
        ("cc.agent.presence.changed", "Keran123", "2018-02-07T11:29:46.000Z"),
        ("cc.agent.state.changed", "Keran123", "2018-02-07T11:29:46.000Z"),
        ("cc.agent.workload.changed", "Keran123", "2018-02-07T11:29:46.000Z"),
        ("cc.agent.state.changed", "Keran123", "2018-02-07T11:31:02.000Z"),
        ("cc.agent.workload.changed", "Keran123", "2018-02-07T11:31:02.000Z"),
    ]
    presence, first, load1, change, load0 = (e["data"] for e in evs)
    assert presence["previous"] is None and presence["current"]["category"] == "Ready"
    assert first["previous"] is None
    assert first["current"] == {"state": "Busy", "raw": "active", "reason": None}  # "break" is a leftover
    assert change["previous"] == first["current"]
    assert change["current"] == {"state": "Wrap", "raw": "wrap", "reason": None}
    assert change["previous_duration_ms"] == 76_000 and change["since"] == "2018-02-07T11:31:02.000Z"
    # interactionCount: the doc's 1, then 0 in the changed variant; a total, not split by medium
    assert load1["previous"] is None and load1["current"] == {"calls": None,
                                                              "total": 1}
    assert load0["previous"] == load1["current"] and load0["current"]["total"] == 0
    assert load0["since"] == change["since"]  # the count changed with the state: stateStartTime
    assert all(e["observedtime"] == "2023-11-14T22:13:20.000Z" for e in evs[:3])
    assert evs[3]["observedtime"] == "2023-11-14T22:13:26.000Z"  # the poll that saw the change
    check_golden("user_activity", evs)


def team_events() -> list[dict[str, Any]]:
    def drafts(body: bytes, now: int) -> list[Draft]:
        return team_drafts("salesTeam", decode_rows(body, TeamActivityRow), now)

    return polls([load("team_activity.json")] * 3 + [team_activity_changed()] * 2, drafts)


def test_team_activity_seed() -> None:
    evs = team_events()
    _common(evs, "teamActivity")
    assert [(e["type"], e["subject"], e["time"]) for e in evs] == [
        ("cc.stats.changed", "team/salesTeam", "2023-11-14T22:13:20.000Z"),
        ("cc.stats.changed", "team/salesTeam", "2023-11-14T22:13:26.000Z"),
    ]
    first, change = (e["data"] for e in evs)
    assert (first["scope"], first["entity_id"], first["name"]) == ("team", "salesTeam", "Sales Team")
    assert first["changes"]["idle_count"] == [None, 1] and len(first["changes"]) == 11
    assert change["changes"] == {"idle_count": [1, 0], "wrap_count": [0, 1]}
    assert change["values"]["idle_count"] == 0 and change["sequence"] == 2
    check_golden("team_activity", evs)


def channel_events() -> list[dict[str, Any]]:
    def drafts(body: bytes, now: int) -> list[Draft]:
        return channel_drafts("worktype30_id", decode_rows(body, ChannelActivityRow), now)

    return polls([load("channel_activity.json"), channel_activity_durations(9), channel_activity_durations(13)], drafts)


def test_channel_activity_seed() -> None:
    evs = channel_events()
    _common(evs, "channelActivity")
    (only,) = evs  # the queue durations grew: they ride along, no event
    d = only["data"]
    assert only["subject"] == "channel/worktype30_id/InboundEmail" and d["scope"] == "channel"
    assert d["name"] == "workType30 / Inbound Email"
    assert "queue_dur" not in d["changes"] and d["values"]["queue_dur"] == 5
    assert d["values"]["longest_waiting_queue_time"] == "2018-02-07T11:29:46.000Z"
    assert d["changes"]["channel_type_id"] == [None, "email"]
    check_golden("channel_activity", evs)


def list_events() -> list[dict[str, Any]]:
    def drafts(body: bytes, now: int) -> list[Draft]:
        return list_drafts("ContactList1", decode_list_activity(body), now)

    return polls([load("list_activity.json")] * 2, drafts)


def test_list_activity_seed() -> None:
    evs = list_events()
    _common(evs, "listActivity")
    (only,) = evs
    d = only["data"]
    assert only["subject"] == "list/ContactList1" and (d["scope"], d["entity_id"]) == ("list", "ContactList1")
    assert d["changes"]["records_in_active"] == [None, 100] and d["changes"]["list_saturation"] == [None, 40]
    check_golden("list_activity", evs)


def presence_user_events() -> list[dict[str, Any]]:
    state = LoggedOnState()
    empty = b'{"kind": "via#presenceDataList", "users": [], "totalItems": 0}'

    def drafts(body: bytes, now: int) -> list[Draft]:
        nonlocal state
        users = [u for u in decode_rows(body, PresenceUser, key="users").items if isinstance(u, PresenceUser)]
        out, state = track_logged_on(users, state, now)
        return out

    return polls([empty, load("presence_users.json"), load("presence_users.json"), empty], drafts)


def test_presence_users_seed() -> None:
    evs = presence_user_events()
    _common(evs, "presenceUsers")
    assert [(e["type"], e["subject"], e["time"]) for e in evs] == [
        ("cc.agent.session.started", "Keran123", "2023-11-14T22:13:22.000Z"),
        ("cc.agent.session.ended", "Keran123", "2023-11-14T22:13:26.000Z"),
    ]
    started, ended = (e["data"] for e in evs)
    assert started["rule"] == "presence-users-appeared" and ended["rule"] == "presence-users-left"
    check_golden("presence_users", evs)


def test_golden_runs_are_deterministic() -> None:
    assert user_events() == user_events()
    assert team_events() == team_events()
