"""CPU per vendor GET: ``HttpClient`` (its own HTTP/1.1 transport, each GET built in place)
against httpx's ``AsyncClient`` on httpx's own transport, which ``HttpClient`` went through
before, from one process to the same server, in turns.

A child process serves a fixed JSON body over keep-alive, over plain HTTP and behind TLS
with a throw-away CA (every vendor is HTTPS). Each round times ``GETS`` requests of each
client with this process's CPU time (the server's is not counted); a figure is the median
of the rounds' ratios, so the machine's drift weighs on both. Two bodies: a 3 KB page, and
330 KB, about a 1,000-agent tenant's agent-status snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import Figure, as_builtins, spawn, wait_listening

GETS = 500
ROUNDS = 6
BODIES = {"3 KB": 10, "330 KB": 1_000}
"""Rows per body: each row is about 330 bytes."""


def body(rows: int) -> bytes:
    items = b",".join(b'{"agentId":"%06d","state":"' % i + b"y" * 300 + b'"}' for i in range(rows))
    return b'{"meta":{"page":1,"count":1,"pageCount":1,"totalCount":1},"items":[' + items + b"]}"


async def _serve(port: int, rows: int, cert: str | None, key: str | None) -> None:
    import ssl

    payload = body(rows)
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(payload)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(head + payload)
                await writer.drain()

    tls = None
    if cert and key:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    server = await asyncio.start_server(answer, "127.0.0.1", port, ssl=tls)
    async with server:
        await server.serve_forever()


def _cpu_per_get(get: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[float]]:
    async def timed() -> float:
        started = time.process_time()
        for _ in range(GETS):
            await get()
        return (time.process_time() - started) / GETS * 1e6

    return timed


async def _compare(url: str, ca: str | None) -> dict[str, list[float]]:
    import ssl

    import httpx

    from streamer.http.auth import BearerAuth
    from streamer.http.client import HttpClient
    from streamer.secrets import Secret

    ours = HttpClient(url, BearerAuth(Secret("t")), ca_file=ca)
    theirs = httpx.AsyncClient(base_url=url, verify=ssl.create_default_context(cafile=ca) if ca else True)
    headers = {"authorization": "Bearer t"}
    params = {"start": "2026-12-04T10:00:00.000Z", "end": "2026-12-04T10:01:00.000Z"}

    async def httpx_get() -> bytes:
        response = await theirs.get("/agent-activities", params=params, headers=headers)
        return response.content

    async def our_get() -> bytes:
        return (await ours.get("/agent-activities", params)).body

    clients = {"HttpClient": _cpu_per_get(our_get), "httpx": _cpu_per_get(httpx_get)}
    try:
        for get in (our_get, httpx_get):
            await get()  # connect (and shake hands) before timing
        rounds: dict[str, list[float]] = {name: [] for name in clients}
        for i in range(ROUNDS):
            for name in (list(clients) if i % 2 == 0 else list(reversed(clients))):
                rounds[name].append(await clients[name]())
        return rounds
    finally:
        await ours.aclose()
        await theirs.aclose()


def run() -> dict[str, Any]:
    from streamer.kafka.broker import free_port
    from tests.pki import make_pki

    figures: list[Figure] = []
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp, contextlib.ExitStack() as stack:
        pki = make_pki(Path(tmp) / "pki")
        for scheme in ("http", "https"):
            for label, rows in BODIES.items():
                port = free_port()
                log = Path(tmp) / f"server-{scheme}-{rows}.log"
                tls = [str(pki.server_cert), str(pki.server_key)] if scheme == "https" else []
                server = spawn(stack, ["-m", "bench.http_get", "--serve", str(port), str(rows), *tls], log)
                wait_listening(port, server, log)
                rounds = asyncio.run(_compare(f"{scheme}://127.0.0.1:{port}", str(pki.ca) if tls else None))
                ratios = [t / o for o, t in zip(rounds["HttpClient"], rounds["httpx"], strict=True)]
                name = f"{scheme}, {label} body"
                figures.append(Figure(
                    name=f"{name}: httpx's CPU per GET / ours", value=round(statistics.median(ratios), 2), unit="x",
                    detail=f"ours {statistics.median(rounds['HttpClient']):,.0f} us, httpx "
                           f"{statistics.median(rounds['httpx']):,.0f} us of CPU a GET (medians of {ROUNDS} rounds "
                           f"of {GETS}); the ratio's range {min(ratios):.2f}-{max(ratios):.2f}"))
                details[name] = {client: [round(us) for us in values] for client, values in rounds.items()}
                server.terminate()
    return as_builtins(figures, us_per_get_by_round=details, gets_per_round=GETS, rounds=ROUNDS)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        port, rows, *tls = sys.argv[2:]
        cert, key = tls if tls else (None, None)
        asyncio.run(_serve(int(port), int(rows), cert, key))
    else:
        import json

        print(json.dumps(run(), indent=1))
