"""Reading a past range of a source's history endpoints: the one code path that
``streamer backfill`` (which publishes what it reads) and ``streamer verify`` (which
only compares it with Kafka) share.

A range is read in chunks (1/20 of it, at most an hour, at least a lookback; never longer
than the vendors' 31-day window) through the endpoints' own ``poll``, so the client,
paging, tolerant decoding and trackers are the daemon's. Only drafts whose vendor time is
inside ``[start, end)`` are kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from streamer.config.model import SourceConfig, StreamerConfig
from streamer.engine.source import Endpoint, PollResult, Source
from streamer.errors import ConfigError
from streamer.track.window import MAX_WINDOW_MS
from streamer.vendors import registry

__all__ = ["CHUNK_MAX_MS", "RangeSource", "open_range", "chunk_ms", "read_range", "progress_bar"]

CHUNK_MAX_MS = 3_600_000


@dataclass
class RangeSource:
    """A configured source built for reading a range: its endpoints, the selected ones."""

    cfg: SourceConfig
    source: Source
    endpoints: list[Endpoint]
    """The selected endpoints (``--endpoint``; all by default), history or not."""

    @property
    def history(self) -> list[Endpoint]:
        """The selected endpoints that have a history to read."""
        return [ep for ep in self.endpoints if ep.history]

    async def aclose(self) -> None:
        await self.source.aclose()


def open_range(
    cfg: StreamerConfig, source_id: str, start: datetime, end: datetime, endpoints: list[str] | None = None,
) -> RangeSource:
    """Build ``source_id`` from the config for reading ``[start, end)``; errors name the bad argument."""
    src = next((s for s in cfg.sources if s.id == source_id), None)
    if src is None:
        known = ", ".join(s.id for s in cfg.sources) or "none"
        raise ConfigError(f"--source: no source {source_id!r} in the config (sources: {known})")
    if end <= start:
        raise ConfigError("--to: must be after --from")
    spec = registry.get(src.vendor)
    assert spec is not None, src.vendor  # checked by config validation
    source = spec.build(src)
    names = [ep.name for ep in source.endpoints]
    unknown = [e for e in endpoints or [] if e not in names]
    if unknown:
        raise ConfigError(f"--endpoint: {', '.join(unknown)} is not an enabled endpoint of {source_id} "
                          f"(its endpoints: {', '.join(names)})")
    selected = [ep for ep in source.endpoints if not endpoints or ep.name in endpoints]
    return RangeSource(cfg=src, source=source, endpoints=selected)


def chunk_ms(range_ms: int, lookback_ms: int) -> int:
    """How much of a range one read covers: a twentieth (progress shows, memory stays
    bounded: one chunk is one batch), at least a lookback, at most an hour and the
    vendors' 31-day window."""
    return min(MAX_WINDOW_MS, CHUNK_MAX_MS, max(lookback_ms + 1000, range_ms // 20))


async def read_range(
    ep: Endpoint, cfg: SourceConfig, start_ms: int, end_ms: int, *, resume_ms: int | None = None,
) -> AsyncIterator[tuple[PollResult, int]]:
    """Read ``[start_ms, end_ms)`` of a history endpoint (from ``resume_ms`` when part of it
    is done); yield each result, its drafts kept to the range and no watermark (a past
    range says nothing about "now"), with how far the range is read after it."""
    lookback, lag = int(cfg.lookback * 1000), int(cfg.safety_lag * 1000)
    done_to = max(start_ms, resume_ms if resume_ms is not None else start_ms)
    chunk = chunk_ms(end_ms - start_ms, lookback)
    while done_to < end_ms:
        chunk_end = min(end_ms, done_to + chunk)
        # The endpoint reads [cursor - lookback, now - lag): aim it at the chunk (at least
        # one lookback long), and keep only what started inside the range.
        read_end = max(chunk_end, done_to + lookback + 1)
        if chunk_end >= end_ms:
            # Read a lookback past the end: a row the vendor writes late (include=Processed
            # windows are processing time) belongs to the range by its own time.
            read_end = max(read_end, end_ms + lookback)
        async for result in ep.poll(done_to + lookback, read_end + lag):
            result.drafts = [d for d in result.drafts if start_ms <= d.at_ms < end_ms]
            result.complete_up_to_ms = None
            done_to = max(done_to, min(result.cursor_ms or chunk_end, chunk_end))
            yield result, min(done_to, end_ms)
        done_to = max(done_to, chunk_end)


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[#####-----]  50%``."""
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + f"] {100 * done // max(total, 1):3d}%"
