"""Alvaria Cloud Reporting API v2 records (msgspec) and their tolerant decoding.

Attributes are snake_case and travel as camelCase. Every query answers a snapshot:
``{"kind": "via#queryDataList", "totalItems": n, "rows": [...]}`` (``listActivity``
answers one flat object, ``presence/users`` a ``users`` array). Decoding is strict
first and tolerant on failure (field-case drift, zone-less timestamps, numbers as
strings and strings as numbers, e.g. the doc's ``"ehubSessionId": 2323`` for a string);
a row that still cannot be read becomes a :class:`BadRecord` with its raw bytes.

Documented defects the decoding does not trust: ``totalItems`` (2 for one row in every
example), the ``*Local`` timestamps (the example shows the UTC digits with a ``-07:00``
offset: not used, times are UTC), a ``teamId`` in a row that differs from the one asked
for (``salseTeam``), and ``reasonId`` on states that have no reason (``active``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

from streamer.errors import SkippableError
from streamer.http.tolerant import (
    BadRecord,
    CamelModel,
    UtcDateTime,
    as_utc,
    decode_body,
    decode_items,
    decode_json,
    decode_record,
    field_ci,
    fold_key,
    snippet,
)

__all__ = [
    "UtcDateTime",
    "UserActivityRow",
    "TeamActivityRow",
    "ChannelActivityRow",
    "ListActivityRow",
    "PresenceUser",
    "BadRecord",
    "Rows",
    "decode_rows",
    "decode_list_activity",
    "decode_record",
    "extra_fields",
    "snake",
]

T = TypeVar("T")





class UserActivityRow(CamelModel):
    """One row of ``queries/userActivity/data?teamId=``: a user's current state."""

    user_id: str
    team_id: str | None = None
    preferred_name: str | None = None
    team_name: str | None = None
    sign_on_time: UtcDateTime | None = None
    state_id: str | None = None
    state_name: str | None = None
    state_start_time: UtcDateTime | None = None
    reason_id: str | None = None
    reason_name: str | None = None
    interaction_count: int | None = None
    sign_on_time_local: str | None = None
    state_start_time_local: str | None = None
    state_dur: int | None = None
    sign_on_dur: int | None = None

    def __post_init__(self) -> None:
        self.sign_on_time = as_utc(self.sign_on_time)
        self.state_start_time = as_utc(self.state_start_time)


class TeamActivityRow(CamelModel):
    """One row of ``queries/teamActivity/data?teamId=``: users per state in a team."""

    team_id: str | None = None
    team_name: str | None = None
    not_ready_count: int | None = None
    park_count: int | None = None
    park_warning_count: int | None = None
    idle_count: int | None = None
    pending_active_count: int | None = None
    active_count: int | None = None
    wrap_count: int | None = None
    wrap_warning_count: int | None = None
    multi_line_count: int | None = None
    hold_count: int | None = None
    preview_count: int | None = None


class ChannelActivityRow(CamelModel):
    """One row of ``queries/channelActivity/data?workTypeId=``: interactions of one
    interaction type of a work type, by state; ``*Dur`` are seconds."""

    interaction_type_id: str | None = None
    channel_type_id: str | None = None
    work_type_id: str | None = None
    interaction_type_name: str | None = None
    channel_type_name: str | None = None
    work_type_name: str | None = None
    dial_count: int | None = None
    active_count: int | None = None
    queue_count: int | None = None
    self_service_count: int | None = None
    preview_count: int | None = None
    hold_count: int | None = None
    inactive_count: int | None = None
    wrap_count: int | None = None
    ring_count: int | None = None
    longest_waiting_queue_time: UtcDateTime | None = None
    self_service_dur: int | None = None
    queue_dur: int | None = None
    active_dur: int | None = None
    preview_dur: int | None = None
    max_queue_dur: int | None = None

    def __post_init__(self) -> None:
        self.longest_waiting_queue_time = as_utc(self.longest_waiting_queue_time)


class ListActivityRow(CamelModel):
    """The body of ``queries/listActivity/data?contactList=`` (one flat object)."""

    kind: str | None = None
    contact_list: str | None = None
    records_available: int | None = None
    records_attempted: int | None = None
    records_in_active: int | None = None
    calls_busy: int | None = None
    passcount_penetration: int | None = None
    passcount_saturation: int | None = None
    list_penetration: int | None = None
    list_saturation: int | None = None


class PresenceUser(CamelModel):
    """One user of ``presence/users/data?state=LoggedOn``. ``ehub_session_id`` is a
    string in the schema and a number in the example: both are read as a string."""

    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    ehub_session_id: str | None = None
    email_address: str | None = None


@dataclass(frozen=True, slots=True)
class Rows(Generic[T]):
    """One decoded response: rows in API order (bad ones as :class:`BadRecord`), each
    with the raw JSON object it came from (for :func:`extra_fields`)."""

    items: list[T | BadRecord] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    total_items: int | None = None
    kind: str | None = None


def _top(body: bytes) -> dict[str, msgspec.Raw]:
    try:
        return decode_body(body)
    except msgspec.ValidationError:
        raise SkippableError(
            f"response body is not a JSON object; starts with {snippet(body)!r}", raw=body
        ) from None
    except SkippableError as exc:
        raise SkippableError(f"response body is {exc}; starts with {snippet(body)!r}", raw=body) from None


def _scalar(top: dict[str, msgspec.Raw], name: str, typ: Any) -> Any:
    raw = field_ci(top, name)
    if raw is None:
        return None
    try:
        return decode_json(raw, typ, strict=False)
    except (msgspec.ValidationError, SkippableError):
        return None  # envelope figures are informative only


def decode_rows(body: bytes, model: type[T], key: str = "rows") -> Rows[T]:
    """Decode a ``{kind, totalItems, rows}`` envelope (``key`` names the array).

    A body that is not a JSON object, or an object with neither the array nor
    ``totalItems``, raises :class:`SkippableError` carrying the body as ``raw``. A
    missing array with ``totalItems`` is an empty snapshot. ``totalItems`` is not
    trusted (the doc's examples say 2 for one row).
    """
    top = _top(body)
    arr = field_ci(top, key)
    total = _scalar(top, "totalItems", int | None)
    if arr is None or bytes(arr).strip() == b"null":
        if field_ci(top, "totalItems") is None:
            raise SkippableError(f"response has no {key!r} array; starts with {snippet(body)!r}", raw=body)
        raws: list[msgspec.Raw] = []
    else:
        try:
            raws = decode_json(arr, list[msgspec.Raw])
        except msgspec.ValidationError:
            raise SkippableError(f"response {key!r} is not an array", raw=body) from None
    return Rows(
        items=decode_items(raws, model),
        raws=[bytes(r) for r in raws],
        total_items=total,
        kind=_scalar(top, "kind", str | None),
    )


def decode_list_activity(body: bytes) -> Rows[ListActivityRow]:
    """``listActivity`` answers one flat object; a ``rows`` envelope is read as well."""
    top = _top(body)
    if field_ci(top, "rows") is not None:
        return decode_rows(body, ListActivityRow)
    raw = msgspec.json.encode(top)  # after any repair decode_body applied
    try:
        row: ListActivityRow | BadRecord = decode_record(raw, ListActivityRow)
    except SkippableError as exc:
        row = BadRecord(raw=body, reason=str(exc))
    return Rows(items=[row], raws=[raw], total_items=1, kind=getattr(row, "kind", None))


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(name: str) -> str:
    """``recordsInActive`` -> ``records_in_active``."""
    return _CAMEL.sub("_", name).replace("-", "_").replace(" ", "_").lower()


def extra_fields(raw: bytes, model: type[Any]) -> dict[str, Any]:
    """Scalar fields of a raw row that ``model`` does not know, snake_cased: a statistic
    the vendor adds later is passed through, never dropped."""
    known = {fold_key(f.encode_name) for f in msgspec.structs.fields(model)}
    try:
        obj = decode_json(raw)
    except SkippableError:
        return {}
    if not isinstance(obj, dict):
        return {}
    return {
        snake(k): v
        for k, v in obj.items()
        if fold_key(k) not in known and (v is None or isinstance(v, (str, int, float, bool)))
    }
