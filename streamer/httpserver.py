"""A small HTTP/1.1 server for Prometheus and Kubernetes: /metrics, /healthz, /readyz."""

from __future__ import annotations

from typing import Callable

import anyio
import structlog
from anyio.abc import SocketStream
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .metrics import HEALTH_PATH, METRICS_PATH, READY_PATH, Metrics

__all__ = ["serve_http"]

log = structlog.get_logger("streamer.http_server")


def _response(status: str, body: bytes, content_type: str = "text/plain; charset=utf-8") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


async def serve_http(host: str, port: int, metrics: Metrics, ready: Callable[[], tuple[bool, str]]) -> None:
    """Serve until cancelled. ``ready`` says whether the daemon is ready, and why not."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(5):
                    data = b""
                    while b"\r\n\r\n" not in data and len(data) < 8192:
                        chunk = await stream.receive(4096)
                        if not chunk:
                            break
                        data += chunk
                method, _, rest = data.partition(b" ")
                path = rest.split(b" ", 1)[0].split(b"?", 1)[0].decode("latin-1")
                if method not in (b"GET", b"HEAD"):
                    out = _response("405 Method Not Allowed", b"GET only\n")
                elif path == METRICS_PATH:
                    out = _response("200 OK", generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
                elif path == HEALTH_PATH:
                    out = _response("200 OK", b"ok\n")
                elif path == READY_PATH:
                    ok, why = ready()
                    out = _response("200 OK" if ok else "503 Service Unavailable", (why + "\n").encode())
                else:
                    out = _response("404 Not Found", b"not found\n")
                await stream.send(out)
            except (TimeoutError, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
                pass

    listener = await anyio.create_tcp_listener(local_host=host, local_port=port, reuse_port=False)
    log.info("serving metrics and probes", host=host, port=port)
    async with listener:
        await listener.serve(handle)
