"""Vonage Insights Stats records (msgspec) and their tolerant decoding.

Attributes are snake_case and travel as camelCase. Decoding takes the strict msgspec
fast path first; when that fails (field-case drift such as ``agentid``, zone-less
timestamps, numbers sent as strings or strings as numbers) it falls back to a
schema-directed normalization and ``msgspec.convert(strict=False)``. A record that
still cannot be read raises :class:`~streamer.errors.SkippableError`; inside a page it
becomes a :class:`BadRecord` that keeps the raw bytes for the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from streamer.errors import SkippableError
from streamer.http.tolerant import (
    BadRecord,
    CamelModel,
    UtcDateTime,
    as_utc,
    decode_body,
    decode_documented_items,
    decode_items,
    decode_json,
    decode_record,
    field_ci,
    snippet,
)
from streamer.timeutil import parse_ts

__all__ = [
    "UtcDateTime",
    "Meta",
    "Workload",
    "InteractionRef",
    "ChannelRef",
    "Activity",
    "PresenceNow",
    "WorkloadNow",
    "InteractionNow",
    "AgentStatus",
    "Party",
    "ChannelEvent",
    "Channel",
    "Interaction",
    "BadRecord",
    "Page",
    "decode_record",
    "Envelope",
    "decode_envelope",
    "documented_envelope",
    "tolerant_envelope",
    "decode_page",
    "decode_rows",
    "Keep",
]

T = TypeVar("T")





class Meta(CamelModel):
    page: int | None = None
    count: int | None = None
    page_count: int | None = None
    total_count: int | None = None


class Workload(CamelModel):
    calls: int | None = None
    semi_live: int | None = None
    non_live: int | None = None


class InteractionRef(CamelModel):
    guid: str
    medium: str | None = None
    medium_manager: str | None = None
    direction: str | None = None


class ChannelRef(CamelModel):
    guid: str | None = None


class Activity(CamelModel):
    """One row of ``GET /agent-activities``; ``duration`` (ms) is None while open."""

    agent_id: str
    type: str
    start: UtcDateTime
    category: str | None = None
    name: str | None = None
    eligible_for_routing: bool | None = None
    status: str | None = None
    duration: int | None = None
    reason: str | None = None
    interaction: InteractionRef | None = None
    channel: ChannelRef | None = None
    workload: Workload | None = None

    def __post_init__(self) -> None:
        self.start = as_utc(self.start)  # type: ignore[assignment]


class PresenceNow(CamelModel):
    """Current presence; ``name`` is the category (Ready, Away, ...)."""

    since: UtcDateTime
    name: str | None = None
    description: str | None = None
    eligible_for_routing: bool | None = None

    def __post_init__(self) -> None:
        self.since = as_utc(self.since)  # type: ignore[assignment]


class WorkloadNow(CamelModel):
    since: UtcDateTime | None = None
    calls: int | None = None
    semi_live: int | None = None
    non_live: int | None = None

    def __post_init__(self) -> None:
        self.since = as_utc(self.since)


class InteractionNow(CamelModel):
    guid: str
    channel_guid: str | None = None
    since: UtcDateTime | None = None
    medium: str | None = None
    medium_manager: str | None = None
    direction: str | None = None
    state: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        self.since = as_utc(self.since)


class AgentStatus(CamelModel):
    """One row of ``GET /agent-status`` (the current snapshot of one agent)."""

    agent_id: str
    presence: PresenceNow | None = None
    workload: WorkloadNow | None = None
    interaction: list[InteractionNow] = []


class Party(CamelModel):
    id: str | None = None
    role: str | None = None
    touchpoint: str | None = None


class ChannelEvent(CamelModel):
    type: str
    offset: int
    name: str | None = None
    duration: int | None = None
    properties: dict[str, Any] | None = None


class Channel(CamelModel):
    """One party's leg of an interaction; ``offset`` is ms from the interaction start."""

    offset: int
    guid: str | None = None
    duration: int | None = None
    end_reason: str | None = None
    party: Party | None = None
    events: list[ChannelEvent] = []


class Interaction(CamelModel):
    """One row of ``GET /interactions`` with its channels (transfers live there)."""

    guid: str
    start: UtcDateTime
    status: str | None = None
    medium: str | None = None
    medium_manager: str | None = None
    duration: int | None = None
    direction: str | None = None
    conversation_guid: str | None = None
    service_name: str | None = None
    connect_to: str | None = None
    connect_from: str | None = None
    interaction_plan_mapping: dict[str, Any] | None = None
    channels: list[Channel] = []

    def __post_init__(self) -> None:
        self.start = as_utc(self.start)  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One decoded page: items in API order (bad ones as :class:`BadRecord`)."""

    items: list[T | BadRecord] = field(default_factory=list)
    meta: Meta | None = None
    """Always set by :func:`decode_page` (a page without it is refused)."""
    up_to: datetime | None = None


class _Envelope(msgspec.Struct):
    """The page exactly as documented, items left raw: one pass over a well-formed body.
    Anything else (a key in another case, a missing key, a JSON slip) takes the tolerant path."""

    # msgspec.Raw takes no union with None; the None default means "absent".
    items: list[msgspec.Raw] | None = None
    meta: msgspec.Raw = None  # type: ignore[assignment]
    upTo: msgspec.Raw = None  # type: ignore[assignment]


_envelope = msgspec.json.Decoder(_Envelope)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A page with its items still raw: what :func:`decode_envelope` reads."""

    raws: list[msgspec.Raw]
    meta: Meta | None = None
    up_to: datetime | None = None


def decode_envelope(body: bytes) -> Envelope:
    """Read a ``{meta, items, upTo}`` page, leaving its items raw (pure: safe in a thread).

    A body that is not a JSON object with an ``items`` array raises
    :class:`SkippableError` carrying the body as ``raw``.
    """
    env = documented_envelope(body)
    return tolerant_envelope(body) if env is None else env


def documented_envelope(body: bytes) -> Envelope | None:
    """:func:`decode_envelope` of a page exactly as documented, in one msgspec call; None
    when the body needs :func:`tolerant_envelope` (a key in another case, a missing key, a
    JSON slip). Raises as :func:`decode_envelope` does when ``meta`` or ``upTo`` is unusable."""
    try:
        env = _envelope.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None  # odd case, a JSON slip, or not an object: the tolerant path says which
    if env.items is None or env.meta is None or env.upTo is None:
        return None
    return _envelope_of(body, env.items, env.meta, env.upTo)


def tolerant_envelope(body: bytes) -> Envelope:
    """:func:`decode_envelope` through the repairs and the case-blind keys: the path of a
    page that :func:`documented_envelope` cannot read."""
    try:
        raws, meta_raw, up_to_raw = _tolerant_envelope(body)
    except SkippableError as exc:
        raise SkippableError(str(exc), raw=body) from None
    return _envelope_of(body, raws, meta_raw, up_to_raw)


Keep = Callable[[list[msgspec.Raw]], list[msgspec.Raw]]
"""Of a page's raw items, those to decode (an endpoint's memory of rows leaves out the ones
it has seen unchanged)."""


def decode_page(body: bytes, model: type[T], keep: Keep | None = None) -> Page[T]:
    """Decode a ``{meta, items, upTo}`` page; each item keeps its raw bytes.

    A body that is not a JSON object with an ``items`` array and a ``meta`` with
    ``pageCount`` raises :class:`SkippableError` carrying the body as ``raw``; a bad item becomes a
    :class:`BadRecord`. ``keep``, when given, is handed every raw item and only the items it
    returns are decoded (a snapshot skips the rows it has seen unchanged).
    """
    env = decode_envelope(body)
    raws = env.raws if keep is None else keep(env.raws)
    return Page(items=decode_rows(raws, model), meta=env.meta, up_to=env.up_to)


def decode_rows(raws: list[msgspec.Raw], model: type[T]) -> list[T | BadRecord]:
    """Raw items decoded as ``model``, one item per row (an unreadable one as
    :class:`BadRecord`): all as documented in one call, else row by row, tolerantly."""
    items = decode_documented_items(raws, model)
    return decode_items(raws, model) if items is None else items


def _envelope_of(
    body: bytes, raws: list[msgspec.Raw], meta_raw: msgspec.Raw | None, up_to_raw: msgspec.Raw | None
) -> Envelope:
    try:
        up_to = _decode_up_to(up_to_raw)
        return Envelope(raws=raws, meta=_decode_meta(meta_raw), up_to=up_to)
    except SkippableError as exc:
        raise SkippableError(str(exc), raw=body) from None


def _decode_meta(raw: msgspec.Raw | None) -> Meta:
    """The paging information. Without it nobody can tell whether more pages follow, and
    ending the read after this page would lose the rest of the window while the cursor
    moves past it: a page without a readable ``meta.pageCount`` is unusable."""
    if raw is None:
        raise SkippableError("response page has no 'meta' (paging information)")
    try:
        meta = decode_record(raw, Meta)
    except SkippableError as exc:
        raise SkippableError(f"response page 'meta' is unreadable: {exc}") from None
    if meta.page_count is None:
        raise SkippableError("response page 'meta' has no 'pageCount'")
    return meta


def _tolerant_envelope(body: bytes) -> tuple[list[msgspec.Raw], msgspec.Raw | None, msgspec.Raw | None]:
    try:
        top = decode_body(body)
    except msgspec.ValidationError:
        raise SkippableError(
            f"response body is not a JSON object; starts with {snippet(body)!r}"
        ) from None
    except SkippableError as exc:
        raise SkippableError(f"response body is {exc}; starts with {snippet(body)!r}") from None
    items_raw = field_ci(top, "items")
    if items_raw is None:
        raise SkippableError("response page has no 'items' array")
    try:
        raws = decode_json(items_raw, list[msgspec.Raw] | None) or []
    except msgspec.ValidationError:
        raise SkippableError("response page 'items' is not an array") from None
    return raws, field_ci(top, "meta"), field_ci(top, "upTo")


def _decode_up_to(raw: msgspec.Raw | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = decode_json(raw)
    except SkippableError as exc:
        raise SkippableError(f"response page 'upTo' is unreadable: {exc}") from None
    if value is None:
        return None
    if not isinstance(value, str):
        raise SkippableError(f"response page 'upTo' is not a timestamp: {value!r}")
    try:
        return parse_ts(value)
    except ValueError:
        raise SkippableError(f"response page 'upTo' is not a timestamp: {value!r}") from None
