"""The daemon restores all sources in one shared read: each source still gets exactly its
own checkpoint, state and output tail, and one bad checkpoint stops only its source."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from streamer.engine.emit import OutRecord
from streamer.errors import CheckpointError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore
from streamer.kafka.publisher import Publisher
from streamer.track.ledger import EntityState, encode_entity
from tests.integration.harness import embedded_kafka, unique_prefix

pytestmark = pytest.mark.integration


def _event(prefix: str, source: str, agent: str, event_id: str, seq: int) -> OutRecord:
    value = msgspec.json.encode({"id": event_id, "data": {"sequence": seq}})
    headers = [("ccs-entity", f"agent/{agent}".encode()), ("ccs-stream", b"presence"), ("ccs-since-ms", b"1000"),
               ("ccs-value", b'"Ready"')]
    return OutRecord(f"{prefix}.agent", f"{source}/{agent}".encode(), value, headers, event_id)


def test_restore_many_splits_one_read_per_source(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    cfg = embedded_kafka(broker.bootstrap, topic_prefix=prefix, partitions=1)

    async def go() -> dict[str, Restored | CheckpointError]:
        pub, store = Publisher(cfg), StateStore(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            # a: an event covered by its checkpoint, then one after it (the tail); b: a corrupt checkpoint
            acks = await pub.send([_event(prefix, "a", "01", "e1", 1)])
            covered = {f"{prefix}.agent/0": acks[0].offset + 1}
            state = {"a": encode_entity(EntityState(seq=1, streams={})), "b": encode_entity(EntityState(seq=9, streams={}))}
            await pub.send([
                *store.state_records("a", {"agent/01": state["a"]}),
                *store.state_records("b", {"agent/07": state["b"]}),
                store.checkpoint_record(Checkpoint(source_id="a", cursors={"x": 5}, offsets=covered)),
                OutRecord(store.checkpoint_topic, b"b", b"{not json", []),
            ])
            await pub.send([_event(prefix, "a", "01", "e2", 2), _event(prefix, "b", "07", "e3", 10)])
            return await store.restore_many({"a": "a", "b": "b", "c": "c"})
        finally:
            await pub.stop()

    out = anyio.run(go)
    a, b, c = out["a"], out["b"], out["c"]
    assert isinstance(a, Restored) and a.checkpoint is not None and a.checkpoint.cursors == {"x": 5}
    assert list(a.entities) == ["agent/01"]
    assert [t.event_id for t in a.tail] == ["e2"]  # e1 is covered; b's event is not a's
    assert isinstance(b, CheckpointError) and b.kind == "corrupt"
    assert isinstance(c, Restored) and c.checkpoint is None and c.entities == {} and c.highwaters == a.highwaters


def test_a_restore_that_goes_on_from_an_earlier_read_finds_what_a_whole_read_finds(broker: EmbeddedBroker) -> None:
    """The daemon reads the saved state while it joins its group, and restores from there
    once the group gave it sources: what was written in between must count, deletions too."""
    prefix = unique_prefix()
    cfg = embedded_kafka(broker.bootstrap, topic_prefix=prefix, partitions=2)

    def entity(seq: int) -> bytes:
        return encode_entity(EntityState(seq=seq, streams={}))

    async def go() -> tuple[dict[str, Restored | CheckpointError], dict[str, Restored | CheckpointError]]:
        pub, store = Publisher(cfg), StateStore(cfg)
        await pub.start()
        try:
            await pub.ensure_topics()
            await pub.send([
                *store.state_records("a", {"agent/01": entity(1), "agent/02": entity(2)}),
                *store.state_records("b", {"agent/07": entity(7)}),
                store.checkpoint_record(Checkpoint(source_id="a", cursors={"x": 1}, offsets={})),
            ])
            ahead = await store.read_saved({"a", "b", "c"})
            await pub.send([  # another daemon, still the owner, goes on writing
                *store.state_records("a", {"agent/01": entity(3), "agent/02": None, "agent/03": entity(4)}),
                store.checkpoint_record(Checkpoint(source_id="a", cursors={"x": 2}, offsets={})),
                store.checkpoint_record(Checkpoint(source_id="b", cursors={"y": 1}, offsets={})),
            ])
            return (await store.restore_many({"a": "a", "b": "b"}, since=ahead),
                    await store.restore_many({"a": "a", "b": "b"}))
        finally:
            await pub.stop()

    went_on, whole = anyio.run(go)
    for key in ("a", "b"):
        mine, theirs = went_on[key], whole[key]
        assert isinstance(mine, Restored) and isinstance(theirs, Restored)
        assert (mine.checkpoint, mine.entities) == (theirs.checkpoint, theirs.entities)
    a = went_on["a"]
    assert isinstance(a, Restored) and a.checkpoint is not None and a.checkpoint.cursors == {"x": 2}
    assert a.entities == {"agent/01": entity(3), "agent/03": entity(4)}  # agent/02 was deleted after the read
