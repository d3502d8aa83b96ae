"""aiokafka producer behind one small seam: send a batch, get its acks or a KafkaUnavailableError."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, Sequence

import anyio
import msgspec
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from ..config import KafkaConfig
from ..emit import OutRecord
from .connection import client_kwargs
from ..errors import FatalError, KafkaUnavailableError

__all__ = ["Ack", "Publisher", "topic_names", "producer_kwargs"]

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
        "max_request_size": 8 * 1024 * 1024,
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
        log: structlog.stdlib.BoundLogger | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        producer_factory: Callable[..., Any] = AIOKafkaProducer,
    ) -> None:
        self._cfg = cfg
        self._log = log or structlog.get_logger("streamer.kafka")
        self._clock, self._sleep, self._factory = clock, sleep, producer_factory
        self._producer: AIOKafkaProducer | None = None
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
            raise KafkaUnavailableError(f"kafka: cannot connect to {self._cfg.bootstrap_servers}: {e}") from None
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
            self._failed()
            raise KafkaUnavailableError(f"kafka: publish failed: {type(e).__name__}: {e}") from None
        results = await asyncio.gather(*futures, return_exceptions=True)
        for res in results:
            if isinstance(res, BaseException):
                self._failed()
                raise KafkaUnavailableError(f"kafka: publish failed: {type(res).__name__}: {res}") from None
        self.reachable = True
        return [Ack(m.topic, m.partition, m.offset) for m in results]  # type: ignore[union-attr]

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
