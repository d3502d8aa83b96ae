"""aiokafka producer behind one small seam: send a batch, get its acks, or an error that says
whether the broker is unavailable (retry) or refused the records (KafkaRejectedError)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    CorruptRecordException,
    InvalidRequiredAcksError,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    PolicyViolationError,
    RecordListTooLargeError,
    RecordTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedForMessageFormatError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from streamer.config.model import KafkaConfig
from streamer.engine.emit import OutRecord
from streamer.errors import FencedError, KafkaRejectedError, KafkaTlsError, KafkaUnavailableError
from streamer.kafka.batching import Ack, PartitionBatcher
from streamer.kafka.connection import client_kwargs, connect_failure
from streamer.kafka.partition import PARTITIONER
from streamer.kafka.topics import MIN_RETENTION_MS, ensure_topics

__all__ = ["Ack", "Publisher", "ProduceFenced", "gate_produce", "topic_names", "producer_kwargs", "record_size", "size_over", "kafka_error"]

REJECTED: tuple[type[KafkaError], ...] = (
    MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError, TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError, InvalidTopicError, InvalidRequiredAcksError, CorruptRecordException,
    InvalidTimestampError, UnsupportedForMessageFormatError, PolicyViolationError,
)
"""Errors the broker (or the client, for sizes) gives again on every retry: not "Kafka unavailable"."""


def record_size(r: OutRecord) -> int:
    """Bytes of ``r`` as a one-record batch before compression: what the client checks
    against ``max_request_size`` and, compressed, the broker against ``message.max.bytes``."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(r.key, r.value, r.headers))


def size_over(r: OutRecord, limit: int) -> int | None:
    """``r``'s :func:`record_size` if it is over ``limit``, else None (computed only near the limit)."""
    rough = len(r.key) + len(r.value or b"") + 100  # a one-record batch adds at most 100 bytes
    for k, v in r.headers:  # a loop: a generator under sum() cost twice as much, twice per record
        rough += 4 * len(k) + len(v) + 10  # UTF-8 takes at most 4 bytes a character
    if rough <= limit:
        return None
    size = record_size(r)
    return size if size > limit else None


def kafka_error(e: BaseException, what: str) -> KafkaRejectedError | KafkaUnavailableError:
    """An aiokafka (or socket) error as the error class the engine acts on."""
    if isinstance(e, REJECTED):
        return KafkaRejectedError(f"kafka rejected {what}: {type(e).__name__}: {e}")
    return KafkaUnavailableError(f"kafka: {what} failed: {type(e).__name__}: {e}")


class ProduceFenced(KafkaError):  # type: ignore[misc]  # aiokafka ships no types
    """A produce request held back on the wire because this daemon's lease ran out."""

    retriable = False


PRODUCE_API_KEY = 0


def gate_produce(producer: Any, may_write: Callable[[], bool]) -> None:
    """Check ``may_write`` right before each produce request goes on the wire.

    The last moment the daemon can still refuse: records queued in aiokafka before a
    freeze (SIGSTOP, a long pause) are otherwise sent when it thaws, whatever their age,
    after another daemon may have taken their source over."""
    client = producer.client
    send = client.send

    async def gated(node_id: Any, request: Any, **kwargs: Any) -> Any:
        if getattr(request, "API_KEY", None) == PRODUCE_API_KEY and not may_write():
            raise ProduceFenced("lease expired: not a member of the group")
        return await send(node_id, request, **kwargs)

    client.send = gated


def topic_names(prefix: str) -> tuple[list[str], list[str]]:
    """(append-only topics, compacted topics) of the contract under ``prefix``."""
    plain = [f"{prefix}.{n}" for n in ("agent", "interaction", "stats", "source", "deadletter")]
    compacted = [f"{prefix}.{n}" for n in ("agent.current", "streamer.checkpoints", "streamer.state")]
    return plain, compacted


def producer_kwargs(cfg: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments of the daemon's AIOKafkaProducer."""
    return {
        **client_kwargs(cfg),
        "acks": "all",
        # On by default; the embedded broker (Tansu) rejects InitProducerId, so its configs turn it off.
        "enable_idempotence": cfg.idempotence,
        "linger_ms": cfg.linger_ms,
        "compression_type": None if cfg.compression == "none" else cfg.compression,
        "request_timeout_ms": int(cfg.request_timeout * 1000),
        "max_request_size": cfg.max_record_bytes,
        # Batches are built by streamer/kafka/batching.py and take every record queued for
        # a partition: up to a record's own limit (the broker checks it compressed).
        "max_batch_size": cfg.max_record_bytes,
        "partitioner": PARTITIONER,
    }


class Publisher:
    """Sends records with ``acks=all`` and returns their offsets; translates aiokafka errors.

    Unstarted or stopped publishers fail loudly instead of silently dropping records.
    ``clock``/``sleep`` (monotonic seconds) and ``producer_factory`` are seams for tests.
    """

    def __init__(
        self,
        cfg: KafkaConfig,
        *,
        log: structlog.typing.FilteringBoundLogger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        producer_factory: Callable[..., Any] = AIOKafkaProducer,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self._cfg = cfg
        self._log = log or structlog.get_logger("streamer.kafka")
        self._clock, self._sleep, self._factory = clock, sleep, producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._batcher: PartitionBatcher | None = None
        self._gate = gate
        """When set, no produce request goes out while it says False (see :func:`gate_produce`)."""
        self._unsettled_until = 0.0
        self.reachable = False
        """Whether the last start or send reached the broker (for /readyz)."""

    @property
    def started(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        producer = self._factory(**producer_kwargs(self._cfg))
        try:
            await producer.start()
        except (KafkaError, OSError) as e:
            await producer.stop()
            err = await connect_failure(self._cfg, e)
            if self._cfg.idempotence and not isinstance(err, KafkaTlsError):
                err = KafkaUnavailableError(f"{err} (kafka.idempotence is on: a broker without InitProducerId fails here)")
            raise err from None
        if self._gate is not None:
            gate_produce(producer, self._gate)
        self._producer = producer
        self._batcher = PartitionBatcher(producer)
        self.reachable = True

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            if self._batcher is not None:
                batcher, self._batcher = self._batcher, None
                await batcher.close()
            try:
                await producer.stop()
            except (KafkaError, OSError) as e:  # pragma: no cover - best effort on shutdown
                self._log.warning("kafka producer stop failed", error=str(e))

    async def ensure_topics(self, *, min_retention_s: float = MIN_RETENTION_MS / 1000) -> None:
        """Describe the contract's topics, refuse wrong ones, create missing ones (see topics.py)."""
        await ensure_topics(self._cfg, min_retention_ms=int(min_retention_s * 1000), log=self._log)

    async def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        """Send ``records`` in order and wait until every one is acked by all in-sync replicas."""
        batcher = self._batcher
        if batcher is None:
            raise RuntimeError("Publisher.send() before start() or after stop()")
        if not records:
            return []
        for r in records:  # before anything goes out: a batch is sent whole or not at all
            size = size_over(r, self._cfg.max_record_bytes)
            if size is not None:
                raise KafkaRejectedError(
                    f"kafka: record for {r.topic} (key {r.key!r}) is {size} bytes, over "
                    f"kafka.max_record_bytes ({self._cfg.max_record_bytes})"
                )
        self.reachable = False
        try:
            results = await batcher.send(records)
        except (KafkaError, OSError) as e:  # a topic's partitions unknown: nothing was queued
            self._failed()
            raise kafka_error(e, f"publish to {records[0].topic}") from None
        failed = [(r, res) for r, res in zip(records, results) if isinstance(res, BaseException)]
        if failed:
            if not all(isinstance(res, ProduceFenced) for _, res in failed):
                self._failed()  # a fenced request never went out: nothing to wait for
            r, res = failed[0]
            if isinstance(res, ProduceFenced):
                raise FencedError(f"kafka: publish to {r.topic} held back: {res}") from None
            raise kafka_error(res, f"publish to {r.topic} (key {r.key!r})") from None
        self.reachable = True
        return [a for a in results if isinstance(a, Ack)]

    def _failed(self) -> None:
        """A send failed: a request of it may still be on the wire, and the broker may
        still append it. It can do so until the request times out on the broker (the
        producer's ``request_timeout``; ``linger_ms`` added for a batch still forming)."""
        horizon = self._cfg.request_timeout + self._cfg.linger_ms / 1000
        self._unsettled_until = max(self._unsettled_until, self._clock() + horizon)

    async def settle(self) -> float:
        """Wait until no failed send can still be written, so that a read-back of the
        output sees every record the broker will ever commit from it. Returns the wait."""
        wait = self._unsettled_until - self._clock()
        if wait <= 0:
            return 0.0
        self._log.info("waiting out a failed send before reading back", seconds=round(wait, 2))
        await self._sleep(wait)
        return wait
