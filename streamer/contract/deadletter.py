"""The value of the dead-letter topic: a record a source could not process."""

from __future__ import annotations

import msgspec

__all__ = ["DeadLetter"]


class DeadLetter(msgspec.Struct, kw_only=True):
    """Value of the dead-letter topic. ``raw`` is base64 in JSON."""

    id: str
    source_id: str
    endpoint: str
    reason: str
    raw: bytes
    raw_size: int
    """Size of the unreadable input; ``raw`` holds its first bytes, as many as fit (at most MAX_DEAD_LETTER_RAW)."""
    observedtime: str
