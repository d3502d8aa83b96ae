"""HttpClient's ``timeout`` is a deadline for the whole exchange, body included: a server
dripping a byte at a time cannot hold a request (issue 13.2)."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from streamer.errors import RetriableError
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret


async def no_sleep(_: float) -> None:
    return None


def client(base_url: str, **kw: object) -> HttpClient:
    return HttpClient(base_url, BearerAuth(Secret("t")), rng=random.Random(1), sleep=no_sleep, **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def dripping_server(interval: float) -> AsyncIterator[tuple[str, list[int]]]:
    """Answers 200 with a large Content-Length, then one byte per ``interval`` for ever:
    every read gets a byte long before any per-read timeout. Yields its URL and the count
    of bytes dripped."""
    dripped = [0]

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    request += await stream.receive()
                await stream.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n")
                while True:
                    await stream.send(b" ")
                    dripped[0] += 1
                    await anyio.sleep(interval)  # the fault itself: a byte per interval
            except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError):
                return  # the client hung up

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}", dripped
        tg.cancel_scope.cancel()


async def test_timeout_is_a_deadline_for_the_whole_exchange_body_included() -> None:
    async with dripping_server(interval=0.1) as (url, dripped), client(url, timeout=1.0, max_attempts=1) as http:
        started = time.monotonic()
        with anyio.move_on_after(15) as guard:
            with pytest.raises(RetriableError) as info:
                await http.get("/agent-status")
        took = time.monotonic() - started
    assert not guard.cancelled_caught, "the dripping server held the request past 15 s"
    print(f"\ndripping server: request failed after {took:.2f}s (timeout 1s), {dripped[0]} bytes dripped")
    assert "no complete response within the 1s timeout" in str(info.value)
    assert dripped[0] >= 2  # the server did drip: no per-read timeout could have fired
    assert took < 3.0  # about the timeout; generous for a busy machine


async def test_each_attempt_has_its_own_deadline_then_the_error_is_retriable() -> None:
    async with dripping_server(interval=0.1) as (url, _), client(url, timeout=0.5, max_attempts=2) as http:
        with anyio.move_on_after(15) as guard, pytest.raises(RetriableError, match=r"after 2 attempt\(s\).*timeout"):
            await http.get("/x")
    assert not guard.cancelled_caught
