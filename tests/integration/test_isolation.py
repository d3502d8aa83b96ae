"""One bad vendor never stops the others: each source polls and backs off on its own.
(How much the bad one slows the healthy one is measured by `make bench`: bench/isolation.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.timeutil import parse_ts, to_ms
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    events,
    health_events,
    read_topic,
    unique_prefix,
    vonage_source,
    write_config,
)

pytestmark = pytest.mark.integration
ADVANCES = 5
"""How many times the healthy source's checkpoint must move on while the other one fails."""


def cursors_written_after(bootstrap: str, prefix: str, source_id: str, after_ms: int) -> list[int]:
    """The source's agent-activities cursors in the checkpoints it wrote after ``after_ms``, in order."""
    cps = [msgspec.json.decode(r.value) for r in read_topic(bootstrap, f"{prefix}.streamer.checkpoints")
           if r.key == source_id.encode() and r.value]
    return [cp["cursors"]["agent-activities"] for cp in cps
            if cp.get("written_ms", 0) > after_ms and "agent-activities" in cp["cursors"]]


def unhealthy(health: list[dict[str, Any]], source_id: str) -> list[dict[str, Any]]:
    return [h for h in health if h["source_id"] == source_id and h["status"] in ("degraded", "failing")]


def test_a_failing_vendor_does_not_stop_a_healthy_one(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=31, agents=12) as bad, SimulatorThread(seed=32, agents=12) as good:
        bad.faults.update(latency_ms=3000, server_errors=10_000)  # slow and failing throughout
        prefix = unique_prefix()
        healthy = vonage_source("vonage-good", f"{good.base_url}/vonage")
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{bad.base_url}/vonage", extra_sources=[healthy], max_attempts=3)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
        daemon.wait_until(lambda: unhealthy(health_events(broker.bootstrap, prefix), "vonage-it"),
                          "the failing source reported unhealthy", timeout=60)
        failing_from = int(time.time() * 1000)
        # while it goes on failing, the healthy one goes on committing
        daemon.wait_until(
            lambda: len(set(cursors_written_after(broker.bootstrap, prefix, "vonage-good", failing_from))) >= ADVANCES,
            f"the healthy source's checkpoint advanced {ADVANCES} times", timeout=60)
        assert daemon.terminate() == 0

    advanced = cursors_written_after(broker.bootstrap, prefix, "vonage-good", failing_from)
    assert advanced == sorted(advanced), advanced
    evs = events(broker.bootstrap, prefix, "agent", "interaction", "source")
    health = [e["data"] for e in evs if e["type"] == "cc.source.health.changed"]
    assert unhealthy(health, "vonage-it") and not unhealthy(health, "vonage-good"), health
    assert not [h for h in health if h["source_id"] == "vonage-it" and h["status"] == "healthy"], health
    # the healthy one's snapshot saw changes live while the other was failing
    assert [e for e in evs if e["source"] == "/vonage/vonage-good/agent-status"
            and to_ms(parse_ts(e["time"])) > failing_from]
    assert not [e for e in evs if e["source"].startswith("/vonage/vonage-it/") and e["type"].startswith("cc.agent")]
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
