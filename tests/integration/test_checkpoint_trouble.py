"""A missing, corrupt or newer-version checkpoint: a clear log line and the configured
policy (fail, or resume-from-now with a gap event), never a silent reset."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from tests.integration.harness import (
    DaemonProcess,
    events,
    events_so_far,
    health_events,
    produce,
    unique_prefix,
    write_config,
)

pytestmark = pytest.mark.integration
SOURCE = "vonage-it"


ENDPOINTS = {"agent-status", "agent-activities", "interactions"}


def _run(broker: EmbeddedBroker, tmp_path: Path, sim: SimulatorThread, prefix: str, policy: str,
         until: Callable[[], bool], what: str) -> str:
    """Run the daemon with ``policy`` until ``until()`` holds; its log."""
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
    text = cfg.read_text() + f"checkpoint_policy: {policy}\n"
    cfg.write_text(text)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    daemon.wait_until(until, what)  # fails if the daemon dies: it must keep running whatever the checkpoint says
    assert daemon.terminate() == 0
    return (tmp_path / "daemon.log").read_text()


def _health(bootstrap: str, prefix: str) -> list[dict]:
    return health_events(bootstrap, prefix)


def _stopped(bootstrap: str, prefix: str) -> Callable[[], bool]:
    """Every endpoint reported failing (the source stopped)."""
    return lambda: {h["endpoint"] for h in _health(bootstrap, prefix) if h["status"] == "failing"} == ENDPOINTS


def test_corrupt_checkpoint_with_policy_fail_stops_the_source_loudly(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    produce(broker.bootstrap, prefix, "streamer.checkpoints", SOURCE.encode(), b'{"version": 1, "cursors": {')
    with SimulatorThread(seed=2, agents=6) as sim:
        log = _run(broker, tmp_path, sim, prefix, "fail", _stopped(broker.bootstrap, prefix), "the source stopped")
    assert "checkpoint unusable; source stopped" in log and "corrupt" in log
    failing = [h for h in _health(broker.bootstrap, prefix) if h["status"] == "failing"]
    assert {h["endpoint"] for h in failing} == {"agent-status", "agent-activities", "interactions"}
    assert all("corrupt" in h["reason"] for h in failing)
    assert events(broker.bootstrap, prefix, "agent", "interaction") == []  # nothing published past it


def test_state_without_checkpoint_is_missing_not_a_first_run(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    state = {"seq": 3, "touched_ms": 1, "seen_ms": 1, "streams": {}}
    produce(broker.bootstrap, prefix, "streamer.state", f"{SOURCE}|agent/01".encode(), msgspec.json.encode(state))
    with SimulatorThread(seed=2, agents=6) as sim:
        log = _run(broker, tmp_path, sim, prefix, "fail", _stopped(broker.bootstrap, prefix), "the source stopped")
    assert "checkpoint unusable; source stopped" in log and '"kind": "missing"' in log
    assert events(broker.bootstrap, prefix, "agent") == []


def test_newer_checkpoint_with_resume_from_now_publishes_a_gap_and_goes_on(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    written = int(time.time() * 1000) - 60_000
    newer = {"version": 99, "source_id": SOURCE, "cursors": {}, "offsets": {}, "written_ms": written}
    produce(broker.bootstrap, prefix, "streamer.checkpoints", SOURCE.encode(), msgspec.json.encode(newer))
    with SimulatorThread(seed=2, agents=6) as sim:
        def resumed() -> bool:
            """A gap for every endpoint, and the source publishing again."""
            gaps = {e["data"]["endpoint"] for e in events_so_far(broker.bootstrap, prefix, "source")
                    if e["type"] == "cc.source.gap"}
            return gaps == ENDPOINTS and bool(events_so_far(broker.bootstrap, prefix, "agent"))

        log = _run(broker, tmp_path, sim, prefix, "resume-from-now", resumed, "gaps and the source running again")
    assert "resuming from now" in log and '"kind": "newer"' in log
    gaps = [e["data"] for e in events(broker.bootstrap, prefix, "source") if e["type"] == "cc.source.gap"]
    assert {g["endpoint"] for g in gaps} == {"agent-status", "agent-activities", "interactions"}
    assert all("checkpoint newer" in g["reason"] for g in gaps)
    assert all(g["from"] == gaps[0]["from"] and g["from"] < g["to"] for g in gaps)
    assert events(broker.bootstrap, prefix, "agent"), "the source runs again after resuming"
