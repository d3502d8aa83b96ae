"""Restores on the embedded broker (which never compacts): concurrent restores share one
read of the checkpoint and state topics, and a read holds only each key's latest value."""

from __future__ import annotations

import hashlib
import tracemalloc
import weakref
from typing import Any

import anyio
import pytest

from streamer.config.model import KafkaConfig
from streamer.engine.emit import OutRecord
from streamer.errors import KafkaUnavailableError
from streamer.kafka import checkpoint
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore
from streamer.kafka.publisher import Publisher
from tests.integration.harness import unique_prefix
from tests.integration.proxy import TcpProxy

pytestmark = pytest.mark.integration


def _embedded(bootstrap: str, prefix: str, **settings: Any) -> KafkaConfig:
    """Settings for the embedded broker: no idempotent producer where the build has one
    (Tansu rejects InitProducerId); one partition per topic."""
    off = {"idempotence": False} if "idempotence" in KafkaConfig.__struct_fields__ else {}
    return KafkaConfig(bootstrap_servers=bootstrap, topic_prefix=prefix, partitions=1, **off, **settings)


def _value(key: str, version: int, size: int) -> bytes:
    """An incompressible JSON value naming its key and version."""
    seed = hashlib.sha256(f"{key}:{version}".encode()).hexdigest()
    return f'{{"key":"{key}","version":{version},"pad":"{(seed * (size // 64 + 1))[:size]}"}}'.encode()


class _CountingConsumer(checkpoint.AIOKafkaConsumer):  # type: ignore[misc]
    """Counts the reads that include the state topic."""

    state_topic = ""
    reads = 0

    def assign(self, partitions: Any) -> None:
        if any(tp.topic == self.state_topic for tp in partitions):
            type(self).reads += 1
        super().assign(partitions)


async def _seed(pub: Publisher, store: StateStore, sources: list[str], agents: int, versions: int, size: int) -> None:
    """``versions`` rounds: every agent of every source gets a new state, then each source a checkpoint."""
    for v in range(versions):
        batch: list[OutRecord] = []
        for s in sources:
            batch += [OutRecord(store.state_topic, f"{s}|agent/{a}".encode(), _value(f"{s}|{a}", v, size), [])
                      for a in range(agents)]
            batch.append(store.checkpoint_record(Checkpoint(source_id=s, cursors={"h": v})))
        await pub.send(batch)


def test_concurrent_restores_share_one_read(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = unique_prefix()
    cfg = _embedded(broker.bootstrap, prefix)
    sources = [f"src{i}" for i in range(8)]
    monkeypatch.setattr(_CountingConsumer, "state_topic", f"{prefix}.streamer.state")
    monkeypatch.setattr(checkpoint, "AIOKafkaConsumer", _CountingConsumer)

    async def go() -> dict[str, Restored]:
        pub, store = Publisher(cfg), StateStore(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            await _seed(pub, store, sources, agents=5, versions=3, size=50)
            out: dict[str, Restored] = {}

            async def restore(s: str) -> None:
                out[s] = await store.restore(s)

            async with anyio.create_task_group() as tg:  # every source restores at once, as after an outage
                for s in sources:
                    tg.start_soon(restore, s)
            return out
        finally:
            await pub.stop()

    out = anyio.run(go)
    print(f"{len(sources)} concurrent restores: {_CountingConsumer.reads} read(s) of the state topic")
    assert _CountingConsumer.reads == 1
    for s in sources:  # each still gets exactly its own checkpoint and state
        assert out[s].checkpoint is not None and out[s].checkpoint.source_id == s
        assert out[s].entities == {f"agent/{a}": _value(f"{s}|{a}", 2, 50) for a in range(5)}


def test_a_restore_holds_only_the_latest_value_of_each_key(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    cfg = _embedded(broker.bootstrap, prefix)
    agents, versions, size = 500, 40, 1000

    async def go() -> tuple[Restored, int]:
        pub, store = Publisher(cfg), StateStore(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            await _seed(pub, store, ["a", "b"], agents, versions, size)
            # tombstones delete: agent 0 of "a" is gone
            await pub.send(store.state_records("a", {"agent/0": None}))
            tracemalloc.start()
            try:
                restored = await store.restore("a")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            return restored, peak
        finally:
            await pub.stop()

    restored, peak = anyio.run(go)
    written = 2 * agents * versions * size
    live = agents * size
    print(f"state topic: {written / 1e6:.1f} MB in {versions} versions; live state of the source "
          f"{live / 1e6:.2f} MB; peak traced memory during the restore {peak / 1e6:.1f} MB")
    assert restored.checkpoint is not None and restored.checkpoint.cursors == {"h": versions - 1}
    assert restored.entities == {f"agent/{a}": _value(f"a|{a}", versions - 1, size) for a in range(1, agents)}
    # Holding every version would take at least the bytes written (40 MB); the latest
    # values plus the consumer's fetch buffers stay far below that.
    assert peak < written / 4


def test_a_read_frees_each_batch_before_it_fetches_the_next(broker: EmbeddedBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a read keeps of a batch is what its caller keeps: when it asks for the next
    batch, the records of the last one are gone unless the caller holds them. (A loop that
    kept the last batch while the next fetch came in held 2,000 records more, and took a
    restore of a 40 MB state topic over the 10 MB bound above.)"""
    prefix = unique_prefix()
    cfg = _embedded(broker.bootstrap, prefix)
    handed: list[weakref.ref[Any]] = []
    alive_at_each_ask: list[int] = []

    class _Watching(checkpoint.AIOKafkaConsumer):  # type: ignore[misc]
        async def getmany(self, *partitions: Any, **kw: Any) -> Any:
            alive_at_each_ask.append(sum(r() is not None for r in handed))
            return await super().getmany(*partitions, **kw)

    monkeypatch.setattr(checkpoint, "AIOKafkaConsumer", _Watching)

    async def go() -> dict[Any, int]:
        pub, store = Publisher(cfg), StateStore(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            await _seed(pub, store, ["a"], agents=1000, versions=5, size=100)
            starts = {tp: 0 for tp in await checkpoint.partitions(cfg, [store.state_topic])}
            return await checkpoint.scan(cfg, starts, lambda m: handed.append(weakref.ref(m)))
        finally:
            await pub.stop()

    ends = anyio.run(go)
    assert sum(ends.values()) == len(handed) == 5 * 1000  # every state record was handed over
    assert len(alive_at_each_ask) >= 3  # several batches (2,000 records at most each)
    # At most the last record: aiokafka's record iterator holds what it yielded last.
    assert max(alive_at_each_ask) <= 1, alive_at_each_ask


@pytest.mark.parametrize("per_mb", [2.0, 0.0], ids=["limit-grows", "fixed-limit"])
def test_the_read_limit_grows_with_what_was_read(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, per_mb: float) -> None:
    """A 4.5 MB state topic behind a 1 MB/s link takes about 4.5 s to read. With a 1.5 s base,
    the read completes when the limit grows by ``READ_S_PER_MB`` per MB read, and times out,
    naming what it read, when it does not grow (the old fixed limit)."""
    monkeypatch.setattr(checkpoint, "READ_BASE_S", 1.5)
    monkeypatch.setattr(checkpoint, "READ_S_PER_MB", per_mb)
    monkeypatch.setattr(checkpoint, "SCAN_FETCH_BYTES", 64 * 1024)  # progress arrives in small steps
    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port, log_file=tmp_path / "broker.log") as broker:
        proxy = TcpProxy(broker.port)
        proxy.port = proxy_port
        with proxy:
            cfg = _embedded(f"127.0.0.1:{proxy_port}", unique_prefix(),
                            compression="none")  # the link carries every byte

            async def go() -> Restored:
                pub, store = Publisher(cfg), StateStore(cfg)
                await pub.start()
                try:
                    await pub.ensure_topics()
                    await _seed(pub, store, ["a"], agents=300, versions=10, size=1500)
                    proxy.rate = 1_000_000
                    return await store.restore("a")
                finally:
                    proxy.rate = None
                    await pub.stop()

            if per_mb:
                restored = anyio.run(go)
                assert len(restored.entities) == 300
            else:
                with pytest.raises(KafkaUnavailableError, match=r"timed out after 1.5s \([0-9.]+ MB read\)"):
                    anyio.run(go)
