"""HttpClient's transport: HTTP/1.1 (h11) over an asyncio protocol, connections kept alive.

httpx's own transport (httpcore) spent most of a GET's CPU in its anyio streams, cancel
scopes and pool bookkeeping (about 2,200 Python calls a GET); with this one and the GETs
built in place, ``HttpClient`` spends about half as much (``python -m bench http_get``
compares the two). It does only what :class:`~streamer.http.client.HttpClient` asks of a
transport: HTTP/1.1 with keep-alive, TLS, and httpx's transport errors. No HTTP/2, no
proxies (the client ignores the environment's), and asyncio only (the daemon's loop).

A connection is reused only when the last response was read to its end, neither side asked
to close, the server said nothing since, and it has been idle at most
:data:`KEEPALIVE_EXPIRY`. A server may still close an idle connection just as a request is
sent on it; when nothing of a response came back, the request is sent once more on a new
connection (the server did not read it).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator

import h11
import httpx

__all__ = ["WireTransport", "KEEPALIVE_EXPIRY", "MAX_IDLE_PER_ORIGIN"]

KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept (httpx's default): well under the idle timeouts of
common servers and load balancers (nginx 75 s, AWS ALB 60 s)."""

MAX_IDLE_PER_ORIGIN = 10
"""Idle connections kept per origin; a source polls a few endpoints at once."""

MAX_HEAD_BYTES = 100 * 1024
"""The largest status line and headers accepted (httpcore's limit)."""

CONNECT_STAGGER = 0.25
"""Seconds before the next of a host's addresses is tried while the last still connects
(Happy Eyeballs, RFC 8305's 250 ms, as anyio's connect did under httpx): a vendor whose
IPv6 address does not answer is reached over IPv4 a quarter second later, not after the
poll's deadline."""

PAUSE_BYTES = 1024 * 1024
"""Unread bytes at which the socket stops being read until the body's reader catches up."""

_Origin = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One socket: feeds what arrives to h11 and wakes the reader waiting for it."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.transport: asyncio.Transport | None = None
        self.error: OSError | None = None
        self.answered = False
        """A byte of the current response has arrived."""
        self.idle_since: float | None = None
        """Set while pooled; the server speaking then (most often a 408 before it closes)
        closes the connection."""
        self.spoiled = False
        self._waiter: asyncio.Future[None] | None = None
        self._unread = 0
        self._paused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.idle_since is not None:
            self.close()  # a server that speaks out of turn is not answering the next request
            return
        self.answered = True
        self.h11.receive_data(data)
        self._unread += len(data)
        if self._unread > PAUSE_BYTES and not self._paused and self.transport is not None:
            self.transport.pause_reading()
            self._paused = True
        self._wake()

    def eof_received(self) -> bool:
        self.spoiled = True
        self.h11.receive_data(b"")
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.spoiled = True
        if isinstance(exc, OSError):
            self.error = exc
        elif not self.h11.trailing_data[1]:
            self.h11.receive_data(b"")
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # used by the transport

    async def next_event(self) -> h11.Event:
        """The next thing the server said; raises h11's or OSError's errors."""
        while True:
            event = self.h11.next_event()
            if event is h11.PAUSED:  # only once their response is done: nothing reads on then
                raise h11.RemoteProtocolError("the server spoke after its response")
            if event is not h11.NEED_DATA:
                assert not isinstance(event, type)
                return event
            if self.error is not None:
                raise self.error
            self._unread = 0
            if self._paused and self.transport is not None:
                self.transport.resume_reading()
                self._paused = False
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    def reusable(self, now: float) -> bool:
        return (
            not self.spoiled
            and self.transport is not None
            and not self.transport.is_closing()
            and self.idle_since is not None
            and now - self.idle_since <= KEEPALIVE_EXPIRY
        )

    def park(self, now: float) -> bool:
        """Ready the connection for the next request, if the last one left it clean."""
        if self.spoiled or self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        if self.h11.trailing_data != (b"", False):
            return False  # the server sent more than its response
        self.idle_since, self.answered, self._unread = now, False, 0
        if self._paused and self.transport is not None:  # the body's end came while paused
            self.transport.resume_reading()  # so that a close or a 408 while idle is seen
            self._paused = False
        return True

    def close(self) -> None:
        self.spoiled = True
        if self.transport is not None:
            self.transport.close()


class _Body(httpx.AsyncByteStream):
    """A response's body as it arrives; the connection goes back to the pool once it was
    read to its end, and is closed otherwise."""

    def __init__(self, transport: WireTransport, origin: _Origin, connection: _Connection) -> None:
        self._transport = transport
        self._origin = origin
        self._connection: _Connection | None = connection

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            raise httpx.StreamClosed()
        try:
            while True:
                event = await connection.next_event()
                if type(event) is h11.Data:
                    yield bytes(event.data)
                elif type(event) is h11.EndOfMessage:
                    return
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from None
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from None

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._transport._release(self._origin, connection)


class WireTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 for one client; ``ssl_context`` verifies https origins."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        ssl_context.set_alpn_protocols(["http/1.1"])  # what httpx's transport offered too
        self._ssl = ssl_context
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        https = url.scheme == "https"
        # raw_host: an internationalized name as its IDNA (ASCII) form, an IPv6 one unbracketed
        origin = (url.scheme, url.raw_host.decode("ascii"), url.port or (443 if https else 80))
        assert isinstance(request.stream, httpx.AsyncByteStream)
        body = b"".join([chunk async for chunk in request.stream])
        try:
            head = h11.Request(method=request.method, target=url.raw_path, headers=request.headers.raw)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        connection = self._pooled(origin)
        while True:
            reused = connection is not None
            if connection is None:
                connection = await self._connect(origin, https)
            try:
                response = await self._exchange(connection, head, body)
            except (h11.RemoteProtocolError, OSError) as exc:
                connection.close()
                if reused and not connection.answered:
                    connection = None  # a kept-alive connection the server closed: it never read the request
                    continue
                if isinstance(exc, h11.RemoteProtocolError):
                    raise httpx.RemoteProtocolError(str(exc)) from None
                raise httpx.ReadError(str(exc)) from None
            except h11.LocalProtocolError as exc:
                connection.close()
                raise httpx.LocalProtocolError(str(exc)) from None
            except BaseException:
                connection.close()
                raise
            return httpx.Response(
                response.status_code,
                headers=response.headers.raw_items(),
                stream=_Body(self, origin, connection),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason},
            )

    @staticmethod
    async def _exchange(connection: _Connection, head: h11.Request, body: bytes) -> h11.Response:
        protocol = connection.h11
        wire = protocol.send(head) or b""
        if body:
            wire += protocol.send(h11.Data(data=body)) or b""
        wire += protocol.send(h11.EndOfMessage()) or b""
        assert connection.transport is not None
        connection.transport.write(wire)
        while True:
            event = await connection.next_event()
            if type(event) is h11.Response:
                return event
            if type(event) is h11.ConnectionClosed:
                raise h11.RemoteProtocolError("the server closed the connection without a response")
            # an InformationalResponse (1xx): the real one follows

    def _pooled(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable(now):
                connection.idle_since = None
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin, https: bool) -> _Connection:
        _, host, port = origin
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                _Connection, host, port,
                ssl=self._ssl if https else None,
                server_hostname=host if https else None,
                happy_eyeballs_delay=CONNECT_STAGGER,
                interleave=1,  # IPv6 and IPv4 in turns
            )
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise httpx.ConnectError(str(exc)) from None
        return connection

    def _release(self, origin: _Origin, connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if not self._closed and len(idle) < MAX_IDLE_PER_ORIGIN and connection.park(time.monotonic()):
            idle.append(connection)
        else:
            connection.close()

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
