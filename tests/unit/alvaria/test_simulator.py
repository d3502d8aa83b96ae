"""The simulator's Alvaria facade: auth, shapes, and agreement with the world it renders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from streamer.simulator.alvaria_render import parse_tz_offset
from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from streamer.vendors.alvaria.models import (
    ChannelActivityRow,
    ListActivityRow,
    PresenceUser,
    TeamActivityRow,
    UserActivityRow,
    decode_list_activity,
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


async def test_user_states_follow_the_world(client: httpx.AsyncClient, world: World, clock: FakeClock) -> None:
    h = await token(client)
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
            whole = (now_ms - int(r.state_start_time.timestamp() * 1000)) // 1000  # the time shows whole seconds
            assert r.state_dur in (whole, whole - 1)
            if s.presence.category == "LoggedOut":
                assert r.state_id == "loggedoff" and r.sign_on_time is None
                assert int(r.state_start_time.timestamp()) == s.presence.start_ms // 1000
            elif s.presence.category != "Ready":
                assert (r.state_id, r.reason_name) == ("notready", s.presence.name)
            elif not s.interactions:
                assert r.state_id == "idle" and r.interaction_count == 0
            else:
                (x,) = s.interactions
                expected = {"Ringing": "pendingactive", "Connected": "active", "Wrap": "wrap", "Unexpected": "notready"}
                assert r.state_id == expected[x.category or ""] and r.interaction_count == 1
                assert int(r.state_start_time.timestamp()) == x.start_ms // 1000
            if r.state_id != "loggedoff":
                assert r.sign_on_time is not None and r.sign_on_time.timestamp() <= now_ms / 1000
    assert {"loggedoff", "idle", "pendingactive", "active", "wrap", "notready"} <= seen_states


async def test_team_counts_presence_users_channel_and_list(client: httpx.AsyncClient, world: World,
                                                           clock: FakeClock) -> None:
    h = await token(client)
    changed_queue = set()
    for _ in range(25):
        clock.t += 2
        users = decode_rows((await get(client, h, "queries/userActivity/data", teamId="salesTeam")).content,
                            UserActivityRow).items
        support = decode_rows((await get(client, h, "queries/userActivity/data", teamId="supportTeam")).content,
                              UserActivityRow).items
        (team,) = decode_rows((await get(client, h, "queries/teamActivity/data", teamId="salesTeam")).content,
                              TeamActivityRow).items
        logged_on = decode_rows((await get(client, h, "presence/users/data", state="LoggedOn")).content,
                                PresenceUser, key="users").items
        (channel,) = decode_rows((await get(client, h, "queries/channelActivity/data", workTypeId="billingVoice")).content,
                                 ChannelActivityRow).items
        (lst,) = decode_list_activity((await get(client, h, "queries/listActivity/data", contactList="callbackList")).content).items
        states = [u.state_id for u in users if isinstance(u, UserActivityRow)]
        assert isinstance(team, TeamActivityRow)
        assert team.idle_count == states.count("idle") and team.active_count == states.count("active")
        assert team.wrap_count == states.count("wrap") and team.not_ready_count == states.count("notready")
        assert team.pending_active_count == states.count("pendingactive")
        assert {u.user_id for u in support if isinstance(u, UserActivityRow)} == {f"{i:02d}" for i in range(1, 13, 2)}
        assert sorted(u.user_id for u in logged_on if isinstance(u, PresenceUser)) == sorted(
            u.user_id for u in users if isinstance(u, UserActivityRow) and u.state_id != "loggedoff")
        assert all(isinstance(u, PresenceUser) and u.ehub_session_id for u in logged_on)
        assert isinstance(channel, ChannelActivityRow) and isinstance(lst, ListActivityRow)
        assert channel.ring_count == states.count("pendingactive")
        assert channel.queue_count is not None and channel.queue_count >= 0
        changed_queue.add((channel.active_count, channel.wrap_count))
        statuses = world.interaction_statuses()
        assert lst.records_attempted == min(500, len(statuses))
        assert lst.records_in_active == sum(1 for s in statuses.values() if s == "Ongoing")
    assert len(changed_queue) > 2


async def test_json_quirks_apply_to_rows_and_are_read_back(client: httpx.AsyncClient, faults: Faults,
                                                           clock: FakeClock) -> None:
    h = await token(client)
    clock.t += 20
    plain = (await get(client, h, "queries/userActivity/data", teamId="salesTeam")).content
    faults.update(field_case_drift=True, zoneless_timestamps=True, numbers_as_strings=True)
    quirky = (await get(client, h, "queries/userActivity/data", teamId="salesTeam")).content
    assert b'"userid"' in quirky and b'"StateId"' in quirky and b'"interactionCount":"' in quirky
    assert b"Z\"" not in quirky.split(b'"rows"')[1]  # zone-less timestamps in rows
    assert decode_rows(quirky, UserActivityRow).items == decode_rows(plain, UserActivityRow).items
    team = (await get(client, h, "queries/teamActivity/data", teamId="salesTeam")).content
    assert b'"IdleCount":"' in team
    assert all(isinstance(r, TeamActivityRow) for r in decode_rows(team, TeamActivityRow).items)


async def test_http_faults_apply(client: httpx.AsyncClient, faults: Faults) -> None:
    h = await token(client)
    faults.update(rate_limit=1, retry_after=2)
    r = await get(client, h, "queries/teamActivity/data", teamId="salesTeam")
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert (await get(client, h, "queries/teamActivity/data", teamId="salesTeam")).status_code == 200
    assert faults.settings()["requests_by_path"][f"{ROOT}/queries/teamActivity/data"] == 2


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
