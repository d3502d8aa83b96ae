"""Tolerant decoding of vendor JSON, shared by every vendor's models.

Strict msgspec first (fast); when that fails, a schema-directed normalization
(key case and separators folded, ``agentid`` -> ``agentId``; timestamps with or
without ``T``/zone; numbers as strings and strings as numbers) and
``msgspec.convert(strict=False)``. A record that still cannot be read raises
:class:`SkippableError`; in a page it becomes a :class:`BadRecord` with its raw bytes.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, TypeVar, overload

import msgspec
import msgspec.inspect as mi

from streamer.errors import SkippableError
from streamer.http.jsonrepair import repair_json, repair_refused
from streamer.timeutil import UTC, parse_ts

__all__ = [
    "BadRecord", "CamelModel", "UtcDateTime", "as_utc",
    "decode_json", "decode_record", "decode_items", "decode_documented_items", "decode_body", "field_ci",
    "fold_key", "snippet",
]

T = TypeVar("T")


UtcDateTime = Annotated[datetime, msgspec.Meta(tz=True)]
"""An aware timestamp; naive ones fail the fast path and are read as UTC by ``parse_ts``."""


def as_utc(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is UTC:
        return dt
    return dt.astimezone(UTC)


class CamelModel(msgspec.Struct, rename="camel", forbid_unknown_fields=True, gc=False):
    """Base of vendor records: camelCase on the wire; an unknown field sends the record to
    the tolerant path, so a drifted spelling (``agentid``) is normalized, not dropped."""


class BadRecord(msgspec.Struct, frozen=True, gc=False):
    """An item that could not be decoded: its raw bytes and why."""

    raw: bytes
    reason: str


FOLDED_KEPT = 4096


@functools.lru_cache(maxsize=FOLDED_KEPT)
def fold_key(name: str) -> str:
    """Field names compared without case, ``_``, ``-`` or spaces."""
    # Remembered: the names folded are few (field names, event types, properties) and
    # folded again for every row (a Vonage interaction folds about 50).
    return name.replace("_", "").replace("-", "").replace(" ", "").lower()


_TYPE_INFO: dict[Any, mi.Type] = {}


def _type_info(model: Any) -> mi.Type:
    info = _TYPE_INFO.get(model)
    if info is None:
        info = _TYPE_INFO[model] = mi.type_info(model)
    return info


def _normalize(value: Any, t: mi.Type) -> Any:
    """Reshape decoded JSON towards type ``t``: key case, timestamps, scalar kinds."""
    if value is None:
        return None
    if isinstance(t, mi.UnionType):
        options = [x for x in t.types if not isinstance(x, mi.NoneType)]
        if len(options) == 1:
            return _normalize(value, options[0])
        return value
    if isinstance(t, mi.StructType) and isinstance(value, dict):
        return _normalize_struct(value, t)
    if isinstance(t, mi.ListType) and isinstance(value, list):
        return [_normalize(v, t.item_type) for v in value]
    if isinstance(t, mi.DateTimeType) and isinstance(value, str):
        try:
            return parse_ts(value)
        except ValueError:
            return value  # convert() reports it with its path
    if isinstance(t, mi.StrType) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(t, mi.IntType) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(t, mi.IntType) and isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return value
        return int(number) if number.is_integer() else value
    if isinstance(t, mi.BoolType) and isinstance(value, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(value.strip().lower(), value)
    return value


def _normalize_struct(value: dict[str, Any], t: mi.StructType) -> dict[str, Any]:
    by_key = {fold_key(f.encode_name): f for f in t.fields}
    out: dict[str, Any] = {}
    for name, item in value.items():
        f = by_key.get(fold_key(name))
        if f is None:
            continue  # unknown field: ignored
        if f.encode_name in out and out[f.encode_name] is not None and name != f.encode_name:
            continue  # the exact spelling, or the first non-null, wins
        out[f.encode_name] = _normalize(item, f.type)
    return out


_UNREADABLE = (UnicodeDecodeError, RecursionError)
"""What older msgspec raises beyond DecodeError: invalid UTF-8 inside a string, deep nesting.
Newer msgspec (0.23) reports invalid UTF-8 as a DecodeError instead; :func:`decode_json`
treats both the same, so no caller depends on the library version."""


def _unreadable(exc: BaseException) -> SkippableError:
    if isinstance(exc, RecursionError):
        return SkippableError("JSON is nested too deeply to read")
    if isinstance(exc, UnicodeDecodeError) or "UTF-8" in str(exc):
        return SkippableError(f"JSON is not valid UTF-8: {exc}")
    return SkippableError(f"not valid JSON: {exc}")


@overload
def decode_json(raw: bytes | msgspec.Raw, typ: type[T], *, strict: bool = True) -> T: ...
@overload
def decode_json(raw: bytes | msgspec.Raw, typ: Any = Any, *, strict: bool = True) -> Any: ...
def decode_json(raw: bytes | msgspec.Raw, typ: Any = Any, *, strict: bool = True) -> Any:
    """``msgspec.json.decode`` with one error contract, whatever the msgspec version.

    A value of the wrong shape raises ``msgspec.ValidationError``; anything unreadable
    (a syntax error, invalid UTF-8, nesting too deep) raises :class:`SkippableError`.
    """
    try:
        return msgspec.json.decode(raw, type=typ, strict=strict)
    except msgspec.ValidationError:
        raise
    except (msgspec.DecodeError, *_UNREADABLE) as exc:
        raise _unreadable(exc) from None


def decode_record(raw: bytes | msgspec.Raw, model: type[T]) -> T:
    """Decode one JSON record into ``model``, tolerating vendor drift.

    Raises :class:`SkippableError` with the reason when the record cannot be read.
    """
    try:
        return decode_json(raw, model)
    except msgspec.ValidationError:
        pass  # drifted: normalize the generic value below
    except SkippableError as exc:
        raise SkippableError(f"record is {exc}" if str(exc).startswith("not ") else f"record: {exc}") from None
    try:
        generic = decode_json(raw)
    except SkippableError as exc:
        raise SkippableError(f"record: {exc}") from None
    if not isinstance(generic, dict):
        raise SkippableError(f"record is not a JSON object but {type(generic).__name__}")
    try:
        return msgspec.convert(_normalize(generic, _type_info(model)), model, strict=False)
    except msgspec.ValidationError as exc:
        raise SkippableError(f"{model.__name__}: {exc}") from None


def field_ci(top: dict[str, msgspec.Raw], name: str) -> msgspec.Raw | None:
    if name in top:
        return top[name]
    wanted = fold_key(name)
    return next((v for k, v in top.items() if fold_key(k) == wanted), None)


def snippet(body: bytes) -> str:
    return body[:80].decode("utf-8", errors="replace").replace("\n", " ")


def decode_body(body: bytes) -> dict[str, msgspec.Raw]:
    """Strict first; on a syntax error, retry once after the documented repairs (only
    for a body within :data:`~streamer.http.jsonrepair.MAX_REPAIR_BYTES`).

    Raises ``msgspec.ValidationError`` when the body is JSON but not an object, and
    :class:`SkippableError` when it cannot be read even after the repairs.
    """
    try:
        return msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    except msgspec.ValidationError:
        raise
    except (msgspec.DecodeError, *_UNREADABLE) as exc:
        refused = repair_refused(body)
        if refused is not None:
            raise SkippableError(f"{_unreadable(exc)}; {refused}") from None
        repaired, applied = repair_json(body)
        if not applied:
            raise _unreadable(exc) from None
    return decode_json(repaired, dict[str, msgspec.Raw])


def decode_items(raws: list[msgspec.Raw], model: type[T]) -> list[T | BadRecord]:
    """Decode each raw item on its own: one bad record never costs the others."""
    out: list[T | BadRecord] = []
    for raw in raws:
        try:
            out.append(decode_record(raw, model))
        except SkippableError as exc:
            out.append(BadRecord(raw=bytes(raw), reason=str(exc)))
    return out


def decode_documented_items(raws: list[msgspec.Raw], model: type[T]) -> list[T | BadRecord] | None:
    """:func:`decode_items` of items that are all as documented, in one msgspec call (see
    :mod:`streamer.http.offload`); None when one is not, and :func:`decode_items` then
    tells each item's fate. Where both read, they read the same: the same strict decode."""
    if not raws:
        return []
    try:
        decoder = _ITEMS_DECODERS.get(model)
        if decoder is None:
            decoder = _ITEMS_DECODERS[model] = msgspec.json.Decoder(list[model])  # type: ignore[valid-type]
        items: list[T | BadRecord] = decoder.decode(b"[" + b",".join(raws) + b"]")
    except (msgspec.DecodeError, *_UNREADABLE):  # a ValidationError is a DecodeError too
        return None
    return items


_ITEMS_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}
