"""The metrics and probe server under pressure: capped connections, accept errors, failures.

It must never stop the daemon (the daemon runs it in its top task group)."""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream
from structlog.testing import capture_logs

from streamer.kafka.broker import free_port
from streamer.ops import probes as httpserver
from streamer.ops.metrics import Metrics
from streamer.ops.probes import MAX_CONNECTIONS, serve_http
from tests.waiting import eventually


async def read_all(stream: SocketStream) -> bytes:
    data = b""
    try:
        while True:
            data += await stream.receive()
    except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
        return data


async def get(port: int, path: str) -> bytes:
    """One request, the raw answer (b"" when the server closed or reset without one)."""
    try:
        async with await anyio.connect_tcp("127.0.0.1", port) as s:
            await s.send(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
            return await read_all(s)
    except OSError:
        return b""



async def logged(logs: list[dict[str, Any]], event: str) -> bool:
    await anyio.lowlevel.checkpoint()  # let the server's task log first
    return any(e["event"] == event for e in logs)


async def healthy(port: int) -> bool:
    return (await get(port, "/healthz")).startswith(b"HTTP/1.1 200")


@asynccontextmanager
async def running(ready: Callable[[], tuple[bool, str]] = lambda: (True, "ok"),
                  port: int | None = None) -> AsyncIterator[tuple[int, list[BaseException]]]:
    """serve_http in the background; yields its port and whatever it raised (must stay empty)."""
    port = port or free_port()
    raised: list[BaseException] = []

    async def serve() -> None:
        try:
            await serve_http("127.0.0.1", port, Metrics(), ready)
        except Exception as e:
            raised.append(e)

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        yield port, raised
        tg.cancel_scope.cancel()


async def test_connections_over_the_cap_get_503_and_health_answers_once_idle_ones_time_out() -> None:
    async with running() as (port, raised):
        assert await eventually(lambda: healthy(port))
        idle = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
        extra = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(5)]
        try:
            # the cap is full of clients that send nothing: more are answered at once
            for s in extra:
                assert (await read_all(s)).startswith(b"HTTP/1.1 503 Service Unavailable"), "not refused"
            # the idle ones are closed at their deadline, and a new client is answered again
            assert await eventually(lambda: healthy(port))
            for s in idle:
                assert await read_all(s) == b""
        finally:
            for s in idle + extra:
                await s.aclose()
        assert not raised


async def test_accept_errors_back_off_and_the_server_keeps_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    from anyio._backends._asyncio import TCPSocketListener

    real_accept = TCPSocketListener.accept
    failures = {"left": 3}

    async def accept(self: Any) -> SocketStream:
        if failures["left"]:
            failures["left"] -= 1
            await anyio.lowlevel.checkpoint()
            raise OSError(errno.EMFILE, "Too many open files")
        return await real_accept(self)

    monkeypatch.setattr(TCPSocketListener, "accept", accept)
    with capture_logs() as logs:
        async with running() as (port, raised):
            assert await eventually(lambda: healthy(port))
            assert not raised
    assert failures["left"] == 0
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["metrics and probe server cannot accept; backing off"]
    assert warnings[0]["error"] == "EMFILE: Too many open files"
    assert any(e["event"] == "metrics and probe server accepting again" and e["failed_accepts"] == 3 for e in logs)


async def test_a_failing_request_is_answered_500_and_logged() -> None:
    def ready() -> tuple[bool, str]:
        raise RuntimeError("boom")

    with capture_logs() as logs:
        async with running(ready) as (port, raised):
            assert await eventually(lambda: healthy(port))
            assert (await get(port, "/readyz")).startswith(b"HTTP/1.1 500 Internal Server Error")
            assert await healthy(port)
            assert not raised
    assert any(e["event"] == "metrics and probe server: request failed" and "boom" in e["error"] for e in logs)


async def test_a_server_that_cannot_start_retries_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpserver, "RESTART_BACKOFF_MAX_S", 0.2)
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = int(taken.getsockname()[1])
    with capture_logs() as logs:
        async with running(port=port) as (_, raised):
            assert await eventually(lambda: logged(logs, "metrics and probe server failed; restarting"))
            taken.close()  # the port is free again: the next restart gets it
            assert await eventually(lambda: healthy(port))
            assert not raised
    failed = [e for e in logs if e["event"] == "metrics and probe server failed; restarting"]
    assert failed[0]["log_level"] == "error" and "Address already in use" in failed[0]["error"]
