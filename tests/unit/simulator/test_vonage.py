"""The Vonage Insights Stats rendering: auth, parameters, paging, shapes."""

from __future__ import annotations

import random
from typing import Any

import httpx

from streamer.simulator.faults import Faults
from streamer.simulator.truth import TruthActivity
from streamer.simulator.vonage import (
    LAGS_KEPT,
    LATE_MAX_MS,
    LATE_SHARE,
    ProcessedIndex,
    RenderedInteractions,
    processing_lag_ms,
)
from streamer.simulator.vonage_render import interaction_item, iso
from streamer.simulator.world import World
from tests.unit.simulator.conftest import T0, FakeClock

START = iso(int(T0 * 1000))
ITEM_KEYS = ["agentId", "type", "category", "name", "eligibleForRouting", "start", "status",
             "duration", "reason", "interaction", "channel", "workload"]


async def _all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    page = 1
    while True:
        r = await client.get(path, params={**params, "page": page})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["meta"]["page"] == page and body["meta"]["count"] == len(body["items"])
        items += body["items"]
        if page >= body["meta"]["pageCount"]:
            assert len(items) == body["meta"]["totalCount"]
            return items
        page += 1


async def test_auth_is_required(client: httpx.AsyncClient) -> None:
    for headers in ({"authorization": ""}, {"authorization": "Bearer nope"}, {"authorization": "Basic c2ltOnNpbQ=="}):
        r = await client.get("/vonage/agent-status", headers=headers)
        assert r.status_code == 401
        assert r.json() == {"message": "Authorization has been denied for this request."}


async def test_oauth_token_flow(client: httpx.AsyncClient, clock: FakeClock, faults: Faults) -> None:
    form = {"grant_type": "client_credentials", "client_id": "sim", "client_secret": "sim", "scope": "stats"}
    r = await client.post("/vonage/Auth/connect/token", data=form)
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 7200
    auth = {"authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/vonage/agent-status", headers=auth)).status_code == 200
    bad = await client.post("/vonage/Auth/connect/token", data={**form, "client_secret": "x"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid_client"}
    faults.update(short_token_ttl=5)
    short = (await client.post("/vonage/Auth/connect/token", data=form)).json()
    assert short["expires_in"] == 5
    auth = {"authorization": f"Bearer {short['access_token']}"}
    assert (await client.get("/vonage/agent-status", headers=auth)).status_code == 200
    clock.advance(6)
    assert (await client.get("/vonage/agent-status", headers=auth)).status_code == 401


async def test_accept_header_is_required(client: httpx.AsyncClient) -> None:
    r = await client.get("/vonage/agent-status", headers={"accept": "application/json"})
    assert r.status_code == 406 and "message" in r.json()
    ok = await client.get("/vonage/agent-status")
    assert ok.headers["cache-control"] == "max-age=5"
    assert ok.headers["content-type"] == "application/json"


async def test_window_parameters(client: httpx.AsyncClient) -> None:
    r = await client.get("/vonage/agent-activities")
    assert r.status_code == 400 and "message" in r.json()
    r = await client.get("/vonage/agent-activities",
                         params={"start": "2019-01-01T00:00:00Z", "end": "2019-02-01T00:00:01Z"})
    assert r.status_code == 400
    assert r.json() == {"message": "Request window size limit exceeded 31 days"}
    assert r.headers["cache-control"] == "max-age=5"
    r = await client.get("/vonage/interactions",
                         params={"start": "2019-01-01T00:00:00Z", "end": "2019-02-01T00:00:00Z"})
    assert r.status_code == 200
    assert (await client.get("/vonage/interactions", params={"start": "yesterday"})).status_code == 400


async def test_paging_covers_everything_once(client: httpx.AsyncClient, clock: FakeClock, world: World) -> None:
    clock.advance(120)
    end = iso(int((T0 + 100) * 1000))
    items = await _all_pages(client, "/vonage/agent-activities", start=START, end=end, limit=7)
    whole = (await client.get("/vonage/agent-activities",
                              params={"start": START, "end": end, "limit": 5000})).json()
    assert whole["meta"]["pageCount"] == 1 and items == whole["items"]
    assert whole["upTo"] == end
    keys = [(i["agentId"], i["type"], i["start"], i["category"], (i["interaction"] or {}).get("guid"))
            for i in items]
    assert len(set(keys)) == len(keys)
    assert [(i["start"], i["agentId"], i["type"]) for i in items] == sorted(
        (i["start"], i["agentId"], i["type"]) for i in items)
    truth = [a for a in world.activities() if a.start_ms < int((T0 + 100) * 1000)]
    assert len(items) == len(truth)
    assert all(list(i) == ITEM_KEYS for i in items)


async def test_include_semantics(client: httpx.AsyncClient, clock: FakeClock, world: World) -> None:
    clock.advance(90)
    lo, hi = int((T0 + 30) * 1000), int((T0 + 60) * 1000)
    params = {"start": iso(lo), "end": iso(hi), "limit": 5000}
    world.advance()
    acts = world.activities()
    started = (await client.get("/vonage/agent-activities", params=params)).json()
    assert started["meta"]["totalCount"] == sum(lo <= a.start_ms < hi for a in acts)
    expect = sum(lo <= a.start_ms < hi or (a.end_ms is not None and lo <= a.end_ms < hi) for a in acts)
    body = (await client.get("/vonage/agent-activities", params={**params, "include": "StartedOrEnded"})).json()
    assert body["meta"]["totalCount"] == expect
    assert expect > started["meta"]["totalCount"]
    # Processed (issue 15, V9): what was written in the window, each moment possibly late
    def written(ms: int | None) -> bool:
        return ms is not None and lo <= ms + processing_lag_ms(ms) < hi

    late = 0
    for lo in range(int((T0 + 5) * 1000), int((T0 + 85) * 1000), 5_000):
        hi = lo + 5_000
        query = {"start": iso(lo), "end": iso(hi), "limit": 5000, "include": "Processed"}
        processed = (await client.get("/vonage/agent-activities", params=query)).json()
        assert processed["meta"]["totalCount"] == sum(written(a.start_ms) or written(a.end_ms) for a in acts)
        keys = {(i["agentId"], i["type"], i["start"]) for i in processed["items"]}
        ended_before = [a for a in acts if a.end_ms is not None and a.end_ms < lo and written(a.end_ms)]
        assert all((a.agent_id, a.type, iso(a.start_ms)) in keys for a in ended_before)
        late += len(ended_before)
    assert late > 0  # rows that ended before their window, written late


def test_a_moments_lag_depends_on_the_moment_alone() -> None:
    """Remembered lags (processing_lag_ms is cached) are the ones computed afresh, however
    many moments came between, so every response agrees on when a moment was written."""
    moments = range(1_795_251_600_000, 1_795_251_600_000 + LAGS_KEPT + 10_000)
    processing_lag_ms.cache_clear()
    first = [processing_lag_ms(ms) for ms in moments]  # the earliest are forgotten by the end
    processing_lag_ms.cache_clear()
    assert [processing_lag_ms(ms) for ms in reversed(moments)] == first[::-1]
    assert all(lag == 0 or 500 <= lag <= LATE_MAX_MS for lag in first)
    late = sum(lag > 0 for lag in first) / len(first)
    assert abs(late - LATE_SHARE / 256) < 0.01


async def test_type_filters_and_sub_resources(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(40)
    for path, type_ in (("presence", "Presence"), ("interactions", "Interaction")):
        sub = await _all_pages(client, f"/vonage/agent-activities/{path}", start=START, limit=500)
        by_param = await _all_pages(client, "/vonage/agent-activities", start=START, type=type_, limit=500)
        assert sub == by_param and sub and {i["type"] for i in sub} == {type_}
    # issue 15, V9: the documents name no /agent-activities/workload
    assert (await client.get("/vonage/agent-activities/workload", params={"start": START})).status_code == 404
    workload = await _all_pages(client, "/vonage/agent-activities", start=START, type="Workload", limit=500)
    assert workload and {i["type"] for i in workload} == {"Workload"}
    one = await _all_pages(client, "/vonage/agent-activities", start=START, agentId="02")
    assert one and {i["agentId"] for i in one} == {"02"}
    interaction = next(i for i in await _all_pages(client, "/vonage/agent-activities/interactions", start=START))
    assert interaction["interaction"]["mediumManager"] == "VCC"
    assert interaction["status"] in ("Ongoing", "Completed")


async def test_agent_status_since_matches_open_activities(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(75)
    acts = await _all_pages(client, "/vonage/agent-activities", start=START, limit=1000)
    open_ = {(a["agentId"], a["type"], a["start"]) for a in acts if a["duration"] is None}
    status = await _all_pages(client, "/vonage/agent-status", limit=7)
    assert [s["agentId"] for s in status] == sorted(s["agentId"] for s in status)
    from_status = set()
    for s in status:
        from_status.add((s["agentId"], "Presence", s["presence"]["since"]))
        from_status.add((s["agentId"], "Workload", s["workload"]["since"]))
        from_status |= {(s["agentId"], "Interaction", x["since"]) for x in s["interaction"]}
        assert s["presence"]["eligibleForRouting"] == (s["presence"]["name"] == "Ready")
    assert open_ == from_status


async def test_interactions_shape_and_ccr(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(240)
    items = await _all_pages(client, "/vonage/interactions", start=START, include="StartedOrEnded", limit=50)
    assert [i["start"] for i in items] == sorted(i["start"] for i in items)
    ccr = 0
    for i in items:
        ext = i["channels"][0]
        assert ext["party"] == {"id": None, "role": "External", "touchpoint": i["connectFrom"]}
        assert all(e["properties"]["initiatingAgentId"] for e in ext["events"] if e["type"] == "Held")
        for ch in i["channels"]:
            if ch["party"]["id"] == "CCRConnect":
                ccr += 1
                assert i["status"] == "Completed" and ch["party"]["role"] == "System"
        if i["status"] == "Ongoing":
            assert i["duration"] is None
        agents = [c for c in i["channels"] if c["party"]["role"] == "Agent"]
        for ch in agents:
            assert ch["events"][0]["type"] == "Ringing" and ch["offset"] == ch["events"][0]["offset"]
    assert ccr > 0
    ongoing = await _all_pages(client, "/vonage/interactions/ongoing")
    assert ongoing and all(i["status"] == "Ongoing" and i["duration"] is None for i in ongoing)
    assert all(c["party"]["id"] != "CCRConnect" for i in ongoing for c in i["channels"])


def test_processed_reads_find_what_a_scan_of_every_activity_finds(world: World, clock: FakeClock) -> None:
    """The index of written moments answers as the documented rule applied to every activity."""
    index, rng, windows = ProcessedIndex(world), random.Random(3), 0

    def scan(lo: int, hi: int, now: int) -> list[TruthActivity]:
        def written(ms: int | None) -> bool:
            return ms is not None and lo <= ms + processing_lag_ms(ms) < hi and ms + processing_lag_ms(ms) <= now

        return [a for a in world.activities() if written(a.start_ms) or written(a.end_ms)]

    for _ in range(60):
        clock.advance(rng.uniform(0.1, 6))
        now = world.advance()
        spans = [(now - rng.randrange(120_000), rng.randrange(60_000)) for _ in range(5)]
        spans += [(now - rng.randrange(5_000), rng.randrange(10_000)), (world.start_ms - 1, 31 * 86_400_000)]
        for lo, length in spans:
            expected = scan(lo, lo + length, now)
            assert index.between(lo, lo + length, now) == expected
            windows += bool(expected)
    assert windows > 200


def test_a_completed_interaction_never_changes_again(world: World, clock: FakeClock) -> None:
    """What lets the app remember a completed interaction's item (RenderedInteractions)."""
    first: dict[str, dict[str, Any]] = {}
    for _ in range(300):
        clock.advance(1)
        world.advance()
        for i in world.interactions(lambda i: i.end_ms is not None):
            first.setdefault(i.guid, interaction_item(i))
    final = {i.guid: interaction_item(i) for i in world.interactions()}
    assert len(first) > 20
    assert all(final[guid] == item for guid, item in first.items())


def test_remembered_items_are_completed_ones_and_at_most_so_many(world: World, clock: FakeClock) -> None:
    rendered = RenderedInteractions(kept=5)
    clock.advance(240)
    world.advance()
    done = world.interactions(lambda i: i.end_ms is not None)
    ongoing = world.interactions(lambda i: i.end_ms is None)
    assert len(done) > 5 and ongoing
    assert [rendered.item(i) for i in done + ongoing] == [interaction_item(i) for i in done + ongoing]
    assert len(rendered) == 5
    newest = done[-1]
    assert rendered.item(newest) is rendered.item(newest)  # remembered
    changed = ongoing[0]
    before = rendered.item(changed)
    changed.channels = changed.channels[:1]  # an ongoing interaction may change: rendered afresh
    assert rendered.item(changed) != before and rendered.item(changed) == interaction_item(changed)


async def test_interactions_read_again_answer_as_rendered_afresh(
    client: httpx.AsyncClient, clock: FakeClock, world: World
) -> None:
    for _ in range(4):  # reads of an overlapping window: later ones answer from what earlier ones rendered
        clock.advance(60)
        items = await _all_pages(client, "/vonage/interactions", start=START, include="StartedOrEnded", limit=50)
        expected = {i.guid: interaction_item(i) for i in world.interactions()}
        assert items and all(item == expected[item["guid"]] for item in items)


async def test_single_interaction_and_limits(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(60)
    first = (await client.get("/vonage/interactions", params={"start": START, "limit": 1})).json()
    guid = first["items"][0]["guid"]
    one = await client.get(f"/vonage/interactions/{guid}")
    assert one.status_code == 200 and one.json()["guid"] == guid
    assert (await client.get("/vonage/interactions/nope")).status_code == 404
    big = (await client.get("/vonage/agent-activities", params={"start": START, "limit": 99999})).json()
    assert big["meta"]["pageCount"] == 1 and big["meta"]["count"] == big["meta"]["totalCount"]
    assert (await client.get("/vonage/agent-status", params={"page": 0})).status_code == 400
    assert (await client.get("/vonage/agent-activities", params={"start": START, "type": "x"})).status_code == 400
