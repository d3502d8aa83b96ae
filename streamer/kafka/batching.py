"""The records of concurrent sends, coalesced into one batch per partition (aiokafka's batch API).

Why not ``AIOKafkaProducer.send`` per record: it costs about 50 µs of CPU per record (a
future, a metadata check and the accumulator's bookkeeping for each one), over half of
the publish path's CPU; building the batches here costs well under half of that
(``make bench``, publish). Why one queue per partition rather than a batch per send:
aiokafka keeps one produce request in flight per broker, with at most one batch per
partition in it, and ``send_batch`` waits until the partition's previous batch has left.
So while a batch waits, the records that other sources send for the same partition
gather in its queue and go out together in the next one; one batch per send would put
the sources in line behind each other, one round trip each.

Order: records for one partition keep the order in which they were given, within a send
and across sends (each partition's queue is drained by one task, in order).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from streamer.engine.emit import OutRecord
from streamer.kafka.partition import PARTITIONER

__all__ = ["Ack", "PartitionBatcher", "BatchProducer"]


class Ack(msgspec.Struct, frozen=True, gc=False):
    topic: str
    partition: int
    offset: int


class BatchProducer(Protocol):
    """The part of ``AIOKafkaProducer`` the batcher uses."""

    async def partitions_for(self, topic: str) -> Any: ...

    def create_batch(self) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]: ...


TopicPartition = tuple[str, int]


class _Send:
    """One :meth:`PartitionBatcher.send` call: a result per record, done when all are in."""

    __slots__ = ("results", "left", "done")

    def __init__(self, n: int) -> None:
        self.results: list[Ack | BaseException | None] = [None] * n
        self.left = n
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def settle(self, index: int, result: Ack | BaseException) -> None:
        self.results[index] = result
        self.left -= 1
        if self.left == 0 and not self.done.done():  # done: the caller was cancelled
            self.done.set_result(None)


_Item = tuple[OutRecord, _Send, int]
"""A queued record: the record, its send, its index there."""
_Member = tuple[_Send, int, int]
"""A record in a batch: its send, its index there, its offset in the batch."""


class PartitionBatcher:
    """Sends records through per-partition queues; see the module's docstring."""

    def __init__(self, producer: BatchProducer) -> None:
        self._producer = producer
        self._queued: dict[TopicPartition, list[_Item]] = {}
        self._drains: dict[TopicPartition, asyncio.Task[None]] = {}

    async def send(self, records: Sequence[OutRecord]) -> list[Ack | BaseException]:
        """Queue ``records`` and wait until each one is acked or has failed: an
        :class:`Ack` or the exception, per record, in order. Raises (with nothing queued)
        only when a topic's partitions cannot be known."""
        if not records:
            return []
        partitions: dict[str, list[int]] = {}
        placed: list[TopicPartition] = []
        for r in records:
            ps = partitions.get(r.topic)
            if ps is None:
                ps = partitions[r.topic] = list(await self._producer.partitions_for(r.topic))
            placed.append((r.topic, PARTITIONER(r.key, ps, ps)))
        send = _Send(len(records))
        for i, (r, tp) in enumerate(zip(records, placed)):
            queue = self._queued.get(tp)
            if queue is None:
                queue = self._queued[tp] = []
            queue.append((r, send, i))
            if tp not in self._drains:
                self._drains[tp] = asyncio.create_task(self._drain(tp))
        await send.done
        return [r for r in send.results if r is not None]

    def queued(self) -> int:
        """Records waiting for their partition's next batch (not yet given to the producer)."""
        return sum(len(items) for items in self._queued.values())

    async def close(self) -> None:
        """Stop draining; what was not handed to the producer yet fails."""
        tasks = list(self._drains.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for items in self._queued.values():
            _fail_items(items, _stopped())
        self._queued.clear()

    async def _drain(self, tp: TopicPartition) -> None:
        topic, partition = tp
        try:
            while items := self._queued.pop(tp, None):
                try:
                    batches = self._batches(items)
                except Exception as e:  # a record the batch cannot take: fail it, never hang its send
                    _fail_items(items, e)
                    continue
                for n, (batch, members) in enumerate(batches):
                    try:
                        future = await self._producer.send_batch(batch, topic, partition=partition)
                    except Exception as e:  # a timeout waiting for room, a closed producer
                        _fail(members, e)
                        continue
                    except asyncio.CancelledError:
                        for _, left in batches[n:]:
                            _fail(left, _stopped())
                        raise
                    future.add_done_callback(functools.partial(_settle, topic, partition, members))
        finally:
            del self._drains[tp]

    def _batches(self, items: list[_Item]) -> list[tuple[Any, list[_Member]]]:
        """The items in as few batches as the producer's batch size allows, each with its
        members (send, index, offset in the batch)."""
        out: list[tuple[Any, list[_Member]]] = []
        batch, members = self._producer.create_batch(), list[_Member]()
        for r, send, i in items:
            meta = batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
            if meta is None:  # full (an empty batch always takes its first record)
                out.append((batch, members))
                batch, members = self._producer.create_batch(), []
                meta = batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
            members.append((send, i, meta.offset))
        out.append((batch, members))
        return out


def _stopped() -> ConnectionError:
    return ConnectionError("the publisher was stopped before this record was sent")


def _fail_items(items: list[_Item], error: BaseException) -> None:
    for _, send, i in items:
        send.settle(i, error)


def _fail(members: list[_Member], error: BaseException) -> None:
    for send, i, _ in members:
        send.settle(i, error)


def _settle(topic: str, partition: int, members: list[_Member], future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        _fail(members, ConnectionError("the batch was cancelled"))
        return
    error = future.exception()
    if error is not None:
        _fail(members, error)
        return
    base = future.result().offset
    for send, i, offset in members:
        send.settle(i, Ack(topic, partition, base + offset))
