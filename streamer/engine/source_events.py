"""Drafts of the events a source publishes about itself (``cc.source.*``): health, gaps,
watermarks; and the ``fill`` mark of drafts that close a gap. Pure."""

from __future__ import annotations

from typing import Literal

import msgspec

from streamer.contract.events import SourceGap, SourceHealthChanged, SourceWatermark
from streamer.engine.emit import Draft
from streamer.timeutil import format_ts, from_ms

__all__ = ["Health", "as_fill", "gap_draft", "health_draft", "watermark_draft"]

Health = Literal["starting", "healthy", "degraded", "failing", "stopped"]


def as_fill(d: Draft, field: str = "fill") -> Draft:
    """Mark a draft as published by the history read that closes a gap (or a backfill)."""
    if field not in d.payload.__struct_fields__:
        return d
    return msgspec.structs.replace(d, payload=msgspec.structs.replace(d.payload, **{field: True}))


def health_draft(source_id: str, endpoint: str, status: Health, previous: str | None, reason: str | None,
                 at_ms: int) -> Draft:
    """``cc.source.health.changed``: ``endpoint`` went from ``previous`` to ``status``."""
    return Draft(
        type="cc.source.health.changed", entity_id=source_id, stream=f"health/{endpoint}",
        transition=f"{endpoint}:{status}", at_ms=at_ms, previous_field=None, endpoint=endpoint,
        payload=SourceHealthChanged(
            source_id=source_id, endpoint=endpoint, status=status, previous_status=previous, reason=reason,
        ),
    )


def gap_draft(source_id: str, endpoint: str, start_ms: int, end_ms: int, reason: str) -> Draft:
    """``cc.source.gap``: the endpoint could not be read from ``start_ms`` to ``end_ms``."""
    return Draft(
        type="cc.source.gap", entity_id=source_id, stream=f"gap/{endpoint}",
        transition=f"gap:{endpoint}:{start_ms}", at_ms=end_ms, previous_field=None, endpoint=endpoint,
        payload=SourceGap(
            source_id=source_id, endpoint=endpoint, from_=format_ts(from_ms(start_ms)),
            to=format_ts(from_ms(end_ms)), reason=reason,
        ),
    )


def watermark_draft(source_id: str, endpoint: str, up_to_ms: int) -> Draft:
    """``cc.source.watermark``: everything ``endpoint`` serves before ``up_to_ms`` is published."""
    return Draft(
        type="cc.source.watermark", entity_id=source_id, stream=f"watermark/{endpoint}",
        transition=f"watermark:{endpoint}", at_ms=up_to_ms, previous_field=None, endpoint=endpoint,
        payload=SourceWatermark(source_id=source_id, endpoint=endpoint, complete_up_to=format_ts(from_ms(up_to_ms))),
    )
