"""A small HTTP/1.1 server for Prometheus and Kubernetes: /metrics, /healthz, /readyz.

It must never stop the daemon: connections are capped and short-lived, accept errors
(out of file descriptors) back off and retry, and any other failure is logged and the
server starts again. Only cancellation leaves ``serve_http``.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

import anyio
import structlog
from anyio.abc import SocketListener, SocketStream, TaskGroup
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamer.ops.metrics import HEALTH_PATH, METRICS_PATH, READY_PATH, Metrics

__all__ = ["serve_http", "MAX_CONNECTIONS", "CONNECTION_DEADLINE_S"]

log = structlog.get_logger("streamer.http_server")

MAX_CONNECTIONS = 16
"""Connections served at once; one more is answered 503 and closed at once."""
CONNECTION_DEADLINE_S = 2.0
"""A whole exchange (request head in, response out) must fit in this; then the connection
is closed. Prometheus and the kubelet send their request as soon as they connect."""
MAX_REQUEST_HEAD = 8192
ACCEPT_BACKOFF_S = 0.5
"""Pause after a failed ``accept()`` (EMFILE, ENFILE...): the listening socket stays
readable, so retrying at once would spin."""
RESTART_BACKOFF_MAX_S = 30.0

_CLIENT_GONE = {errno.ECONNABORTED, errno.ECONNRESET, errno.EPROTO}
"""accept() errors about one client that went away, not about the server."""


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


_BUSY = _response("503 Service Unavailable", b"busy: too many connections\n")


async def serve_http(host: str, port: int, metrics: Metrics, ready: Callable[[], tuple[bool, str]]) -> None:
    """Serve until cancelled. ``ready`` says whether the daemon is ready, and why not.

    Never raises anything but cancellation: a failure (the port taken, a bug) is logged
    and the server starts again after a backoff."""
    server = _Server(metrics, ready)
    failures = 0
    while True:
        try:
            await server.run(host, port)
        except Exception as e:  # noqa: BLE001 - the server must not take the daemon down
            failures = 0 if server.bound else failures
            failures += 1
            delay = min(RESTART_BACKOFF_MAX_S, 0.5 * 2.0 ** (failures - 1))
            log.error("metrics and probe server failed; restarting", error=repr(e), retry_in=delay)
            await anyio.sleep(delay)


class _Server:
    def __init__(self, metrics: Metrics, ready: Callable[[], tuple[bool, str]]) -> None:
        self.metrics, self.ready = metrics, ready
        self.active = 0
        self.bound = False
        """Whether the last ``run`` got its port: a failure after that restarts after the shortest backoff."""

    async def run(self, host: str, port: int) -> None:
        self.bound = False
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
        self.bound = True
        log.info("serving metrics and probes", host=host, port=port, max_connections=MAX_CONNECTIONS)
        async with listener, anyio.create_task_group() as tg:
            for one in listener.listeners:
                assert isinstance(one, SocketListener)  # what create_tcp_listener makes (typed as any Listener)
                tg.start_soon(self._accept_loop, one, tg)

    async def _accept_loop(self, listener: SocketListener, tg: TaskGroup) -> None:
        failed = 0
        while True:
            try:
                stream = await listener.accept()
            except OSError as e:
                if e.errno in _CLIENT_GONE:
                    continue
                if not failed:
                    log.warning("metrics and probe server cannot accept; backing off",
                                error=f"{errno.errorcode.get(e.errno or 0, e.errno)}: {e.strerror}",
                                retry_in=ACCEPT_BACKOFF_S)
                failed += 1
                await anyio.sleep(ACCEPT_BACKOFF_S)
                continue
            if failed:
                log.info("metrics and probe server accepting again", failed_accepts=failed)
                failed = 0
            if self.active >= MAX_CONNECTIONS:
                await self._refuse(stream)
            else:
                self.active += 1
                tg.start_soon(self._handle, stream)

    @staticmethod
    async def _refuse(stream: SocketStream) -> None:
        """Answer 503 without reading the request, and close. The answer fits the socket's
        buffer, so this does not wait on the client (a client whose request is still
        unread may see a reset instead)."""
        async with stream:
            with anyio.move_on_after(0.1):
                try:
                    await stream.send(_BUSY)
                except (anyio.BrokenResourceError, OSError):
                    pass

    async def _handle(self, stream: SocketStream) -> None:
        try:
            async with stream:
                with anyio.move_on_after(CONNECTION_DEADLINE_S):
                    try:
                        await self._exchange(stream)
                    except (anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                        pass
                    except Exception as e:  # noqa: BLE001 - one bad request must not stop the server
                        log.error("metrics and probe server: request failed", error=repr(e))
                        with anyio.move_on_after(0.1):
                            try:
                                await stream.send(_response("500 Internal Server Error", b"internal error\n"))
                            except (anyio.BrokenResourceError, OSError):
                                pass
        finally:
            self.active -= 1

    async def _exchange(self, stream: SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data and len(data) < MAX_REQUEST_HEAD:
            try:
                chunk = await stream.receive(4096)
            except anyio.EndOfStream:
                break
            data += chunk
        method, _, rest = data.partition(b" ")
        path = rest.split(b" ", 1)[0].split(b"?", 1)[0].decode("latin-1")
        if method not in (b"GET", b"HEAD"):
            out = _response("405 Method Not Allowed", b"GET only\n")
        elif path == METRICS_PATH:
            out = _response("200 OK", generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        elif path == HEALTH_PATH:
            out = _response("200 OK", b"ok\n")
        elif path == READY_PATH:
            ok, why = self.ready()
            out = _response("200 OK" if ok else "503 Service Unavailable", (why + "\n").encode())
        else:
            out = _response("404 Not Found", b"not found\n")
        await stream.send(out)
