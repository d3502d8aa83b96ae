"""The pure Alvaria trackers: user states, presence, sessions, logged-on users, statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.engine.emit import SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.track.ledger import Ledger
from streamer.vendors.alvaria.mapping import (
    STATES,
    LoggedOnState,
    UsersState,
    channel_drafts,
    presence_of,
    team_drafts,
    track_logged_on,
    track_users,
    work_state,
)
from streamer.vendors.alvaria.models import PresenceUser, Rows, TeamActivityRow, UserActivityRow, decode_rows
from streamer.vendors.kit.endpoints import spread_offsets
from tests.unit.vendors.alvaria._fixtures import load, user_activity_state

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
NOW = int((T0 + timedelta(hours=1)).timestamp() * 1000)
CTX = SourceContext("alvaria", "alv", "cc")


def row(user: str = "u1", state: str = "idle", start_s: int = 0, *, sign_on_s: int | None = 0,
        reason_id: str = "", reason_name: str = "", dur: int = 0, name: str | None = None, count: int = 0) -> UserActivityRow:
    return UserActivityRow(
        user_id=user, team_id="t", state_id=state, state_name=name or state.title(),
        state_start_time=T0 + timedelta(seconds=start_s),
        sign_on_time=None if sign_on_s is None else T0 + timedelta(seconds=sign_on_s),
        reason_id=reason_id, reason_name=reason_name, interaction_count=count, state_dur=dur, sign_on_dur=dur,
    )


class Run:
    """Feeds answers through the tracker and the real emit/ledger/rules."""

    def __init__(self) -> None:
        self.state = UsersState()
        self.ledger = Ledger()
        self.events: list[dict[str, Any]] = []

    def team(self, team: str, rows: list[UserActivityRow], now_ms: int = NOW, complete: bool = True) -> list[dict[str, Any]]:
        drafts, self.state = track_users(team, rows, self.state, now_ms, complete=complete)
        out = [msgspec.json.decode(r.value) for r, _ in emit_with_rules(drafts, self.ledger, CTX, now_ms)]
        self.events += out
        return out


def kinds(evs: list[dict[str, Any]], *, workload: bool = False) -> list[tuple[str, str]]:
    """What happened to whom; workload events (tested on their own below) only if asked."""
    short = {"cc.agent.state.changed": "state", "cc.agent.presence.changed": "presence",
             "cc.agent.session.started": "started", "cc.agent.session.ended": "ended",
             "cc.agent.workload.changed": "workload"}
    return [(short[e["type"]], e["subject"]) for e in evs
            if workload or e["type"] != "cc.agent.workload.changed"]


def test_first_sight_then_active_to_wrap_is_one_state_event() -> None:
    run = Run()
    first = run.team("t", [row(state="active", start_s=10, count=1)])
    assert kinds(first, workload=True) == [("presence", "u1"), ("state", "u1"), ("workload", "u1")]
    pres, state, _ = (e["data"] for e in first)
    assert pres["previous"] is None and pres["current"] == {
        "name": "Ready", "category": "Ready", "eligible_for_routing": True, "reason": None, "raw": None}
    assert state["current"] == {"state": "Busy", "raw": "active", "reason": None} and state["previous"] is None
    assert state["since"] == "2024-03-01T09:00:10.000Z"
    # durations only: nothing
    assert run.team("t", [row(state="active", start_s=10, count=1, dur=99)]) == []
    wrap, load = run.team("t", [row(state="wrap", start_s=70)])
    d = wrap["data"]
    assert wrap["type"] == "cc.agent.state.changed" and wrap["time"] == "2024-03-01T09:01:10.000Z"
    assert d["previous"] == {"state": "Busy", "raw": "active", "reason": None}
    assert d["current"] == {"state": "Wrap", "raw": "wrap", "reason": None}
    assert d["previous_duration_ms"] == 60_000 and d["sequence"] == 4
    assert load["type"] == "cc.agent.workload.changed" and load["data"]["current"]["total"] == 0


def test_presence_changes_only_between_ready_away_and_logged_out() -> None:
    run = Run()
    run.team("t", [row(state="idle", start_s=0)])
    assert kinds(run.team("t", [row(state="active", start_s=5)])) == [("state", "u1")]
    away = run.team("t", [row(state="notready", start_s=9, reason_id="brk", reason_name="Break", name="Not Ready")])
    assert kinds(away) == [("presence", "u1"), ("state", "u1")]
    p = away[0]["data"]
    assert (p["previous"]["category"], p["current"]["category"], p["current"]["reason"], p["current"]["name"]) == (
        "Ready", "Away", "Break", "Not Ready")
    assert away[1]["data"]["current"]["reason"] == "Break"
    back = run.team("t", [row(state="idle", start_s=20)])
    assert kinds(back) == [("presence", "u1"), ("state", "u1")]
    assert back[0]["data"]["since"] == "2024-03-01T09:00:20.000Z" and back[0]["data"]["previous_duration_ms"] == 11_000


def test_login_is_dated_by_sign_on_time_and_gives_one_session() -> None:
    run = Run()
    run.team("t", [row(state="loggedoff", start_s=0, sign_on_s=None, name="Logged Off")])
    evs = run.team("t", [row(state="idle", start_s=40, sign_on_s=30)])
    assert kinds(evs) == [("presence", "u1"), ("started", "u1"), ("state", "u1")]
    assert evs[0]["data"]["since"] == "2024-03-01T09:00:30.000Z"  # the login, not the idle start
    assert evs[1]["data"]["at"] == "2024-03-01T09:00:30.000Z" and evs[1]["data"]["rule"] == "presence-left-LoggedOut"
    assert evs[2]["data"]["since"] == "2024-03-01T09:00:40.000Z"
    out = run.team("t", [row(state="loggedoff", start_s=90, sign_on_s=30, name="Logged Off")])
    assert kinds(out) == [("presence", "u1"), ("ended", "u1"), ("state", "u1")]
    assert out[1]["data"]["at"] == "2024-03-01T09:01:30.000Z"


def test_a_stale_sign_on_time_is_not_taken_for_a_login() -> None:
    run = Run()
    run.team("t", [row(state="loggedoff", start_s=100, sign_on_s=None)])
    evs = run.team("t", [row(state="idle", start_s=140, sign_on_s=30)])  # signOnTime of an older session
    assert evs[0]["data"]["since"] == "2024-03-01T09:02:20.000Z"


def test_a_user_gone_from_every_team_is_logged_out_once() -> None:
    run = Run()
    run.team("a", [row("u1", "idle"), row("u2", "active", 3)])
    run.team("b", [row("u2", "active", 3)])
    assert run.team("a", [row("u2", "active", 3)]) != []  # u1 gone from a, and from every team
    gone = run.events[-3:]
    assert kinds(gone) == [("presence", "u1"), ("ended", "u1"), ("state", "u1")]
    assert all(e["data"]["inferred"] and e["data"]["rule"] in ("absent-from-userActivity", "presence-entered-LoggedOut")
               for e in gone)
    assert gone[0]["time"] == "2024-03-01T10:00:00.000Z"  # the poll time: the vendor gives none
    assert run.team("a", [row("u2", "active", 3)]) == []  # said once
    # u2 leaves team a but is still in b: nothing
    assert kinds(run.team("a", [row("u3", "idle")])) == [("presence", "u3"), ("state", "u3")]
    # back: a login at signOnTime
    back = run.team("a", [row("u1", "idle", 4000, sign_on_s=3900), row("u3", "idle")], now_ms=NOW + 1000)
    assert kinds(back) == [("presence", "u1"), ("started", "u1"), ("state", "u1")]
    assert back[1]["data"]["at"] == "2024-03-01T10:05:00.000Z"


def test_empty_or_partly_unreadable_answers_log_nobody_out() -> None:
    run = Run()
    run.team("t", [row("u1"), row("u2")])
    assert run.team("t", []) == []  # the doc: 0 rows may be a permission problem
    assert run.team("t", [row("u1")], complete=False) == []  # u2 may be the unreadable row
    assert kinds(run.team("t", [row("u1")])) == [("presence", "u2"), ("ended", "u2"), ("state", "u2")]


def test_unknown_states_are_kept_raw_and_reasons_only_where_they_belong() -> None:
    odd = row(state="usercleared", name="User Cleared", reason_id="x")
    assert work_state(odd).state == "Unknown" and work_state(odd).raw == "usercleared"
    p = presence_of(odd)
    assert p.category == "Unknown" and p.raw == {"stateId": "usercleared", "stateName": "User Cleared"}
    # the doc's example: reasonId "break" on "active" is a leftover, not a reason
    assert work_state(row(state="active", reason_id="break")).reason is None
    assert work_state(row(state="park", reason_id="lunch")).reason == "lunch"
    assert work_state(row(state="park", reason_id="lunch", reason_name="Lunch")).reason == "Lunch"
    # stateName alone is enough
    named = UserActivityRow(user_id="u", state_name="Not Ready")
    assert work_state(named).state == "NotReady" and presence_of(named).category == "Away"
    assert {v[0] for v in STATES.values()} == {"Idle", "Busy", "Wrap", "NotReady", "LoggedOut"}


# Issue 15 A4: the states the simulator did not produce, each read from the seed's own row.
# stateId -> (the doc's stateName, normalized state, presence category, reason)
DOC_STATES = {
    "held": ("Held", "Busy", "Ready", None),
    "park": ("Park", "NotReady", "Away", "break"),
    "parkwarning": ("Park Warning", "NotReady", "Away", "break"),
    "preview": ("Preview", "Busy", "Ready", None),
    "reserved": ("Reserved", "Busy", "Ready", None),
    "loggedon": ("Logged On", "NotReady", "Away", None),
    "wrapwarning": ("Wrap Warning", "Wrap", "Ready", None),
}


@pytest.mark.parametrize("state_id", sorted(DOC_STATES))
def test_each_documented_state_from_a_seed_shaped_row(state_id: str) -> None:
    name, norm, category, reason = DOC_STATES[state_id]
    run = Run()
    run.team("salesTeam", _good(decode_rows(load("user_activity.json"), UserActivityRow)))  # active, Ready
    evs = run.team("salesTeam", _good(decode_rows(user_activity_state(state_id, name), UserActivityRow)))
    by_type = {e["type"]: e["data"] for e in evs}
    state = by_type["cc.agent.state.changed"]
    assert state["current"] == {"state": norm, "raw": state_id, "reason": reason}
    assert state["previous"] == {"state": "Busy", "raw": "active", "reason": None}
    assert state["since"] == "2018-02-07T11:31:02.000Z"  # stateStartTime
    presence = by_type.get("cc.agent.presence.changed")
    if category == "Ready":  # a working state: the presence stays Ready
        assert presence is None, presence
    else:
        assert presence is not None and presence["previous"]["category"] == "Ready"
        assert (presence["current"]["category"], presence["current"]["name"], presence["current"]["reason"]) == (
            category, name, reason)
        assert presence["current"]["eligible_for_routing"] is False
    # only by its stateName (stateId is "internal" and "may change"): the same reading
    named = UserActivityRow(user_id="u", state_name=name)
    assert work_state(named).state == norm and presence_of(named).category == category


def _good(rows: Rows[UserActivityRow]) -> list[UserActivityRow]:
    return [r for r in rows.items if isinstance(r, UserActivityRow)]


def test_a_state_without_start_time_is_not_repeated() -> None:
    run = Run()
    no_start = UserActivityRow(user_id="u1", state_id="idle", state_name="Idle", interaction_count=0)
    first = run.team("t", [no_start], now_ms=NOW)
    assert kinds(first) == [("presence", "u1"), ("state", "u1")] and first[1]["time"] == "2024-03-01T10:00:00.000Z"
    changed = msgspec.structs.replace(no_start, interaction_count=1, preferred_name="X")
    (load,) = run.team("t", [changed], now_ms=NOW + 5000)  # the state is not repeated; the count changed
    assert load["type"] == "cc.agent.workload.changed" and load["time"] == "2024-03-01T10:00:05.000Z"


def test_logged_on_users_give_sessions_after_the_first_answer() -> None:
    def users(*pairs: tuple[str, str]) -> list[PresenceUser]:
        return [PresenceUser(user_id=u, ehub_session_id=s) for u, s in pairs]

    drafts, state = track_logged_on(users(("a", "1"), ("b", "2")), LoggedOnState(), NOW)
    assert drafts == [] and state.sessions == {"a": "1", "b": "2"}  # first answer: seed only
    drafts, state = track_logged_on(users(("a", "1"), ("c", "3")), state, NOW + 1000)
    assert [(d.type, d.entity_id, d.transition) for d in drafts] == [
        ("cc.agent.session.started", "c", "started:3"), ("cc.agent.session.ended", "b", "ended:2")]
    drafts, state = track_logged_on(users(("a", "9"), ("c", "3")), state, NOW + 2000, skip={"c"})
    assert [(d.type, d.entity_id, d.transition) for d in drafts] == [
        ("cc.agent.session.ended", "a", "ended:1"), ("cc.agent.session.started", "a", "started:9")]
    drafts, same = track_logged_on([], state, NOW + 3000, skip={"c"}, complete=False)
    assert drafts == [] and same.sessions == state.sessions  # an unreadable entry may be anyone
    drafts, _ = track_logged_on([], state, NOW + 3000, skip={"c"})
    assert [(d.type, d.entity_id) for d in drafts] == [("cc.agent.session.ended", "a")]
    assert all(d.payload.inferred and d.payload.rule.startswith("presence-users-") for d in drafts)


def test_stats_publish_on_count_changes_not_on_durations() -> None:
    ledger = Ledger()

    def team(idle: int, **extra: Any) -> list[dict[str, Any]]:
        r = TeamActivityRow(team_id="t1", team_name="T", idle_count=idle, wrap_count=0)
        raw = msgspec.json.encode({"teamId": "t1", "idleCount": idle, **extra})
        drafts = team_drafts("t1", Rows(items=[r], raws=[raw]), NOW)
        return [msgspec.json.decode(x.value) for x, _ in emit_with_rules(drafts, ledger, CTX, NOW)]

    (first,) = team(1, avgHandleDur=10)
    assert first["subject"] == "team/t1" and first["data"]["scope"] == "team" and first["data"]["entity_id"] == "t1"
    assert first["data"]["changes"]["idle_count"] == [None, 1] and "avg_handle_dur" not in first["data"]["changes"]
    assert first["data"]["values"]["avg_handle_dur"] == 10  # an unknown duration rides along
    assert team(1, avgHandleDur=55) == []
    (change,) = team(0, avgHandleDur=60)
    assert change["data"]["changes"] == {"idle_count": [1, 0]}
    assert change["data"]["values"]["avg_handle_dur"] == 60


def test_channel_rows_are_entities_per_interaction_type() -> None:
    from streamer.vendors.alvaria.models import ChannelActivityRow

    rows = Rows(items=[ChannelActivityRow(work_type_id="w", interaction_type_id="inboundacd", queue_count=2, queue_dur=40),
                       ChannelActivityRow(interaction_type_id="inboundchat", queue_count=0)], raws=[b"{}", b"{}"])
    a, b = channel_drafts("w", rows, NOW)
    assert (a.entity_id, b.entity_id) == ("channel/w/inboundacd", "channel/w/inboundchat")
    assert "queue_dur" in a.ride_along and "queue_count" not in a.ride_along  # type: ignore[operator]


def test_spread_offsets() -> None:
    assert spread_offsets(4, 2.0) == [0.0, 0.5, 1.0, 1.5]
    assert spread_offsets(1, 2.0) == [0.0] and spread_offsets(0, 2.0) == []


# --- property: any sequence of answers gives a consistent stream ---------------------------

STATE_IDS = sorted(STATES) + ["exception"]
step = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.sampled_from(STATE_IDS),
    st.integers(min_value=0, max_value=3),  # seconds the state started after the previous step
    st.booleans(),  # present in the answer
    st.sampled_from(["", "brk", "lunch"]),
)


@settings(deadline=None)
@given(st.lists(st.lists(step, min_size=1, max_size=4), min_size=1, max_size=12))
def test_any_answers_give_chained_unique_events_and_paired_sessions(polls: list[list[tuple[Any, ...]]]) -> None:
    run = Run()
    clock = 0
    last: dict[str, UserActivityRow] = {}
    for i, poll in enumerate(polls):
        clock += 5
        rows: dict[str, UserActivityRow | None] = {}
        for user, state, delta, present, reason in poll:
            if not present:
                rows[user] = None
                continue
            prev = last.get(user)
            start = clock + delta
            if prev is not None and prev.state_id == state and prev.reason_id == reason:
                start = int((prev.state_start_time - T0).total_seconds())  # type: ignore[operator]
            rows[user] = row(user, state, start, sign_on_s=start - 1, reason_id=reason)
        for user, r in rows.items():
            if r is not None:
                last[user] = r
        present = [r for r in rows.values() if r is not None]
        for u in {u for u, r in rows.items() if r is None}:
            last.pop(u, None)
        run.team("t", present, now_ms=int((T0 + timedelta(seconds=clock + 4)).timestamp() * 1000))
    evs = run.events
    assert len({e["id"] for e in evs}) == len(evs)
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in evs:
        by_key.setdefault((e["subject"], e["type"]), []).append(e["data"])
    for (user, type_), chain in by_key.items():
        if type_ in ("cc.agent.state.changed", "cc.agent.presence.changed"):
            assert chain[0]["previous"] is None
            for before, after in zip(chain, chain[1:]):
                assert after["previous"] == before["current"], (user, type_)
        if type_ == "cc.agent.presence.changed":
            assert all(d["current"] != d["previous"] for d in chain), chain
    for user in {e["subject"] for e in evs}:
        sessions = [e["type"] for e in evs if e["subject"] == user and "session" in e["type"]]
        assert all(a != b for a, b in zip(sessions, sessions[1:])), sessions  # started/ended alternate
        presences = [e["data"] for e in evs if e["subject"] == user and e["type"] == "cc.agent.presence.changed"]
        crossings = sum(1 for p in presences if p["previous"] is not None
                        and (p["previous"]["category"] == "LoggedOut") != (p["current"]["category"] == "LoggedOut"))
        assert len(sessions) == crossings
        seqs = [e["data"]["sequence"] for e in evs if e["subject"] == user]
        assert seqs == list(range(1, len(seqs) + 1))


def test_interaction_count_is_the_workload_total_timed_by_the_state_change() -> None:
    run = Run()
    (load,) = [e for e in run.team("t", [row(state="idle", start_s=0)]) if e["type"] == "cc.agent.workload.changed"]
    assert load["data"]["current"] == {"calls": None, "total": 0}
    assert load["data"]["previous"] is None and load["time"] == "2024-03-01T09:00:00.000Z"
    # a call arrives: state and count change together, at stateStartTime
    evs = run.team("t", [row(state="active", start_s=30, count=1)])
    assert kinds(evs, workload=True) == [("state", "u1"), ("workload", "u1")]
    assert evs[1]["time"] == "2024-03-01T09:00:30.000Z" and evs[1]["data"]["current"]["total"] == 1
    assert evs[1]["data"]["previous"]["total"] == 0 and evs[1]["data"]["previous_duration_ms"] == 30_000
    assert run.team("t", [row(state="active", start_s=30, count=1, dur=50)]) == []  # same count: nothing
    evs = run.team("t", [row(state="multiline", start_s=40, count=2)])
    assert kinds(evs, workload=True) == [("state", "u1"), ("workload", "u1")]
    # a third one while the state (and its start) stays: timed when seen
    (third,) = run.team("t", [row(state="multiline", start_s=40, count=3)], now_ms=NOW + 7000)
    assert third["data"]["current"]["total"] == 3 and third["time"] == "2024-03-01T10:00:07.000Z"


def test_workload_of_a_user_gone_from_every_team_drops_to_zero_once_and_ids_survive_a_restart() -> None:
    run = Run()
    first = run.team("a", [row("u1", "active", 3, count=1), row("u2", "idle")])
    run.team("a", [row("u2", "idle")])
    gone = [e for e in run.events if e["type"] == "cc.agent.workload.changed" and e["subject"] == "u1"]
    assert [e["data"]["current"]["total"] for e in gone] == [1, 0]
    assert gone[1]["data"]["inferred"] and gone[1]["data"]["rule"] == "absent-from-userActivity"
    assert run.team("a", [row("u2", "idle")]) == []  # said once
    # a restarted tracker (empty memory) re-derives the same ids: the ledger publishes nothing twice
    restarted = Run()
    restarted.ledger = run.ledger
    assert restarted.team("a", [row("u2", "idle")]) == []
    assert any(e["type"] == "cc.agent.workload.changed" and e["subject"] == "u2" for e in first)
