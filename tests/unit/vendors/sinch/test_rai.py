"""RAI: the agent status log as history windows, the snapshot pinpointed in it."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.http.auth import BasicAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from streamer.timeutil import format_ts, from_ms, parse_ts, to_ms
from streamer.vendors.sinch.common import decode_rows, presence_of, work_state
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.mapping import FOLD_SETTLE_MS, history_drafts
from streamer.vendors.sinch.rai.models import AgentStatusHistoryRow
from streamer.vendors.sinch.rai.source import AgentStatusEndpoint, AgentStatusHistoryEndpoint
from tests.unit.vendors.sinch._fixtures import (
    SEED_EVENTS,
    FakeClock,
    Harness,
    body,
    no_sleep,
    sim_http,
    source_cfg,
    verbatim,
)

FOX = "E936C474B22311D38FBE0090279A922E"


def ms(text: str) -> int:
    return to_ms(parse_ts(text))


class LogServer:
    """``/agentStatusHistory`` and ``/agentStatus`` over fixed rows, offset/limit honored.

    ``honor_window``: filter on changeTimestamp like the API; off: the same rows on
    every poll whatever the window (as a server serving the seed verbatim would).
    ``visible_at``: a row exists only once now >= its changeTimestamp.
    """

    def __init__(self, rows: list[bytes], *, honor_window: bool = True, status: list[bytes] | None = None,
                 cap: int | None = None, page_cap: int | None = None, delay_ms: int = 0) -> None:
        self.rows = rows
        self.delay_ms = delay_ms
        """A reporting database that lags: a row exists this long after its changeTimestamp."""
        self.honor_window = honor_window
        self.status = status or []
        self.cap = cap
        self.page_cap = page_cap
        """An API gateway that returns at most this many rows per call, whatever ``limit``."""
        self.now_ms = 0
        self.calls = 0

    def _change(self, raw: bytes) -> int:
        d = msgspec.json.decode(raw)
        return ms(d.get("changeTimeStamp") or d["changeTimestamp"])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        p = request.url.params
        if request.url.path.endswith("/agentStatus"):
            rows = self.status
        else:
            rows = [r for r in self.rows if self._change(r) + self.delay_ms <= self.now_ms]
            if self.honor_window:
                lo = ms(p["startTime"])
                hi = ms(p["endTime"]) if "endTime" in p else None
                rows = [r for r in rows if lo <= self._change(r) and (hi is None or self._change(r) < hi)]
            if "userId" in p:
                users = set(p["userId"].split(","))
                rows = [r for r in rows if msgspec.json.decode(r)["userId"] in users]
            if self.cap is not None:
                rows = rows[: self.cap]  # a server that stops at its row limit
        offset, limit = int(p.get("offset", 0)), min(int(p.get("limit", 100)), self.page_cap or 1 << 30)
        return httpx.Response(200, content=b"[" + b",".join(rows[offset: offset + limit]) + b"]",
                              headers={"content-type": "application/json"})


def client_for(server: LogServer, page_limit: int) -> RaiClient:
    http = HttpClient("https://cc.example/RI/rai", BasicAuth("u", Secret("p")), headers={"accept": "application/json"},
                      transport=httpx.MockTransport(server), sleep=no_sleep, rng=random.Random(1))
    return RaiClient(http, page_limit=page_limit)


def seed_rows() -> list[bytes]:
    return [bytes(r) for r in msgspec.json.decode(body("rai/agent_status_history"), type=list[msgspec.Raw])]


def summary(h: Harness) -> list[tuple[str, str, Any]]:
    out = []
    for e in h.events():
        d = e["data"]
        what = (d.get("current") or {}).get("raw") or (d.get("current") or {}).get("category")
        out.append((e["type"].removeprefix("cc.agent."), e["time"], what))
    return out




@pytest.mark.parametrize("page_limit", [1, 2, 3, 7, 100])
async def test_seed_history_replayed_with_small_pages_is_each_change_once_in_order(page_limit: int) -> None:
    server = LogServer(seed_rows(), honor_window=False)  # the same 21 rows on every poll
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=page_limit)
    h = Harness("sinch_rai")
    now = ms("2019-12-03T07:20:30.000Z")  # first poll in the middle of the session
    ep = AgentStatusHistoryEndpoint(client_for(server, page_limit), cfg)
    for step in range(12):
        server.now_ms = now
        await h.poll(ep, now)
        if step == 6:  # a restart: a new endpoint, the ledger and the cursor as checkpointed
            ep = AgentStatusHistoryEndpoint(client_for(server, page_limit), cfg)
        now += 150_000
    assert summary(h) == SEED_EVENTS
    evs = h.events()
    assert len({e["id"] for e in evs}) == len(evs)
    assert [e["data"]["sequence"] for e in evs] == list(range(1, len(evs) + 1))  # one agent, one key
    # in the log's order: each event's row was written no earlier than the previous one's
    assert [e["subject"] for e in evs] == [FOX] * len(evs)
    # in the order things happened (status times), whatever order the log wrote them in
    assert not [e for e in evs if e["data"].get("late")]
    assert [e["time"] for e in evs] == sorted(e["time"] for e in evs)
    ended = [e for e in evs if e["type"] == "cc.agent.session.ended"]
    assert [e["data"]["at"] for e in ended] == ["2019-12-03T07:40:58.870Z"]
    started = [e["data"] for e in evs if e["type"] == "cc.agent.session.started"]
    assert started[0]["at"] == "2019-12-03T07:19:59.127Z" and started[0]["inferred"] is False  # from signOn
    presence = [e["data"] for e in evs if e["type"] == "cc.agent.presence.changed"]
    assert [(p["current"]["name"], p["current"]["category"], p["current"]["eligible_for_routing"]) for p in presence] == [
        (None, "Ready", True), ("Default", "Away", False), ("Office", "Ready", True), (None, "LoggedOut", False)]
    assert presence[-1]["previous"]["name"] == "Office" and presence[-1]["previous_duration_ms"] == 1_245_910
    assert server.calls >= 12


@pytest.mark.parametrize("edge", ["2019-12-03T07:20:38.315Z", "2019-12-03T07:21:28.455Z", "2019-12-03T07:20:22.020Z"])
async def test_a_window_ending_between_the_waiting_and_its_wrap_folds_it_all_the_same(edge: str) -> None:
    """S1: the log writes Waiting a few ms before Wrap (07:20:38.313 then .320). A window
    ending between the two rows holds the Waiting back instead of publishing it."""
    server = LogServer(seed_rows())
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=3)
    h = Harness("sinch_rai")
    ep = AgentStatusHistoryEndpoint(client_for(server, 3), cfg)
    for now in (ms(edge) + 2_000, ms(edge) + 2_500, ms(edge) + 5_000, ms("2019-12-03T07:45:00.000Z")):
        server.now_ms = now
        await h.poll(ep, now)
    assert summary(h) == SEED_EVENTS


async def test_a_gateway_returning_fewer_rows_than_asked_loses_no_row_behind_the_cursor() -> None:
    """Pages of 4 rows when 100 are asked: the first is not the last page. The window's
    cursor moves only with every row of the window published."""
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=100)
    now = ms("2019-12-03T07:45:00.000Z")
    whole, capped = Harness("sinch_rai"), Harness("sinch_rai")
    for h, server in ((whole, LogServer(seed_rows())), (capped, LogServer(seed_rows(), page_cap=4))):
        server.now_ms = now
        results = await h.poll(AgentStatusHistoryEndpoint(client_for(server, 100), cfg), now)
        # caught up in max_catchup_span windows; the cursor ends at the newest row
        assert results[-1].cursor_ms == max(server._change(r) for r in seed_rows())
    assert len(seed_rows()) > 4 and summary(capped) == summary(whole) == SEED_EVENTS


@pytest.mark.parametrize("restart_at", [3, 4, 5, None])
async def test_a_lagging_reporting_database_and_a_restart_lose_no_row_and_repeat_none(restart_at: int | None) -> None:
    """Rows appear 5 s after their changeTimestamp, more than the 2 s safety lag. The
    cursor used to be the host clock minus the lag, and a restart dropped every row
    before it: the rows that had not appeared yet were lost."""
    base = ms("2019-12-03T07:00:00.000Z")
    rows = [msgspec.json.encode({"userId": FOX, "status": ("Waiting", "Talking_Inbound", "Wrap")[i % 3],
                                 "statusTimestamp": format_ts(from_ms(base + 700 * i)),
                                 "changeTimeStamp": format_ts(from_ms(base + 700 * i))}) for i in range(40)]
    server = LogServer(rows, delay_ms=5_000)
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="10s", page_limit=7)
    h = Harness("sinch_rai")
    ep = AgentStatusHistoryEndpoint(client_for(server, 7), cfg)
    for i, now in enumerate(range(base + 2_000, base + 60_000, 2_000)):
        server.now_ms = now
        if i == restart_at:
            ep = AgentStatusHistoryEndpoint(client_for(server, 7), cfg)
        await h.poll(ep, now)
    states = h.events(["cc.agent.state.changed"])
    assert sorted(ms(e["data"]["since"]) for e in states) == [base + 700 * i for i in range(40)]
    assert not any(e["data"].get("late") for e in states)


async def test_the_snapshot_adds_no_second_event_for_a_transition_the_history_published() -> None:
    server = LogServer(seed_rows(), status=[bytes(r) for r in msgspec.json.decode(
        body("rai/agent_status"), type=list[msgspec.Raw])])
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=5)
    client = client_for(server, 5)
    hist = AgentStatusHistoryEndpoint(client, cfg)
    snap = AgentStatusEndpoint(client, cfg, hist)
    h = Harness("sinch_rai")
    now = server.now_ms = ms("2019-12-03T07:45:00.000Z")
    await h.poll(snap, now)  # waits for the history's first window
    assert h.records == []
    await h.poll(hist, now)
    n = len(h.records)
    await h.poll(snap, now + 1000)  # the example's agent: its rows are all history already
    await h.poll(snap, now + 2000)
    assert len(h.records) == n == len(SEED_EVENTS)


async def test_a_snapshot_change_not_in_the_history_yet_is_looked_at_again_not_guessed() -> None:
    rows = seed_rows()[:3]
    status = {"userId": FOX, "userName": "Fox, John", "profile": "Office", "profileType": "Presence",
              "userStatus": "Ready", "userStatusDuration": 500, "profileDuration": 500,
              "contactHandlingStatus": "Waiting", "contactHandlingStatusDuration": 20_000,
              "changeTimestamp": "2019-12-03T07:20:13.960Z"}
    server = LogServer(rows[:2], status=[msgspec.json.encode(status)])
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=5)
    snap = AgentStatusEndpoint(client_for(server, 5), cfg, None)
    h = Harness("sinch_rai")
    server.now_ms = ms("2019-12-03T07:20:14.500Z")
    await h.poll(snap, server.now_ms)
    assert summary(h) == []  # the log does not show the change yet: the agent waits, no time is guessed
    server.rows = rows  # the log row is written
    await h.poll(snap, server.now_ms + 1000)
    assert summary(h) == [e for e in SEED_EVENTS if e[1] <= "2019-12-03T07:20:12.960Z"]
    first = summary(h)
    calls = server.calls
    await h.poll(snap, server.now_ms + 2000)  # nothing changed: one cheap read (a page and the empty one), no history
    assert server.calls == calls + 2 and len(h.records) == len(first)


async def test_a_read_that_returns_exactly_the_row_limit_is_split_until_nothing_is_cut() -> None:
    base = ms("2019-12-03T07:00:00.000Z")
    rows = [msgspec.json.encode({
        "userId": f"{i % 5:032X}", "status": "Waiting" if i % 2 else "Talking_Inbound",
        "statusTimestamp": format_ts(from_ms(base + 10 * i)), "changeTimeStamp": format_ts(from_ms(base + 10 * i + 5)),
    }) for i in range(230)]
    server = LogServer(rows, cap=50)  # the server silently stops at 50 rows per query
    server.now_ms = base + 3_600_000
    cfg = source_cfg("sinch_rai", lookback="60s", safety_lag="2s", initial_lookback="1h", page_limit=20)
    ep = AgentStatusHistoryEndpoint(client_for(server, 20), cfg)
    ep.row_limit = 50
    h = Harness("sinch_rai")
    await h.poll(ep, server.now_ms)
    assert len(h.events(["cc.agent.state.changed"])) == 230


# --- many rows share one changeTimestamp, across page and window edges ------------------

row_st = st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(["Waiting", "Wrap", "Talking_Inbound"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=st.lists(row_st, min_size=1, max_size=40),
    page_limit=st.integers(1, 6),
    steps=st.lists(st.integers(200, 3_000), min_size=1, max_size=8),
    restart_at=st.integers(0, 8),
)
async def test_rows_sharing_a_change_time_are_each_published_once(
    spec: list[tuple[int, int, str]], page_limit: int, steps: list[int], restart_at: int
) -> None:
    base = ms("2019-12-03T07:00:00.000Z")
    rows, expected, change_of = [], Counter(), {}
    for n, (agent, tick, status) in enumerate(spec):
        change = base + 1_000 * tick  # at most 6 distinct change times for up to 40 rows
        since = change - 50 - n  # each row its own transition
        rows.append(msgspec.json.encode({
            "userId": f"{agent:032X}", "status": status,
            "statusTimestamp": format_ts(from_ms(since)), "changeTimeStamp": format_ts(from_ms(change)),
        }))
        change_of[(f"{agent:032X}", since)] = change
    complete = decode_rows(b"[" + b",".join(rows) + b"]", AgentStatusHistoryRow)
    for d in history_drafts(complete):  # the whole log at once: its order, its folds
        expected[(d.entity_id, d.payload.current.raw, d.at_ms)] += 1
    server = LogServer(rows)
    cfg = source_cfg("sinch_rai", lookback="1500ms", safety_lag="100ms", initial_lookback="10s",
                     page_limit=page_limit)
    h = Harness("sinch_rai")
    ep = AgentStatusHistoryEndpoint(client_for(server, page_limit), cfg)
    now = base + 200
    for i, step in enumerate([*steps, 10_000]):
        now += step
        server.now_ms = now
        if i == restart_at:  # a restart: memory lost, ledger and cursor kept
            ep = AgentStatusHistoryEndpoint(client_for(server, page_limit), cfg)
        await h.poll(ep, now)
    states = h.events(["cc.agent.state.changed"])
    got = Counter((e["subject"], e["data"]["current"]["raw"], ms(e["data"]["since"])) for e in states)
    assert got == expected
    # per agent, publication follows the status times: nothing late, each change names the one before
    last: dict[str, dict[str, Any]] = {}
    for e in states:
        d = e["data"]
        before = last.get(e["subject"])
        assert not d.get("late") and d["previous"] == (before["current"] if before else None)
        assert before is None or d["since"] >= before["since"]
        last[e["subject"]] = d


# --- the same transition from both endpoints is one event id ---------------------------


async def test_snapshot_and_history_give_the_same_id_for_the_same_transition() -> None:
    async def run(which: str) -> dict[tuple[str, str, str], str]:
        clock = FakeClock()
        world = World(seed=23, agents=10, clock=clock)
        http = sim_http(world, Faults(1), "/sinch/RI/rai")
        cfg = source_cfg("sinch_rai", page_limit=9)
        client = RaiClient(http, page_limit=9)
        ep: Any = AgentStatusHistoryEndpoint(client, cfg) if which == "history" else AgentStatusEndpoint(client, cfg, None)
        h = Harness("sinch_rai")
        for _ in range(40):
            clock.t += 1
            await h.poll(ep, int(clock.t * 1000))
        await http.aclose()
        return {(e["type"], e["subject"], e["time"]): e["id"] for e in h.events()}

    history, snapshot = await run("history"), await run("snapshot")
    common = set(history) & set(snapshot)
    assert len(common) > 40, (len(history), len(snapshot))
    assert all(history[k] == snapshot[k] for k in common)
    assert all(k[0] != "cc.agent.presence.changed" or k in history for k in snapshot if k[2] < max(history)[2])


@pytest.mark.parametrize("user_status,profile_type,category", [
    ("Ready", "Presence", "Ready"), ("Pause", "Presence", "Away"), ("NotReady", "Presence", "Away"),
    ("NotReady", "Absence", "ExtendedAway"), ("NotReady", "ABSENCE", "ExtendedAway"), ("LoggedOut", None, "LoggedOut"),
    ("Busy", None, "Unknown"),
])
def test_presence_mapping(user_status: str, profile_type: str | None, category: str) -> None:
    p = presence_of(user_status, "Lunch", profile_type, "NONE")
    assert (p.category, p.name, p.reason, p.eligible_for_routing) == (category, "Lunch", None, user_status == "Ready")
    assert (p.raw is None) == (category != "Unknown")


@pytest.mark.parametrize("status,state", [
    ("Waiting", "Idle"), ("OBJoin", "Idle"), ("OBUnJoin", "Idle"), ("Preview", "Busy"), ("Talking_Inbound", "Busy"),
    ("Dialing_Outbound_Campaign", "Busy"), ("Chatting_Outbound", "Busy"), ("Emailing_Inbound", "Busy"),
    ("Wrap", "Wrap"), ("LoggedOut", "LoggedOut"), ("Offering", "Unknown"),
])
def test_handling_status_mapping(status: str, state: str) -> None:
    assert work_state(status) == state


def test_verbatim_fixture_is_untouched() -> None:
    assert verbatim("rai/agent_status_history").count(b'"changeTimeStamp"') == 21


async def test_after_first_sight_the_snapshot_reads_only_the_log_since_its_last_view() -> None:
    from streamer.simulator.app import build_app

    clock = FakeClock()
    world = World(seed=4, agents=12, clock=clock)
    inner = httpx.ASGITransport(app=build_app(world, Faults(1)))
    lookups: list[tuple[int, int]] = []

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/agentStatusHistory") and request.url.params.get("offset") == "0":
                lookups.append((int(clock.t * 1000), ms(request.url.params["startTime"])))
            return await inner.handle_async_request(request)

    http = HttpClient("http://sim/sinch/RI/rai", BasicAuth("sim", Secret("sim")), transport=Recording(),
                      sleep=no_sleep, rng=random.Random(1))
    snap = AgentStatusEndpoint(RaiClient(http, page_limit=50), source_cfg("sinch_rai"), None)
    h = Harness("sinch_rai")
    clock.t += 120  # agents have been in their states for a while when the daemon starts
    await h.poll(snap, int(clock.t * 1000))
    first = lookups[-1]
    assert first[0] - first[1] > 45_000  # first sight: back to where the oldest current value was set
    for _ in range(30):
        clock.t += 1
        await h.poll(snap, int(clock.t * 1000))
    later = [(now, start) for now, start in lookups if now > first[0] + 5_000]  # first sights settled
    # the margin and a poll, plus what a deferred agent waits (a Waiting its Wrap may still follow)
    assert len(later) > 10 and all(now - start < 13_000 + FOLD_SETTLE_MS for now, start in later), later
    await http.aclose()


async def test_a_late_correction_of_a_closed_bucket_is_one_change_event_on_that_bucket() -> None:
    from streamer.vendors.kit.endpoints import StatsEndpoint
    from streamer.vendors.sinch.common import change_ms_of
    from streamer.vendors.sinch.rai.mapping import contact_stats_draft

    bucket = {"timeCategory": "2019-12-25 10:00", "queueId": "249CEA29B6494EF1B1D16D23FE70E702", "queueName": "Sales",
              "countOfArrivedContacts": 4, "countOfHandledContacts": 3, "activeQueuingDuration": 1000,
              "maxChangeTimestamp": "2019-12-25T10:14:00.000Z"}
    current = {**bucket, "timeCategory": "2019-12-25 10:15", "countOfArrivedContacts": 1, "countOfHandledContacts": 0,
               "maxChangeTimestamp": "2019-12-25T10:16:00.000Z"}
    served = [bucket, current]
    asked: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json=served if request.url.params["offset"] == "0" else [])

    http = HttpClient("https://cc.example/RI/rai", BasicAuth("u", Secret("p")), transport=httpx.MockTransport(handler),
                      sleep=no_sleep, rng=random.Random(1))
    client = RaiClient(http)
    ep = StatsEndpoint("contactStatistic", source_cfg("sinch_rai"), client.contact_statistic,
                       to_draft=lambda r, at: contact_stats_draft(r, at, "contactStatistic"),
                       change_ms=lambda r: change_ms_of(r.max_change_timestamp))
    h = Harness("sinch_rai")
    now = ms("2019-12-25T10:17:00.000Z")
    await h.poll(ep, now)
    assert len(h.events()) == 2 and h.cursors["contactStatistic"] == ms("2019-12-25T10:16:00.000Z")
    for i in range(3):  # only the open bucket's clock-driven duration moves: no event
        served[1] = {**current, "activeQueuingDuration": 5000 * (i + 1)}
        await h.poll(ep, now + 1000 * (i + 1))
    assert len(h.events()) == 2
    served[0] = {**bucket, "countOfHandledContacts": 4, "maxChangeTimestamp": "2019-12-25T10:18:30.000Z"}
    await h.poll(ep, now + 120_000)
    await h.poll(ep, now + 121_000)
    fix = h.events()[2:]
    assert len(fix) == 1 and fix[0]["subject"] == "queue/249CEA29B6494EF1B1D16D23FE70E702@2019-12-25T10:00:00.000Z"
    assert fix[0]["data"]["changes"] == {"count_of_handled_contacts": [3, 4]} and fix[0]["time"] == "2019-12-25T10:18:30.000Z"
    # read from the quarter hour before the cursor's (minus the lookback), on exact quarter hours
    assert asked[-1]["startTime"] == "2019-12-25T10:00:00.000Z" and asked[-1]["timeCategory"] == "quarterHour"
    await http.aclose()


async def test_contact_statistic_publishes_no_partial_bucket() -> None:
    """S8: contactStatistic selects contacts by their own times (disconnect, or arrival
    while active), unrounded: a bucket begun before a read's start holds only some of its
    contacts there, and is not published as if its counts had dropped."""
    from streamer.vendors.sinch.rai.source import RaiSource

    clock = FakeClock()
    world = World(seed=3, agents=12, clock=clock)
    clock.t += 1800
    src = RaiSource(source_cfg("sinch_rai", lookback="60s", initial_lookback="20m", page_limit=500))
    ep = next(e for e in src.endpoints if e.name == "contactStatistic")
    await src.aclose()
    http = sim_http(world, Faults(1), "/sinch/RI/rai")
    ep._read.__self__.http = http  # type: ignore[attr-defined]
    h = Harness("sinch_rai")
    for _ in range(40):
        clock.t += 30
        await h.poll(ep, int(clock.t * 1000))
    await http.aclose()
    arrived: dict[str, list[int]] = {}
    for e in h.events(["cc.stats.changed"]):
        arrived.setdefault(e["subject"], []).append(e["data"]["values"]["count_of_arrived_contacts"])
    assert len(arrived) > 4
    assert all(v == sorted(v) for v in arrived.values()), arrived  # a bucket's arrivals never drop
