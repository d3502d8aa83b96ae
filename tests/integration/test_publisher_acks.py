"""Every ack of the publisher names the offset of its own record, in order per key, whatever
the batch and record sizes, also with many sources sending to one partition at once."""

from __future__ import annotations

import anyio
import pytest

from streamer.engine.emit import OutRecord
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.checkpoint import partitions, read_to_end
from streamer.kafka.publisher import Ack, Publisher
from tests.integration.harness import embedded_kafka, unique_prefix

pytestmark = pytest.mark.integration


def test_each_ack_names_its_own_record(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    cfg = embedded_kafka(broker.bootstrap, topic_prefix=prefix, partitions=3)
    topic = f"{prefix}.agent"
    records = [OutRecord(topic, f"k{i % 7}".encode(), f"v{i}".encode() * (1 + i % 50), [("n", str(i).encode())])
               for i in range(400)]
    records.insert(123, OutRecord(topic, b"k3", b"x" * 50_000, [("n", b"big")]))  # larger than a batch

    async def go() -> tuple[list[Ack], list[Ack], list]:
        pub = Publisher(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            first = await pub.send(records)
            again = await pub.send(records[:5])
        finally:
            await pub.stop()
        stored, _ = await read_to_end(cfg, {tp: 0 for tp in await partitions(cfg, [topic])})
        return first, again, stored

    acks, again, stored = anyio.run(go)
    by_position = {(r.partition, r.offset): r for r in stored}
    assert len(stored) == len(records) + 5
    for ack, sent in zip(acks, records):
        got = by_position[(ack.partition, ack.offset)]
        assert (got.key, got.value, ack.topic) == (sent.key, sent.value, topic)
    for key in {r.key for r in records}:  # one partition per key, offsets in send order
        mine = [a for a, r in zip(acks, records) if r.key == key]
        assert len({a.partition for a in mine}) == 1
        assert [a.offset for a in mine] == sorted(a.offset for a in mine)
    assert [a.partition for a in again] == [a.partition for a in acks[:5]]


def test_concurrent_sends_to_one_partition_are_all_acked(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    # a short timeout, as a busy daemon's waits add up to a long one
    cfg = embedded_kafka(broker.bootstrap, topic_prefix=prefix, partitions=1, request_timeout=1.0)

    async def go() -> list[list[Ack]]:
        pub = Publisher(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            results: list[list[Ack]] = []

            async def one(n: int) -> None:
                batch = [OutRecord(f"{prefix}.agent", b"k", f"{n}-{i}".encode() * 200, []) for i in range(40)]
                results.append(await pub.send(batch))

            async with anyio.create_task_group() as tg:
                for n in range(100):  # as many sources committing at once
                    tg.start_soon(one, n)
            return results
        finally:
            await pub.stop()

    results = anyio.run(go)
    offsets = [a.offset for acks in results for a in acks]
    assert len(results) == 100 and sorted(offsets) == list(range(4000))
