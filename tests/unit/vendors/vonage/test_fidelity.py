"""Issue 15, Vonage: what the seed documents say that the client got wrong (V1-V8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.engine.emit import SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.errors import FatalError
from streamer.http.auth import BearerAuth
from streamer.http.build import build_http
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import format_ts, from_ms, to_ms
from streamer.track.ledger import Ledger
from streamer.vendors.vonage import source as vonage_source
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.mapping import activity_drafts, interaction_drafts, status_drafts
from streamer.vendors.vonage.models import Activity, AgentStatus, Interaction, decode_page, decode_record
from streamer.vendors.vonage.parts import PartEnds
from streamer.vendors.vonage.source import AgentActivitiesEndpoint, VonageSource
from tests.unit._helpers import events, run_drafts
from tests.unit.vendors.vonage._fixtures import load

T0 = to_ms(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
CTX = SourceContext("vonage", "s", "cc")
GUID = "016f1c6b-9766-498c-9756-30afb0354d5b"
AT = "2019-12-19T16:00:23.249Z"


def rec(model: type, doc: dict[str, Any]) -> Any:
    return decode_record(msgspec.json.encode(doc), model)


def act(**kw: Any) -> Activity:
    doc: dict[str, Any] = {"agentId": "01", "type": "Interaction", "category": "Connected", "start": AT,
                           "interaction": {"guid": GUID, "medium": "Phone", "direction": "Inbound"}}
    doc.update(kw)
    return rec(Activity, doc)


def status(**kw: Any) -> AgentStatus:
    doc: dict[str, Any] = {"agentId": "01"}
    doc.update(kw)
    return rec(AgentStatus, doc)


def same_event(a: Any, b: Any) -> bool:
    """Both drafts give one event: the second is not published after the first."""
    led = Ledger()
    return len(run_drafts([a], led)) == 1 and run_drafts([b], led) == []


# --- V1: an agent's part of an interaction ends --------------------------------------


def test_v1_the_seed_example_ends_agent_01s_part_at_its_last_activity() -> None:
    page = decode_page(load("agent_activities_seed_verbatim.json"), Activity)  # the JSON slips and all
    parts = PartEnds(keep_ms=0)
    for a in page.items:
        parts.see(a)  # type: ignore[arg-type]
    assert page.up_to is not None
    (end,) = parts.settled(to_ms(page.up_to))
    assert (end.interaction_id, end.agent_id) == (GUID, "01")
    assert format_ts(from_ms(end.end_ms)) == "2019-12-19T15:49:00.512Z"  # Wrap 15:48:56.600 + 3912 ms
    assert parts.settled(to_ms(page.up_to) + 10**9) == []  # once


def test_v1_an_end_is_not_settled_before_the_cursor_passes_it_and_rows_served_again_do_not_reopen_it() -> None:
    parts = PartEnds(keep_ms=60_000)
    wrap = act(category="Wrap", start="2019-12-19T16:00:00.000Z", duration=1000)
    end = to_ms(wrap.start) + 1000
    parts.see(wrap)
    assert parts.settled(end - 1) == []
    assert [p.end_ms for p in parts.settled(end)] == [end]
    parts.see(wrap)  # served again in a later overlap
    parts.see(act(category="Connected", start="2019-12-19T15:59:00.000Z", duration=60_000))
    assert parts.settled(end + 30_000) == []
    # consulted again later: a new part, its own end
    parts.see(act(category="Ringing", start="2019-12-19T16:05:00.000Z", duration=2000))
    assert [p.end_ms for p in parts.settled(end + 10**6)] == [end + 299_000 + 2000]


def test_v1_the_snapshot_publishes_no_end_the_history_publishes_one() -> None:
    """Choice: the snapshot waits for the history (it would not know the exact time)."""
    wrap_row = status(interaction=[{"guid": GUID, "since": AT, "state": "Wrap"}])
    gone = status(interaction=[])
    drafts = status_drafts(wrap_row) + status_drafts(gone)
    assert [d.payload.state for d in drafts] == ["Wrap"]


@dataclass
class Row:
    category: str
    start: int
    end: int | None
    written: int = 0
    """When the vendor writes the row (at its start and end, or later: late)."""


class Vendor:
    """``/agent-activities?include=Processed`` of one agent on one interaction: a row is
    served in the windows that hold its start and the moment its end is written."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows, self.now = rows, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        lo, hi = to_ms(_ts(p["start"])), to_ms(_ts(p["end"]))
        items = []
        for r in self.rows:
            at_start, at_end = max(r.start, r.written), max(r.end or 0, r.written)
            if at_start > self.now:
                continue
            ended = r.end is not None and at_end <= self.now
            if lo <= at_start < hi or (ended and lo <= at_end < hi):
                items.append({"agentId": "01", "type": "Interaction", "category": r.category,
                              "start": format_ts(from_ms(r.start)), "status": "Ongoing",
                              "duration": (r.end - r.start) if ended else None,  # type: ignore[operator]
                              "interaction": {"guid": GUID, "medium": "Phone", "direction": "Inbound"}})
        meta = {"page": 1, "count": len(items), "pageCount": 1, "totalCount": len(items)}
        body = {"meta": meta, "items": items, "upTo": format_ts(from_ms(min(hi, self.now)))}
        return httpx.Response(200, content=msgspec.json.encode(body))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Daemon:
    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self.ledger = Ledger()
        self.saved: dict[str, bytes] = {}
        self.cursor: int | None = T0 - 5_000
        self.events: list[dict[str, Any]] = []
        self.ep = self._endpoint()

    def _endpoint(self) -> AgentActivitiesEndpoint:
        cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                         "auth": {"type": "bearer", "token": "t"}, "lookback": "30s",
                                         "lookback_every": "10s", "safety_lag": "1s"}]}, env={}).sources[0]
        http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(),
                          transport=httpx.MockTransport(self.vendor))
        return AgentActivitiesEndpoint(VonageClient(http), cfg)

    async def run(self, until: int, step: int = 2_000) -> None:
        now = (self.cursor or T0) + step
        while now <= until:
            self.vendor.now = now
            async for result in self.ep.poll(self.cursor, now):
                for r, _ in emit_with_rules(result.drafts, self.ledger, CTX, now):
                    if r.value is not None:
                        self.events.append(msgspec.json.decode(r.value))
                for key, entity in self.ledger.take_dirty().items():
                    if entity is not None:
                        self.saved[key] = entity
                if result.cursor_ms is not None:
                    self.cursor = max(result.cursor_ms, self.cursor or 0)
            now += step

    def restart(self) -> None:
        self.ep = self._endpoint()
        self.ledger = Ledger(dict(self.saved))

    def ends(self) -> list[tuple[str, str | None, str]]:
        return [(e["data"]["since"], e["data"]["previous_state"], e["data"]["agent_id"]) for e in self.events
                if e["type"] == "cc.interaction.state.changed" and e["data"]["state"] == "Ended"]


def _call(at: int, *, wrap_written: int = 0) -> list[Row]:
    return [Row("Ringing", at, at + 2_000), Row("Connected", at + 2_000, at + 30_000),
            Row("Wrap", at + 30_000, at + 35_000, written=wrap_written)]


async def test_v1_the_history_publishes_one_end_per_part() -> None:
    d = Daemon(Vendor(_call(T0)))
    await d.run(T0 + 120_000)
    assert d.ends() == [(format_ts(from_ms(T0 + 35_000)), "Wrap", "01")]


async def test_v1_a_wrap_written_late_within_the_lookback_still_gives_one_end_at_its_end() -> None:
    """The Connected ends at +30 s, the Wrap is written 25 s late: no end at +30 s."""
    d = Daemon(Vendor(_call(T0, wrap_written=T0 + 55_000)))
    await d.run(T0 + 150_000)
    assert d.ends() == [(format_ts(from_ms(T0 + 35_000)), "Wrap", "01")]


async def test_v1_a_restart_publishes_no_second_end_and_loses_none() -> None:
    d = Daemon(Vendor(_call(T0) + _call(T0 + 100_000)))
    await d.run(T0 + 50_000)
    d.restart()  # the first part's end is not settled yet
    await d.run(T0 + 90_000)
    d.restart()  # now it is published: the re-read must not publish it again
    await d.run(T0 + 250_000)
    assert d.ends() == [(format_ts(from_ms(T0 + 35_000)), "Wrap", "01"),
                        (format_ts(from_ms(T0 + 135_000)), "Wrap", "01")]
    assert len({e["id"] for e in d.events}) == len(d.events)


# --- V2: presence name vs description ---------------------------------------------------


@pytest.mark.parametrize("presence", [
    {"name": "ExtendedAway", "description": "Lunch"},  # the reading chosen: name = category
    {"name": "Lunch", "description": "ExtendedAway"},  # the agent-activities reading: name = label
])
def test_v2_either_reading_gives_the_historys_event(presence: dict[str, Any]) -> None:
    (h,) = activity_drafts(act(type="Presence", category="ExtendedAway", name="Lunch", interaction=None))
    (s,) = status_drafts(status(presence={"since": AT, "eligibleForRouting": False, **presence}))
    assert s.payload.current.category == "ExtendedAway" and s.payload.current.name == "Lunch"
    assert same_event(s, h)


# --- V3: workload counts the source does not have -----------------------------------------


def test_v3_the_snapshot_workload_has_only_calls() -> None:
    (w,) = status_drafts(status(workload={"since": AT, "calls": 1}))
    data = events(run_drafts([w]))[0]["data"]
    assert data["current"] == {"calls": 1}  # no semi_live/non_live: the FAQ's workload has none
    (h,) = activity_drafts(act(type="Workload", interaction=None, workload={"calls": 1, "semiLive": 0, "nonLive": 2}))
    assert events(run_drafts([h]))[0]["data"]["current"] == {"calls": 1, "semi_live": 0, "non_live": 2}


# --- V4: hold and queue events; V5: the leg builder; V6: monitoring ------------------------


def _interaction(*channels: dict[str, Any]) -> Interaction:
    return rec(Interaction, {"guid": "int-1", "start": "2020-01-10T11:13:05.836Z", "status": "Completed",
                             "duration": 100_000, "medium": "Phone", "direction": "Inbound", "channels": list(channels)})


def _ch(guid: str, party: str | None, role: str, offset: int, events_: list[tuple[str, int, int | None]],
        duration: int | None = None, **props: Any) -> dict[str, Any]:
    return {"guid": guid, "offset": offset, "duration": duration, "party": {"id": party, "role": role},
            "events": [{"type": t, "offset": o, "duration": d, "properties": props.get(t)} for t, o, d in events_]}


def test_v4_a_hold_inside_a_call_is_held_then_connected_again_and_the_queue_is_queued() -> None:
    customer = _ch("c", None, "External", 0, [("Connected", 0, 90_000), ("Queue", 1_000, 4_000), ("Held", 20_000, 5_000)],
                   Queue={"result": "Delivered"}, Held={"initiatingAgentID": "01", "type": "Held"})
    agent = _ch("a", "01", "Agent", 4_000, [("Connected", 5_000, 60_000)])
    got = [(d.payload.agent_id, d.payload.state, d.payload.since, d.payload.reason, d.payload.inferred)
           for d in interaction_drafts(_interaction(customer, agent)) if d.payload.state != "Ended"]
    assert got == [
        (None, "Queued", "2020-01-10T11:13:06.836Z", "Delivered", False),
        ("01", "Held", "2020-01-10T11:13:25.836Z", None, False),
        ("01", "Connected", "2020-01-10T11:13:30.836Z", None, True),
    ]


def _consult(agent_b: dict[str, Any]) -> list[Any]:
    customer = _ch("c", None, "External", 0, [("Connected", 0, 90_000)])
    a = _ch("a", "01", "Agent", 1_000, [("Connected", 2_000, 30_000)])
    return [d.payload for d in interaction_drafts(_interaction(customer, a, agent_b)) if d.type == "cc.interaction.transferred"]


def test_v5_connected_in_any_case_and_out_of_order_and_an_open_last_connected_in_a_closed_channel() -> None:
    # lower case, listed after a later event: the earliest Connected counts
    b = _ch("b", "002", "Agent", 10_000, [("Wrap", 60_000, 1_000), ("connected", 10_000, 50_000)])
    assert [(t.from_agent_id, t.to_agent_id, t.kind) for t in _consult(b)] == [("01", "002", "consult")]
    # agent 01's Connected never closed, but its channel did (at 32 s): 01 left, 002 took over
    customer = _ch("c", None, "External", 0, [("Connected", 0, 90_000)])
    a = _ch("a", "01", "Agent", 1_000, [("Connected", 2_000, None)], duration=31_000)
    b = _ch("b", "002", "Agent", 10_000, [("Connected", 10_000, 50_000)])
    (t,) = [d.payload for d in interaction_drafts(_interaction(customer, a, b)) if d.type == "cc.interaction.transferred"]
    assert (t.from_agent_id, t.to_agent_id, t.kind, t.at) == ("01", "002", "consult", "2020-01-10T11:13:37.836Z")


def test_v6_monitoring_is_neither_a_state_nor_a_transfer() -> None:
    assert activity_drafts(act(reason="Monitor")) == []
    assert status_drafts(status(interaction=[{"guid": GUID, "since": AT, "state": "Connected", "reason": "Monitor"}])) == []
    parts = PartEnds(keep_ms=0)
    parts.see(act(reason="Monitor", duration=1_000))
    assert parts.settled(10**15) == []
    supervisor = _ch("s", "sup1", "Agent", 10_000, [("Connected", 10_000, 50_000)], Connected={"reason": "Monitor"})
    assert _consult(supervisor) == []


def test_v6_a_monitoring_channel_holds_and_queues_nothing() -> None:
    """Its events are not the interaction's: a supervisor's Held or Queue makes no state."""
    customer = _ch("c", None, "External", 0, [("Connected", 0, 90_000)])
    agent = _ch("a", "01", "Agent", 1_000, [("Connected", 2_000, 60_000)])
    supervisor = _ch("s", "sup1", "Supervisor", 10_000, [("Connected", 10_000, 50_000), ("Held", 20_000, 5_000),
                                                        ("Queue", 30_000, 1_000)],
                     Held={"initiatingAgentId": "sup1"}, Queue={"result": "Delivered"})
    states = [d.payload.state for d in interaction_drafts(_interaction(customer, agent, supervisor))]
    assert states == ["Ended"]


# --- V7: "Wrap Up" ----------------------------------------------------------------------------


def test_v7_wrap_up_is_wrap_and_the_same_change_as_the_historys_wrap() -> None:
    (s,) = status_drafts(status(interaction=[{"guid": GUID, "since": AT, "state": "Wrap Up"}]))
    (h,) = activity_drafts(act(category="Wrap"))
    assert s.payload.state == "Wrap" and s.payload.raw == "Wrap Up"
    assert same_event(s, h)


# --- V8: OAuth2 scope --------------------------------------------------------------------------


def _oauth_source(
    monkeypatch: pytest.MonkeyPatch, scope: str | None, token_reply: httpx.Response,
) -> tuple[VonageSource, list[dict[str, str]]]:
    auth: dict[str, Any] = {"type": "oauth2_client_credentials", "token_url": "http://v/Auth/connect/token",
                            "client_id": "cid", "client_secret": "s3cret-canary"}
    if scope is not None:
        auth["scope"] = scope
    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v/stats", "auth": auth}]},
                       env={}).sources[0]
    forms: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token"):
            forms.append(dict(httpx.QueryParams(request.content.decode())))
            return token_reply
        return httpx.Response(200, content=b'{"meta": {"page": 1, "pageCount": 1}, "items": [], "upTo": null}')

    def with_transport(*args: Any, **kw: Any) -> Any:
        return build_http(*args, **kw, transport=httpx.MockTransport(handler))

    monkeypatch.setattr(vonage_source, "build_http", with_transport)
    return VonageSource(cfg), forms


async def test_v8_the_scope_defaults_to_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    ok = httpx.Response(200, json={"access_token": "tok", "expires_in": 7200})
    for scope, sent in ((None, "stats"), ("stats other", "stats other")):
        src, forms = _oauth_source(monkeypatch, scope, ok)
        await src.http.get("/agent-status", {})
        await src.aclose()
        assert forms[0]["scope"] == sent


@pytest.mark.parametrize(("reply", "says"), [
    ({"error": "invalid_scope"}, "rejected the scope 'stats' for client_id 'cid' (HTTP 400): invalid_scope"),
    ({"error": "invalid_client", "error_description": "bad s3cret-canary"},
     "rejected the client credentials for client_id 'cid' (HTTP 400): invalid_client (bad ***)"),
    ({"error": "unsupported_grant_type"}, "rejected the client_credentials grant"),
])
async def test_v8_a_token_error_names_what_was_rejected(
    monkeypatch: pytest.MonkeyPatch, reply: dict[str, str], says: str,
) -> None:
    src, _ = _oauth_source(monkeypatch, None, httpx.Response(400, json=reply))
    with pytest.raises(FatalError) as info:
        await src.http.get("/agent-status", {})
    await src.aclose()
    assert says in str(info.value) and "s3cret-canary" not in str(info.value)
