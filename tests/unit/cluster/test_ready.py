"""/readyz: ready only while the daemon is a member of its group."""

from __future__ import annotations

import time

from streamer.config.load import parse_config
from streamer.engine.daemon import Daemon
from streamer.ops.metrics import Metrics


def test_ready_only_while_a_member_of_the_group() -> None:
    cfg = parse_config({
        "kafka": {"topic_prefix": "acme"},
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://127.0.0.1:9/vonage",
                     "auth": {"type": "bearer", "token": "t"}}],
    })
    daemon = Daemon(cfg, metrics=Metrics())
    daemon.publisher._producer = object()  # type: ignore[assignment]  # as if started and reachable
    daemon.publisher.reachable = True
    assert daemon.ready() == (False, "not a member of group acme.streamer (joining or rebalancing)")

    daemon.membership.owned = frozenset({"s1"})
    daemon.membership.lease.grant(time.monotonic())
    assert daemon.ready() == (False, "s1: starting")  # a member, its source not polling yet

    daemon.membership.owned = frozenset()  # more daemons than sources: a member with nothing is ready
    assert daemon.ready() == (True, "ok")

    daemon.membership.lease.void()  # a rebalance, or expelled
    assert daemon.ready()[0] is False
