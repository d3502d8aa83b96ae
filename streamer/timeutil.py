"""Tolerant vendor timestamp parsing and canonical UTC formatting.

Vendors send ``2019-12-19T15:47:07.077Z``, ``2019-12-03 07:19:59.127`` (no ``T``,
no zone: UTC unless a time zone was requested) or offsets like ``+01:00``. All
become aware UTC datetimes; output is always RFC 3339 with milliseconds and ``Z``.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta, timezone

__all__ = ["parse_ts", "format_ts", "format_ms", "to_ms", "from_ms", "UTC"]


def parse_ts(value: str | datetime, *, default_tz: timezone = UTC) -> datetime:
    """Parse a vendor timestamp; a value without zone is taken to be in ``default_tz``."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        if not text:
            raise ValueError("empty timestamp")
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        if len(text) > 10 and text[10] == " ":
            text = text[:10] + "T" + text[11:]
        dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return dt.astimezone(UTC)


def format_ts(dt: datetime) -> str:
    """RFC 3339, UTC, millisecond precision: ``2019-12-19T15:47:07.077Z``."""
    if dt.tzinfo is not None:
        ms = to_ms(dt)
        if 0 <= ms < _YEAR_10000_MS:
            return format_ms(ms)  # every draft's transition id formats one: strftime is slow
    return _format_slow(dt)


def _format_slow(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch (exact: float seconds lose a millisecond after 2100)."""
    return (dt - _EPOCH) // _ONE_MS


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_YEAR_10000_MS = 253_402_300_800_000


@functools.lru_cache(maxsize=4096)
def _second_prefix(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))


_MILLI_SUFFIX = tuple(f"{m:03d}Z" for m in range(1000))
_FORMATTED: dict[int, str] = {}
FORMATTED_KEPT = 4096
"""format_ms remembers this many recent results: an event formats its vendor time twice
(payload and envelope) and the observed time is the same for a whole poll."""


def format_ms(ms: int) -> str:
    """``format_ts(from_ms(ms))`` without building a datetime (the hot path of emitting)."""
    text = _FORMATTED.get(ms)
    if text is None:
        seconds, milli = divmod(ms, 1000)
        text = _second_prefix(seconds) + _MILLI_SUFFIX[milli]
        if len(_FORMATTED) >= FORMATTED_KEPT:
            _FORMATTED.clear()
        _FORMATTED[ms] = text
    return text
