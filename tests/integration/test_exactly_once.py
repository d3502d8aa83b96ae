"""Real broker + simulator over HTTP + the daemon as a process: exactly once, in order."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from streamer.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread

from .check import check_against_truth
from .harness import DaemonProcess, assert_clean_log, unique_prefix, write_config

pytestmark = pytest.mark.integration


def test_history_of_a_30s_run_is_published_exactly_once_in_order(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=11, agents=24) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
        time.sleep(32)
        assert daemon.terminate() == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    assert figures["expected"] > 150, figures
    assert_clean_log(tmp_path / "daemon.log", "sim-token")


KILLS = int(os.environ.get("CCSTREAM_SOAK_KILLS", "5"))
"""`make soak` sets 100."""


@pytest.mark.timeout(max(120, KILLS * 8))
def test_restarts_clean_and_sigkill_resume_without_duplicates_or_gaps(broker: EmbeddedBroker, tmp_path: Path) -> None:
    rng = random.Random(2024)
    started = time.monotonic()
    with SimulatorThread(seed=5, agents=20) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
        log = tmp_path / "daemon.log"
        kills = 0
        for _ in range(KILLS):
            daemon = DaemonProcess(cfg, log).start()
            time.sleep(rng.uniform(0.3, 5.0))  # sometimes during start-up restore
            daemon.kill9()
            kills += 1
        daemon = DaemonProcess(cfg, log).start()
        time.sleep(6)
        assert daemon.terminate() == 0
        daemon = DaemonProcess(cfg, log).start()  # clean restart after a clean stop
        time.sleep(6)
        assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
    print(f"\nchaos: {kills} SIGKILLs in {time.monotonic() - started:.0f}s; compared {figures['expected']} history "
          f"activities: 0 lost, 0 duplicated; {figures['events']} events, {figures['late']} late")
    assert kills == KILLS and figures["expected"] > 100, figures
    assert_clean_log(log, "sim-token")
