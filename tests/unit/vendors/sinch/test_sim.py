"""The simulator's Sinch facades: auth, paging, text/plain errors, quirks that change nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.sinch_http import ROW_LIMIT
from streamer.simulator.sinch_render import status_rows
from streamer.simulator.world import World
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.source import AgentStatusEndpoint, AgentStatusHistoryEndpoint
from streamer.vendors.sinch.rmi.client import RmiClient
from streamer.vendors.sinch.rmi.source import AgentsEndpoint, ContactsEndpoint
from tests.unit.vendors.sinch._fixtures import BASIC, FakeClock, Harness, sim_http, source_cfg

RAI, RMI = "/sinch/RI/rai", "/sinch/RI/rmi"
SINCE = {"startTime": "2000-01-01T00:00:00.000Z"}


async def get(world: World, path: str, params: dict[str, Any] | None = None, *, auth: str = BASIC,
              faults: Faults | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=build_app(world, faults or Faults(1)))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as c:
        return await c.get(path, params=params, headers={"authorization": auth, "accept": "application/json"})


@pytest.mark.parametrize("path", [f"{RAI}/agentStatusHistory", f"{RAI}/agentStatus", f"{RMI}/agents",
                                  f"{RMI}/contacts", f"{RMI}/queueStatuses"])
async def test_basic_sim_sim_only(path: str) -> None:
    world = World(seed=1, agents=3, clock=FakeClock())
    bad = await get(world, path, SINCE, auth="Basic c2ltOm5vcGU=")
    assert bad.status_code == 401 and bad.headers["www-authenticate"].startswith("Basic")
    assert (await get(world, path, SINCE)).status_code == 200


async def test_offset_limit_paging_and_the_row_limit() -> None:
    clock = FakeClock()
    world = World(seed=2, agents=20, clock=clock)
    clock.t += 300
    every = (await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "limit": 100_000})).json()
    assert len(every) == len([r for r in status_rows(world.activities()) if r.change_ms <= world.now_ms()]) > 150
    assert len((await get(world, f"{RAI}/agentStatusHistory", SINCE)).json()) == 100  # the default limit
    pages = []
    for offset in range(0, len(every) + 7, 7):
        pages += (await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "offset": offset, "limit": 7})).json()
    assert pages == every
    assert ROW_LIMIT == 10_000


@pytest.mark.parametrize("path", [f"{RAI}/agentStatusHistory", f"{RAI}/agentStatus", f"{RAI}/contactStatistic",
                                  f"{RAI}/agentStatistic", f"{RAI}/contactHistory", f"{RAI}/agentHistory",
                                  f"{RMI}/agents", f"{RMI}/contacts", f"{RMI}/queueStatuses",
                                  f"{RMI}/contactSummaries"])
async def test_an_offset_past_the_end_is_an_empty_page(path: str) -> None:
    """Clients page until an empty page: the call after the last row must answer one."""
    clock = FakeClock()
    world = World(seed=2, agents=5, clock=clock)
    clock.t += 300
    params = {"startTime": "2023-11-14T21:00:00.000Z", "endTime": "2023-11-15T00:00:00.000Z", "limit": 10_000}
    every = (await get(world, path, params)).json()
    assert every or path.endswith(("/queueStatuses", "History"))  # something to page past, mostly
    past = await get(world, path, {**params, "offset": len(every)})
    assert past.status_code == 200 and past.json() == []
    assert (await get(world, path, {**params, "offset": len(every) + 10_000})).json() == []


async def test_errors_are_text_plain() -> None:
    world = World(seed=1, agents=3, clock=FakeClock())
    r = await get(world, f"{RMI}/contacts/2B8ED95B0EC911E79675005056A75D9/details")
    assert (r.status_code, r.text, r.headers["content-type"].split(";")[0]) == (
        400, "Invalid GUID: '2B8ED95B0EC911E79675005056A75D9'", "text/plain")
    r = await get(world, f"{RMI}/contacts/{'A' * 32}")
    assert (r.status_code, r.text) == (404, "HTTP 404 Not Found")
    r = await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "userId": "nope"})
    assert (r.status_code, r.text) == (400, "Invalid GUID: 'nope'")
    r = await get(world, f"{RAI}/agentStatusHistory")
    assert r.status_code == 400 and "startTime" in r.text


async def test_quirks_are_rendered_when_switched_on() -> None:
    clock = FakeClock()
    world = World(seed=2, agents=5, clock=clock)
    clock.t += 60
    faults = Faults(1)
    faults.update(field_case_drift=True, zoneless_timestamps=True, numbers_as_strings=True)
    row = (await get(world, f"{RAI}/agentStatus", SINCE, faults=faults)).json()[0]
    assert {"UserId", "UserName", "reportingGroupId", "changeTimestamp"} <= set(row)
    assert "T" not in row["changeTimestamp"] and isinstance(row["userStatusDuration"], str)
    log = (await get(world, f"{RAI}/agentStatusHistory", SINCE, faults=faults)).json()[0]
    assert {"userStatusTimestamp", "changeTimestamp"} <= set(log) and "changeTimeStamp" not in log
    contact = (await get(world, f"{RMI}/contacts", SINCE, faults=faults)).json()[0]
    assert "contactGroupID" in contact and " " in contact["arrivalTime"]


async def _run(quirky: bool) -> list[tuple[str, str, str, Any]]:
    clock = FakeClock()
    world = World(seed=8, agents=8, clock=clock)
    faults = Faults(1)
    if quirky:
        faults.update(field_case_drift=True, zoneless_timestamps=True, numbers_as_strings=True)
    rai, rmi = sim_http(world, faults, RAI), sim_http(world, faults, RMI)
    rai_cfg, rmi_cfg = source_cfg("sinch_rai", page_limit=6), source_cfg("sinch_rmi", page_limit=6)
    hist = AgentStatusHistoryEndpoint(RaiClient(rai, page_limit=6), rai_cfg)
    eps = [hist, AgentStatusEndpoint(RaiClient(rai, page_limit=6), rai_cfg, hist)]
    rmi_eps = [AgentsEndpoint(RmiClient(rmi, page_limit=6), rmi_cfg), ContactsEndpoint(RmiClient(rmi, page_limit=6), rmi_cfg)]
    h, h2 = Harness("sinch_rai"), Harness("sinch_rmi")
    for _ in range(25):
        clock.t += 1
        for ep in eps:
            await h.poll(ep, int(clock.t * 1000))
        for ep in rmi_eps:
            await h2.poll(ep, int(clock.t * 1000))
    await rai.aclose()
    await rmi.aclose()
    assert not h.bad and not h2.bad
    return [(e["id"], e["type"], e["time"], e["data"].get("current")) for e in h.events() + h2.events()]


async def test_drift_zoneless_times_and_numbers_as_strings_change_no_event() -> None:
    clean, quirky = await _run(False), await _run(True)
    assert len(clean) > 100 and quirky == clean


# --- the status log as the docs' example writes it --------------------------------------


async def test_a_contact_ends_with_waiting_written_just_before_wrap() -> None:
    """S1: the docs' agentStatusHistory writes Waiting, then Wrap (07:20:37.387/.390)."""
    clock = FakeClock()
    world = World(seed=2, agents=10, clock=clock)
    clock.t += 300
    log = (await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "limit": 10_000})).json()
    wraps = [i for i, r in enumerate(log) if r.get("status") == "Wrap"]
    assert len(wraps) > 5
    for i in wraps:
        before = [r for r in log[:i] if r["userId"] == log[i]["userId"] and "status" in r][-1]
        assert (before["status"], before["statusTimestamp"]) == ("Waiting", log[i]["statusTimestamp"])


async def test_late_status_writes_a_status_after_a_newer_one() -> None:
    """S2 (fault ``sinch_late_status``): statusTimestamp goes backwards in changeTimeStamp
    order, as the docs' Dialing_Outbound_Campaign row comes after a newer Waiting."""
    clock = FakeClock()
    world = World(seed=2, agents=10, clock=clock)
    clock.t += 300
    faults = Faults(1)
    faults.update(sinch_late_status=True)
    log = (await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "limit": 10_000}, faults=faults)).json()
    assert _backwards(log) > 5
    assert [r for r in log if r.get("status") == "Talking_Inbound"]  # written late, not lost
    on_time = (await get(world, f"{RAI}/agentStatusHistory", {**SINCE, "limit": 10_000})).json()
    assert _backwards(on_time) == 0


def _backwards(log: list[dict[str, Any]]) -> int:
    """Rows whose statusTimestamp is older than one their agent's log wrote before."""
    n, last = 0, {}
    for r in log:
        if "statusTimestamp" in r:
            n += r["statusTimestamp"] < last.get(r["userId"], "")
            last[r["userId"]] = max(last.get(r["userId"], ""), r["statusTimestamp"])
    return n


async def test_late_status_changes_no_event() -> None:
    """The daemon's view is the same whether the log writes Talking_Inbound on time or late."""
    async def run(late: bool) -> list[tuple[str, str, str]]:
        clock = FakeClock()
        world = World(seed=7, agents=8, clock=clock)
        faults = Faults(1)
        faults.update(sinch_late_status=late)
        http = sim_http(world, faults, RAI)
        ep = AgentStatusHistoryEndpoint(RaiClient(http, page_limit=7), source_cfg("sinch_rai"))
        h = Harness("sinch_rai")
        for _ in range(200):
            clock.t += 1
            await h.poll(ep, int(clock.t * 1000))
        await http.aclose()
        evs = h.events(["cc.agent.state.changed"])
        assert not [e for e in evs if e["data"].get("late")]
        return [(e["subject"], e["time"], e["data"]["current"]["raw"]) for e in evs]

    on_time, late = await run(False), await run(True)
    assert len(on_time) > 30 and set(late) <= set(on_time)
    # all the same, but for the calls still connected: their Talking_Inbound is not written yet
    last = {agent: (t, raw) for agent, t, raw in sorted(on_time)}
    assert all(last[a] == (t, raw) == (t, "Talking_Inbound") for a, t, raw in set(on_time) - set(late))


async def test_a_rai_query_returns_at_most_the_row_limit_over_all_its_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """S5: "Row limit = 10000" is the query's, not a page's: past it, nothing more."""
    import streamer.simulator.sinch_http as sinch_http

    monkeypatch.setattr(sinch_http, "ROW_LIMIT", 9)
    clock = FakeClock()
    world = World(seed=2, agents=20, clock=clock)
    clock.t += 300
    for path in ("agentStatusHistory", "agentStatus"):
        got = []
        for offset in range(0, 30, 4):
            got += (await get(world, f"{RAI}/{path}", {**SINCE, "offset": offset, "limit": 4})).json()
        assert len(got) == 9, path
    # RMI documents no row limit
    every = []
    for offset in range(0, 30, 4):
        every += (await get(world, f"{RMI}/agents", {**SINCE, "offset": offset, "limit": 4})).json()
    assert len(every) == 20


async def test_contacts_in_the_default_order_are_in_no_order_and_sort_makes_one() -> None:
    """S6: /contacts sorts by ``name`` by default, which contacts do not have."""
    clock = FakeClock()
    world = World(seed=3, agents=12, clock=clock)
    clock.t += 600
    orders = [[c["id"] for c in (await get(world, f"{RMI}/contacts", {**SINCE, "limit": 1000}, faults=f)).json()]
              for f in (Faults(1), Faults(2))]
    assert len(orders[0]) > 10 and sorted(orders[0]) == sorted(orders[1])
    faults = Faults(1)
    by_id = [[c["id"] for c in (await get(world, f"{RMI}/contacts", {**SINCE, "limit": 1000, "sort": "id"},
                                          faults=faults)).json()] for _ in range(2)]
    assert by_id[0] == by_id[1] == sorted(orders[0])
    paged = []
    for offset in range(0, len(orders[0]) + 5, 5):
        paged += [c["id"] for c in (await get(world, f"{RMI}/contacts", {**SINCE, "offset": offset, "limit": 5},
                                              faults=faults)).json()]
    assert sorted(paged) != sorted(orders[0])  # unstable pages overlap and skip


async def test_contact_statistic_selects_contacts_by_their_own_times_unrounded() -> None:
    """S8: the docs round startTime/endTime to quarter hours for contactHistory,
    agentHistory and agentStatistic only; contactStatistic selects each contact by its
    disconnect time (completed) or arrival time (active)."""
    from streamer.simulator.sinch_render import contacts_of, iso

    clock = FakeClock()
    world = World(seed=3, agents=12, clock=clock)
    clock.t += 1800
    with world.lock:
        now = world.advance()
    start = now - 7 * 60_000 - 4321  # not on a quarter hour
    contacts = [c for i in world.interactions() for c in contacts_of(i) if c.arrival_queue_ms is not None]
    picked = [c for c in contacts if (c.disconnect_ms if c.disconnect_ms is not None else c.arrival_ms) >= start]
    rows = (await get(world, f"{RAI}/contactStatistic", {"startTime": iso(start), "limit": 1000})).json()
    assert sum(r["countOfArrivedContacts"] for r in rows) == len(picked) > 0
    assert sum(r["countOfCompletedContacts"] for r in rows) == len([c for c in picked if c.disconnect_ms is not None])
