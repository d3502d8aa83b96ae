"""aiokafka producer behind one small seam: send a batch, get its acks or a KafkaUnavailableError."""

from __future__ import annotations

import asyncio
from typing import Sequence

import msgspec
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from ..config import KafkaConfig
from ..emit import OutRecord
from .connection import client_kwargs
from ..errors import FatalError, KafkaUnavailableError

__all__ = ["Ack", "Publisher", "topic_names"]

_TOPIC_EXISTS = 36
_PARTITIONER = DefaultPartitioner()


class Ack(msgspec.Struct, frozen=True):
    topic: str
    partition: int
    offset: int


def topic_names(prefix: str) -> tuple[list[str], list[str]]:
    """(append-only topics, compacted topics) of the contract under ``prefix``."""
    plain = [f"{prefix}.{n}" for n in ("agent", "interaction", "stats", "source", "deadletter")]
    compacted = [f"{prefix}.{n}" for n in ("agent.current", "streamer.checkpoints", "streamer.state")]
    return plain, compacted


class Publisher:
    """Sends records with ``acks=all`` and returns their offsets; translates aiokafka errors.

    Unstarted or stopped publishers fail loudly instead of silently dropping records.
    """

    def __init__(self, cfg: KafkaConfig, *, log: structlog.stdlib.BoundLogger | None = None) -> None:
        self._cfg = cfg
        self._log = log or structlog.get_logger("streamer.kafka")
        self._producer: AIOKafkaProducer | None = None
        self._submitting = asyncio.Lock()
        """One send queues its batches at a time: aiokafka's add_batch waits for the
        partition's previous batch to drain and, with several waiters on one partition,
        gives up long before its timeout (it subtracts the total wait on every loop)."""
        self._topic_partitions: dict[str, list[int]] = {}
        self._partitions: dict[tuple[str, bytes], int] = {}
        self.reachable = False
        """Whether the last start or send reached the broker (for /readyz)."""

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            **client_kwargs(self._cfg),
            acks="all",
            enable_idempotence=False,  # the embedded broker rejects InitProducerId; see DESIGN.md rule 4
            linger_ms=self._cfg.linger_ms,
            compression_type=None if self._cfg.compression == "none" else self._cfg.compression,
            request_timeout_ms=int(self._cfg.request_timeout * 1000),
            max_request_size=8 * 1024 * 1024,
        )
        try:
            await producer.start()
        except (KafkaError, OSError) as e:
            await producer.stop()
            raise KafkaUnavailableError(f"kafka: cannot connect to {self._cfg.bootstrap_servers}: {e}") from None
        self._producer = producer
        self._topic_partitions, self._partitions = {}, {}
        self.reachable = True

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await producer.stop()
            except (KafkaError, OSError) as e:  # pragma: no cover - best effort on shutdown
                self._log.warning("kafka producer stop failed", error=str(e))

    async def ensure_topics(self) -> None:
        """Create the contract's topics if missing (compacted ones with cleanup.policy=compact)."""
        plain, compacted = topic_names(self._cfg.topic_prefix)
        admin = AIOKafkaAdminClient(**client_kwargs(self._cfg, suffix="-admin"))
        try:
            await admin.start()
            new = [NewTopic(t, self._cfg.partitions, self._cfg.replication_factor) for t in plain]
            new += [
                NewTopic(t, 1 if "streamer." in t else self._cfg.partitions, self._cfg.replication_factor,
                         topic_configs={"cleanup.policy": "compact"})
                for t in compacted
            ]
            resp = await admin.create_topics(new)
            for topic, code, message in resp.topic_errors:
                if code not in (0, _TOPIC_EXISTS):
                    raise FatalError(f"kafka: cannot create topic {topic}: error {code} {message}")
        except KafkaError as e:
            raise KafkaUnavailableError(f"kafka: cannot create topics: {e}") from None
        finally:
            await admin.close()

    async def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        """Send ``records`` (in order per partition) and wait until every one is acked by all
        in-sync replicas.

        Records are packed into one batch per partition (and more only when a batch is full)
        with aiokafka's batch API: the per-record ``send`` path costs more CPU than building
        the events did (the latency benchmark's profile).
        """
        producer = self._producer
        if producer is None:
            raise RuntimeError("Publisher.send() before start() or after stop()")
        if not records:
            return []
        self.reachable = False
        try:
            async with self._submitting:
                pending = await self._submit(producer, records)
            metas = await asyncio.gather(*(fut for fut, _ in pending), return_exceptions=True)
        except (KafkaError, OSError) as e:
            raise KafkaUnavailableError(f"kafka: publish failed: {type(e).__name__}: {e}") from None
        acks: list[Ack | None] = [None] * len(records)
        for (_, members), meta in zip(pending, metas):
            if isinstance(meta, BaseException):
                raise KafkaUnavailableError(f"kafka: publish failed: {type(meta).__name__}: {meta}") from None
            for i, index in enumerate(members):
                acks[index] = Ack(meta.topic, meta.partition, meta.offset + i)
        self.reachable = True
        return acks  # type: ignore[return-value]  # every index is in exactly one batch

    async def _submit(self, producer: AIOKafkaProducer, records: Sequence[OutRecord]) -> list[tuple[asyncio.Future, list[int]]]:
        """Queue ``records`` as batches; each future resolves to its batch's base offset."""
        by_partition: dict[tuple[str, int], list[int]] = {}
        for index, r in enumerate(records):
            by_partition.setdefault((r.topic, await self._partition(producer, r.topic, r.key)), []).append(index)
        pending: list[tuple[asyncio.Future, list[int]]] = []
        try:
            for (topic, partition), indexes in by_partition.items():
                batch, members = producer.create_batch(), []
                for index in indexes:
                    r = records[index]
                    if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:
                        # full: send it and start the next (a batch's first record always fits)
                        pending.append((await producer.send_batch(batch, topic, partition=partition), members))
                        batch, members = producer.create_batch(), []
                        batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)
                    members.append(index)
                pending.append((await producer.send_batch(batch, topic, partition=partition), members))
        except BaseException:
            await asyncio.gather(*(fut for fut, _ in pending), return_exceptions=True)
            raise
        return pending

    async def _partition(self, producer: AIOKafkaProducer, topic: str, key: bytes | None) -> int:
        """The default partitioner's choice (murmur2 of the key), remembered per key."""
        if key is None:
            return _PARTITIONER(None, sorted(await producer.partitions_for(topic)), [])
        cached = self._partitions.get((topic, key))
        if cached is not None:
            return cached
        parts = self._topic_partitions.get(topic)
        if parts is None:
            parts = self._topic_partitions[topic] = sorted(await producer.partitions_for(topic))
        if len(self._partitions) >= 200_000:
            self._partitions.clear()
        chosen = self._partitions[(topic, key)] = _PARTITIONER(key, parts, parts)
        return chosen
