"""The producer's settings, and the wait after a failed send before anything is read back."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import RecordMetadata

from streamer.config.load import parse_config
from streamer.config.model import KafkaConfig, StreamerConfig
from streamer.contract.events import SourceWatermark
from streamer.engine.emit import Draft, OutRecord
from streamer.engine.runner import SourceRunner
from streamer.engine.source import Endpoint, PollResult
from streamer.errors import KafkaUnavailableError
from streamer.kafka.checkpoint import Restored, StateStore
from streamer.kafka.publisher import Publisher, producer_kwargs


def test_idempotence_is_on_by_default_and_reaches_the_producer() -> None:
    cfg = parse_config({}, env={})
    assert cfg.kafka.idempotence is True
    kw = producer_kwargs(cfg.kafka)
    assert kw["enable_idempotence"] is True and kw["acks"] == "all"
    off = parse_config({"kafka": {"idempotence": False}}, env={}).kafka
    assert producer_kwargs(off)["enable_idempotence"] is False


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


class FakeBatch:
    """What ``create_batch`` gives: records in order, each with its offset in the batch."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None, Any]] = []

    def append(self, *, key: bytes | None, value: bytes | None, timestamp: None, headers: Any) -> SimpleNamespace:
        self.records.append((key, value, headers))
        return SimpleNamespace(offset=len(self.records) - 1)


class FakeProducer:
    """Acks every batch, or fails every one: with ``error``, or (``fail``) as an expired batch does."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.fail = False
        self.error: Exception | None = None
        self.offset = 0
        self.sent = 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future:
        self.sent += len(batch.records)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.error is not None or self.fail:
            fut.set_exception(self.error or KafkaTimeoutError("batch expired"))
        else:
            fut.set_result(RecordMetadata(topic, partition, None, self.offset, -1, None, None))  # type: ignore[arg-type]
            self.offset += len(batch.records)
        return fut


def test_the_factory_gets_the_producer_kwargs() -> None:
    kafka = KafkaConfig(idempotence=False, linger_ms=7)
    made: list[FakeProducer] = []

    def factory(**kw: Any) -> FakeProducer:
        made.append(FakeProducer(**kw))
        return made[-1]

    async def go() -> None:
        pub = Publisher(kafka, producer_factory=factory)
        await pub.start()
        await pub.stop()

    anyio.run(go)
    assert made[0].kwargs == producer_kwargs(kafka)


def test_settle_waits_request_timeout_plus_linger_after_a_failed_send() -> None:
    clock = FakeClock()
    producer = FakeProducer()
    pub = Publisher(KafkaConfig(request_timeout=30.0, linger_ms=5), clock=clock, sleep=clock.sleep,
                    producer_factory=lambda **kw: producer)

    async def go() -> None:
        await pub.start()
        assert await pub.settle() == 0.0  # nothing failed: no wait
        producer.fail = True
        with pytest.raises(KafkaUnavailableError):
            await pub.send([OutRecord("cc.agent", b"k", b"v", [])])
        clock.t += 10.0
        assert await pub.settle() == pytest.approx(20.005)
        assert await pub.settle() == 0.0  # waited out once is enough

    anyio.run(go)
    assert clock.slept == [pytest.approx(20.005)]


class _Ep(Endpoint):
    name = "agent-status"
    interval = 1.0

    async def poll(self, cursor_ms: int | None, now_ms: int):  # type: ignore[no-untyped-def, override]
        yield PollResult([])


class _Source:
    def __init__(self) -> None:
        self.endpoints = [_Ep()]

    async def aclose(self) -> None: ...


class _Store(StateStore):
    """Restores nothing, and records when (on the fake clock) it read back."""

    def __init__(self, cfg: KafkaConfig, clock: FakeClock) -> None:
        super().__init__(cfg)
        self.clock = clock
        self.read_at: list[float] = []

    async def restore(self, source_id: str, *, rebuild: bool = False, events_key: str | None = None) -> Restored:
        self.read_at.append(self.clock.t)
        return Restored(None, {})


def _watermark(n: int) -> Draft:
    return Draft(type="cc.source.watermark", entity_id="s1", stream="watermark/agent-status",
                 transition=f"watermark:{n}", at_ms=n, previous_field=None, endpoint="agent-status",
                 payload=SourceWatermark(source_id="s1", endpoint="agent-status", complete_up_to="2026-01-01T00:00:00Z"))


def test_the_restore_after_a_failed_commit_reads_back_only_once_the_send_cannot_land() -> None:
    clock = FakeClock()
    producer = FakeProducer()
    cfg: StreamerConfig = parse_config({
        "kafka": {"request_timeout": "30s", "linger_ms": 5},
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
    }, env={})
    pub = Publisher(cfg.kafka, clock=clock, sleep=clock.sleep, producer_factory=lambda **kw: producer)
    store = _Store(cfg.kafka, clock)
    source = _Source()
    runner = SourceRunner(cfg.sources[0], cfg, pub, store, source=source, clock=clock)
    ep = source.endpoints[0]

    async def go() -> None:
        await pub.start()
        async with runner.lock:
            assert await runner._restore_until_done()
        assert store.read_at == [1000.0]  # nothing failed yet: no wait
        producer.fail = True
        with pytest.raises(KafkaUnavailableError):
            await runner._commit(ep, PollResult([_watermark(1)]))
        failed_at = clock.t
        producer.fail = False
        clock.t += 1.0  # the endpoint's backoff
        await runner._commit(ep, PollResult([_watermark(2)]))
        assert store.read_at[-1] >= failed_at + 30.005
        assert runner.needs_restore is False

    anyio.run(go)


def test_zstd_is_the_default_codec_and_the_producer_can_make_it() -> None:
    from aiokafka import AIOKafkaProducer

    kafka = parse_config({}, env={}).kafka
    kw = producer_kwargs(kafka)
    assert kafka.compression == "zstd" and kw["compression_type"] == "zstd"

    async def go() -> None:
        producer = AIOKafkaProducer(**kw)  # refuses a codec whose library is missing
        await producer.stop()

    anyio.run(go)
