"""The lease a member writes under: granted by a join, renewed by heartbeats, voided at once."""

from __future__ import annotations

from streamer.cluster.membership import Lease


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
