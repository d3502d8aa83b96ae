"""VonageClient over httpx.MockTransport: paging, windows, errors."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from streamer.errors import PageLoopError, SkippableError
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.vendors.vonage.client import (
    VONAGE_ACCEPT,
    VonageClient,
    WindowRead,
    vonage_headers,
)
from streamer.vendors.vonage.models import Activity, AgentStatus, BadRecord, Interaction
from tests.unit.vendors.vonage._fixtures import load

START = datetime(2019, 12, 19, 15, 0, tzinfo=UTC)
END = datetime(2019, 12, 19, 16, 0, tzinfo=UTC)


async def no_sleep(_: float) -> None:
    return None


def activity(i: int) -> dict[str, Any]:
    return {
        "agentId": f"{i:03d}", "type": "Presence", "category": "Ready", "name": "Ready",
        "eligibleForRouting": True, "start": f"2019-12-19T15:{i % 60:02d}:00.000Z",
        "status": None, "duration": 1000, "reason": None, "interaction": None,
        "channel": None, "workload": None,
    }


NO_KEY = object()


class PagedServer:
    """Serves ``items`` in pages of ``limit`` with the Vonage envelope."""

    def __init__(self, items: list[Any], *, ignore_page: bool = False, first_meta: Any = ...) -> None:
        self.items = items
        self.ignore_page = ignore_page
        self.first_meta = first_meta
        """What page 1 carries as ``meta`` instead of the paging information (``...``:
        the real one; :data:`NO_KEY`: no ``meta`` at all)."""
        self.requests: list[httpx.Request] = []
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        limit = int(request.url.params["limit"])
        page = 1 if self.ignore_page else int(request.url.params["page"])
        page_count = max(1, -(-len(self.items) // limit))
        chunk = self.items[(page - 1) * limit : page * limit]
        body = {
            "meta": {"page": page, "count": len(chunk), "pageCount": page_count, "totalCount": len(self.items)},
            "items": chunk,
            "upTo": f"2019-12-19T16:00:0{len(self.requests)}.000Z",
        }
        if page == 1 and self.first_meta is not ...:
            body["meta"] = self.first_meta
            if self.first_meta is NO_KEY:
                del body["meta"]
        self.bodies.append(msgspec.json.encode(body))
        return httpx.Response(200, content=self.bodies[-1])


def client(handler: Any, page_limit: int = 1000) -> tuple[VonageClient, HttpClient]:
    http = HttpClient(
        "https://emea.api.newvoicemedia.com/stats",
        BearerAuth(Secret("sim-token")),
        headers=vonage_headers(),
        transport=httpx.MockTransport(handler),
        sleep=no_sleep,
        rng=random.Random(1),
    )
    return VonageClient(http, page_limit=page_limit), http


async def test_three_pages_return_every_item_once() -> None:
    server = PagedServer([activity(i) for i in range(7)])
    vonage, http = client(server, page_limit=3)
    async with http:
        read = await vonage.agent_activities(START, END)
    assert isinstance(read, WindowRead) and read.pages == 3
    ids = [a.agent_id for a in read.items if isinstance(a, Activity)]
    assert ids == [f"{i:03d}" for i in range(7)]
    assert read.up_to == datetime(2019, 12, 19, 16, 0, 1, tzinfo=UTC)  # earliest upTo
    first = server.requests[0]
    assert first.url.path == "/stats/agent-activities"
    assert dict(first.url.params) == {
        "start": "2019-12-19T15:00:00.000Z", "end": "2019-12-19T16:00:00.000Z",
        "include": "Processed", "page": "1", "limit": "3",
    }
    assert [r.url.params["page"] for r in server.requests] == ["1", "2", "3"]
    assert first.headers["accept"] == VONAGE_ACCEPT
    assert first.headers["authorization"] == "Bearer sim-token"


async def test_seed_page_through_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=load("agent_activities_seed.json"))

    vonage, http = client(handler)
    async with http:
        read = await vonage.agent_activities(START, END, include="StartedOrEnded")
    assert read.pages == 1 and len(read.items) == 6
    assert read.up_to == datetime(2019, 12, 19, 15, 49, 39, 389000, tzinfo=UTC)


async def test_page_loop_raises() -> None:
    server = PagedServer([activity(i) for i in range(5)], ignore_page=True)
    vonage, http = client(server, page_limit=2)
    async with http:
        with pytest.raises(PageLoopError):
            await vonage.agent_activities(START, END)
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("meta", "reason"),
    [(NO_KEY, "no 'meta'"), (None, "unreadable"), ([1, 3], "unreadable"), ({"page": 1}, "pageCount"),
     ({"page": 1, "pageCount": "three"}, "unreadable")],
)
async def test_a_page_without_readable_paging_information_fails_the_read(meta: Any, reason: str) -> None:
    """Taken for the last page, it would end the read with pages 2 and 3 unread."""
    server = PagedServer([activity(i) for i in range(7)], first_meta=meta)
    vonage, http = client(server, page_limit=3)
    async with http:
        with pytest.raises(SkippableError, match=reason) as err:
            await vonage.agent_activities(START, END)
    assert len(server.requests) == 1
    assert err.value.raw == server.bodies[0]  # the body, for the dead-letter topic


async def test_bad_item_kept_as_bad_record() -> None:
    items: list[Any] = [activity(1), {"agentId": "x", "type": "Presence", "start": "??"}, activity(2)]
    vonage, http = client(PagedServer(items), page_limit=2)
    async with http:
        read = await vonage.agent_activities(START, END)
    kinds = [type(i) for i in read.items]
    assert kinds == [Activity, BadRecord, Activity]
    bad = read.items[1]
    assert isinstance(bad, BadRecord) and json.loads(bad.raw) == items[1]


async def test_window_over_31_days_refused_before_calling() -> None:
    server = PagedServer([])
    vonage, http = client(server)
    async with http:
        with pytest.raises(ValueError, match="31 days"):
            await vonage.agent_activities(START, START + timedelta(days=31, seconds=1))
        with pytest.raises(ValueError):
            await vonage.interactions(END, START)
        with pytest.raises(ValueError, match="aware"):
            await vonage.interactions(START.replace(tzinfo=None), END)
        await vonage.interactions(START, START + timedelta(days=31))  # exactly 31 is fine
    assert len(server.requests) == 1


async def test_server_window_limit_is_skippable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, content=load("window_limit_400.json"))

    vonage, http = client(handler)
    async with http:
        with pytest.raises(SkippableError, match="Request window size limit exceeded 31 days"):
            await vonage.agent_activities(START, END)


async def test_unparseable_page_is_skippable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=load("agent_activities_seed_verbatim.json")[:900])

    vonage, http = client(handler)
    async with http:
        with pytest.raises(SkippableError, match="not valid JSON"):
            await vonage.agent_activities(START, END)


async def test_agent_status_and_interactions() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/agent-status"):
            assert set(request.url.params) == {"page", "limit"}
            return httpx.Response(200, content=load("agent_status_faq.json"))
        inter = msgspec.json.decode(load("interaction_faq_transfer.json"))
        page = {"meta": {"page": 1, "count": 1, "pageCount": 1, "totalCount": 1}, "items": [inter], "upTo": None}
        return httpx.Response(200, json=page)

    vonage, http = client(handler)
    async with http:
        status = await vonage.agent_status()
        inters = await vonage.interactions(START, END)
    assert [s.agent_id for s in status.items if isinstance(s, AgentStatus)] == ["002", "003"]
    (inter,) = inters.items
    assert isinstance(inter, Interaction) and len(inter.channels) == 3
    assert inters.up_to is None


def test_page_limit_must_be_positive() -> None:
    http = HttpClient("https://x.example", BearerAuth(Secret("t")))
    with pytest.raises(ValueError):
        VonageClient(http, page_limit=0)
