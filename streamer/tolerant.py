"""Tolerant decoding of vendor JSON, shared by every vendor's models.

Strict msgspec first (fast); when that fails, a schema-directed normalization
(key case and separators folded, ``agentid`` -> ``agentId``; timestamps with or
without ``T``/zone; numbers as strings and strings as numbers) and
``msgspec.convert(strict=False)``. A record that still cannot be read raises
:class:`SkippableError`; in a page it becomes a :class:`BadRecord` with its raw bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

import msgspec
import msgspec.inspect as mi

from .errors import SkippableError
from .jsonrepair import repair_json
from .timeutil import UTC, parse_ts

__all__ = [
    "BadRecord", "CamelModel", "UtcDateTime", "as_utc",
    "decode_record", "decode_items", "decode_body", "field_ci", "fold_key", "snippet",
]

T = TypeVar("T")


UtcDateTime = Annotated[datetime, msgspec.Meta(tz=True)]
"""An aware timestamp; naive ones fail the fast path and are read as UTC by ``parse_ts``."""


def as_utc(dt: datetime | None) -> datetime | None:
    if dt is None or dt.tzinfo is UTC:
        return dt
    return dt.astimezone(UTC)


class CamelModel(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """Base of vendor records: camelCase on the wire; an unknown field sends the record to
    the tolerant path, so a drifted spelling (``agentid``) is normalized, not dropped."""


class BadRecord(msgspec.Struct, frozen=True):
    """An item that could not be decoded: its raw bytes and why."""

    raw: bytes
    reason: str


def fold_key(name: str) -> str:
    """Field names compared without case, ``_``, ``-`` or spaces."""
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
"""What msgspec raises beyond DecodeError: invalid UTF-8 inside a string, deep nesting."""


def _unreadable(exc: BaseException) -> SkippableError:
    if isinstance(exc, RecursionError):
        return SkippableError("JSON is nested too deeply to read")
    return SkippableError(f"JSON is not valid UTF-8: {exc}")


def decode_record(raw: bytes | msgspec.Raw, model: type[T]) -> T:
    """Decode one JSON record into ``model``, tolerating vendor drift.

    Raises :class:`SkippableError` with the reason when the record cannot be read.
    """
    try:
        return msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise SkippableError(f"record is not valid JSON: {exc}") from None
    except _UNREADABLE as exc:
        raise _unreadable(exc) from None
    try:
        generic = msgspec.json.decode(raw)
    except _UNREADABLE as exc:
        raise _unreadable(exc) from None
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
    """Strict first; on a syntax error, retry once after the documented repairs."""
    try:
        return msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    except msgspec.ValidationError:
        raise
    except _UNREADABLE as exc:
        raise _unreadable(exc) from None
    except msgspec.DecodeError:
        repaired, applied = repair_json(body)
        if not applied:
            raise
        try:
            return msgspec.json.decode(repaired, type=dict[str, msgspec.Raw])
        except _UNREADABLE as exc:
            raise _unreadable(exc) from None


def decode_items(raws: list[msgspec.Raw], model: type[T]) -> list[T | BadRecord]:
    """Decode each raw item on its own: one bad record never costs the others."""
    out: list[T | BadRecord] = []
    for raw in raws:
        try:
            out.append(decode_record(raw, model))
        except SkippableError as exc:
            out.append(BadRecord(raw=bytes(raw), reason=str(exc)))
    return out
