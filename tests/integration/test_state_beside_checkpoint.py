"""State and checkpoint go out in one send, and either may land without the other: a
checkpoint that landed while its state did not still leaves a restore everything, since
it claims only the output an earlier acked state covers (the rest is read back)."""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft, OutRecord
from streamer.engine.runner import SourceRunner
from streamer.engine.source import Endpoint, PollResult
from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.checkpoint import StateStore
from streamer.kafka.publisher import Ack, Publisher
from tests.integration.harness import EMBEDDED_KAFKA, events, unique_prefix

pytestmark = pytest.mark.integration
T0 = 1_795_000_000_000


class _Ep(Endpoint):
    name = "agent-status"
    interval = 1.0

    async def poll(self, cursor_ms: int | None, now_ms: int):  # type: ignore[no-untyped-def, override]
        yield PollResult([])


class _Source:
    def __init__(self) -> None:
        self.endpoints = [_Ep()]

    async def aclose(self) -> None: ...


class _StateLost(Publisher):
    """Once armed, a send holding state records writes all but them and then fails, as a
    request whose state partition failed while the checkpoint's was written."""

    armed = False

    async def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        state = [r for r in records if r.topic.endswith(".streamer.state")]
        if not (self.armed and state):
            return await super().send(records)
        await super().send([r for r in records if r not in state])
        raise KafkaUnavailableError("kafka: publish to the state topic failed (test)")


def _presence(n: int) -> Draft:
    p = Presence(name=f"state{n}", category="Ready")
    return Draft(type="cc.agent.presence.changed", entity_id="a1", stream="presence", transition=f"state{n}",
                 at_ms=T0 + n * 1000, value=msgspec.to_builtins(p), previous_type=Presence,
                 payload=AgentPresenceChanged(agent_id="a1", previous=None, current=p, since="2026-11-19T00:00:00Z"),
                 endpoint="agent-status")


def test_a_checkpoint_landed_without_its_state_loses_nothing(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    cfg = parse_config({
        "kafka": {"bootstrap_servers": broker.bootstrap, "topic_prefix": prefix, "partitions": 1, **EMBEDDED_KAFKA},
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
    }, env={})

    async def go() -> None:
        pub = _StateLost(cfg.kafka)
        await pub.start()
        try:
            await pub.ensure_topics()
            first = SourceRunner(cfg.sources[0], cfg, pub, StateStore(cfg.kafka), source=_Source())
            ep = first.source.endpoints[0]  # type: ignore[union-attr]
            await first._commit(ep, PollResult([_presence(1)]))
            pub.armed = True
            with pytest.raises(KafkaUnavailableError):
                await first._commit(ep, PollResult([_presence(2)]))  # its event is acked, its state lost
            pub.armed = False
            # Another daemon (or this one, restarted) takes over from what is on Kafka.
            second = SourceRunner(cfg.sources[0], cfg, pub, StateStore(cfg.kafka), source=_Source())
            ep = second.source.endpoints[0]  # type: ignore[union-attr]
            await second._commit(ep, PollResult([_presence(2), _presence(3)]))  # 2 seen again, 3 is new
        finally:
            await pub.stop()

    anyio.run(go)
    got = [e for e in events(broker.bootstrap, prefix, "agent") if e["type"] == "cc.agent.presence.changed"]
    assert [e["data"]["current"]["name"] for e in got] == ["state1", "state2", "state3"]  # 2 once, none lost
    assert [e["data"]["sequence"] for e in got] == [1, 2, 3]
    assert got[2]["data"]["previous"]["name"] == "state2"  # the chain goes on from the event read back
