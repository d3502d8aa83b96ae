"""aiokafka producer behind one small seam: send a batch, get its acks or a KafkaUnavailableError."""

from __future__ import annotations

import asyncio
from typing import Sequence

import msgspec
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from ..config import KafkaConfig
from ..emit import OutRecord
from .connection import client_kwargs, connect_failure
from ..errors import FatalError, KafkaUnavailableError

__all__ = ["Ack", "Publisher", "topic_names"]

_TOPIC_EXISTS = 36


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
            raise await connect_failure(self._cfg, e) from None
        self._producer = producer
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
        """Send ``records`` in order and wait until every one is acked by all in-sync replicas."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("Publisher.send() before start() or after stop()")
        if not records:
            return []
        futures: list[asyncio.Future] = []
        self.reachable = False
        try:
            for r in records:
                futures.append(await producer.send(r.topic, r.value, key=r.key, headers=r.headers))
        except (KafkaError, OSError) as e:
            await asyncio.gather(*futures, return_exceptions=True)
            raise KafkaUnavailableError(f"kafka: publish failed: {type(e).__name__}: {e}") from None
        results = await asyncio.gather(*futures, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                raise KafkaUnavailableError(f"kafka: publish failed: {type(res).__name__}: {res}") from None
        self.reachable = True
        return [Ack(m.topic, m.partition, m.offset) for m in results]  # type: ignore[union-attr]
