"""PartitionBatcher: concurrent sends share one batch per partition, in order, and every
send ends (acked or failed) whatever happens to its batches."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import RecordMetadata

from streamer.engine.emit import OutRecord
from streamer.kafka.batching import Ack, PartitionBatcher

PARTITIONS = 4


class Batch:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[OutRecord] = []

    def append(self, *, key: bytes, value: bytes | None, timestamp: None, headers: Any) -> SimpleNamespace | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append(OutRecord("?", key, value, headers))
        return SimpleNamespace(offset=len(self.records) - 1)


class Producer:
    """A partition's next batch is taken only once ``drain`` lets the previous one go, as
    aiokafka's ``send_batch`` waits; each batch is acked or failed when ``ack`` says."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.batches: list[tuple[str, int, Batch]] = []
        self.acks: list[asyncio.Future[Any]] = []
        self.drain = asyncio.Event()
        self.drain.set()
        self.next_offset: dict[tuple[str, int], int] = {}
        self.refuse: Exception | None = None
        self.waiting = 0

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> Batch:
        return Batch(self.capacity)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        self.waiting += 1
        await self.drain.wait()
        self.waiting -= 1
        if self.refuse is not None:
            raise self.refuse
        self.batches.append((topic, partition, batch))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        return fut

    def ack_all(self, error: Exception | None = None) -> None:
        for (topic, p, batch), fut in zip(self.batches, self.acks):
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
                continue
            base = self.next_offset.get((topic, p), 0)
            self.next_offset[(topic, p)] = base + len(batch.records)
            fut.set_result(RecordMetadata(topic, p, None, base, -1, None, None))  # type: ignore[arg-type]


def records(key: bytes, n: int, tag: str = "") -> list[OutRecord]:
    return [OutRecord("t", key, f"{tag}{i}".encode(), [("h", b"x")]) for i in range(n)]


async def until(condition: Any) -> None:
    """Let the other tasks run, one turn of the event loop at a time, until ``condition``."""
    loop = asyncio.get_running_loop()
    while not condition():
        turn = loop.create_future()
        loop.call_soon(turn.set_result, None)
        await turn


async def test_sends_waiting_for_a_partition_go_out_together_in_order() -> None:
    producer = Producer()
    batcher = PartitionBatcher(producer)
    producer.drain.clear()  # the partition's first batch has not left yet
    first = asyncio.create_task(batcher.send(records(b"k", 2, "a")))
    await until(lambda: producer.waiting == 1)
    later = [asyncio.create_task(batcher.send(records(b"k", 3, tag))) for tag in "bcd"]
    await until(lambda: batcher.queued() == 9)
    producer.drain.set()
    await until(lambda: len(producer.batches) == 2)
    producer.ack_all()
    results = await asyncio.gather(first, *later)
    assert [[r.value for r in b.records] for _, _, b in producer.batches] == [
        [b"a0", b"a1"], [b"b0", b"b1", b"b2", b"c0", b"c1", b"c2", b"d0", b"d1", b"d2"]]
    offsets = [a.offset for r in results for a in r if isinstance(a, Ack)]
    assert offsets == list(range(11))  # each record's own offset: the batch's base plus its place


async def test_records_go_to_the_default_partitioners_partition() -> None:
    producer = Producer()
    batcher = PartitionBatcher(producer)
    keys = [f"agent-{i}".encode() for i in range(40)]
    task = asyncio.create_task(batcher.send([OutRecord("t", k, b"v", []) for k in keys]))
    await until(lambda: sum(len(b.records) for _, _, b in producer.batches) == len(keys))
    producer.ack_all()
    acks = await task
    default = DefaultPartitioner()
    parts = list(range(PARTITIONS))
    assert [a.partition for a in acks if isinstance(a, Ack)] == [default(k, parts, parts) for k in keys]


async def test_a_full_batch_is_followed_by_another() -> None:
    producer = Producer(capacity=2)
    batcher = PartitionBatcher(producer)
    task = asyncio.create_task(batcher.send(records(b"k", 5)))
    await until(lambda: len(producer.batches) == 3)
    producer.ack_all()
    acks = await task
    assert [len(b.records) for _, _, b in producer.batches] == [2, 2, 1]
    assert [a.offset for a in acks if isinstance(a, Ack)] == [0, 1, 2, 3, 4]


async def test_a_failed_batch_fails_its_records_only() -> None:
    producer = Producer()
    batcher = PartitionBatcher(producer)
    parts, default = list(range(PARTITIONS)), DefaultPartitioner()
    key_a = b"agent-0"
    key_b = next(k for i in range(1, 50) if default(k := f"agent-{i}".encode(), parts, parts) != default(key_a, parts, parts))
    task = asyncio.create_task(batcher.send([*records(key_a, 2), *records(key_b, 2)]))
    await until(lambda: len(producer.batches) == 2)
    producer.acks[0].set_exception(KafkaTimeoutError("expired"))
    producer.ack_all()
    results = await task
    failed = [isinstance(r, KafkaTimeoutError) for r in results]
    assert failed in ([True, True, False, False], [False, False, True, True])


async def test_a_refused_batch_and_a_stop_end_every_send() -> None:
    producer = Producer(capacity=2)
    batcher = PartitionBatcher(producer)
    producer.refuse = KafkaTimeoutError("no room")
    (result,) = await batcher.send(records(b"k", 1))
    assert isinstance(result, KafkaTimeoutError)
    producer.refuse = None
    producer.drain.clear()  # stuck on the first of two batches: the stop must still end the send
    task = asyncio.create_task(batcher.send(records(b"k", 3)))
    await until(lambda: producer.waiting == 1)
    queued_later = asyncio.create_task(batcher.send(records(b"k", 1)))
    await until(lambda: batcher.queued() == 1)
    await batcher.close()
    assert isinstance((await asyncio.wait_for(queued_later, 5))[0], ConnectionError)
    results = await asyncio.wait_for(task, 5)
    assert all(isinstance(r, ConnectionError) for r in results)


async def test_a_record_the_batch_cannot_take_fails_without_hanging_its_send() -> None:
    producer = Producer()
    batcher = PartitionBatcher(producer)

    def broken() -> Batch:
        raise TypeError("bad header")

    producer.create_batch = broken  # type: ignore[method-assign]
    (result,) = await asyncio.wait_for(batcher.send(records(b"k", 1)), 5)
    assert isinstance(result, TypeError)


async def test_an_empty_send_needs_no_producer() -> None:
    assert await PartitionBatcher(Producer()).send([]) == []


@pytest.mark.parametrize("queued_first", [False, True])
async def test_a_cancelled_caller_leaves_the_others_acked(queued_first: bool) -> None:
    producer = Producer()
    batcher = PartitionBatcher(producer)
    producer.drain.clear()
    gone = asyncio.create_task(batcher.send(records(b"k", 2, "x")))
    stays = asyncio.create_task(batcher.send(records(b"k", 2, "y")))
    if queued_first:  # cancelled while its records wait in a batch; else before it ran at all
        await until(lambda: producer.waiting == 1)
    gone.cancel()
    producer.drain.set()
    await until(lambda: any(r.value == b"y1" for _, _, b in producer.batches for r in b.records))
    producer.ack_all()
    assert all(isinstance(a, Ack) for a in await stays)
    assert gone.cancelled()
