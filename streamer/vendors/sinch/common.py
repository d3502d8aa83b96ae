"""What Sinch Contact Center's two interfaces (RMI and RAI) share.

- Requests: HTTP Basic (a Contact Pro user) plus an optional ``x-api-key`` for cloud
  API gateways, ``Accept: application/json``.
- Responses: a bare JSON array of rows. Paging is ``offset``/``limit``; RAI documents a
  row limit of 10,000 and neither interface says what happens past it, so every read
  pages until an empty page (a gateway may return fewer rows than ``limit`` on any
  page) and a read is never assumed complete after one call.
- Errors: 400 and 404 bodies are ``text/plain`` (``Invalid GUID: '...'``,
  ``HTTP 404 Not Found``); :class:`~streamer.http.client.HttpClient` turns them into
  :class:`~streamer.errors.SkippableError` carrying that text.
- The docs' JSON has slips (``//`` comments, a missing comma at a line end, a missing
  colon, trailing commas): :func:`repair_sinch` (:mod:`streamer.http.jsonrepair`) repairs
  them, only after strict decoding failed.
- Statistics: rows of aggregates (queue status now, quarter-hour buckets) are read by
  the kit's :class:`~streamer.vendors.kit.endpoints.StatsEndpoint`; durations that grow
  with the clock ride along without triggering.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import msgspec

from streamer.config.model import BasicAuthConfig, SourceConfig
from streamer.contract.events import (
    Presence,
    WorkState,
)
from streamer.errors import ConfigError, SkippableError
from streamer.http.client import HttpClient
from streamer.http.jsonrepair import repair_json, repair_refused
from streamer.http.offload import decode_off_loop
from streamer.http.paging import Paginator
from streamer.http.tolerant import BadRecord, decode_items, decode_json, snippet
from streamer.secrets import Secret
from streamer.timeutil import format_ts, from_ms, parse_ts, to_ms
from streamer.vendors.kit.endpoints import QUARTER_MS, floor_quarter
from streamer.vendors.kit.helpers import options_of

__all__ = [
    "ROW_LIMIT",
    "LANGUAGE",
    "QUARTER_MS",
    "read_whole",
    "guid",
    "SinchOptions",
    "sinch_headers",
    "repair_sinch",
    "decode_rows",
    "OffsetPaginator",
    "RowsRead",
    "SinchClient",
    "check_sinch",
    "floor_quarter",
    "bucket_label",
    "bucket_start_ms",
    "stats_values",
    "change_ms_of",
    "work_state",
    "presence_of",
    "presence_transition",
    "handling_state",
]

T = TypeVar("T")

ROW_LIMIT = 10_000
"""RAI's documented row limit: the most rows one call returns (we never ask for more)."""
LANGUAGE = {"language": "EN"}
"""Sent on every request whose documented parameters have ``language``: translatable
values default to the API user's language, and every value this client matches is the
English one (``Waiting``, ``Wrap``, ``LoggedOut``...). RAI ``contactHistory`` and
``agentHistory`` do not list it (any other parameter there filters on a field)."""
_HEX32 = re.compile(r"^[0-9A-F]{32}$")


def guid(value: str | None) -> str | None:
    """A Sinch GUID in one spelling: 32 upper-case hex digits.

    The docs show ``E936C474B22311D38FBE0090279A922E``, the dashed
    ``2F7A2AA9-6974-4BA7-A854-4C79ACD0DCD0`` and ids with a trailing space; all name
    the same thing. A value that is not a GUID is kept (trimmed) rather than dropped.
    """
    if value is None:
        return None
    text = value.strip()
    folded = text.replace("-", "").replace("{", "").replace("}", "").upper()
    return folded if _HEX32.match(folded) else (text or None)


class SinchOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Sinch's own keys of a source (RMI and RAI alike), beside the common ones."""

    api_key: Secret | None = None
    """Sent as ``x-api-key``: for a Sinch interface behind a cloud API gateway."""


def sinch_headers(cfg: SourceConfig) -> dict[str, str]:
    """Default headers: JSON, and the gateway's ``x-api-key`` when one is configured."""
    headers = {"accept": "application/json"}
    api_key = options_of(cfg, SinchOptions).api_key
    if api_key is not None:
        headers["x-api-key"] = api_key.reveal()
    return headers


# --- decoding ----------------------------------------------------------------------


def repair_sinch(body: bytes) -> tuple[bytes, list[str]]:
    """:func:`~streamer.http.jsonrepair.repair_json`, which knows the Sinch docs' slips too
    (``//`` comments, a missing comma at a line end) since every vendor may send them.

    A body :func:`~streamer.http.jsonrepair.repair_refused` refuses (over
    :data:`~streamer.http.jsonrepair.MAX_REPAIR_BYTES`) raises :class:`SkippableError`.
    """
    return repair_json(body)


def _row_raws(body: bytes) -> list[msgspec.Raw]:
    value = decode_json(body, list[msgspec.Raw] | dict[str, msgspec.Raw] | None)
    if value is None:
        return []
    if isinstance(value, dict):
        return [msgspec.Raw(body)]  # one entity where a list was expected: one row
    return value


def _row_raws_repaired(body: bytes) -> list[msgspec.Raw]:
    """Strict first; an unreadable body is read once more after the documented repairs."""
    try:
        return _row_raws(body)
    except SkippableError as exc:
        refused = repair_refused(body)
        if refused is not None:
            raise SkippableError(f"{exc}; {refused}") from None
        repaired, applied = repair_sinch(body)
        if not applied:
            raise
    return _row_raws(repaired)


def decode_rows(body: bytes, model: type[T]) -> list[T | BadRecord]:
    """A response body (a JSON array of rows) -> rows; a bad row becomes a BadRecord.

    A body that is not JSON even after the documented repairs raises
    :class:`SkippableError` with the body as ``raw`` (dead-lettered; the poll retries).
    """
    if not body.strip():
        return []
    try:
        raws = _row_raws_repaired(body)
    except msgspec.ValidationError:
        raise SkippableError(f"response body is not a JSON array; starts with {snippet(body)!r}", raw=body) from None
    except SkippableError as exc:
        raise SkippableError(f"response body is {exc}; starts with {snippet(body)!r}", raw=body) from None
    return decode_items(raws, model)


# --- paging and the client ---------------------------------------------------------


class OffsetPaginator(Paginator[int]):
    """``offset``/``limit`` paging: the next offset is the rows seen so far; only an empty
    page is the last. A short page is not: an API gateway may cap pages below ``limit``,
    and taking its first page for the last would lose the rest of the read (one more call
    per read is the price). The base class catches a server that ignores ``offset`` (the
    same page body twice) as a loop instead of hanging."""

    def __init__(self, limit: int, *, max_pages: int = 10_000) -> None:
        if limit < 1:
            raise ValueError("limit must be >= 1")
        super().__init__(0, max_pages=max_pages)
        self.limit = limit

    def get_next(self, response_body: Any, current: int) -> int | None:
        count = int(response_body)
        # a page covers at most ``limit`` rows of the result set: more rows (a row sent
        # twice) must not push the offset past rows not read yet
        return current + min(count, self.limit) if count > 0 else None


@dataclass(frozen=True, slots=True)
class RowsRead(Generic[T]):
    """Every page of one read, rows in API order (bad ones as BadRecord)."""

    items: list[T | BadRecord] = field(default_factory=list)
    pages: int = 0
    server_ms: int | None = None
    """The vendor's clock when it answered the last page (its ``Date`` header, whole
    seconds), or None without one: vendor time that does not depend on rows."""


def server_time_ms(headers: Mapping[str, str]) -> int | None:
    """The ``Date`` header as epoch ms, or None when it is missing or unreadable."""
    value = headers.get("date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return to_ms(when) if when.tzinfo is not None else None


class SinchClient:
    """Paged reads of one Sinch interface (``base_url`` ends in ``/RI/rmi`` or ``/RI/rai``)."""

    def __init__(self, http: HttpClient, *, page_limit: int = 1000) -> None:
        if page_limit < 1:
            raise ValueError("page_limit must be >= 1")
        self.http = http
        self.limit = min(page_limit, ROW_LIMIT)
        self.row_limit = ROW_LIMIT
        """The most rows one query returns, over all its pages (a read of exactly this
        many may have been cut: :func:`read_whole`)."""

    async def rows(self, path: str, params: Mapping[str, str | int], model: type[T]) -> RowsRead[T]:
        """Every row of ``path``, page by page until an empty page."""
        pager = OffsetPaginator(self.limit)
        items: list[T | BadRecord] = []
        server_ms: int | None = None
        while not pager.finished:
            query = {**params, "offset": pager.current_value, "limit": self.limit}
            response = await self.http.get(path, query)
            page = await decode_off_loop(len(response.body), decode_rows, response.body, model)
            pager.advance(len(page), raw=response.body)
            items.extend(page)
            server_ms = server_time_ms(response.headers)
        return RowsRead(items=items, pages=pager.count, server_ms=server_ms)

    async def list_once(self, path: str, model: type[T], params: Mapping[str, str | int] | None = None) -> list[T | BadRecord]:
        """A small collection read in one call (a contact's details)."""
        response = await self.http.get(path, params)
        return await decode_off_loop(len(response.body), decode_rows, response.body, model)


async def read_whole(
    read: Callable[[int, int | None], Awaitable[RowsRead[T]]], start_ms: int, end_ms: int | None, *, row_limit: int,
    align_ms: int = 1, now_ms: int | None = None,
) -> RowsRead[T]:
    """``read(start, end)`` of a time range, split in halves while a read returns the row
    limit (RAI: "Row limit = 10000" on every endpoint; past it, rows are cut, whatever the
    paging). Halves start on ``align_ms`` (a quarter hour where the API rounds times to
    one). An open end (None) stays open: the split point is the vendor's clock of the
    first read (else ``now_ms``). Rows at a split may come twice: callers key rows by
    identity. A range that cannot be split further is returned as read."""
    got = await read(start_ms, end_ms)
    if len(got.items) < row_limit:
        return got
    pivot = end_ms if end_ms is not None else (got.server_ms or now_ms)
    if pivot is None:
        return got
    mid = start_ms + (pivot - start_ms) // 2
    mid -= mid % align_ms
    if mid <= start_ms or (end_ms is not None and mid >= end_ms):
        return got
    a = await read_whole(read, start_ms, mid, row_limit=row_limit, align_ms=align_ms)
    b = await read_whole(read, mid, end_ms, row_limit=row_limit, align_ms=align_ms, now_ms=now_ms)
    return RowsRead(items=a.items + b.items, pages=got.pages + a.pages + b.pages, server_ms=b.server_ms)


# --- config and endpoint plumbing ---------------------------------------------------


def check_sinch(cfg: SourceConfig, path: str, vendor: str, suffix: str) -> None:
    """What a Sinch source needs; errors name the key path."""
    if not isinstance(cfg.auth, BasicAuthConfig):
        raise ConfigError(f"{path}.auth.type: {vendor} takes basic")
    if not cfg.base_url.rstrip("/").endswith(suffix):
        raise ConfigError(f"{path}.base_url: {vendor} needs the interface root ending in {suffix}, got {cfg.base_url!r}")
    if cfg.page_limit > ROW_LIMIT:
        raise ConfigError(f"{path}.page_limit: at most {ROW_LIMIT} for {vendor} (the API's row limit)")


# --- statistics --------------------------------------------------------------------


def bucket_label(value: str | None, fallback_ms: int | None = None) -> str:
    """A quarter-hour bucket as RFC 3339 when it reads as a time (``2019-12-03 10:15``),
    else the vendor's label as is (``2018-09-12`` is a day bucket, kept raw)."""
    if value is not None and value.strip():
        text = value.strip()
        if len(text) > 10:
            try:
                return format_ts(parse_ts(text))
            except ValueError:
                pass
        return text
    return format_ts(from_ms(floor_quarter(fallback_ms))) if fallback_ms is not None else "-"


def bucket_start_ms(value: str | None) -> int | None:
    """A quarter-hour bucket label (``2019-12-03 10:15``) as epoch ms; None when the label
    is not a time (``2018-09-12``, a day) or missing."""
    text = (value or "").strip()
    if len(text) <= 10:
        return None
    try:
        return to_ms(parse_ts(text))
    except ValueError:
        return None


def _number(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def stats_values(row: msgspec.Struct, fields: Sequence[str]) -> dict[str, Any]:
    """The named numeric attributes of a row, snake_case, integral floats as ints."""
    return {f: _number(getattr(row, f)) for f in fields}


def change_ms_of(dt: datetime | None) -> int | None:
    return None if dt is None else to_ms(dt)


# --- agent presence and work state (one vocabulary for RMI and RAI) -------------------

_NO_REASON = frozenset({"", "none", "-"})


def _norm(value: str | None) -> str:
    return (value or "").strip().casefold()


def work_state(status: str | None) -> str:
    """A contact handling status as a normalized work state.

    Waiting (and joining/leaving an outbound campaign) -> Idle; Talking_*, Dialing_*,
    Chatting_*, Emailing_*, Preview -> Busy; Wrap -> Wrap; LoggedOut; anything else
    Unknown (the raw value is kept beside it).
    """
    s = _norm(status)
    if s in ("waiting", "objoin", "obunjoin"):
        return "Idle"
    if s == "wrap":
        return "Wrap"
    if s == "loggedout":
        return "LoggedOut"
    if s == "preview" or s.startswith(("talking", "dialing", "chatting", "emailing")):
        return "Busy"
    return "Unknown"


def presence_of(user_status: str | None, profile: str | None, profile_type: str | None,
                profile_reason: str | None) -> Presence:
    """``userStatus`` plus the presence profile as a Presence.

    LoggedOut -> LoggedOut; Ready -> Ready (eligible for routing); Pause -> Away;
    NotReady -> ExtendedAway under an absence profile (Lunch, Vacation, Meeting), else
    Away. ``name`` is the profile, ``reason`` its reason (``NONE``/``-`` mean none).
    """
    us, kind = _norm(user_status), _norm(profile_type)
    category = {
        "loggedout": "LoggedOut",
        "ready": "Ready",
        "pause": "Away",
        "notready": "ExtendedAway" if kind == "absence" else "Away",
    }.get(us, "Unknown")
    reason = None if _norm(profile_reason) in _NO_REASON else profile_reason
    raw = None
    if category == "Unknown":
        raw = {"userStatus": user_status, "profile": profile, "profileType": profile_type}
    return Presence(name=profile, category=category, eligible_for_routing=us == "ready", reason=reason, raw=raw)


def presence_transition(user_status: str | None, p: Presence) -> str:
    """A presence change as Sinch identifies it: the ``userStatus`` and the profile."""
    return f"presence:{user_status or ''}:{p.name or ''}"


def handling_state(status: str) -> WorkState:
    """A contact handling status as a work state (its transition: ``state:<status>``)."""
    return WorkState(state=work_state(status), raw=status)
