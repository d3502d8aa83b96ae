"""`streamer backfill` over a past hour of the simulator: exactly the history of the range,
once, marked backfill, with progress; a second run resumes to 'already done'."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.world import World
from streamer.timeutil import format_ts, from_ms
from tests.integration.check import derived_truth
from tests.integration.harness import ROOT, event_key, events, read_topic, truth_key, unique_prefix, write_config

pytestmark = pytest.mark.integration


def backfill(cfg: Path, start: str, end: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IT_VONAGE_TOKEN": "sim-token"}
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", "backfill", "--config", str(cfg), "--source", "vonage-it",
         "--from", start, "--to", end], cwd=ROOT, env=env, capture_output=True, text=True, timeout=100)


def test_backfill_a_past_hour(broker: EmbeddedBroker, tmp_path: Path) -> None:
    world = World(71, 12, start=time.time() - 3600)
    with SimulatorThread(world=world) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
        start_ms, end_ms = world.start_ms + 5 * 60_000, world.start_ms + 45 * 60_000
        start, end = format_ts(from_ms(start_ms)), format_ts(from_ms(end_ms))
        first = backfill(cfg, start, end)
        assert first.returncode == 0, first.stderr[-2000:]
        second = backfill(cfg, start, end)
        truth = world.activities()

    assert "agent-activities [" in first.stderr and "100%" in first.stderr
    assert "agent-activities: already done" in second.stderr and "0 events published" in second.stderr
    evs = events(broker.bootstrap, prefix, "agent", "interaction")
    assert evs and all(e["data"]["backfill"] for e in evs)
    expected = {truth_key(a) for a in truth if start_ms <= a.start_ms < end_ms}
    got = Counter(k for k in map(event_key, evs) if k is not None)
    derived, _ = derived_truth(world, end_ms, 0)  # the part ends and holds the daemon derives
    assert expected <= set(got) and set(got) - expected <= derived and max(got.values()) == 1
    assert len({e["id"] for e in evs}) == len(evs)
    transfers = [e for e in evs if e["type"] == "cc.interaction.transferred"]
    assert transfers, "a 40-minute range of the simulator has transfers"
    # The live owner's checkpoint and state are the daemon's alone: a backfill keeps its own.
    own = f"vonage-it~backfill~{start_ms}-{end_ms}"
    checkpoints = {r.key.decode() for r in read_topic(broker.bootstrap, f"{prefix}.streamer.checkpoints")}
    states = {r.key.decode().partition("|")[0] for r in read_topic(broker.bootstrap, f"{prefix}.streamer.state")}
    assert checkpoints == {own} and states <= {own}, (checkpoints, states)
