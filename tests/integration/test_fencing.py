"""Fencing on the embedded broker: a produce request never goes out once the lease is
gone, even one queued before; a checkpoint from a newer owner stops the source."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest

from streamer.config.load import parse_config
from streamer.config.model import StreamerConfig
from streamer.engine.emit import OutRecord
from streamer.engine.runner import SourceRunner
from streamer.errors import FencedError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.checkpoint import Checkpoint, StateStore, partitions, read_to_end
from streamer.kafka.publisher import Publisher
from streamer.ops.metrics import Metrics
from streamer.vendors import registry
from tests.integration.harness import embedded_kafka, unique_prefix, vonage_source

pytestmark = pytest.mark.integration


def test_no_produce_request_goes_out_once_the_lease_is_gone_even_one_queued_before(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    # A long linger keeps the second batch in the producer, as a freeze would.
    cfg = embedded_kafka(broker.bootstrap, topic_prefix=prefix, linger_ms=1500)
    topic = f"{prefix}.agent"
    lease = {"valid": True}

    async def go() -> tuple[list[bytes], float]:
        pub = Publisher(cfg, gate=lambda: lease["valid"])
        await pub.start()
        try:
            await pub.ensure_topics()
            await pub.send([OutRecord(topic, b"s/a", b"written", [])])
            failure: list[BaseException] = []

            async def queued() -> None:
                try:
                    await pub.send([OutRecord(topic, b"s/a", b"queued before the lease ran out", [])])
                except FencedError as e:
                    failure.append(e)

            async with anyio.create_task_group() as tg:
                tg.start_soon(queued)
                await anyio.lowlevel.checkpoint()  # the record is in the producer's batch, lingering
                lease["valid"] = False
            assert failure and "held back" in str(failure[0])
            with pytest.raises(FencedError):
                await pub.send([OutRecord(topic, b"s/a", b"after", [])])
            waited = await pub.settle()  # nothing went out: nothing to wait for before a read-back
        finally:
            await pub.stop()
        stored, _ = await read_to_end(cfg, {tp: 0 for tp in await partitions(cfg, [topic])})
        return [r.value for r in stored], waited

    values, waited = anyio.run(go)
    assert values == [b"written"]
    assert waited == 0.0


def _config(bootstrap: str, prefix: str) -> StreamerConfig:
    return parse_config({
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "idempotence": False},
        "sources": [vonage_source("s1", "http://127.0.0.1:9/vonage")],
    }, env={"IT_VONAGE_TOKEN": "t"})


def test_a_checkpoint_of_a_newer_owner_stops_the_source(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    cfg = _config(broker.bootstrap, prefix)
    newer: list[int] = []
    metrics = Metrics()

    async def go() -> None:
        pub, store = Publisher(cfg.kafka), StateStore(cfg.kafka)
        await pub.start()
        try:
            await pub.ensure_topics()
            await pub.send([store.checkpoint_record(Checkpoint(source_id="s1", owner_epoch=7))])
            assert await store.max_owner_epoch() == 7
            spec = registry.get("vonage")
            assert spec is not None
            runner = SourceRunner(cfg.sources[0], cfg, pub, store, metrics=metrics, on_newer_owner=newer.append,
                                  source=spec.build(cfg.sources[0]))
            runner.owner_epoch = 6  # a daemon that missed a generation
            with pytest.raises(FencedError) as stale:
                await runner._restore()
            assert stale.value.newer_epoch == 7
            runner.owner_epoch = 8  # the owner the group gave it to next
            await runner._restore()
            assert runner.written_epoch == 8
            assert runner.source is not None
            await runner.source.aclose()
        finally:
            await pub.stop()

    anyio.run(go)
    assert newer == [7]
    assert anyio.run(StateStore(cfg.kafka).max_owner_epoch) == 8
