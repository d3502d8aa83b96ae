"""Group membership on the embedded broker: daemons split the sources, a leaver's sources
move to the others and nothing else moves (streamer.cluster.membership on its own; the
daemons built on it are in test_cluster.py)."""

from __future__ import annotations

import time

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.cluster.membership import Membership
from streamer.kafka.broker import EmbeddedBroker
from tests.integration.harness import unique_prefix
from tests.waiting import eventually

pytestmark = pytest.mark.integration
SOURCES = [f"s{i:02d}" for i in range(12)]


async def test_members_share_sources_and_a_leaver_moves_only_its_own(broker: EmbeddedBroker) -> None:
    prefix = unique_prefix()
    topic = f"{prefix}.streamer.members"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    assigned: list[list[tuple[int, frozenset[str]]]] = [[], [], []]

    async def nothing() -> None:
        return None

    def member(i: int) -> Membership:
        async def on_assigned(owned: frozenset[str], epoch: int) -> None:
            assigned[i].append((epoch, owned))

        return Membership({"bootstrap_servers": broker.bootstrap}, group_id=f"{prefix}.streamer", topic=topic,
                          sources=SOURCES, on_revoked=nothing, on_assigned=on_assigned)

    members = [member(i) for i in range(3)]
    scopes = [anyio.CancelScope() for _ in members]

    async def run(i: int) -> None:
        with scopes[i]:
            await members[i].run()

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(run, i)
        started = time.monotonic()
        assert await eventually(lambda: sorted(len(m.owned) for m in members) == [4, 4, 4]
                                and all(m.lease.valid() for m in members), timeout=60), [m.owned for m in members]
        took = time.monotonic() - started
        print(f"\n3 members: 4 sources each after {took:.1f}s")
        owned_before = [set(m.owned) for m in members]
        assert set().union(*owned_before) == set(SOURCES)

        scopes[0].cancel()  # leaves the group
        started = time.monotonic()
        assert await eventually(lambda: sorted(len(m.owned) for m in members[1:]) == [6, 6], timeout=30)
        took = time.monotonic() - started
        print(f"a member left: its 4 sources moved in {took:.1f}s")
        for before, m in zip(owned_before[1:], members[1:]):
            assert before <= set(m.owned), "a source moved that did not have to"
        assert set(members[1].owned) | set(members[2].owned) == set(SOURCES)
        assert members[0].owned == frozenset() and not members[0].lease.valid()
        assert members[1].epoch == members[2].epoch > assigned[1][0][0]
        tg.cancel_scope.cancel()


async def test_the_first_generations_member_leaves_the_group_when_it_stops(broker: EmbeddedBroker) -> None:
    """Tansu numbers its first generation 0, from which aiokafka does not send LeaveGroup:
    the member stayed until its session ran out, and a restarted daemon waited for that."""
    prefix = unique_prefix()
    topic, group = f"{prefix}.streamer.members", f"{prefix}.streamer"
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])

        async def nothing(*_: object) -> None:
            return None

        m = Membership({"bootstrap_servers": broker.bootstrap}, group_id=group, topic=topic, sources=SOURCES,
                       on_revoked=nothing, on_assigned=nothing, session_timeout=30.0, heartbeat_interval=1.0)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(m.run)
                assert await eventually(lambda: m.owned == frozenset(SOURCES), timeout=30)
                (described,) = await admin.describe_consumer_groups([group])
                assert len(described.groups[0][5]) == 1, "the member is in the group"
                scope.cancel()
        (described,) = await admin.describe_consumer_groups([group])
        assert described.groups[0][5] == [], "the member left at once, not after its 30 s session"
    finally:
        await admin.close()
