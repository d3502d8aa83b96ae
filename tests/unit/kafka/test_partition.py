"""The producer's partitioner remembers key hashes, and puts every key where aiokafka's
default partitioner does (a restore and compaction depend on keys staying put)."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from streamer.config.model import KafkaConfig
from streamer.kafka.partition import PARTITIONER, _hash
from streamer.kafka.publisher import producer_kwargs


def test_every_key_goes_where_the_default_partitioner_puts_it() -> None:
    default = DefaultPartitioner()
    keys = [f"vonage-{s:02d}/{a:04d}".encode() for s in range(3) for a in range(400)]
    keys += [b"", b"x", "sinch/agent-é".encode(), b"s|interaction/" + bytes(range(256))]
    for n in (1, 2, 3, 7, 12):
        parts = list(range(n))
        for key in keys:
            assert PARTITIONER(key, parts, parts) == default(key, parts, parts), (key, n)
            assert PARTITIONER(key, parts, parts) == default(key, parts, parts), (key, n)  # from the cache


def test_a_key_is_hashed_once() -> None:
    _hash.cache_clear()
    for _ in range(5):
        PARTITIONER(b"vonage-01/0042", [0, 1, 2], [0, 1, 2])
    assert _hash.cache_info().misses == 1 and _hash.cache_info().hits == 4


def test_no_key_goes_to_an_available_partition() -> None:
    assert PARTITIONER(None, [0, 1, 2], [2]) == 2


def test_the_daemon_s_producer_uses_it() -> None:
    assert producer_kwargs(KafkaConfig())["partitioner"] is PARTITIONER
