"""Tolerant vendor timestamp parsing and canonical UTC formatting.

Vendors send ``2019-12-19T15:47:07.077Z``, ``2019-12-03 07:19:59.127`` (no ``T``,
no zone: UTC unless a time zone was requested) or offsets like ``+01:00``. All
become aware UTC datetimes; output is always RFC 3339 with milliseconds and ``Z``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["parse_ts", "format_ts", "to_ms", "from_ms", "UTC"]

UTC = timezone.utc


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
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch."""
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
