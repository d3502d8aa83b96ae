"""Group membership through the broker's group coordinator, with a lease that fences.

Every daemon of a config joins one consumer group (as Kafka Connect's workers do) on the
one-partition coordination topic ``<prefix>.streamer.members``; it consumes nothing. What
the group protocol carries is ours: each member declares its config's sources, what it ran
until now and the newest owner epoch it knows; the leader runs :func:`assign` and hands
every member its sources and the next epoch. The group coordinator guarantees one leader
and one assignment per generation.

Fencing. A member may write for its sources only while its :class:`Lease` holds. The
lease is proven by a successful heartbeat or join and lasts ``ttl`` from when that request
was *sent*, with ``ttl`` shorter than the session (and rebalance) timeout: the coordinator
cannot hand the sources to another member before then. Once the member hears that a
rebalance started, heartbeats no longer renew it: the member finishes its in-flight
commits within what is left, stops its sources, and only then rejoins; only a new
assignment grants it again. An expelled member's lease is voided at once. A frozen member
(SIGSTOP, a long pause, a partition) therefore stops writing on its own before anyone else
may start. Tansu numbers a group's first generation 0 and keeps every later one at 1, so
the epoch is ours, issued by the leader: max(epochs declared) + 1, and every member
declares at least the newest epoch found in the checkpoints (see
``StateStore.max_owner_epoch``). Generation 0 also needs our own LeaveGroup on stop
(aiokafka sends one only from generation 1).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio
import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest

from streamer.cluster.assign import MemberInfo, assign

__all__ = ["Lease", "Membership", "MemberRecord", "PROTOCOL", "member_view"]

PROTOCOL = "ccstream-sources-v1"
REBALANCE_TIMEOUT_S = 20.0
"""How long the coordinator waits for the members to rejoin once a rebalance starts. A
member stops its sources (their in-flight commits) before it rejoins, which can take
seconds on a busy host; kicking it out for that would start another rebalance. Safe at
any length: the lease of a member that does not rejoin runs out a session after its
last heartbeat, before the rebalance can give its sources away."""


class _Declared(msgspec.Struct, frozen=True):
    """A member's metadata in JoinGroup."""

    sources: list[str]
    owned: list[str] = []
    epoch: int = 0
    name: str = ""


class _Given(msgspec.Struct, frozen=True):
    """A member's assignment in SyncGroup."""

    sources: list[str]
    epoch: int


class MemberRecord(msgspec.Struct, kw_only=True):
    """What a member writes on the group's topic after each assignment (key: its name), for
    ``streamer status``: brokers that do not return the group protocol's data in
    DescribeGroups (the embedded one) still show who owns what."""

    member_id: str
    name: str
    owned: list[str]
    epoch: int
    config_sources: int


def member_view(metadata: bytes, assignment: bytes) -> tuple[str, list[str], list[str], int]:
    """(name, sources in its config, sources it owns, epoch) of a member, from the group's
    DescribeGroups answer (consumer-protocol metadata and assignment, our user data inside)."""
    declared = msgspec.json.decode(ConsumerProtocolMemberMetadata.decode(metadata).user_data, type=_Declared)
    given = (msgspec.json.decode(ConsumerProtocolMemberAssignment.decode(assignment).user_data, type=_Given)
             if assignment else _Given([], 0))
    return declared.name, declared.sources, given.sources, given.epoch


class Lease:
    """Permission to write that runs out on its own (see the module docstring)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._until = float("-inf")
        self._held = False

    def grant(self, proven_at: float) -> None:
        """A new assignment: membership proven by a join sent at ``proven_at``."""
        self._held = True
        self._until = proven_at + self.ttl

    def renew(self, proven_at: float) -> None:
        """A heartbeat sent at ``proven_at`` succeeded with no rebalance pending."""
        if self._held:
            self._until = max(self._until, proven_at + self.ttl)

    def void(self) -> None:
        """A rebalance started or the member was expelled: stop writing now."""
        self._held = False
        self._until = float("-inf")

    def valid(self) -> bool:
        return self._held and self._clock() < self._until

    def refusal(self) -> str | None:
        """Why this lease does not allow writing now, or None when it does."""
        if not self._held:
            return "a rebalance is under way, or the group expelled this daemon"
        now = self._clock()
        if now < self._until:
            return None
        return f"kafka: its group lease ran out: no heartbeat answered for {now - (self._until - self.ttl):.1f}s"

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock()) if self._held else 0.0


OnRevoked = Callable[[], Awaitable[None]]
OnAssigned = Callable[[frozenset[str], int], Awaitable[None]]


class Membership:
    """This daemon's place in the group: which sources it runs, and whether it may write."""

    def __init__(
        self,
        connection: Mapping[str, Any],
        *,
        group_id: str,
        topic: str,
        sources: Iterable[str],
        on_revoked: OnRevoked,
        on_assigned: OnAssigned,
        session_timeout: float = 6.0,
        heartbeat_interval: float = 1.0,
        lease_margin: float = 1.5,
        known_epoch: int = 0,
    ) -> None:
        self._connection = dict(connection)
        self.group_id, self.topic = group_id, topic
        self.sources = frozenset(sources)
        self.owned: frozenset[str] = frozenset()
        self.epoch = known_epoch
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.member_id = ""
        """The coordinator's id for this member (set at each assignment)."""
        self.dropped = False
        """The group expelled this member since the owner last looked (the owner clears it):
        its sources may have been written by another member in between."""
        self.lease = Lease(session_timeout - lease_margin)
        self.rebalances = 0
        self._session_timeout = session_timeout
        self._heartbeat_interval = heartbeat_interval
        self._on_revoked, self._on_assigned = on_revoked, on_assigned
        self._join_sent = time.monotonic()
        self._sync_sent = float("-inf")
        self._consumer: AIOKafkaConsumer | None = None
        self._log = structlog.get_logger("streamer.cluster")

    def write_refusal(self, source_id: str) -> str | None:
        """Why this daemon may not write ``source_id`` now, or None when it may."""
        if source_id not in self.owned:
            return "not assigned to this daemon now"
        return self.lease.refusal()

    def saw_epoch(self, epoch: int) -> None:
        """A checkpoint written at ``epoch`` was found: declare at least that at the next join."""
        self.epoch = max(self.epoch, epoch)

    def record(self) -> MemberRecord:
        return MemberRecord(member_id=self.member_id, name=self.name, owned=sorted(self.owned), epoch=self.epoch,
                            config_sources=len(self.sources))

    @property
    def member(self) -> bool:
        """In the group, with an assignment and a valid lease."""
        return self.lease.valid()

    # --- the group protocol ------------------------------------------------------------

    def _assignor(self) -> type[AbstractPartitionAssignor]:
        me = self

        class SourceAssignor(AbstractPartitionAssignor):  # type: ignore[misc]  # aiokafka ships no types
            name = PROTOCOL

            @classmethod
            def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
                if me._consumer is not None:  # before the first JoinGroup: its SyncGroup proves the lease
                    me._watch_heartbeats(me._consumer)
                declared = _Declared(sorted(me.sources), sorted(me.owned), me.epoch, me.name)
                return ConsumerProtocolMemberMetadata(0, sorted(topics), msgspec.json.encode(declared))

            @classmethod
            def assign(cls, cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata]) -> dict[str, ConsumerProtocolMemberAssignment]:
                declared = {m: msgspec.json.decode(md.user_data, type=_Declared) for m, md in members.items()}
                plan = assign({m: MemberInfo(frozenset(d.sources), frozenset(d.owned)) for m, d in declared.items()})
                epoch = max(d.epoch for d in declared.values()) + 1
                leader_first = sorted(members)
                return {
                    m: ConsumerProtocolMemberAssignment(
                        0, [(me.topic, [0] if m == leader_first[0] else [])],
                        msgspec.json.encode(_Given(sorted(plan[m]), epoch)),
                    )
                    for m in members
                }

            @classmethod
            def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
                given = msgspec.json.decode(assignment.user_data, type=_Given)
                me._pending = given

        return SourceAssignor

    _pending: _Given | None = None

    class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types
        def __init__(self, owner: Membership) -> None:
            self.owner = owner

        # aiokafka logs a listener's exception with the standard logging and goes on:
        # say it where the daemon's errors go.
        async def on_partitions_revoked(self, revoked: Any) -> None:
            try:
                await self.owner._revoked()
            except Exception:
                self.owner._log.exception("stopping the sources for a rebalance failed")
                raise

        async def on_partitions_assigned(self, assigned: Any) -> None:
            try:
                await self.owner._assigned()
            except Exception:
                self.owner._log.exception("starting the assigned sources failed")
                raise

    async def _revoked(self) -> None:
        # The lease still runs (heartbeats no longer renew it): in-flight commits finish
        # within it, and none can start once the sources are stopped.
        try:
            await self._on_revoked()
        finally:
            self.lease.void()
            self._join_sent = time.monotonic()  # the JoinGroup that follows is sent after this
            self._sync_sent = float("-inf")

    async def _assigned(self) -> None:
        given, self._pending = self._pending, None
        if given is None:
            return
        self.rebalances += 1
        if self._consumer is not None:
            self.member_id = self._consumer._coordinator.member_id
        self.epoch = max(self.epoch, given.epoch)
        self.owned = frozenset(given.sources)
        # The SyncGroup that brought the assignment reset our session on the coordinator:
        # proof of membership from when it was sent (the JoinGroup before it may have
        # waited a whole rebalance for other members).
        self.lease.grant(max(self._join_sent, self._sync_sent))
        self._log.info("assignment", epoch=self.epoch, sources=sorted(self.owned),
                       lease_s=round(self.lease.remaining(), 2))
        await self._on_assigned(self.owned, self.epoch)

    def _watch_heartbeats(self, consumer: AIOKafkaConsumer) -> None:
        """Renew the lease from heartbeats, void it on a rebalance or an expulsion.

        aiokafka has no hook for these; its coordinator's methods are wrapped on this
        one instance (checked by the tests against the locked aiokafka version)."""
        coordinator = consumer._coordinator
        if coordinator is None or getattr(coordinator, "_ccstream_watched", False):
            return
        coordinator._ccstream_watched = True
        heartbeat, rejoin, reset = coordinator._do_heartbeat, coordinator.request_rejoin, coordinator.reset_generation

        async def do_heartbeat() -> bool:
            sent = time.monotonic()
            ok = await heartbeat()
            if ok and not coordinator._rejoin_needed_fut.done():
                self.lease.renew(sent)
            return bool(ok)

        def request_rejoin() -> None:  # a rebalance: the lease stops renewing (see do_heartbeat)
            rejoin()

        def reset_generation() -> None:  # expelled: the sources may already be someone else's
            self.lease.void()
            self.dropped = True
            if self.owned:
                self._log.warning("expelled from the group; stopped writing", sources=sorted(self.owned))
            self.owned = frozenset()
            reset()

        send_req = coordinator._send_req

        async def send_req_timed(request: Any) -> Any:
            if type(request).__name__.startswith("SyncGroupRequest"):
                self._sync_sent = time.monotonic()
            return await send_req(request)

        leave = coordinator._maybe_leave_group

        async def maybe_leave_group() -> None:
            # aiokafka sends LeaveGroup only from a generation above 0 (Kafka counts from 1).
            # Tansu's first generation is 0: a member of it never left, and the next
            # daemon's join waited for its session to run out (a restart took 11 s, not 3).
            if coordinator.generation == 0 and coordinator.member_id:
                try:
                    await coordinator._send_req(LeaveGroupRequest(coordinator.group_id, coordinator.member_id))
                except KafkaError as e:
                    self._log.warning("leaving the group failed; the others wait out the session",
                                      error=f"{type(e).__name__}: {e}")
                coordinator.reset_generation()
                return
            await leave()

        coordinator._maybe_leave_group = maybe_leave_group
        coordinator._send_req = send_req_timed
        coordinator._do_heartbeat = do_heartbeat
        coordinator.request_rejoin = request_rejoin
        coordinator.reset_generation = reset_generation

    async def run(self) -> None:
        """Join and stay a member until cancelled; then leave the group."""
        consumer = AIOKafkaConsumer(
            **self._connection,
            group_id=self.group_id,
            enable_auto_commit=False,
            partition_assignment_strategy=(self._assignor(),),
            session_timeout_ms=int(self._session_timeout * 1000),
            rebalance_timeout_ms=int(max(self._session_timeout, REBALANCE_TIMEOUT_S) * 1000),
            heartbeat_interval_ms=int(self._heartbeat_interval * 1000),
        )
        consumer.subscribe([self.topic], listener=self._Listener(self))
        self._consumer = consumer
        self._join_sent = time.monotonic()
        try:
            await consumer.start()
        except BaseException:
            self._consumer = None
            with anyio.CancelScope(shield=True):
                await consumer.stop()
            raise
        try:
            self._watch_heartbeats(consumer)
            while True:
                await consumer.getmany(timeout_ms=500)  # a poll keeps the member in the group
        finally:
            self.lease.void()
            self.dropped = True  # a new consumer joins as a new member
            self.owned = frozenset()
            self._consumer = None
            with anyio.CancelScope(shield=True):
                await consumer.stop()  # LeaveGroup: the others take over at once
