"""The in-memory ``Publisher``/``StateStore`` (tests/fakes.py) keep the real ones'
contract: the same tests run against both, the real pair on the embedded broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from streamer.config.model import KafkaConfig
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft, OutRecord, SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.kafka.checkpoint import Checkpoint, StateStore, advance_offsets, partitions, read_to_end
from streamer.kafka.publisher import Ack, Publisher
from streamer.track.ledger import Ledger
from tests.fakes import FakeLog, FakePublisher, FakeStateStore
from tests.integration.harness import EMBEDDED_KAFKA, unique_prefix

T0 = 1_795_000_000_000


@dataclass
class Kafka:
    """A publisher and a store on one log, and a way to read a topic back."""

    publisher: Any
    store: Any
    cfg: KafkaConfig
    log: FakeLog | None = None

    def fresh_store(self) -> Any:
        """Another store on the same log: what a restarted daemon reads with."""
        return FakeStateStore(self.log, self.cfg) if self.log is not None else StateStore(self.cfg)

    async def read(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        if self.log is not None:
            return [(r.key, r.value) for r in self.log.read(topic)]
        records, _ = await read_to_end(self.cfg, {tp: 0 for tp in await partitions(self.cfg, [topic])})
        return [(r.key, r.value) for r in records]


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.integration)])
async def kafka(request: pytest.FixtureRequest) -> AsyncIterator[Kafka]:
    prefix = unique_prefix()
    if request.param == "fake":
        cfg = KafkaConfig(bootstrap_servers="fake:9092", topic_prefix=prefix, partitions=3)
        log = FakeLog(partitions=3)
        pub = FakePublisher(log)
        await pub.start()
        yield Kafka(pub, FakeStateStore(log, cfg), cfg, log)
        await pub.stop()
        return
    broker = request.getfixturevalue("broker")
    cfg = KafkaConfig(bootstrap_servers=broker.bootstrap, topic_prefix=prefix, partitions=3, **EMBEDDED_KAFKA)
    real = Publisher(cfg)
    await real.start()
    await real.ensure_topics()
    yield Kafka(real, StateStore(cfg), cfg)
    await real.stop()


def presence(agent: str, n: int) -> Draft:
    p = Presence(name=f"state{n}", category="Ready")
    return Draft(type="cc.agent.presence.changed", entity_id=agent, stream="presence", transition=f"state{n}",
                 at_ms=T0 + n * 1000, value=msgspec.to_builtins(p), previous_type=Presence,
                 payload=AgentPresenceChanged(agent_id=agent, previous=None, current=p, since="2026-11-19T00:00:00Z"),
                 endpoint="agent-status")


async def commit(k: Kafka, source: str, ledger: Ledger, cp: Checkpoint, drafts: list[Draft]) -> list[Ack]:
    """What a runner's commit writes: events, then state and checkpoint (covering them)."""
    ctx = SourceContext("vonage", source, k.cfg.topic_prefix)
    acks = await k.publisher.send([rec for rec, _ in emit_with_rules(drafts, ledger, ctx, T0)])
    await k.publisher.send([*k.store.state_records(source, ledger.take_dirty()), k.store.checkpoint_record(cp)])
    advance_offsets(cp.offsets, acks, set(k.store.tailed_topics))
    return acks


async def test_sent_records_are_acked_in_order_and_read_back(kafka: Kafka) -> None:
    topic = f"{kafka.cfg.topic_prefix}.source"
    records = [OutRecord(topic, b"same-key", f"v{i}".encode(), [("h", b"x")]) for i in range(5)]
    acks = await kafka.publisher.send(records)
    assert [a.topic for a in acks] == [topic] * 5
    assert len({a.partition for a in acks}) == 1  # one key, one partition
    assert [a.offset for a in acks] == list(range(acks[0].offset, acks[0].offset + 5))
    assert await kafka.read(topic) == [(b"same-key", f"v{i}".encode()) for i in range(5)]
    assert await kafka.publisher.send([]) == []


async def test_concurrent_sends_keep_each_sends_order_and_ack_every_record_once(kafka: Kafka) -> None:
    topic = f"{kafka.cfg.topic_prefix}.agent"
    sends = [[OutRecord(topic, f"k{j}".encode(), f"s{n}-k{j}-{i}".encode(), []) for i in range(30) for j in range(5)]
             for n in range(4)]
    acks = await asyncio.gather(*(kafka.publisher.send(records) for records in sends))
    assert [len(a) for a in acks] == [150] * 4
    places = [(a.partition, a.offset) for per_send in acks for a in per_send]
    assert len(set(places)) == len(places)  # no two records acked at one offset
    by_partition: dict[int, list[int]] = {}
    for p, o in places:
        by_partition.setdefault(p, []).append(o)
    assert all(sorted(offsets) == list(range(len(offsets))) for offsets in by_partition.values())  # a fresh topic
    read = await kafka.read(topic)
    assert len(read) == 600
    for n in range(4):
        for j in range(5):
            mine = [v for k, v in read if k == f"k{j}".encode() and v is not None and v.startswith(f"s{n}-".encode())]
            assert mine == [f"s{n}-k{j}-{i}".encode() for i in range(30)]


async def test_a_source_never_written_restores_empty(kafka: Kafka) -> None:
    r = await kafka.store.restore("nobody")
    assert r.checkpoint is None and r.entities == {} and r.tail == []
    assert set(r.highwaters) == {f"{t}/{p}" for t in kafka.store.tailed_topics for p in range(3)}


async def test_the_checkpoint_written_last_is_the_one_restored(kafka: Kafka) -> None:
    for n in (1, 2):
        cp = Checkpoint(source_id="s1", cursors={"agent-activities": T0 + n}, owner_epoch=n)
        await kafka.publisher.send([kafka.store.checkpoint_record(cp)])
    await kafka.publisher.send([kafka.store.checkpoint_record(Checkpoint(source_id="s2", owner_epoch=7))])
    r = await kafka.fresh_store().restore("s1")
    assert r.checkpoint is not None and r.checkpoint.cursors == {"agent-activities": T0 + 2}
    assert r.checkpoint.owner_epoch == 2 and r.checkpoint.written_ms > 0
    assert await kafka.store.max_owner_epoch() == 7


async def test_state_is_restored_and_a_tombstone_deletes_it(kafka: Kafka) -> None:
    ledger, cp = Ledger(), Checkpoint(source_id="s1")
    await commit(kafka, "s1", ledger, cp, [presence("a1", 1), presence("a2", 1)])
    restored = await kafka.fresh_store().restore("s1")
    assert set(restored.entities) == {"agent/a1", "agent/a2"}
    assert Ledger(restored.entities).entity("agent/a1") == ledger.entity("agent/a1")
    await kafka.publisher.send(kafka.store.state_records("s1", {"agent/a1": None}))
    assert set((await kafka.fresh_store().restore("s1")).entities) == {"agent/a2"}


async def test_state_without_a_checkpoint_is_refused(kafka: Kafka) -> None:
    from streamer.errors import CheckpointError

    ledger = Ledger()
    emit_with_rules([presence("a1", 1)], ledger, SourceContext("vonage", "s1", kafka.cfg.topic_prefix), T0)
    await kafka.publisher.send(kafka.store.state_records("s1", ledger.take_dirty()))
    with pytest.raises(CheckpointError) as e:
        await kafka.fresh_store().restore("s1")
    assert e.value.kind == "missing"


async def test_output_after_the_checkpoint_is_replayed_and_nothing_before(kafka: Kafka) -> None:
    ledger, cp = Ledger(), Checkpoint(source_id="s1")
    await commit(kafka, "s1", ledger, cp, [presence("a1", 1)])  # state saved: covered by the next checkpoint
    await commit(kafka, "s1", ledger, cp, [presence("a1", 2)])  # its checkpoint covers only the first
    ctx = SourceContext("vonage", "s1", kafka.cfg.topic_prefix)
    crashed = emit_with_rules([presence("a1", 3)], ledger, ctx, T0)  # published, then a crash before its state
    await kafka.publisher.send([rec for rec, _ in crashed])
    other = emit_with_rules([presence("b1", 1)], Ledger(), SourceContext("vonage", "s2", kafka.cfg.topic_prefix), T0)
    await kafka.publisher.send([rec for rec, _ in other])  # another source's: not ours to replay
    r = await kafka.fresh_store().restore("s1")
    assert [(t.entity, t.value["name"]) for t in r.tail] == [("agent/a1", "state2"), ("agent/a1", "state3")]
    assert [t.event_id for t in r.tail][-1] == crashed[0][0].event_id
    assert r.checkpoint is not None and r.checkpoint.offsets  # the first event is covered
    assert all(r.highwaters[k] >= v for k, v in r.checkpoint.offsets.items())
    many = await kafka.fresh_store().restore_many({"s1": "s1", "s2": "s2"})
    assert [t.event_id for t in many["s1"].tail] == [t.event_id for t in r.tail]  # type: ignore[union-attr]
