"""The HTTP/1.1 transport against a local server that misbehaves on purpose.

The vendor simulator is one well-behaved server; real vendors and the proxies in front of
them close kept-alive connections, chunk bodies, cut them short, stall, and say things out
of turn. Each test scripts one such server over a real socket."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from streamer.http import wire
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.http.wire import WireTransport
from streamer.secrets import Secret
from tests.pki import Pki

Reader, Writer = asyncio.StreamReader, asyncio.StreamWriter


class Seen:
    """What the server saw: connections opened and closed, and each request (head, body)."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.changed = asyncio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(10):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


Handler = Callable[[int, Reader, Writer, Seen], Awaitable[None]]


async def read_request(reader: Reader, seen: Seen) -> bytes | None:
    """One request's head and body, recorded; None if the client closed first."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    seen.requests.append((head, body))
    seen.changed.set()
    return head


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


async def keep_answering(reader: Reader, writer: Writer, seen: Seen, body: bytes = b"ok") -> None:
    while await read_request(reader, seen) is not None:
        writer.write(answer(body))


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()

    async def connected(reader: Reader, writer: Writer) -> None:
        seen.connections += 1
        seen.changed.set()
        try:
            await handler(seen.connections, reader, writer, seen)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            seen.closed += 1
            seen.changed.set()

    listener = await asyncio.start_server(connected, host, 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://{f'[{host}]' if ':' in host else host}:{port}", seen
    finally:
        listener.close()


@asynccontextmanager
async def client(base: str, ca: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    context = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    async with httpx.AsyncClient(base_url=base, transport=WireTransport(context)) as c:
        yield c


async def test_one_connection_serves_request_after_request() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await keep_answering(r, w, seen, b"hello")

    async with server(handler) as (base, seen), client(base) as c:
        for _ in range(3):
            response = await c.get("/x", params={"a": "1 2"})
            assert (response.status_code, response.content) == (200, b"hello")
    assert seen.connections == 1
    assert [head.split(b"\r\n")[0] for head, _ in seen.requests] == [b"GET /x?a=1+2 HTTP/1.1"] * 3
    assert b"host: 127.0.0.1" in seen.requests[0][0].lower()


async def test_a_connection_closed_as_the_request_arrives_is_retried_once_on_a_new_one() -> None:
    """The server read the request's head but closed without a byte of answer: what a
    server closing an idle connection looks like from here. The second connection answers."""
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        if n == 1:
            await read_request(r, seen)
            w.write(answer(b"first"))
            await read_request(r, seen)
            return  # closed without answering the second request
        await keep_answering(r, w, seen, b"second")

    async with server(handler) as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"first"
        assert (await c.get("/x")).content == b"second"
    assert seen.connections == 2
    assert len(seen.requests) == 3


async def test_a_new_connection_closed_without_an_answer_is_an_error_not_retried() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)

    async with server(handler) as (base, seen), client(base) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/x")
    assert seen.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(answer(f"conn {n}".encode()))

    async with server(handler) as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"conn 1"
        await seen.until(lambda: seen.closed == 1)
        assert (await c.get("/x")).content == b"conn 2"
    assert len(seen.requests) == 2  # no request was lost on the closed connection


@pytest.mark.parametrize("together", [False, True], ids=["after", "with the answer"])
async def test_a_server_that_speaks_out_of_turn_has_its_connection_closed(together: bool) -> None:
    """A 408 sent to an idle connection (before the server closes it, or not), or bytes
    beyond the answer, are not the answer to the next request: the connection is closed."""
    pooled = asyncio.Event()

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(answer(f"conn {n}".encode()))
        if not together:
            await pooled.wait()
        w.write(answer(b"too slow", status="408 Request Timeout"))
        await keep_answering(r, w, seen, b"stale")

    async with server(handler) as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"conn 1"
        pooled.set()  # the answer was read whole: its connection is idle in the pool now
        await seen.until(lambda: seen.closed == 1)
        second = await c.get("/x")
    assert (second.status_code, second.content) == (200, b"conn 2")


async def test_connection_close_and_bodies_delimited_by_the_close_are_read_and_not_reused() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        if n == 1:
            w.write(answer(b"closing", "connection: close"))
        else:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end")
            await w.drain()

    async with server(handler) as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"closing"
        assert (await c.get("/x")).content == b"until the end"
        assert (await c.get("/x")).content == b"until the end"
    assert seen.connections == 3


async def test_a_chunked_body_with_trailers_is_read_and_the_connection_reused() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        while await read_request(r, seen) is not None:
            w.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (b"chu", b"nked ", b"body"):
                w.write(b"%x\r\n%s\r\n" % (len(part), part))
                await w.drain()
            w.write(b"0\r\nx-checksum: 1\r\n\r\n")

    async with server(handler) as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"chunked body"
        assert (await c.get("/x")).content == b"chunked body"
    assert seen.connections == 1


async def test_informational_answers_are_skipped() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + answer(b"final"))

    async with server(handler) as (base, _), client(base) as c:
        response = await c.get("/x")
    assert (response.status_code, response.content) == (200, b"final")


async def test_a_body_cut_short_is_a_protocol_error_and_the_connection_is_dropped() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")

    async with server(handler) as (base, seen), client(base) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/x")
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/x")
    assert seen.connections == 2


async def test_a_body_left_unread_closes_its_connection() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        if n == 1:
            await read_request(r, seen)
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1000)
        await keep_answering(r, w, seen)

    async with server(handler) as (base, seen), client(base) as c:
        async with c.stream("GET", "/x") as response:
            assert response.status_code == 200
        await seen.until(lambda: seen.closed == 1)
        assert (await c.get("/x")).status_code == 200
    assert seen.connections == 2


async def test_a_deadline_in_the_middle_of_a_body_drops_the_connection() -> None:
    """HttpClient's deadline cancels the read: the half-read connection must not be reused,
    and the next attempt gets a whole answer on a new one."""
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        if n == 1:
            w.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await r.read()  # stalls until the client gives up and closes
            return
        w.write(answer(b'{"whole": true}'))

    async def no_wait(_: float) -> None:
        pass

    async with server(handler) as (base, seen):
        http = HttpClient(base, BearerAuth(Secret("t")), timeout=0.3, sleep=no_wait)
        try:
            response = await http.get("/x")
        finally:
            await http.aclose()
    assert response.body == b'{"whole": true}'
    assert seen.connections == 2
    await seen.until(lambda: seen.closed == 2)


async def test_a_post_sends_its_body() -> None:
    """The OAuth2 token request is the one request with a body."""
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(answer(seen.requests[-1][1]))

    async with server(handler) as (base, seen), client(base) as c:
        response = await c.post("/token", data={"grant_type": "client_credentials"})
    assert response.content == b"grant_type=client_credentials"
    assert b"content-length: 29" in seen.requests[0][0].lower()


async def test_a_large_body_is_read_whole_while_reading_pauses_and_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading paused after every read: a lost resume hangs. The last pause can come with
    the body's end; the pooled connection must read again, or a 408 sent to it then goes
    unseen."""
    monkeypatch.setattr(wire, "PAUSE_BYTES", 0)
    body = bytes(range(256)) * 20_000
    pooled = asyncio.Event()

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(answer(body))
        await pooled.wait()
        w.write(answer(b"too slow", status="408 Request Timeout"))
        await keep_answering(r, w, seen, body)

    async with server(handler) as (base, seen), client(base) as c:
        async with asyncio.timeout(20):
            assert (await c.get("/x")).content == body
            pooled.set()
            await seen.until(lambda: seen.closed == 1)
            assert (await c.get("/x")).content == body
    assert seen.connections == 2


async def test_an_expired_idle_connection_is_closed_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "KEEPALIVE_EXPIRY", -1.0)

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await keep_answering(r, w, seen)

    async with server(handler) as (base, seen), client(base) as c:
        await c.get("/x")
        await c.get("/x")
        await seen.until(lambda: seen.closed == 1)
    assert seen.connections == 2


async def test_idle_connections_kept_per_origin_are_capped() -> None:
    many = wire.MAX_IDLE_PER_ORIGIN + 3
    arrived = asyncio.Event()

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        if len(seen.requests) == many:
            arrived.set()
        await arrived.wait()  # every request holds its own connection
        w.write(answer(b"ok"))
        await keep_answering(r, w, seen)

    async with server(handler) as (base, seen), client(base) as c:
        await asyncio.gather(*(c.get("/x") for _ in range(many)))
        await seen.until(lambda: seen.closed == 3)
        assert seen.connections == many


@pytest.mark.parametrize("reply", [b"HTTP/1.1 2OO OK\r\n\r\n", b"HTTP/1.1 200 OK\r\nx: " + b"y" * 200_000])
async def test_a_malformed_answer_is_a_protocol_error(reply: bytes) -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await read_request(r, seen)
        w.write(reply)
        await r.read()

    async with server(handler) as (base, _), client(base) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get("/x")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        pass

    async with server(handler) as (base, _):
        pass  # closed: nothing listens there now
    async with client(base) as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/x")


async def test_https_verifies_the_certificate_against_the_given_cas(pki: Pki) -> None:
    """Also offers HTTP/1.1 by ALPN, as httpx did: a server that speaks HTTP/2 too must not
    pick it."""
    alpn: list[str | None] = []

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        alpn.append(w.get_extra_info("ssl_object").selected_alpn_protocol())
        await keep_answering(r, w, seen, b"secret")

    tls = pki.server_context(require_client_cert=False)
    tls.set_alpn_protocols(["h2", "http/1.1"])
    async with server(handler, tls=tls) as (base, seen):
        async with client(base, ca=str(pki.ca)) as c:
            assert (await c.get("/x")).content == b"secret"
            assert (await c.get("/x")).content == b"secret"
        assert seen.connections == 1
        assert alpn == ["http/1.1"]
        async with client(base, ca=str(pki.other_ca)) as c:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get("/x")


async def test_an_ipv6_address_is_reached() -> None:
    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await keep_answering(r, w, seen, b"six")

    async with server(handler, host="::1") as (base, seen), client(base) as c:
        assert (await c.get("/x")).content == b"six"
    assert b"host: [::1]:" in seen.requests[0][0].lower()


async def test_an_international_name_is_looked_up_in_its_ascii_form(monkeypatch: pytest.MonkeyPatch) -> None:
    """getaddrinfo and TLS would encode it with IDNA 2003; httpx's URL has it in IDNA 2008."""
    origins: list[tuple[str, str, int]] = []

    async def connect(self: WireTransport, origin: tuple[str, str, int], https: bool) -> None:
        origins.append(origin)
        raise httpx.ConnectError("not looked up in this test")

    monkeypatch.setattr(WireTransport, "_connect", connect)
    async with client("https://straße.example") as c:
        with pytest.raises(httpx.ConnectError):
            await c.get("/x")
    assert origins == [("https", "xn--strae-oqa.example", 443)]


async def test_an_address_that_never_answers_does_not_hold_the_next_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host with two addresses, the first dropping every connection attempt (a listener
    whose backlog is full: as an IPv6 route to nowhere does). Tried one after the other, the
    first would hold the request for the kernel's whole retry span (minutes); staggered, the
    second answers."""
    import socket

    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(0)
    filler = socket.socket()
    filler.connect(blackhole.getsockname())  # the one connection its backlog takes; later SYNs are dropped

    async def handler(n: int, r: Reader, w: Writer, seen: Seen) -> None:
        await keep_answering(r, w, seen, b"the second")

    async with server(handler) as (base, seen):
        good = int(base.rsplit(":", 1)[1])
        loop = asyncio.get_running_loop()

        async def getaddrinfo(host: str, port: int, **_: object) -> list[tuple[object, ...]]:
            assert host == "dual.test"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", blackhole.getsockname()),
                    (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", good))]

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        try:
            async with client(f"http://dual.test:{good}") as c, asyncio.timeout(20):
                assert (await c.get("/x")).content == b"the second"
        finally:
            filler.close()
            blackhole.close()
