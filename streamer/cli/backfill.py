"""``streamer backfill``: publish a past range from a source's history endpoints.

The range is read as :mod:`streamer.engine.history` reads it (chunks of 1/20 of it, at most an
hour; the vendors allow 31 days) and published through the same pipeline as the
daemon (ledger, acks, state, checkpoint), under its own checkpoint key
``<source>~backfill~<from>-<to>``: re-running the same command resumes after the last
completed window. Events keep the ids the daemon would give them (consumers can
de-duplicate by id) and say ``backfill: true``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from streamer.config.model import StreamerConfig
from streamer.engine.history import CHUNK_MAX_MS, open_range, progress_bar, read_range
from streamer.engine.runner import SourceRunner
from streamer.engine.source_events import as_fill
from streamer.errors import ConfigError
from streamer.kafka.checkpoint import StateStore
from streamer.kafka.publisher import Publisher
from streamer.timeutil import format_ts, from_ms, to_ms

__all__ = ["backfill", "parse_when", "CHUNK_MAX_MS"]


async def backfill(
    cfg: StreamerConfig, source_id: str, start: datetime, end: datetime, *,
    endpoints: list[str] | None = None, out: TextIO = sys.stderr,
) -> int:
    """Publish [start, end) of the source's history endpoints; returns events published."""
    rs = open_range(cfg, source_id, start, end, endpoints)
    history = rs.history
    if not history:
        await rs.aclose()
        raise ConfigError(f"--source: {source_id} has no history endpoint to backfill"
                          + (f" among {endpoints}" if endpoints else ""))
    start_ms, end_ms = to_ms(start), to_ms(end)
    key = f"{source_id}~backfill~{start_ms}-{end_ms}"
    publisher, store = Publisher(cfg.kafka), StateStore(cfg.kafka)
    runner = SourceRunner(rs.cfg, cfg, publisher, store, source=rs.source, state_key=key)
    await publisher.start()
    try:
        await publisher.ensure_topics(min_retention_s=max(3600.0, cfg.state_retention))
        async with runner.lock:
            await runner._restore()  # noqa: SLF001 - the same restore as the daemon's
        for ep in history:
            done_to = max(start_ms, runner.checkpoint.cursors.get(ep.name, start_ms))
            if done_to >= end_ms:
                out.write(f"{ep.name}: already done\n")
                continue
            if done_to > start_ms:
                out.write(f"{ep.name}: resuming at {format_ts(from_ms(done_to))}\n")
            async for result, done_to in read_range(ep, rs.cfg, start_ms, end_ms, resume_ms=done_to):
                result.drafts = [as_fill(d, "backfill") for d in result.drafts]
                before = runner.published
                await runner._commit(ep, result)  # noqa: SLF001
                out.write(f"\r{ep.name} {progress_bar(done_to - start_ms, end_ms - start_ms)} "
                          f"up to {format_ts(from_ms(done_to))} "
                          f"(+{runner.published - before} events)   ")
                out.flush()
            out.write("\n")
    finally:
        await publisher.stop()
        await rs.aclose()
    out.write(f"backfill of {source_id} {format_ts(start)}..{format_ts(end)}: {runner.published} events published\n")
    return runner.published


def parse_when(text: str) -> datetime:
    """A CLI timestamp (RFC 3339; no zone = UTC)."""
    from streamer.timeutil import parse_ts

    try:
        return parse_ts(text)
    except ValueError:
        raise ConfigError(f"expected a timestamp like 2026-11-21T08:00:00Z, got {text!r}") from None

