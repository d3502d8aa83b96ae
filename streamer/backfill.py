"""``streamer backfill``: publish a past range from a source's history endpoints.

The range is read in chunks (1/20 of it, at most an hour; the vendors allow 31 days)
through the same pipeline as the
daemon (ledger, acks, state, checkpoint), under its own checkpoint key
``<source>~backfill~<from>-<to>``: re-running the same command resumes after the last
completed window. Events keep the ids the daemon would give them (consumers can
de-duplicate by id) and say ``backfill: true``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TextIO

from .config import StreamerConfig
from .errors import ConfigError
from .kafka.checkpoint import StateStore
from .kafka.publisher import Publisher
from .runtime import SourceRunner, _as_fill
from .timeutil import format_ts, from_ms, to_ms
from .track.window import MAX_WINDOW_MS
from .vendors import registry

__all__ = ["backfill", "parse_when", "CHUNK_MAX_MS"]

CHUNK_MAX_MS = 3_600_000


def _bar(done: int, total: int, width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + f"] {100 * done // max(total, 1):3d}%"


async def backfill(
    cfg: StreamerConfig, source_id: str, start: datetime, end: datetime, *,
    endpoints: list[str] | None = None, out: TextIO = sys.stderr,
) -> int:
    """Publish [start, end) of the source's history endpoints; returns events published."""
    src = next((s for s in cfg.sources if s.id == source_id), None)
    if src is None:
        raise ConfigError(f"--source: no source {source_id!r} in the config")
    if end <= start:
        raise ConfigError("--to: must be after --from")
    spec = registry.get(src.vendor)
    assert spec is not None
    source = spec.build(src)
    history = [ep for ep in source.endpoints if ep.history and (not endpoints or ep.name in endpoints)]
    if not history:
        await source.aclose()
        raise ConfigError(f"--source: {source_id} has no history endpoint to backfill"
                          + (f" among {endpoints}" if endpoints else ""))
    start_ms, end_ms = to_ms(start), to_ms(end)
    key = f"{source_id}~backfill~{start_ms}-{end_ms}"
    publisher, store = Publisher(cfg.kafka), StateStore(cfg.kafka)
    runner = SourceRunner(src, cfg, publisher, store, source=source, state_key=key)
    lookback, lag = int(src.lookback * 1000), int(src.safety_lag * 1000)
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
            # Small chunks bound memory (one chunk is one batch) and make progress visible;
            # never longer than the vendors' 31-day window.
            chunk = min(MAX_WINDOW_MS, CHUNK_MAX_MS, max(lookback + 1000, (end_ms - start_ms) // 20))
            while done_to < end_ms:
                chunk_end = min(end_ms, done_to + chunk)
                # The endpoint reads [cursor - lookback, now - lag): aim it at the chunk (at
                # least one lookback long), and keep only what started inside the range.
                read_end = max(chunk_end, done_to + lookback + 1)
                async for result in ep.poll(done_to + lookback, read_end + lag):
                    result.drafts = [_as_fill(d, "backfill") for d in result.drafts if start_ms <= d.at_ms < end_ms]
                    result.complete_up_to_ms = None  # a backfill says nothing about "now"
                    before = runner.published
                    await runner._commit(ep, result)  # noqa: SLF001
                    done_to = max(done_to, min(result.cursor_ms or chunk_end, chunk_end))
                    out.write(f"\r{ep.name} {_bar(done_to - start_ms, end_ms - start_ms)} "
                              f"up to {format_ts(from_ms(min(done_to, end_ms)))} "
                              f"(+{runner.published - before} events)   ")
                    out.flush()
                done_to = max(done_to, chunk_end)
            out.write("\n")
    finally:
        await publisher.stop()
        await source.aclose()
    out.write(f"backfill of {source_id} {format_ts(start)}..{format_ts(end)}: {runner.published} events published\n")
    return runner.published


def parse_when(text: str) -> datetime:
    """A CLI timestamp (RFC 3339; no zone = UTC)."""
    from .timeutil import parse_ts

    try:
        return parse_ts(text)
    except ValueError:
        raise ConfigError(f"expected a timestamp like 2026-11-21T08:00:00Z, got {text!r}") from None

