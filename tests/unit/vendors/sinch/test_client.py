"""Sinch clients over httpx.MockTransport: headers, offset/limit paging past the row
limit, loops, text/plain errors."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.errors import ConfigError, PageLoopError, SkippableError
from streamer.http.auth import BasicAuth
from streamer.http.build import build_http
from streamer.http.client import HttpClient
from streamer.http.tolerant import BadRecord
from streamer.secrets import Secret
from streamer.vendors.sinch.common import ROW_LIMIT, sinch_headers
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.models import AgentStatusHistoryRow
from streamer.vendors.sinch.rmi.client import RmiClient

START = datetime(2019, 12, 3, 7, 0, tzinfo=UTC)
INVALID_GUID = "Invalid GUID: '2B8ED95B0EC911E79675005056A75D9'"


async def no_sleep(_: float) -> None:
    return None


def history_row(i: int) -> dict[str, Any]:
    return {"sessionId": "5E7DA34E9D15EA1180DB00505687F2FD", "userId": f"{i % 97:032X}", "userName": f"Agent {i}",
            "status": "Waiting", "statusTimestamp": "2019-12-03 07:19:59.127",
            "changeTimeStamp": f"2019-12-03 07:{20 + i // 6000:02d}:{(i // 100) % 60:02d}.{i % 100:03d}"}


class OffsetServer:
    """Serves ``rows`` honoring offset/limit, never more than ``cap`` rows per call."""

    def __init__(self, rows: list[Any], *, cap: int = ROW_LIMIT, ignore_offset: bool = False) -> None:
        self.rows, self.cap, self.ignore_offset = rows, cap, ignore_offset
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        offset = 0 if self.ignore_offset else int(request.url.params.get("offset", 0))
        limit = min(int(request.url.params.get("limit", 100)), self.cap)
        return httpx.Response(200, json=self.rows[offset: offset + limit])


def http_for(handler: Any, base: str = "https://cc.example/RI/rai") -> HttpClient:
    return HttpClient(base, BasicAuth("api-user", Secret("pw")), headers={"accept": "application/json"},
                      transport=httpx.MockTransport(handler), sleep=no_sleep, rng=random.Random(1))


async def test_reads_page_by_page_past_the_row_limit() -> None:
    server = OffsetServer([history_row(i) for i in range(2 * ROW_LIMIT + 345)])
    client = RaiClient(http_for(server), page_limit=50_000)  # asked for more: never over the limit
    read = await client.agent_status_history(START)
    assert len(read.items) == 2 * ROW_LIMIT + 345 and read.pages == 4  # the last one empty
    assert all(isinstance(r, AgentStatusHistoryRow) for r in read.items)
    assert [int(r.url.params["offset"]) for r in server.requests] == [0, ROW_LIMIT, 2 * ROW_LIMIT, 2 * ROW_LIMIT + 345]
    assert {r.url.params["limit"] for r in server.requests} == {str(ROW_LIMIT)}
    assert len({r.user_id + r.user_name for r in read.items}) == 2 * ROW_LIMIT + 345  # type: ignore[union-attr]


@pytest.mark.parametrize("cap", [1, 3, 9])
async def test_a_gateway_that_caps_pages_below_the_limit_is_read_to_the_empty_page(cap: int) -> None:
    """A page shorter than ``limit`` is not the last: only an empty one is."""
    server = OffsetServer([history_row(i) for i in range(25)], cap=cap)
    read = await RaiClient(http_for(server), page_limit=10).agent_status_history(START)
    assert len({r.user_name for r in read.items}) == 25  # type: ignore[union-attr]
    assert len(read.items) == 25 and read.pages == -(-25 // cap) + 1
    assert [int(r.url.params["offset"]) for r in server.requests] == list(range(0, 25, cap)) + [25]


async def test_a_full_last_page_costs_one_more_call_never_a_lost_row() -> None:
    server = OffsetServer([history_row(i) for i in range(20)])
    read = await RaiClient(http_for(server), page_limit=10).agent_status_history(START)
    assert len(read.items) == 20
    assert [r.url.params["offset"] for r in server.requests] == ["0", "10", "20"]


async def test_a_server_ignoring_offset_is_a_loop_not_a_hang() -> None:
    server = OffsetServer([history_row(i) for i in range(30)], ignore_offset=True)
    with pytest.raises(PageLoopError):
        await RaiClient(http_for(server), page_limit=10).agent_status_history(START)
    assert len(server.requests) == 2


async def test_requests_carry_basic_auth_json_and_the_window() -> None:
    server = OffsetServer([])
    await RaiClient(http_for(server), page_limit=10).agent_status_history(
        START, datetime(2019, 12, 3, 8, tzinfo=UTC), user_ids=["A", "B"])
    req = server.requests[0]
    assert req.headers["authorization"] == "Basic YXBpLXVzZXI6cHc="
    assert req.headers["accept"] == "application/json"
    assert req.url.path == "/RI/rai/agentStatusHistory"
    assert dict(req.url.params) == {"startTime": "2019-12-03T07:00:00.000Z", "endTime": "2019-12-03T08:00:00.000Z",
                                    "userId": "A,B", "language": "EN", "offset": "0", "limit": "10"}


def test_the_api_key_header_is_sent_only_when_configured() -> None:
    base = {"id": "s", "vendor": "sinch_rmi", "base_url": "https://gw.example/RI/rmi",
            "auth": {"type": "basic", "username": "u", "password": "p"}}
    plain = parse_config({"sources": [base]}, env={}).sources[0]
    keyed = parse_config({"sources": [{**base, "api_key": "${KEY}"}]}, env={"KEY": "k-123"}).sources[0]
    assert sinch_headers(plain) == {"accept": "application/json"}
    assert sinch_headers(keyed) == {"accept": "application/json", "x-api-key": "k-123"}


async def test_api_key_reaches_the_wire() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[])

    cfg = parse_config({"sources": [{"id": "s", "vendor": "sinch_rmi", "base_url": "https://gw.example/RI/rmi",
                                     "auth": {"type": "basic", "username": "u", "password": "p"},
                                     "api_key": "k-123"}]}, env={}).sources[0]
    http = build_http(cfg, headers=sinch_headers(cfg), transport=httpx.MockTransport(handler))
    await RmiClient(http).queue_statuses()
    await http.aclose()
    assert seen[0].headers["x-api-key"] == "k-123" and seen[0].url.path == "/RI/rmi/queueStatuses"
    assert seen[0].headers["authorization"].startswith("Basic ")


@pytest.mark.parametrize("status,text", [(400, INVALID_GUID), (404, "HTTP 404 Not Found")])
async def test_text_plain_errors_become_clear_skippable_errors(status: int, text: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=text, headers={"content-type": "text/plain"})

    client = RmiClient(http_for(handler, "https://cc.example/RI/rmi"))
    with pytest.raises(SkippableError) as err:
        await client.contact_details("2B8ED95B0EC911E79675005056A75D9")
    assert str(err.value) == f"HTTP {status} from /contacts/2B8ED95B0EC911E79675005056A75D9/details: {text}"
    with pytest.raises(SkippableError, match="Invalid GUID|404 Not Found"):
        await client.contact("2B8ED95B0EC911E79675005056A75D9")


async def test_ids_are_one_path_segment() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json=[])

    await RmiClient(http_for(handler, "https://cc.example/RI/rmi")).contact_details("../agents?x=1")
    assert seen == ["/RI/rmi/contacts/..%2Fagents%3Fx%3D1/details?language=EN"]


async def test_a_bad_row_in_a_page_does_not_cost_the_page() -> None:
    rows = [history_row(0), {"userName": "no id"}, history_row(2)]
    read = await RaiClient(http_for(OffsetServer(rows)), page_limit=10).agent_status_history(START)
    assert [type(r).__name__ for r in read.items] == ["AgentStatusHistoryRow", "BadRecord", "AgentStatusHistoryRow"]
    assert isinstance(read.items[1], BadRecord) and msgspec.json.decode(read.items[1].raw) == {"userName": "no id"}


@pytest.mark.parametrize("change,error", [
    ({"auth": {"type": "bearer", "token": "t"}}, "sources[0].auth.type: sinch_rai takes basic"),
    ({"base_url": "https://cc.example/RI/rmi"}, "sources[0].base_url: sinch_rai needs the interface root ending in /RI/rai"),
    ({"page_limit": 20000}, "sources[0].page_limit: at most 10000"),
    ({"team_ids": ["x"]}, "sources[0].team_ids: not used by sinch_rai"),
    ({"endpoints": {"agents": {"enabled": False}}}, "sources[0].endpoints.agents: unknown endpoint for sinch_rai"),
])
def test_config_errors_name_the_key(change: dict[str, Any], error: str) -> None:
    src = {"id": "s", "vendor": "sinch_rai", "base_url": "https://cc.example/RI/rai/",
           "auth": {"type": "basic", "username": "u", "password": "p"}}
    parse_config({"sources": [src]}, env={})  # the base is fine (a trailing slash too)
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": [{**src, **change}]}, env={})
    assert str(err.value).startswith(error)


# --- S4: language=EN wherever the docs list the parameter --------------------------------

RMI_TAKES_LANGUAGE = {"/agents", "/contacts", "/contacts/{id}", "/contacts/{id}/details", "/queueStatuses",
                      "/contactSummaries"}
RAI_TAKES_LANGUAGE = {"/agentStatusHistory", "/agentStatus", "/contactStatistic", "/agentStatistic"}
RAI_WITHOUT = {"/contactHistory", "/agentHistory"}  # not in their parameters: there it would filter a field


async def test_every_request_that_takes_language_sends_en_and_no_other_does() -> None:
    seen: dict[str, dict[str, str]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path.split("/RI/")[1][3:]
        path = path.replace("C" * 32, "{id}")
        seen[path] = dict(request.url.params)
        return httpx.Response(200, json=[{"id": "C" * 32, "status": "InProcess", "arrivalTime": "2024-05-01T10:00:00Z"}]
                              if path == "/contacts/{id}" else [])

    rmi = RmiClient(http_for(handler, "https://cc.example/RI/rmi"))
    await rmi.agents(START)
    await rmi.contacts(START)
    await rmi.contact("C" * 32)
    await rmi.contact_details("C" * 32)
    await rmi.queue_statuses()
    await rmi.contact_summaries(START)
    rai = RaiClient(http_for(handler))
    end = datetime(2019, 12, 3, 8, tzinfo=UTC)
    await rai.agent_status_history(START, end)
    await rai.agent_status()
    for read in (rai.contact_statistic, rai.agent_statistic, rai.contact_history, rai.agent_history):
        await read(START, end)
    assert set(seen) == RMI_TAKES_LANGUAGE | RAI_TAKES_LANGUAGE | RAI_WITHOUT
    assert {p for p, q in seen.items() if q.get("language") == "EN"} == RMI_TAKES_LANGUAGE | RAI_TAKES_LANGUAGE
    assert not [p for p in RAI_WITHOUT if "language" in seen[p]]


async def test_contacts_are_paged_in_a_stable_order() -> None:
    """S6: /contacts defaults to sorting by ``name``, which contacts do not have."""
    server = OffsetServer([])
    await RmiClient(http_for(server, "https://cc.example/RI/rmi")).contacts(START)
    assert server.requests[0].url.params["sort"] == "id"


# --- S5: every RAI endpoint has the 10,000-row limit -------------------------------------


class CappedStats:
    """RAI rows of one kind, one per 5 minutes of ``changeTimestamp``, filtered on the
    query's time range, the query cut at ``cap`` rows whatever the paging."""

    def __init__(self, n: int, cap: int) -> None:
        base = START.timestamp() * 1000
        self.times = [int(base + 300_000 * i) for i in range(n)]
        self.cap = cap
        self.queries = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        from streamer.timeutil import format_ms, parse_ts, to_ms

        p = request.url.params
        lo = to_ms(parse_ts(p["startTime"]))
        hi = to_ms(parse_ts(p["endTime"])) if "endTime" in p else 1 << 62
        self.queries += p.get("offset") == "0"
        kind = request.url.path.rsplit("/", 1)[1]
        rows = []
        for i, t in enumerate(self.times):
            if lo <= t < hi:
                if kind == "agentStatus":
                    rows.append({"userId": f"{i:032X}", "changeTimestamp": format_ms(t)})
                elif kind.startswith("agent"):
                    rows.append({"userId": f"{i:032X}", "timeCategory": format_ms(t), "maxChangeTimestamp": format_ms(t)})
                else:
                    rows.append({"queueId": f"{i:032X}", "timeCategory": format_ms(t), "maxChangeTimestamp": format_ms(t)})
        rows = rows[: self.cap]
        offset, limit = int(p["offset"]), int(p["limit"])
        return httpx.Response(200, json=rows[offset: offset + limit])


@pytest.mark.parametrize("endpoint", ["agentStatus", "contactStatistic", "agentStatistic", "contactHistory",
                                      "agentHistory"])
async def test_a_query_cut_at_the_row_limit_is_split_until_every_row_is_read(endpoint: str) -> None:
    server = CappedStats(n=100, cap=16)
    client = RaiClient(http_for(server), page_limit=5)
    client.row_limit = 16
    end = datetime(2019, 12, 3, 7, tzinfo=UTC).replace(day=4)
    if endpoint == "agentStatus":
        read = await client.agent_status(START)
    else:
        read = await getattr(client, {"contactStatistic": "contact_statistic", "agentStatistic": "agent_statistic",
                                      "contactHistory": "contact_history", "agentHistory": "agent_history"}[endpoint])(
            START, end)
    ids = {getattr(r, "user_id", None) or getattr(r, "queue_id", None) for r in read.items}
    assert len(ids) == 100 and server.queries > 6
