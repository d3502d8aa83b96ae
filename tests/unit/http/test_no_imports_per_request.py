"""A request imports nothing: every module it needs is loaded once, at start-up.

A failed import is not cached: Python searches ``sys.path`` again on every attempt. httpcore
imports sniffio on each lock, event and shielded close; without it installed a request
spent about half a millisecond in failed imports (2 % of the daemon at the typical load)."""

from __future__ import annotations

import asyncio
import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret

BODY = b'{"items": []}'


class ImportLookups(importlib.abc.MetaPathFinder):
    """Records the modules Python looked for (it asks only for modules not yet loaded)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        self.names.append(fullname)
        return None  # let the next finder find it, or fail


class Server:
    """A keep-alive HTTP/1.1 server that answers every request with BODY."""

    def __init__(self) -> None:
        self.open = 0
        self.all_closed = asyncio.Event()

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.all_closed.clear()
        try:
            await respond(reader, writer)
        finally:
            self.open -= 1
            if self.open == 0:
                self.all_closed.set()


async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(BODY), BODY))
            await writer.drain()
    except asyncio.IncompleteReadError:  # the client closed the connection
        pass
    finally:
        writer.close()
        await writer.wait_closed()


async def test_requests_after_the_first_import_nothing() -> None:
    answers = Server()
    server = await asyncio.start_server(answers.answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", BearerAuth(Secret("t0ken")))
    lookups = ImportLookups()
    try:
        assert (await client.get("/items")).status == 200  # the first may load what it needs
        sys.meta_path.insert(0, lookups)
        try:
            for _ in range(3):
                assert (await client.get("/items")).status == 200
        finally:
            sys.meta_path.remove(lookups)
    finally:
        await client.aclose()
        await asyncio.wait_for(answers.all_closed.wait(), 10)
        server.close()
        await server.wait_closed()
    assert lookups.names == [], f"modules looked up on every request: {sorted(set(lookups.names))}"
