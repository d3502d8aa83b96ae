"""RMI: agents as a snapshot, contacts as interaction lifecycles and transfers."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from streamer.http.auth import BasicAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.simulator.faults import Faults
from streamer.simulator.sinch_render import agent_guid, group_guid
from streamer.simulator.world import World
from streamer.timeutil import parse_ts, to_ms
from streamer.vendors.kit.endpoints import StatsEndpoint
from streamer.vendors.sinch.common import decode_rows
from streamer.vendors.sinch.rmi.client import RmiClient
from streamer.vendors.sinch.rmi.mapping import (
    agent_drafts,
    contact_drafts,
    direction_of,
    group_transfers,
    queue_status_draft,
)
from streamer.vendors.sinch.rmi.models import Agent, Contact, ContactDetail
from streamer.vendors.sinch.rmi.source import AgentsEndpoint, ContactsEndpoint
from tests.unit.vendors.sinch._fixtures import (
    FakeClock,
    Harness,
    body,
    no_sleep,
    sim_http,
    source_cfg,
)

A, B, C = "A" * 32, "B" * 32, "C" * 32
GROUP = "9" * 32


def contact(cid: str, agent: str | None, **times: str) -> Contact:
    row: dict[str, Any] = {"id": cid * 32 if len(cid) == 1 else cid, "contactGroupId": GROUP, "channel": "PHONE",
                           "type": times.pop("type", "CallIn"), "status": times.pop("status", "InProcess"),
                           "arrivalTime": times.pop("arrival", "2024-05-01T10:00:00.000Z")}
    if agent:
        row["agentId"], row["agentName"] = agent, f"Agent {agent[0]}"
    row.update({k: v for k, v in times.items()})
    out = decode_rows(msgspec.json.encode([row]), Contact)[0]
    assert isinstance(out, Contact), out
    return out


def t(s: str) -> str:
    return f"2024-05-01T10:{s}.000Z"


def test_a_contact_lifecycle_from_its_timestamps() -> None:
    c = contact("1", A, status="Handled_AOT", arrivalQueueTime=t("00:00"), connectTime=t("00:05"),
                disconnectTime=t("01:00"), wrapUpBeginTime=t("01:00"), wrapUpEndTime=t("01:20"))
    details = decode_rows(msgspec.json.encode([
        {"time": t("00:01"), "event": "DestAllocated", "value1": "Agent C", "value2": "Q"},  # another agent
        {"time": t("00:02"), "event": "DestAllocated", "value1": "Agent A", "value2": "Q"},
        {"time": t("00:05"), "event": "ConnectedToOper", "value1": "Agent A", "value2": "Q"},
        {"time": t("00:09"), "event": "DestAllocated", "value1": "Agent A", "value2": "Q"},  # after connect
    ]), ContactDetail)
    got = [(d.payload.agent_id, d.payload.state, d.payload.raw, d.payload.since) for d in contact_drafts(c, details)]
    assert got == [
        (None, "Queued", "InQueue", t("00:00")),
        (A, "Ringing", "DestAllocated", t("00:02")),
        (A, "Connected", "InProcess", t("00:05")),
        (A, "Wrap", "InProcess_WrapUp", t("01:00")),
        (A, "Ended", "Handled_AOT", t("01:20")),
    ]
    assert {d.entity_id for d in contact_drafts(c)} == {GROUP}
    assert contact_drafts(c)[1].payload.medium == "Phone" and contact_drafts(c)[1].payload.direction == "Inbound"


def test_an_abandoned_contact_ends_without_an_agent() -> None:
    c = contact("1", None, status="NotHandled_Ab", arrivalQueueTime=t("00:00"), disconnectTime=t("00:30"))
    got = [(d.payload.agent_id, d.payload.state, d.payload.reason, d.stream) for d in contact_drafts(c)]
    assert got == [(None, "Queued", None, "lifecycle"), (None, "Ended", "NotHandled_Ab", "lifecycle")]


def _kinds(contacts: list[Contact]) -> list[tuple[str, str, str, str]]:
    return [(d.payload.from_agent_id[0], d.payload.to_agent_id[0], d.payload.kind, d.payload.at)
            for d in group_transfers(contacts)]


def test_transfers_are_read_off_the_contacts_of_a_group() -> None:
    first = contact("1", A, connectTime=t("00:05"), disconnectTime=t("01:00"), status="InProcess_WrapUp")
    consult = contact("2", B, arrival=t("00:40"), connectTime=t("00:45"))
    blind = contact("2", B, arrival=t("01:00"), connectTime=t("01:04"))
    ringing = contact("2", B, arrival=t("01:00"))
    assert _kinds([first, consult]) == [("A", "B", "consult", t("01:00"))]
    assert _kinds([first, blind]) == [("A", "B", "blind", t("01:00"))]
    assert _kinds([first, ringing]) == []  # not decided until B connects
    assert _kinds([first]) == []
    # a conference: both leave when the customer does
    both = contact("2", B, arrival=t("00:40"), connectTime=t("00:45"), disconnectTime=t("01:00"), status="Handled")
    assert _kinds([first, both]) == []
    # the id does not depend on which view (or restart) saw it
    assert [d.transition for d in group_transfers([blind, first])] == [d.transition for d in group_transfers([first, blind])]


def test_agents_snapshot_rows() -> None:
    rows = decode_rows(body("rmi/agents"), Agent)
    now = to_ms(parse_ts("2016-02-01T10:00:00.123Z"))
    fox = agent_drafts(rows[0], now)  # type: ignore[arg-type]
    assert set(fox) == {"presence", "state", "workload", "queues"}
    assert fox["presence"].payload.current.category == "Ready" and fox["presence"].payload.current.name == "Available"
    assert fox["presence"].payload.since == "2016-02-01T09:59:00.000Z"  # now - 60 s (the later of status/profile)
    assert (fox["state"].payload.current.state, fox["state"].payload.current.raw) == ("Busy", "Talking_Inbound")
    assert fox["workload"].payload.current.calls == 1
    assert fox["queues"].payload.current == ["990556DC18244B4AB5BF35D75A89CDEF", "F8C2697F37D044DB929B10F75381C624"]
    assert fox["queues"].payload.since == "2016-02-01T09:00:00.000Z"  # the current userStatus's start
    jane = agent_drafts(rows[1], now)  # type: ignore[arg-type]
    assert jane["presence"].payload.current.category == "LoggedOut"
    assert jane["state"].payload.current.state == "LoggedOut" and "queues" not in jane


class CountingServer(httpx.AsyncBaseTransport):
    """The simulator behind a transport that counts concurrent detail reads."""

    def __init__(self, app_transport: httpx.AsyncBaseTransport, delay: float = 0.01) -> None:
        self.inner = app_transport
        self.delay = delay
        self.active = self.peak = 0
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        detail = request.url.path.endswith("/details")
        self.paths["details" if detail else request.url.path.rsplit("/", 1)[-1]] += 1
        if detail:
            self.active += 1
            self.peak = max(self.peak, self.active)
            await anyio.sleep(self.delay)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            if detail:
                self.active -= 1


async def test_contacts_from_the_simulator_details_bounded_and_transfers_right() -> None:
    from streamer.simulator.app import build_app

    clock = FakeClock()
    world = World(seed=11, agents=12, clock=clock)
    server = CountingServer(httpx.ASGITransport(app=build_app(world, Faults(1))))
    http = HttpClient("http://sim/sinch/RI/rmi", BasicAuth("sim", Secret("sim")), headers={"accept": "application/json"},
                      transport=server, sleep=no_sleep, rng=random.Random(1))
    cfg = source_cfg("sinch_rmi", page_limit=4)
    ep = ContactsEndpoint(RmiClient(http, page_limit=4), cfg)
    ep.concurrency = 3
    h = Harness("sinch_rmi")
    clock.t += 45
    await h.poll(ep, int(clock.t * 1000))  # the first view: many changed contacts at once
    assert server.paths["details"] > 6 and server.peak == 3
    for _ in range(60):
        clock.t += 1
        await h.poll(ep, int(clock.t * 1000))
    evs = h.events()
    assert len({e["id"] for e in evs}) == len(evs)
    transfers = sorted((e["subject"], e["data"]["from_agent_id"], e["data"]["to_agent_id"], e["data"]["kind"],
                        to_ms(parse_ts(e["data"]["at"]))) for e in evs if e["type"] == "cc.interaction.transferred")
    truth = sorted((group_guid(x.interaction_guid), agent_guid(x.from_agent), agent_guid(x.to_agent), x.kind, x.at_ms)
                   for x in world.transfers())
    assert transfers == truth and len(truth) >= 2
    # every agent's part of every call: connected once, and chained
    for e in evs:
        d = e["data"]
        if e["type"] == "cc.interaction.state.changed" and d["state"] == "Wrap":
            assert d["previous_state"] == "Connected"
    await http.aclose()


async def test_a_contact_gone_from_the_list_is_read_by_id_and_bad_details_are_dead_lettered() -> None:
    listed = [{"id": "1" * 32, "contactGroupId": GROUP, "status": "InProcess", "arrivalTime": t("00:00"),
               "agentId": A, "agentName": "Agent A", "connectTime": t("00:03")}]
    final = {**listed[0], "status": "Handled", "disconnectTime": t("00:50"), "wrapUpBeginTime": t("00:50"),
             "wrapUpEndTime": t("00:55")}
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/details"):
            return httpx.Response(400, text="Invalid GUID: '111'", headers={"content-type": "text/plain"})
        if request.url.path.endswith("/contacts"):
            rows = listed if len([p for p in paths if p.endswith("/contacts")]) == 1 else []
            return httpx.Response(200, json=rows)
        return httpx.Response(200, json=final)

    http = HttpClient("https://cc.example/RI/rmi", BasicAuth("u", Secret("p")), transport=httpx.MockTransport(handler),
                      sleep=no_sleep, rng=random.Random(1))
    ep = ContactsEndpoint(RmiClient(http), source_cfg("sinch_rmi"))
    h = Harness("sinch_rmi")
    now = to_ms(parse_ts(t("01:00")))
    await h.poll(ep, now)
    assert [b.reason for b in h.bad] == [
        f"details of contact {'1' * 32}: HTTP 400 from /contacts/{'1' * 32}/details: Invalid GUID: '111'"]
    await h.poll(ep, now + 1000)
    assert f"/RI/rmi/contacts/{'1' * 32}" in paths
    states = [(e["data"]["state"], e["data"]["raw"]) for e in h.events(["cc.interaction.state.changed"])]
    assert states == [("Connected", "InProcess"), ("Wrap", "InProcess_WrapUp"), ("Ended", "Handled")]


async def test_agents_snapshot_from_the_simulator_publishes_changes_once() -> None:
    clock = FakeClock()
    world = World(seed=5, agents=8, clock=clock)
    http = sim_http(world, Faults(1), "/sinch/RI/rmi")
    ep = AgentsEndpoint(RmiClient(http, page_limit=3), source_cfg("sinch_rmi"))
    h = Harness("sinch_rmi")
    for _ in range(40):
        clock.t += 1
        await h.poll(ep, int(clock.t * 1000))
    evs = h.events()
    by = Counter(e["type"] for e in evs)
    assert by["cc.agent.session.started"] >= 6 and by["cc.agent.queues.changed"] >= 8
    for e in evs:  # a change event is a change
        d = e["data"]
        if "previous" in d and d["previous"] is not None:
            assert d["previous"] != d["current"], e
    await http.aclose()


async def test_a_quiet_queue_makes_no_noise_and_a_change_is_one_event() -> None:
    rows = [{"id": "F8C2697F37D044DB929B10F75381C624", "name": "CustomerService", "type": "Phone", "inQueue": 1,
             "waitingDurationMax": 1000, "inQueueCurrent": 1, "waitingDurationCurrentMax": 1000, "agentsServing": 2,
             "agentsFree": 0, "agentsBusy": 2, "agentsWrapUp": 0, "agentsNotReady": 0, "agentsPause": 0}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=rows[int(request.url.params["offset"]):])

    http = HttpClient("https://cc.example/RI/rmi", BasicAuth("u", Secret("p")), transport=httpx.MockTransport(handler),
                      sleep=no_sleep, rng=random.Random(1))
    client = RmiClient(http)

    async def read(_s: Any, _e: Any) -> Any:
        return await client.queue_statuses()

    ep = StatsEndpoint("queueStatuses", source_cfg("sinch_rmi"), read, to_draft=queue_status_draft)
    h = Harness("sinch_rmi")
    for i in range(5):  # the wait grows, nothing else changes
        rows[0]["waitingDurationMax"] = rows[0]["waitingDurationCurrentMax"] = 1000 + 2000 * i
        await h.poll(ep, 1_700_000_000_000 + 2000 * i)
    assert len(h.events()) == 1
    rows[0].update(inQueue=0, inQueueCurrent=0, agentsFree=1, agentsBusy=1, waitingDurationMax=0)
    await h.poll(ep, 1_700_000_020_000)
    first, change = h.events()
    assert first["data"]["changes"]["in_queue"] == [None, 1]
    assert change["data"]["changes"] == {"in_queue": [1, 0], "in_queue_current": [1, 0], "agents_free": [0, 1],
                                         "agents_busy": [2, 1]}
    assert change["data"]["values"]["waiting_duration_max"] == 0 and change["subject"] == "queue/F8C2697F37D044DB929B10F75381C624"
    assert change["data"]["scope"] == "queue" and change["data"]["name"] == "CustomerService"


# --- S3: wrap-up has no contactHandlingStatus value; it is Waiting with a contact still active ---


def _agent(status: str, phone: int, **more: Any) -> Agent:
    row = {"id": A, "userStatus": "Ready", "userStatusDuration": 600_000, "contactHandlingStatus": status,
           "contactHandlingStatusDuration": 5_000, "availability": "Busy", "activePhoneContacts": phone,
           "activeChatContacts": 0, "activeEmailContacts": 0, **more}
    out = decode_rows(msgspec.json.encode([row]), Agent)[0]
    assert isinstance(out, Agent), out
    return out


def test_waiting_with_a_contact_still_active_is_wrap_up_and_a_wrap_value_is_read_too() -> None:
    now = to_ms(parse_ts("2024-05-01T10:00:00.000Z"))
    wrap = agent_drafts(_agent("Waiting", 1), now)["state"]
    assert (wrap.payload.current.state, wrap.payload.current.raw) == ("Wrap", "Waiting")
    assert wrap.payload.inferred and wrap.payload.rule == "sinch-waiting-with-active-contact"
    assert wrap.payload.since == "2024-05-01T09:59:55.000Z"  # the Waiting written as the contact ended
    idle = agent_drafts(_agent("Waiting", 0, availability="Free"), now)["state"]
    assert (idle.payload.current.state, idle.payload.inferred) == ("Idle", False)
    assert wrap.transition != idle.transition  # two facts, two ids, even at one instant
    # the other reading: a server that does send Wrap
    assert agent_drafts(_agent("Wrap", 1), now)["state"].payload.current.state == "Wrap"
    assert agent_drafts(_agent("Talking_Inbound", 1), now)["state"].payload.current.state == "Busy"


async def test_the_simulator_renders_no_wrap_value_and_the_client_still_sees_wrap_up() -> None:
    clock = FakeClock()
    world = World(seed=5, agents=8, clock=clock)
    http = sim_http(world, Faults(1), "/sinch/RI/rmi")
    ep = AgentsEndpoint(RmiClient(http, page_limit=50), source_cfg("sinch_rmi"))
    h = Harness("sinch_rmi")
    rendered: set[str] = set()
    for _ in range(60):
        clock.t += 1
        rows = (await http.get("/agents", {"startTime": "2000-01-01T00:00:00.000Z"})).body
        rendered |= {r.get("contactHandlingStatus") for r in msgspec.json.decode(rows)} - {None}
        await h.poll(ep, int(clock.t * 1000))
    documented = {"Talking_Inbound", "Talking_Outbound", "Talking_Outbound_CBR", "Talking_Outbound_Campaign",
                  "Chatting_Inbound", "Emailing_Inbound", "Emailing_Outbound", "Dialing_Outbound",
                  "Dialing_Outbound_CBR", "Dialing_Outbound_Campaign", "Waiting"}  # RMI /agents
    assert rendered and rendered <= documented, rendered
    states = [e["data"]["current"] for e in h.events(["cc.agent.state.changed"])]
    assert {"state": "Wrap", "raw": "Waiting", "reason": None} in states, states
    await http.aclose()


@pytest.mark.parametrize(("kind", "direction"), [
    ("CBRIntCallIn", "Internal"), ("CBR", "Inbound"), ("CBRCallOut", "Outbound"), ("CallIn", "Inbound"),
    ("CallIn/Forwarded", "Inbound"), ("CallOutOB", "Outbound"), ("VOICEMAILIN", "Inbound"), ("ChatOut", "Outbound"),
])
def test_contact_types_have_the_documented_direction(kind: str, direction: str) -> None:
    c = contact("A", A, type=kind, arrivalQueueTime=t("00:00"), connectTime=t("00:05"))
    assert direction_of(kind) == direction
    assert {d.payload.direction for d in contact_drafts(c)} == {direction}
