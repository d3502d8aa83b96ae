"""``streamer check-config --connect``: reach the broker and poll each endpoint once."""

from __future__ import annotations

import time

from streamer.config.model import StreamerConfig
from streamer.errors import StreamerError
from streamer.kafka.checkpoint import partitions
from streamer.kafka.publisher import Publisher
from streamer.vendors import registry

__all__ = ["check_connectivity"]


async def check_connectivity(cfg: StreamerConfig, out: list[str]) -> bool:
    """Append one line per check to ``out``; True when everything answered."""
    ok = True
    publisher = Publisher(cfg.kafka)
    try:
        await publisher.start()
        names = [f"{cfg.kafka.topic_prefix}.{t}" for t in ("agent", "streamer.checkpoints")]
        try:
            await partitions(cfg.kafka, names)
            out.append(f"kafka {cfg.kafka.bootstrap_servers}: OK")
        except StreamerError:
            out.append(f"kafka {cfg.kafka.bootstrap_servers}: OK (reachable; topics not created yet)")
    except StreamerError as e:
        ok = False
        out.append(f"kafka {cfg.kafka.bootstrap_servers}: FAILED: {e}")
    finally:
        await publisher.stop()
    now_ms = int(time.time() * 1000)
    for src in cfg.sources:
        spec = registry.get(src.vendor)
        assert spec is not None
        source = spec.build(src)
        try:
            for ep in source.endpoints:
                try:
                    rows = 0
                    async for result in ep.poll(None, now_ms):
                        rows += len(result.drafts)
                    out.append(f"{src.id}/{ep.name}: OK ({rows} transitions seen)")
                except StreamerError as e:
                    ok = False
                    out.append(f"{src.id}/{ep.name}: FAILED: {e}")
        finally:
            await source.aclose()
    return ok
