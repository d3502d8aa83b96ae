"""Fault injection for the simulated vendor APIs.

:class:`Faults` is a mutable, thread-safe settings object with its own seeded RNG.
:class:`FaultMiddleware` applies the HTTP-level faults (429, 503, 500, latency, HTML
200, truncated bodies) around a vendor app, and the seed documents' JSON slips
(:mod:`streamer.simulator.slips`: ``//`` comments, a missing comma, a literal glued to a
string, a missing colon) to the encoded body of every vendor's JSON 200 responses;
:meth:`Faults.transform` applies the JSON quirks (field-case drift, zoneless timestamps,
numbers as strings) and the row quirks (rows out of order, duplicate rows) to a payload
before a vendor app encodes it.

Row quirks, and where the seeds show them:

- ``rows_out_of_order``: each response's rows in reverse order. The RAI
  ``agentStatusHistory`` example (``sinch-cc-rai-analytics-api.txt``) lists
  ``Dialing_Outbound_Campaign`` at ``statusTimestamp`` 07:20:16.027 after ``Waiting``
  at 07:20:21.250; Vonage documents an order (start, agentId, type) a client must not
  rely on more than the vendor keeps it.
- ``duplicate_rows``: each row of a response twice, one after the other. The seeds'
  README (Vonage, from the vendor's polling advice): with ``include=Processed`` "the
  same item can then come back", and the beta webhooks are "possibly duplicated and
  unordered", so the client de-duplicates. A page is then longer than ``limit``;
  offset-paged clients advance by at most ``limit`` rows per page.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamer.simulator.slips import SLIPS, apply_slips

__all__ = ["Faults", "FaultMiddleware", "FIELD_CASE_DRIFT"]

#: field name -> drifted spelling, used when ``field_case_drift`` is on
FIELD_CASE_DRIFT: dict[str, str] = {
    "agentId": "agentid",
    "eligibleForRouting": "eligibleforRouting",
    "semiLive": "semilive",
    "nonLive": "nonlive",
    "channelGuid": "channelGUID",
    "conversationGuid": "conversationGUID",
    "initiatingAgentId": "initiatingAgentID",
    "changeTimestamp": "changeTimeStamp",
}

_ISO = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)Z$")
_SETTINGS: dict[str, type | tuple[type, ...]] = {
    "rate_limit": int,
    "retry_after": (int, float),
    "server_errors": int,
    "error_rate": (int, float),
    "latency_ms": int,
    "truncate": int,
    "sinch_late_status": bool,
    "html_200": int,
    "field_case_drift": bool,
    "zoneless_timestamps": bool,
    "numbers_as_strings": bool,
    "short_token_ttl": (int, float, type(None)),
    **{name: bool for name in SLIPS},
    "rows_out_of_order": bool,
    "duplicate_rows": bool,
}
_HTML = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head>" \
        b"<body><h1>Our service is under maintenance</h1></body></html>"


class Faults:
    """Fault settings; counters of requests and of faults served, by kind."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests_served = 0
        self.faults_served: Counter[str] = Counter()
        self.requests_by_path: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        """Turn every fault off (counters are kept)."""
        self.rate_limit = 0
        self.retry_after: float = 1
        self.server_errors = 0
        self.error_rate = 0.0
        self.latency_ms = 0
        self.truncate = 0
        self.sinch_late_status = False
        """Sinch RAI: a Talking_Inbound row is written after the agent's next row (see sinch_render)."""
        self.html_200 = 0
        self.field_case_drift = False
        self.zoneless_timestamps = False
        self.numbers_as_strings = False
        self.short_token_ttl: float | None = None
        for name in SLIPS:
            setattr(self, name, False)
        self.rows_out_of_order = False
        self.duplicate_rows = False

    def update(self, **settings: Any) -> None:
        """Set fault fields by name; unknown names or wrong types raise ValueError."""
        for key, value in settings.items():
            expected = _SETTINGS.get(key)
            if expected is None:
                raise ValueError(f"unknown fault setting {key!r}")
            bad_bool = isinstance(value, bool) and expected is not bool
            if bad_bool or not isinstance(value, expected):
                raise ValueError(f"bad value for {key!r}: {value!r}")
        with self._lock:
            for key, value in settings.items():
                setattr(self, key, value)

    def settings(self) -> dict[str, Any]:
        """Current settings and counters, JSON-ready."""
        with self._lock:
            out: dict[str, Any] = {key: getattr(self, key) for key in _SETTINGS}
            out["requests_served"] = self.requests_served
            out["faults_served"] = dict(self.faults_served)
            out["requests_by_path"] = dict(self.requests_by_path)
            return out

    def next_fault(self, path: str) -> str | None:
        """Count a request and decide its HTTP-level fault (consuming one-shot counts)."""
        with self._lock:
            self.requests_served += 1
            self.requests_by_path[path] += 1
            kind: str | None = None
            if self.rate_limit > 0:
                self.rate_limit -= 1
                kind = "rate_limit"
            elif self.server_errors > 0:
                self.server_errors -= 1
                kind = "server_error"
            elif self.error_rate > 0 and self._rng.random() < self.error_rate:
                kind = "random_error"
            elif self.html_200 > 0:
                self.html_200 -= 1
                kind = "html_200"
            elif self.truncate > 0:
                self.truncate -= 1
                kind = "truncate"
            if kind is not None:
                self.faults_served[kind] += 1
            return kind

    def transform(self, payload: Any) -> Any:
        """Apply the JSON and row quirks that are switched on to an envelope's items/fields."""
        payload = self._rows(payload)
        drift, zoneless, strings = self.field_case_drift, self.zoneless_timestamps, self.numbers_as_strings
        if not (drift or zoneless or strings):
            return payload
        return _walk(payload, drift, zoneless, strings, in_items=False)

    def _rows(self, payload: Any) -> Any:
        rows = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(rows, list) or not (self.rows_out_of_order or self.duplicate_rows):
            return payload
        if self.duplicate_rows:
            rows = [r for row in rows for r in (row, row)]
        if self.rows_out_of_order:
            rows = rows[::-1]
        with self._lock:
            self.faults_served["rows_out_of_order" if self.rows_out_of_order else "duplicate_rows"] += 1
        return {**payload, "items": rows}

    def slips_on(self) -> list[str]:
        """The JSON slips switched on (names of :data:`~streamer.simulator.slips.SLIPS`)."""
        return [name for name in SLIPS if getattr(self, name)]

    def slip(self, body: bytes) -> bytes:
        """``body`` with the JSON slips that are switched on (counted per slip)."""
        on = self.slips_on()
        out = apply_slips(body, on)
        if out != body:
            with self._lock:
                for name in on:
                    self.faults_served[name] += 1
        return out


def _walk(obj: Any, drift: bool, zoneless: bool, strings: bool, in_items: bool) -> Any:
    """Rewrite keys and values recursively; drift and strings only inside ``items``."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        src: dict[str, Any] = obj  # a decoded JSON object: its keys are strings
        for key, value in src.items():
            inner = in_items or key == "items"
            new_key = FIELD_CASE_DRIFT.get(key, key) if drift and in_items else key
            out[new_key] = _walk(value, drift, zoneless, strings, inner)
        return out
    if isinstance(obj, list):
        return [_walk(v, drift, zoneless, strings, in_items) for v in obj]
    if isinstance(obj, str) and zoneless:
        m = _ISO.match(obj)
        return f"{m.group(1)} {m.group(2)}" if m else obj
    if strings and in_items and isinstance(obj, int | float) and not isinstance(obj, bool):
        return str(obj)
    return obj


def _retry_after(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


class FaultMiddleware:
    """ASGI middleware applying the HTTP-level faults of a :class:`Faults`."""

    def __init__(self, app: ASGIApp, faults: Faults, *, retry_after: bool = True) -> None:
        self.app = app
        self.faults = faults
        self.retry_after = retry_after
        """Whether a 429 carries ``Retry-After`` (only where the vendor documents it)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = self.faults.next_fault(scope["path"])
        if self.faults.latency_ms > 0:
            await anyio.sleep(self.faults.latency_ms / 1000)
        if kind == "rate_limit":
            extra = [(b"retry-after", _retry_after(self.faults.retry_after).encode())] if self.retry_after else []
            await _reply(send, 429, b'{"message":"Too many requests"}', "application/json", extra)
        elif kind == "server_error":
            await _reply(send, 503, b'{"message":"Service Unavailable"}', "application/json")
        elif kind == "random_error":
            await _reply(send, 500, b'{"message":"An error has occurred."}', "application/json")
        elif kind == "html_200":
            await _reply(send, 200, _HTML, "text/html; charset=utf-8")
        elif kind == "truncate":
            start, body = await self._capture(scope, receive)
            await _resend(send, start, body[: len(body) // 2])
        elif self.faults.slips_on() and not _is_token_path(scope["path"]):
            start, body = await self._capture(scope, receive)
            if start.get("status", 200) == 200 and b"json" in _header(start, b"content-type"):
                body = self.faults.slip(body)
            await _resend(send, start, body)
        else:
            await self.app(scope, receive, send)

    async def _capture(self, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
        start: Message = {}
        body = bytearray()

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, capture)
        return start, bytes(body)


def _is_token_path(path: str) -> bool:
    """OAuth2 token endpoints: the slips are documented for the APIs' data, not for tokens."""
    return path.rstrip("/").rsplit("/", 1)[-1] in ("token", "access_token")


def _header(start: Message, name: bytes) -> bytes:
    return next((v.lower() for k, v in start.get("headers", []) if k.lower() == name), b"")


async def _resend(send: Send, start: Message, body: bytes) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": start.get("status", 200), "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reply(
    send: Send, status: int, body: bytes, content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})
