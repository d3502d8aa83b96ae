"""aiokafka's default partitioner with the key's hash remembered.

Keys repeat (an agent's key on every one of its events, its ``agent.current`` record and
its state), and aiokafka hashes each one in pure Python (murmur2, a few µs a key): a
profile of the default load found it among the producer's largest costs. The publisher's
batches (:mod:`streamer.kafka.batching`) place records with it; the producer is given it
too, so its own ``send()`` would place a record on the same partition. The partition is
exactly the default partitioner's, so keys stay on the partitions they always had (a
restore reads a source's output per partition; compaction keys a table by them).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence

from aiokafka.partitioner import murmur2

__all__ = ["CachedPartitioner", "KEY_HASHES", "PARTITIONER"]

KEY_HASHES = 65536
"""Hashes remembered (least recently used go first): every agent of a daemon's sources, and
then some; a key costs about 100 bytes."""


@functools.lru_cache(maxsize=KEY_HASHES)
def _hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class CachedPartitioner:
    """Drop-in for ``aiokafka.partitioner.DefaultPartitioner`` (the producer's ``partitioner``)."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[_hash(key) % len(all_partitions)]


PARTITIONER = CachedPartitioner()
"""The one the daemon uses (stateless: the cache is the module's)."""
