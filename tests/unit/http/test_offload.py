"""Which decodes run in a worker thread (repairs, rows one by one, from 64 KiB) and which on
the event loop (one msgspec call: a Vonage page as documented); the endpoints' memory of
rows stays on the loop."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from streamer.http.auth import BasicAuth, BearerAuth
from streamer.http.client import HttpClient
from streamer.http.jsonrepair import MAX_REPAIR_BYTES
from streamer.http.offload import IN_PLACE_ITEMS_BYTES, OFF_LOOP_BYTES, decode_off_loop
from streamer.secrets import Secret
from streamer.vendors.alvaria import client as alvaria_client
from streamer.vendors.alvaria.client import AlvariaClient
from streamer.vendors.sinch import common as sinch_common
from streamer.vendors.sinch.common import SinchClient
from streamer.vendors.sinch.rai.models import AgentStatusHistoryRow
from streamer.vendors.vonage import client as vonage_client
from streamer.vendors.vonage.client import VonageClient
from streamer.vendors.vonage.models import AgentStatus


class Threads:
    """Records the thread each patched function ran in."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def note(self, name: str) -> None:
        self.seen.setdefault(name, set()).add(threading.get_ident())

    def wrap(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        """Record ``module.name``'s threads; calls on a small body (a Sinch read's closing
        empty page, decoded in place) are not recorded."""
        original = getattr(module, name)

        def recorded(*args: Any, **kwargs: Any) -> Any:
            if not (args and isinstance(args[0], bytes) and len(args[0]) < OFF_LOOP_BYTES):
                self.note(name)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, recorded)


@pytest.fixture
def threads() -> Iterator[Threads]:
    yield Threads()


def http_for(body: bytes, *, basic: bool = False) -> HttpClient:
    """Serves ``body``; an ``offset`` past the first page gets the empty page that ends a Sinch read."""

    def handler(request: httpx.Request) -> httpx.Response:
        past_end = int(request.url.params.get("offset", "0")) > 0
        return httpx.Response(200, content=b"[]" if past_end else body, headers={"content-type": "application/json"})

    auth = BasicAuth("u", Secret("p")) if basic else BearerAuth(Secret("t"))
    return HttpClient("https://cc.example", auth, transport=httpx.MockTransport(handler), rng=random.Random(1))


def status_page(rows: int, *, slip: bool = False) -> bytes:
    row = {"agentId": "0", "presence": {"name": "Ready", "since": "2024-01-01T00:00:00Z"}}
    body = msgspec.json.encode({"meta": {"page": 1, "pageCount": 1}, "items": [{**row, "agentId": f"a{i}"} for i in range(rows)],
                                "upTo": "2024-01-01T00:00:00Z"})
    return body.replace(b'}],"upTo"', b'},],"upTo"') if slip else body  # a trailing comma: repaired


async def test_a_small_decode_stays_on_the_loop_and_a_large_one_does_not() -> None:
    here = threading.get_ident()
    assert await decode_off_loop(OFF_LOOP_BYTES - 1, threading.get_ident) == here
    assert await decode_off_loop(OFF_LOOP_BYTES, threading.get_ident) != here


async def test_vonage_reads_a_documented_page_on_the_loop(monkeypatch: pytest.MonkeyPatch, threads: Threads) -> None:
    """A page as documented is two msgspec calls, its envelope and its rows, which a thread
    could not take off the loop (each holds the GIL until it returns)."""
    body = status_page(2000)
    assert OFF_LOOP_BYTES < len(body) < IN_PLACE_ITEMS_BYTES
    for name in ("documented_envelope", "tolerant_envelope", "decode_documented_items", "decode_items"):
        threads.wrap(monkeypatch, vonage_client, name)

    def keep(raws: list[msgspec.Raw]) -> list[msgspec.Raw]:  # an endpoint's memory of rows: loop only
        threads.note("keep")
        return raws

    async with http_for(body) as http:
        read = await VonageClient(http).agent_status(keep=keep)
    assert len(read.items) == 2000 and all(isinstance(i, AgentStatus) for i in read.items)
    loop = threading.get_ident()
    assert threads.seen == {"documented_envelope": {loop}, "keep": {loop}, "decode_documented_items": {loop}}


@pytest.mark.parametrize("limit", [IN_PLACE_ITEMS_BYTES, 1000])
async def test_vonage_decodes_rows_off_the_document_or_too_many_one_by_one_in_a_thread(
    monkeypatch: pytest.MonkeyPatch, threads: Threads, limit: int
) -> None:
    """One row in another case (limit as shipped), or more rows than one call should take
    on the loop (the limit lowered): every row is decoded on its own, in a worker thread."""
    monkeypatch.setattr(vonage_client, "IN_PLACE_ITEMS_BYTES", limit)
    body = status_page(2000)
    if limit == IN_PLACE_ITEMS_BYTES:
        body = body.replace(b'"agentId":"a7"', b'"AGENTID":"a7"', 1)
    threads.wrap(monkeypatch, vonage_client, "decode_items")
    async with http_for(body) as http:
        read = await VonageClient(http).agent_status()
    assert [getattr(i, "agent_id", None) for i in read.items] == [f"a{i}" for i in range(2000)]
    assert threads.seen["decode_items"] and threading.get_ident() not in threads.seen["decode_items"]


async def test_vonage_repairs_a_large_page_in_a_thread(monkeypatch: pytest.MonkeyPatch, threads: Threads) -> None:
    body = status_page(2000, slip=True)
    assert len(body) > OFF_LOOP_BYTES
    threads.wrap(monkeypatch, vonage_client, "tolerant_envelope")
    async with http_for(body) as http:
        read = await VonageClient(http).agent_status()
    assert len(read.items) == 2000 and all(isinstance(i, AgentStatus) for i in read.items)
    assert threads.seen["tolerant_envelope"] and threading.get_ident() not in threads.seen["tolerant_envelope"]


async def test_sinch_decodes_a_large_page_in_a_thread(monkeypatch: pytest.MonkeyPatch, threads: Threads) -> None:
    row = {"userId": "A", "userName": "Agent", "status": "Waiting", "changeTimeStamp": "2019-12-03 07:19:59.127"}
    body = msgspec.json.encode([row] * 1000)
    assert len(body) > OFF_LOOP_BYTES
    threads.wrap(monkeypatch, sinch_common, "decode_rows")
    async with http_for(body, basic=True) as http:
        read = await SinchClient(http, page_limit=5000).rows("/agentStatusHistory", {}, AgentStatusHistoryRow)
    assert len(read.items) == 1000
    assert threading.get_ident() not in threads.seen["decode_rows"]


async def test_alvaria_decodes_a_large_body_in_a_thread(monkeypatch: pytest.MonkeyPatch, threads: Threads) -> None:
    row = {"userId": "u", "teamId": "t", "stateName": "Ready"}
    body = msgspec.json.encode({"kind": "via#queryDataList", "totalItems": 2000, "rows": [row] * 2000})
    assert len(body) > OFF_LOOP_BYTES
    threads.wrap(monkeypatch, alvaria_client, "decode_rows")
    async with http_for(body) as http:
        rows = await AlvariaClient(http, "org").user_activity("t")
    assert len(rows.items) == 2000
    assert threading.get_ident() not in threads.seen["decode_rows"]


TICK_S = 0.005


async def test_the_loop_keeps_running_while_a_large_page_is_repaired() -> None:
    """The issue's bar: no single body blocks the loop for more than about 100 ms."""
    rows = 1
    while len(status_page(rows * 2, slip=True)) < MAX_REPAIR_BYTES:
        rows *= 2
    body = status_page(rows, slip=True)
    gaps: list[float] = []
    last_tick = [time.perf_counter()]
    done = anyio.Event()

    async def ticker() -> None:  # measures the loop: ticks every TICK_S when nothing holds it
        while not done.is_set():
            await anyio.sleep(TICK_S)
            now = time.perf_counter()
            gaps.append(now - last_tick[0])
            last_tick[0] = now

    async with http_for(body) as http, anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        started = time.perf_counter()
        read = await VonageClient(http).agent_status()
        took = time.perf_counter() - started
        gaps.append(time.perf_counter() - last_tick[0])  # a loop blocked throughout never ticked
        done.set()
    assert len(read.items) == rows  # repaired, every row read
    print(f"\n{len(body)} byte page needing repair read in {took:.2f}s; longest the loop waited: {max(gaps) * 1000:.0f} ms")
    assert max(gaps) < 0.5  # generous: about 100 ms is the bar, a few ms is typical
