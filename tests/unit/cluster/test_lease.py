"""The lease a member writes under: granted by a join, renewed by heartbeats, voided at once."""

from __future__ import annotations

import time

from streamer.cluster.membership import Lease, Membership


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_a_lease_runs_out_on_its_own_from_when_membership_was_proven() -> None:
    clock = Clock()
    lease = Lease(4.5, clock)
    assert not lease.valid()  # nothing granted yet
    lease.grant(proven_at=99.0)  # the join was sent a second ago
    assert lease.valid() and lease.remaining() == 3.5
    clock.t = 103.4
    assert lease.valid()
    clock.t = 103.5
    assert not lease.valid()  # a frozen member stops by itself


def test_heartbeats_renew_from_their_send_time_and_never_shorten() -> None:
    clock = Clock()
    lease = Lease(4.5, clock)
    lease.grant(100.0)
    lease.renew(102.0)
    assert lease.remaining() == 6.5
    lease.renew(101.0)  # a slow answer to an older heartbeat
    assert lease.remaining() == 6.5


def test_void_stops_writing_now_and_only_a_new_grant_restores_it() -> None:
    clock = Clock()
    lease = Lease(4.5, clock)
    lease.grant(100.0)
    lease.void()  # a rebalance started, or the member was expelled
    assert not lease.valid()
    lease.renew(100.5)  # a heartbeat that was in flight does not bring it back
    assert not lease.valid()
    lease.grant(100.5)
    assert lease.valid()


def test_a_refusal_says_why_a_member_may_not_write() -> None:
    """A fence's message is what a health event and a gap report: a lapse of the lease
    names Kafka (no heartbeat answered), unlike a rebalance or a source given elsewhere."""
    clock = Clock()
    lease = Lease(4.5, clock)
    assert lease.refusal() == "a rebalance is under way, or the group expelled this daemon"
    lease.grant(proven_at=99.0)
    assert lease.refusal() is None
    clock.t = 106.0
    assert lease.refusal() == "kafka: its group lease ran out: no heartbeat answered for 7.0s"
    lease.void()
    assert lease.refusal() == "a rebalance is under way, or the group expelled this daemon"


async def _nothing(*_: object) -> None:
    pass


def test_a_source_not_assigned_is_refused_before_the_lease_is_looked_at() -> None:
    m = Membership({}, group_id="g", topic="t", sources=["s1", "s2"], on_revoked=_nothing, on_assigned=_nothing)
    m.lease.grant(proven_at=time.monotonic())
    m.owned = frozenset({"s1"})
    assert m.write_refusal("s1") is None
    assert m.write_refusal("s2") == "not assigned to this daemon now"
