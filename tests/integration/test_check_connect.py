"""`streamer check-config --connect` reaches the broker and every endpoint, and says which fail."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from tests.integration.harness import ROOT, unique_prefix, write_config

pytestmark = pytest.mark.integration


def run(cfg: Path, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IT_VONAGE_TOKEN": token}
    return subprocess.run([sys.executable, "-m", "streamer.cli", "check-config", "--config", str(cfg), "--connect"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_check_config_connect(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=61, agents=4) as sim:
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=unique_prefix(),
                           base_url=f"{sim.base_url}/vonage", max_attempts=1)
        good = run(cfg, "sim-token")
        bad = run(cfg, "wrong-token-3a1")
    assert good.returncode == 0, good.stdout + good.stderr
    for ep in ("agent-status", "agent-activities", "interactions"):
        assert f"vonage-it/{ep}: OK" in good.stdout
    assert "kafka 127.0.0.1" in good.stdout and ": OK" in good.stdout
    assert bad.returncode == 1
    assert "vonage-it/agent-status: FAILED" in bad.stdout and "401" in bad.stdout
    assert "wrong-token-3a1" not in bad.stdout + bad.stderr
