"""Real broker + simulator over HTTP + the daemon as a process: exactly once, in order."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_against_truth, check_with_verify
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    cursor_past,
    metric_sample,
    unique_prefix,
    write_config,
)

pytestmark = pytest.mark.integration
QUICK_TAKEOVER = {"session_timeout": "2500ms", "heartbeat_interval": "300ms", "lease_margin": "800ms"}
"""A daemon started after a SIGKILL joins the group only once the killed member's session
has timed out: a short session keeps these single-daemon crash tests short. The fencing
they rely on holds at any session length (test_cluster.py runs the defaults)."""


def test_history_of_a_30s_run_is_published_exactly_once_in_order(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=11, agents=24) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
                           cluster=QUICK_TAKEOVER)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
        # a 30 s run: its history is checkpointed as published up to 30 s into the world
        daemon.wait_until(cursor_past(broker.bootstrap, prefix, "vonage-it", "agent-activities", sim.world.start_ms + 30_000),
                          "the checkpoint past 30 s of the world", timeout=120)
        assert daemon.terminate() == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    assert figures["expected"] > 150, figures
    assert_clean_log(tmp_path / "daemon.log", "sim-token")


def test_with_interactions_sealed_the_history_is_published_exactly_once(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """At the shortest ``state_retention`` the config allows here (twice the re-read horizon
    of 20 s + 10 s), the ledger seals what the vendor has not presented for 10 s, so the
    re-reads of the lookback present sealed interactions again, and a restart restores
    them: the history is still published exactly once."""
    port = free_port()
    with SimulatorThread(seed=12, agents=24) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
                           cluster=QUICK_TAKEOVER)
        cfg.write_text(cfg.read_text() + f"state_retention: 60s\nmetrics: {{host: 127.0.0.1, port: {port}}}\n")
        log = tmp_path / "daemon.log"

        def sealed() -> float:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return 0.0
            return metric_sample(text, "ccstream_ledger_entities", source="vonage-it", state="sealed")

        daemon = DaemonProcess(cfg, log).start()
        daemon.wait_until(lambda: sealed() >= 5, "5 interactions sealed (ccstream_ledger_entities)", timeout=90)
        assert daemon.terminate() == 0
        daemon = DaemonProcess(cfg, log).start()
        daemon.wait_restored()
        daemon.wait_until(lambda: sealed() >= 5, "5 interactions sealed after the restart", timeout=90)
        caught_up(daemon, broker.bootstrap, prefix, sim)
        assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    assert figures["expected"] > 100, figures
    assert_clean_log(log, "sim-token")


def caught_up(daemon: DaemonProcess, bootstrap: str, prefix: str, sim: SimulatorThread) -> None:
    """Until the daemon (just restored) has checkpointed the history up to the moment it
    restored: what the crashes left behind is published, and the comparison covers it."""
    restored_at = sim.world.now_ms()
    daemon.wait_until(cursor_past(bootstrap, prefix, "vonage-it", "agent-activities", restored_at),
                      "the checkpoint past the moment the daemon restored", timeout=90)


KILLS = int(os.environ.get("CCSTREAM_SOAK_KILLS", "5"))
"""`make soak` sets 100."""


@pytest.mark.timeout(max(120, KILLS * 8))
def test_restarts_clean_and_sigkill_resume_without_duplicates_or_gaps(broker: EmbeddedBroker, tmp_path: Path) -> None:
    rng = random.Random(2024)
    started = time.monotonic()
    with SimulatorThread(seed=5, agents=20) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
                           cluster=QUICK_TAKEOVER)
        log = tmp_path / "daemon.log"
        kills = 0
        for _ in range(KILLS):
            daemon = DaemonProcess(cfg, log).start()
            time.sleep(rng.uniform(0.3, 5.0))  # sometimes during start-up restore
            daemon.kill9()
            kills += 1
        for _ in range(2):  # the second: a clean restart after a clean stop
            daemon = DaemonProcess(cfg, log).start()
            daemon.wait_restored()
            caught_up(daemon, broker.bootstrap, prefix, sim)
            assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
        audit = check_with_verify(cfg, broker.bootstrap, prefix, sim.world)
    print(f"\nchaos: {kills} SIGKILLs in {time.monotonic() - started:.0f}s; compared {figures['expected']} history "
          f"activities: 0 lost, 0 duplicated; {figures['events']} events, {figures['late']} late; "
          f"streamer verify: {audit}")
    assert kills == KILLS and figures["expected"] > 100, figures
    assert_clean_log(log, "sim-token")


@pytest.mark.parametrize("point", ["after-publish", "after-state"])
def test_crash_at_each_critical_point_loses_and_duplicates_nothing(
    broker: EmbeddedBroker, tmp_path: Path, point: str
) -> None:
    """The daemon SIGKILLs itself at the named point (with some probability per commit) and
    is restarted until the run is over; then one clean run, and the usual comparison."""
    with SimulatorThread(seed=9, agents=12) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
                           cluster=QUICK_TAKEOVER)
        log = tmp_path / "daemon.log"
        # At least 14 s of run, and at least three crashes: how many commits a run makes
        # before its draw comes up is random, so the run goes on (up to 60 s) until it has them.
        crashes, started = 0, time.monotonic()
        while time.monotonic() - started < 14 or (crashes < 3 and time.monotonic() - started < 60):
            deadline = started + (14 if time.monotonic() - started < 14 else 60)
            daemon = DaemonProcess(cfg, log, env={"CCSTREAM_CRASH_AT": f"{point}:0.15"}).start()
            assert daemon.proc is not None
            try:
                code = daemon.proc.wait(max(0.1, deadline - time.monotonic()))
                assert code == -9, f"exited {code}"
                crashes += 1
            except subprocess.TimeoutExpired:
                daemon.terminate()
        daemon = DaemonProcess(cfg, log).start()
        daemon.wait_restored()
        # the state was read while the daemon waited for its group: the truth check covers that restore
        assert daemon.logged("restore went on from the state read during the join") == 1
        caught_up(daemon, broker.bootstrap, prefix, sim)
        assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    assert crashes >= 3, f"only {crashes} crashes at {point}"
    print(f"\n{point}: {crashes} crashes; {figures}")


def test_crash_during_restore_of_an_unflushed_tail(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """A run killed at a random moment leaves output past its checkpoint; the next start
    dies in the middle of reading it back; three times over, then a clean run."""
    rng = random.Random(77)
    with SimulatorThread(seed=10, agents=12) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
                           cluster=QUICK_TAKEOVER)
        log = tmp_path / "daemon.log"
        for _ in range(3):
            daemon = DaemonProcess(cfg, log).start()
            daemon.wait_restored()
            time.sleep(rng.uniform(0.5, 2.0))  # the kill at a random moment of the run: the fault
            daemon.kill9()
            dying = DaemonProcess(cfg, log, env={"CCSTREAM_CRASH_AT": "during-restore:1"}).start()
            assert dying.proc is not None and dying.proc.wait(30) == -9
        daemon = DaemonProcess(cfg, log).start()
        daemon.wait_restored()
        caught_up(daemon, broker.bootstrap, prefix, sim)
        assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    print(f"\nduring-restore: 3 crashes while reading back; {figures}")
