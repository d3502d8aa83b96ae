"""The simulator's Alvaria facade: auth, shapes, and agreement with the world it renders."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streamer.simulator.alvaria import current_views
from streamer.simulator.alvaria_render import STATE_NAMES, Rules, parse_tz_offset, team_row
from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from streamer.vendors.alvaria.models import (
    UserActivityRow,
    decode_rows,
)

T0 = 1_700_000_000.0
ROOT = "/alvaria/via/v2/organizations/sim/reporting"
TOKEN = "/alvaria/tokenservice/oauth2/access_token"
FORM = {"grant_type": "client_credentials", "scope": "reportingapi"}


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(seed=11, agents=12, clock=clock)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=11)


@pytest.fixture
async def client(world: World, faults: Faults) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(world, faults))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        yield c


async def token(client: httpx.AsyncClient) -> dict[str, str]:
    r = await client.post(TOKEN, params={"realm": "sim"}, data=FORM, auth=("sim", "sim"))
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['access_token']}", "x-api-key": "sim-key"}


async def get(client: httpx.AsyncClient, headers: dict[str, str], path: str, **params: str) -> httpx.Response:
    return await client.get(f"{ROOT}/{path}", params=params, headers=headers)


async def test_token_endpoint(client: httpx.AsyncClient, clock: FakeClock, faults: Faults) -> None:
    r = await client.post(TOKEN, params={"realm": "sim"}, data=FORM, auth=("sim", "sim"))
    body = r.json()
    assert r.status_code == 200 and body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["scope"] == "reportingapi"
    bad = [
        ({"realm": "other"}, FORM, ("sim", "sim"), 400),
        ({"realm": "sim"}, FORM, ("sim", "nope"), 401),
        ({"realm": "sim"}, {**FORM, "grant_type": "password"}, ("sim", "sim"), 400),
        ({"realm": "sim"}, {**FORM, "scope": "provisioningapi"}, ("sim", "sim"), 400),
    ]
    for params, form, auth, status in bad:
        r = await client.post(TOKEN, params=params, data=form, auth=auth)
        assert r.status_code == status and "error" in r.json(), (params, form, auth)
    # credentials in the form instead of Basic auth are refused
    r = await client.post(TOKEN, params={"realm": "sim"}, data={**FORM, "client_id": "sim", "client_secret": "sim"})
    assert r.status_code == 401
    faults.update(short_token_ttl=3)
    h = await token(client)
    assert (await get(client, h, "queries/teamActivity/data", teamId="salesTeam")).status_code == 200
    clock.t += 4
    assert (await get(client, h, "queries/teamActivity/data", teamId="salesTeam")).status_code == 401


async def test_api_key_token_and_ids_are_checked(client: httpx.AsyncClient) -> None:
    h = await token(client)
    no_key = {"authorization": h["authorization"]}
    r = await get(client, no_key, "queries/teamActivity/data", teamId="salesTeam")
    assert r.status_code == 403 and r.json() == {"error": "Invalid ApiKey"}
    r = await get(client, {**h, "authorization": "Bearer sim-token"}, "queries/teamActivity/data", teamId="salesTeam")
    assert r.status_code == 401 and r.json() == {"error": "Unauthorized"}
    r = await client.get("/alvaria/via/v2/organizations/acme/reporting/queries/teamActivity/data",
                         params={"teamId": "salesTeam"}, headers=h)
    assert r.status_code == 404
    assert (await get(client, h, "queries/teamActivity/data", teamId="nope")).status_code == 404
    assert (await get(client, h, "queries/userActivity/data")).status_code == 400
    assert (await get(client, h, "queries/channelActivity/data", workTypeId="nope")).status_code == 404
    assert (await get(client, h, "queries/listActivity/data", contactList="nope")).status_code == 404
    assert (await get(client, h, "presence/users/data", state="LoggedOff")).status_code == 400
    assert (await get(client, h, "presence/users/data", state="LoggedOn", workTypeId="nope")).status_code == 404
    assert (await get(client, h, "queries/userActivity/data", teamId="salesTeam", tzOffset="+99")).status_code == 400


def _hold_times(world: World, agent: str, guid: str | None) -> tuple[set[int], set[int]]:
    """(starts, ends) in whole seconds of the holds ``agent`` put interaction ``guid`` on."""
    starts: set[int] = set()
    ends: set[int] = set()
    for i in world.interactions(lambda i: i.guid == guid):
        for e in i.channels[0].events:
            if e.type == "Held" and (e.properties or {}).get("initiatingAgentId") == agent:
                starts.add(e.start_ms // 1000)
                if e.end_ms is not None:
                    ends.add(e.end_ms // 1000)
    return starts, ends


async def test_user_states_follow_the_world(client: httpx.AsyncClient, world: World, clock: FakeClock) -> None:
    h = await token(client)
    rules = Rules()
    seen_states: set[str] = set()
    for _ in range(40):
        clock.t += 1.5
        body = (await get(client, h, "queries/userActivity/data", teamId="salesTeam")).content
        rows = [r for r in decode_rows(body, UserActivityRow).items if isinstance(r, UserActivityRow)]
        truth = {s.agent_id: s for s in world.agent_status()}
        assert [r.user_id for r in rows] == sorted(truth)
        now_ms = world.now_ms()
        for r in rows:
            s = truth[r.user_id]
            seen_states.add(r.state_id or "")
            assert r.state_start_time is not None and r.state_dur is not None
            assert r.state_name == STATE_NAMES[r.state_id or ""]
            start_s = int(r.state_start_time.timestamp())
            whole = (now_ms - start_s * 1000) // 1000  # the time shows whole seconds
            assert r.state_dur in (whole, whole - 1)
            if s.presence.category == "LoggedOut":
                assert r.state_id == "loggedoff" and r.sign_on_time is None
                assert start_s == s.presence.start_ms // 1000
            elif s.presence.name == "Break":
                warn = s.presence.start_ms + rules.ms(rules.park_warning_s)
                expected = ("parkwarning", warn) if now_ms >= warn else ("park", s.presence.start_ms)
                assert (r.state_id, start_s, r.reason_name) == (expected[0], expected[1] // 1000, "Break")
            elif s.presence.category != "Ready":
                assert (r.state_id, r.reason_name) == ("notready", s.presence.name)
            elif not s.interactions:
                assert r.state_id in ("idle", "loggedon", "reserved", "preview") and r.interaction_count == 0
                if r.state_id == "loggedon":
                    assert r.sign_on_time is not None and start_s == s.presence.start_ms // 1000
                if r.state_id in ("reserved", "preview"):
                    assert rules.previews(r.user_id)
            else:
                (x,) = s.interactions
                expected = {"Ringing": {"pendingactive"}, "Connected": {"active", "held"},
                            "Wrap": {"wrap", "wrapwarning"}, "Unexpected": {"notready"}}
                assert r.state_id in expected[x.category or ""] and r.interaction_count == 1
                held_at, unheld_at = _hold_times(world, r.user_id, x.interaction_guid)
                if r.state_id == "held":
                    assert start_s in held_at
                elif r.state_id == "active":
                    assert start_s in {x.start_ms // 1000} | unheld_at
                elif r.state_id == "wrapwarning":
                    assert start_s == (x.start_ms + rules.ms(rules.wrap_warning_s)) // 1000
                    assert now_ms - x.start_ms >= rules.ms(rules.wrap_warning_s)
                else:
                    assert start_s == x.start_ms // 1000
            if r.state_id != "loggedoff":
                assert r.sign_on_time is not None and r.sign_on_time.timestamp() <= now_ms / 1000
    assert {"loggedoff", "idle", "pendingactive", "active", "wrap", "notready", "park"} <= seen_states


RULE_STATES = ("held", "park", "parkwarning", "preview", "reserved", "loggedon", "wrapwarning")


def test_a_seeded_run_shows_every_state_the_doc_lists_and_the_world_can_give(clock: FakeClock) -> None:
    """Issue 15 A4: each of these states appears; the same seed gives the same states."""

    rules = Rules()

    def run() -> tuple[Counter[str], dict[str, list[tuple[str, int]]]]:
        clock.t = T0
        world = World(seed=11, agents=12, clock=clock)
        seen: Counter[str] = Counter()
        changes: dict[str, list[tuple[str, int]]] = {}
        for _ in range(480):  # 120 s, in steps finer than the shortest rule state (1 s)
            clock.t += 0.25
            with world.lock:
                views = current_views(world, world.advance())
            team = team_row("salesTeam", views.values())
            for uid, v in views.items():
                seen[v.state_id] += 1
                mine = changes.setdefault(uid, [])
                if not mine or mine[-1] != (v.state_id, v.state_start_ms):
                    mine.append((v.state_id, v.state_start_ms))
                if v.state_id in ("reserved", "preview"):
                    assert rules.previews(uid)
            for field, state in (("holdCount", "held"), ("parkCount", "park"), ("parkWarningCount", "parkwarning"),
                                 ("wrapWarningCount", "wrapwarning"), ("previewCount", "preview")):
                assert team[field] == sum(v.state_id == state for v in views.values()), field
        return seen, changes

    seen, changes = run()
    missing = [s for s in RULE_STATES if not seen[s]]
    assert not missing, (missing, seen)
    print({s: seen[s] for s in RULE_STATES})
    assert run()[1] == changes  # deterministic: the same seed, the same states at the same times
    follows = {"wrapwarning": ("wrap", rules.ms(rules.wrap_warning_s)),
               "parkwarning": ("park", rules.ms(rules.park_warning_s)),
               "preview": ("reserved", rules.ms(rules.reserved_s))}
    checked = Counter()
    for mine in changes.values():
        for (state, at), (nxt, at2) in zip(mine, mine[1:]):
            if nxt in follows:
                assert (state, at2 - at) == follows[nxt], (state, at, nxt, at2)
                checked[nxt] += 1
            if nxt == "loggedon":  # only just after a login
                assert state == "loggedoff", (state, at, nxt, at2)
    assert set(checked) == set(follows), checked


@pytest.mark.parametrize(("text", "minutes"), [("Z", 0), ("+01:00", 60), ("+2", 120), ("-0030", -30), ("+05:30:00", 330)])
def test_tz_offsets(text: str, minutes: int) -> None:
    tz = parse_tz_offset(text)
    assert tz is not None and tz.utcoffset(None).total_seconds() == minutes * 60  # type: ignore[union-attr]


async def test_local_times_use_tz_offset(client: httpx.AsyncClient, clock: FakeClock) -> None:
    h = await token(client)
    clock.t += 10
    rows: list[Any] = (await get(client, h, "queries/userActivity/data", teamId="salesTeam", tzOffset="+01:00")).json()["rows"]
    r = rows[0]
    assert r["stateStartTime"].endswith("Z") and r["stateStartTimeLocal"].endswith("+01:00")
