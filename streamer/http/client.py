"""The shared async HTTP client: auth, retries with jitter, Retry-After, body size cap.

``timeout`` is a deadline for one whole exchange (token, connect, headers and the
entire body), not httpx's per-read timeout that a server dripping a byte at a time
never trips. ``max_body_bytes`` caps the body as decoded: gzip and deflate are inflated
in bounded steps (:mod:`streamer.http.inflate`) and reading stops once the cap is passed.

httpx exceptions never leave this module: every failure becomes a
:class:`~streamer.errors.RetriableError`, :class:`~streamer.errors.FatalError` or
:class:`~streamer.errors.SkippableError`. What each HTTP status means is a table
(:data:`STATUS_ACTIONS`), not a chain of ifs.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import anyio
import httpx
import msgspec
import structlog

from streamer.errors import FatalError, RetriableError, SkippableError
from streamer.http.auth import Auth
from streamer.http.inflate import ACCEPT_ENCODING, BadEncoding, Inflater, UnsupportedEncoding
from streamer.http.tolerant import decode_json
from streamer.http.wire import WireTransport

__all__ = [
    "Action",
    "STATUS_ACTIONS",
    "classify",
    "HttpClient",
    "Response",
    "quote_segment",
    "parse_retry_after",
    "ERROR_BODY_BYTES",
]

ERROR_BODY_BYTES = 64 * 1024
"""How much of an error response's body is read: its message is at the start."""


class Action(enum.Enum):
    """What to do with a response, by status."""

    OK = "ok"
    RETRY = "retry"
    REAUTH = "reauth"
    FATAL = "fatal"
    SKIP = "skip"


STATUS_ACTIONS: dict[int, Action] = {
    401: Action.REAUTH,
    403: Action.FATAL,
    407: Action.FATAL,
    408: Action.RETRY,  # the server gave up waiting for the request: a GET may be sent again
    429: Action.RETRY,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}
"""Statuses with a specific action; any other 2xx is OK and anything else SKIP."""


def classify(status: int) -> Action:
    """Look a status up in :data:`STATUS_ACTIONS` (2xx default OK, the rest SKIP)."""
    return STATUS_ACTIONS.get(status, Action.OK if 200 <= status < 300 else Action.SKIP)


class Response(msgspec.Struct, frozen=True):
    """A fully read response. ``headers`` keys are lower case; ``url`` has no userinfo."""

    status: int
    headers: dict[str, str]
    body: bytes
    url: str


def quote_segment(segment: str) -> str:
    """Percent-encode one path segment so that no id can change the path's shape."""
    if not segment:
        raise ValueError("empty path segment")
    encoded = quote(segment, safe="")
    if set(encoded) == {"."}:  # "." and ".." would be resolved as dot segments
        encoded = encoded.replace(".", "%2E")
    return encoded


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP-date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def _snippet(body: bytes, limit: int = 200) -> str:
    """The vendor's error message (``{"message": ...}`` or plain text), shortened."""
    text = body[: limit * 4].decode("utf-8", errors="replace")
    try:
        decoded: Any = decode_json(body)
    except SkippableError:
        decoded = None
    if isinstance(decoded, dict):
        for key in ("message", "Message", "error_description", "error"):
            if isinstance(decoded.get(key), str):
                text = decoded[key]
                break
    return " ".join(text.split())[:limit]


class _Attempt(msgspec.Struct):
    status: int | None
    reason: str
    retry_after: float | None = None


class HttpClient:
    """One per source: base URL, auth, default headers, retries and limits."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_body_bytes: int = 16 * 1024 * 1024,
        ca_file: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        rng: random.Random | None = None,
        log: structlog.typing.FilteringBoundLogger | None = None,
        wall_clock: Callable[[], float] = time.time,
        on_response: Callable[[int], None] | None = None,
        on_duration: Callable[[float], None] | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._auth = auth
        self._max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_body = max_body_bytes
        self._timeout = timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._log = log if log is not None else structlog.get_logger("streamer.http.client")
        self._wall_clock = wall_clock
        self._on_response = on_response
        """Called with every response's status (metrics)."""
        self._on_duration = on_duration
        """Called with the seconds (of ``timer``) from sending each request to the last byte
        of its response, for every response read to its end (metrics): the vendor's part of
        a poll."""
        self._timer = timer
        parsed = httpx.URL(base_url)
        if parsed.userinfo:
            raise ValueError("base_url must not embed credentials; pass them as auth")
        if parsed.query or parsed.fragment:
            raise ValueError("base_url must not have a query or a fragment")
        self._transport = transport if transport is not None else WireTransport(_tls_context(ca_file))
        self._client = httpx.AsyncClient(  # builds the defaults, and sends the token requests
            base_url=base_url,
            headers={"accept-encoding": ACCEPT_ENCODING, **(headers or {})},
            timeout=httpx.Timeout(timeout),  # each step; the whole exchange: _once's deadline
            transport=self._transport,
            follow_redirects=False,
            trust_env=False,
        )
        self._base = str(self._client.base_url).rstrip("/") + "/"

    def __repr__(self) -> str:
        return f"HttpClient(base_url={str(self._client.base_url)!r})"

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for the given (1-based) failed attempt."""
        ceiling = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return self._rng.uniform(0.0, ceiling)

    async def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Response:
        """GET ``path`` (relative to the base URL, segments already encoded)."""
        attempt = 0
        reauthed = False
        while True:
            attempt += 1
            outcome = await self._once(path, params)
            if isinstance(outcome, Response):
                action = classify(outcome.status)
                if action is Action.OK:
                    return outcome
                if action is Action.REAUTH:
                    if reauthed:
                        raise FatalError(
                            f"HTTP 401 from {path}: credentials rejected (after renewing them)"
                        )
                    reauthed = True
                    self._auth.invalidate()
                    self._log.info("http.reauth", path=path, status=401)
                    attempt -= 1  # the re-authenticated retry is free
                    continue
                if action is Action.FATAL:
                    raise FatalError(
                        f"HTTP {outcome.status} from {path}: {_snippet(outcome.body)}"
                    )
                if action is Action.SKIP:
                    raise SkippableError(
                        f"HTTP {outcome.status} from {path}: {_snippet(outcome.body)}"
                    )
                failure = _Attempt(
                    status=outcome.status,
                    reason=f"HTTP {outcome.status}",
                    retry_after=parse_retry_after(
                        outcome.headers.get("retry-after"), self._wall_clock()
                    ),
                )
            else:
                failure = outcome
            await self._wait_or_raise(path, attempt, failure)

    async def _wait_or_raise(self, path: str, attempt: int, failure: _Attempt) -> None:
        cap = self._backoff_max * 10
        ra = failure.retry_after
        if attempt >= self._max_attempts or (ra is not None and ra > cap):
            hint = ra if ra is not None else min(self._backoff_max, self._backoff_base * 2**attempt)
            raise RetriableError(
                f"GET {path} failed after {attempt} attempt(s): {failure.reason}",
                retry_after=hint,
            )
        delay = self.backoff(attempt)
        if ra is not None:
            delay = max(delay, ra)  # never call before the server said we may
        self._log.warning(
            "http.retry",
            path=path,
            status=failure.status,
            reason=failure.reason,
            attempt=attempt,
            delay=round(delay, 3),
        )
        await self._sleep(delay)

    async def _once(self, path: str, params: Mapping[str, str | int] | None) -> Response | _Attempt:
        """One exchange within the ``timeout`` deadline; returns the response, or the
        retriable failure that happened."""
        try:
            with anyio.fail_after(self._timeout):
                return await self._exchange(path, params)
        except TimeoutError:
            return _Attempt(status=None, reason=f"no complete response within the {self._timeout:g}s timeout")

    async def _exchange(self, path: str, params: Mapping[str, str | int] | None) -> Response | _Attempt:
        try:
            auth_headers = await self._auth.headers(self._client)
        except RetriableError as exc:
            return _Attempt(status=None, reason=f"auth: {exc}", retry_after=exc.retry_after)
        try:
            request = self._request(path, params, auth_headers)
            url = str(request.url)
            sent = self._timer()
            response = await self._transport.handle_async_request(request)
            if self._on_response is not None:
                self._on_response(response.status_code)
            try:
                body = await self._read_capped(response, path)
            finally:
                await response.aclose()
            if self._on_duration is not None:
                self._on_duration(self._timer() - sent)
        except httpx.TransportError as exc:
            return _Attempt(status=None, reason=f"transport error: {type(exc).__name__}{_tls_hint(exc)}")
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            raise SkippableError(f"GET {path}: {type(exc).__name__}") from None
        headers = {k.lower(): v for k, v in response.headers.items()}
        return Response(status=response.status_code, headers=headers, body=body, url=url)

    def _request(self, path: str, params: Mapping[str, str | int] | None, auth: Mapping[str, str]) -> httpx.Request:
        """The GET that ``AsyncClient.build_request`` would build, for 40 % of its CPU (one
        URL parse instead of four). It goes to the transport directly: the client's send adds
        only what is not used here (redirects, event hooks, timers), and a cookie jar. No
        vendor documents a cookie, and none is kept: each request carries the same headers.
        Unlike httpx, which would drop it, a query written in ``path`` is kept, ``params``
        after it."""
        query = ("&" if "?" in path else "?") + urlencode(params) if params else ""
        headers = self._client.headers.copy()
        headers.update(auth)
        return httpx.Request("GET", httpx.URL(self._base + path.lstrip("/") + query), headers=headers)

    async def _read_capped(self, response: httpx.Response, path: str) -> bytes:
        """The body as decoded, refused (OK responses) or cut (error responses: only the
        message at its start is needed) once over its cap. The cap applies to the
        inflated size, checked every :data:`~streamer.http.inflate.STEP` bytes of it."""
        ok = classify(response.status_code) is Action.OK
        cap = self._max_body if ok else min(self._max_body, ERROR_BODY_BYTES)
        declared = response.headers.get("content-length", "")
        if ok and declared.isdigit() and int(declared) > cap:
            raise SkippableError(f"GET {path}: response body over {cap} bytes")
        # An in-memory transport (httpx.MockTransport) hands over a body it already read
        # and decoded; a network response is still raw.
        encoding = None if response.is_stream_consumed else response.headers.get("content-encoding")
        try:
            inflater = Inflater(encoding)
        except UnsupportedEncoding as exc:
            raise SkippableError(f"GET {path}: {exc}") from None
        chunks: list[bytes] = []
        size = 0
        try:
            async with contextlib.aclosing(_raw_chunks(response)) as raws:
                async for raw in raws:
                    for piece in inflater.feed(raw):
                        size += len(piece)
                        if size > cap:
                            if ok:
                                raise SkippableError(f"GET {path}: response body over {cap} bytes"
                                                     + (f" (inflated from {encoding})" if encoding else ""))
                            chunks.append(piece[: cap - (size - len(piece))])
                            return b"".join(chunks)  # an error body only needs its start
                        chunks.append(piece)
            tail = inflater.finish()
            if tail:  # most bodies end here with b"": a second item would make the join copy the body
                chunks.append(tail)
        except BadEncoding as exc:
            if not ok:
                return b"".join(chunks)
            raise SkippableError(f"GET {path}: {exc}") from None
        return b"".join(chunks)


async def _raw_chunks(response: httpx.Response) -> AsyncGenerator[bytes, None]:
    """The body as it came over the wire (still encoded), chunk by chunk."""
    if response.is_stream_consumed:
        yield response.content
        return
    async for chunk in response.aiter_raw():
        yield chunk


def _tls_hint(exc: httpx.TransportError) -> str:
    """What to do about a vendor certificate the client does not trust; like every transport
    error's, the rest of its text is left out of the reason."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return ": the vendor's TLS certificate is not trusted (sources[].ca_file names a CA for it)"
    return ""


@functools.cache
def _tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """One verifying TLS context per CA bundle, shared by the clients that use it: building
    one loads the bundle (~35 ms), which for 100 sources was most of the daemon's start-up
    time. None: the public CAs httpx bundles (certifi), or SSL_CERT_FILE / SSL_CERT_DIR when set."""
    if ca_file is None:
        return httpx.create_ssl_context()
    return ssl.create_default_context(cafile=ca_file)
