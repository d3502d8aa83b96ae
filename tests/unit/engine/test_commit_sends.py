"""A commit waits two acks, not three: its events, then its state together with the
checkpoint. The checkpoint sent beside the state claims only the output an earlier,
acked state covers: state and checkpoint may land one without the other."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import msgspec

from streamer.config.load import parse_config
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft, OutRecord
from streamer.engine.runner import SourceRunner
from streamer.engine.source import Endpoint, PollResult
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore
from streamer.kafka.publisher import Ack


class _Ep(Endpoint):
    name = "agent-status"
    interval = 1.0

    async def poll(self, cursor_ms: int | None, now_ms: int):  # type: ignore[no-untyped-def, override]
        yield PollResult([])


class _Source:
    def __init__(self) -> None:
        self.endpoints = [_Ep()]

    async def aclose(self) -> None: ...


class _Publisher:
    """Acks every record at the next offset of partition 0 of its topic; keeps each send."""

    def __init__(self) -> None:
        self.sends: list[list[OutRecord]] = []
        self.next: dict[str, int] = {}

    async def settle(self) -> None: ...

    async def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        self.sends.append(list(records))
        acks = []
        for r in records:
            off = self.next.get(r.topic, 0)
            self.next[r.topic] = off + 1
            acks.append(Ack(r.topic, 0, off))
        return acks


class _Store(StateStore):
    async def restore(self, source_id: str, *, rebuild: bool = False, events_key: str | None = None) -> Restored:
        return Restored(None, {}, highwaters={"cc.agent/0": 0})


def _presence(n: int) -> Draft:
    p = Presence(name=f"state{n}", category="Ready")
    return Draft(type="cc.agent.presence.changed", entity_id="a1", stream="presence", transition=f"state{n}",
                 at_ms=1_795_000_000_000 + n, value=msgspec.to_builtins(p), previous_type=Presence,
                 payload=AgentPresenceChanged(agent_id="a1", previous=None, current=p, since="2026-11-19T00:00:00Z"),
                 endpoint="agent-status")


def _checkpoint(records: list[OutRecord]) -> Checkpoint:
    [cp] = [msgspec.json.decode(r.value, type=Checkpoint) for r in records if r.topic == "cc.streamer.checkpoints"]
    return cp


def test_a_commit_sends_events_then_state_with_the_checkpoint_one_commit_behind() -> None:
    cfg = parse_config(
        {"sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}]},
        env={},
    )
    pub = _Publisher()
    source = _Source()
    runner = SourceRunner(cfg.sources[0], cfg, pub, _Store(cfg.kafka), source=source)  # type: ignore[arg-type]
    ep = source.endpoints[0]

    async def go() -> None:
        async with runner.lock:
            assert await runner._restore_until_done()
        pub.sends.clear()
        await runner._commit(ep, PollResult([_presence(1)]))
        await runner._commit(ep, PollResult([_presence(2)]))

    anyio.run(go)
    assert len(pub.sends) == 4, [[r.topic for r in s] for s in pub.sends]  # two per commit
    events1, saved1, events2, saved2 = pub.sends
    assert {r.topic for r in events1} == {"cc.agent", "cc.agent.current"}
    assert [r.topic for r in saved1] == ["cc.streamer.state", "cc.streamer.checkpoints"]
    # The first commit's event is at cc.agent offset 0: its state goes out with the
    # checkpoint, which cannot claim it yet; the next checkpoint does.
    assert _checkpoint(saved1).offsets["cc.agent/0"] == 0
    assert _checkpoint(saved2).offsets["cc.agent/0"] == 1
    assert runner.checkpoint.offsets["cc.agent/0"] == 2  # covered once the second state was acked
