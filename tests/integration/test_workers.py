"""`streamer run --workers N`: N processes of one host share the sources through the
group; the parent restarts a worker that dies and stops them all on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from streamer.cluster.status import group_status
from streamer.config.load import load_config
from streamer.config.model import dump_config
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_sources
from tests.integration.harness import (
    DaemonProcess,
    latest_checkpoints,
    unique_prefix,
    vonage_source,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration


def worker_pids(log: Path) -> list[int]:
    """Pids of the workers the supervisor started, in order (its JSON log)."""
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [e["pid"] for e in lines if e.get("event") == "worker started"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def owned_per_member(cfg: Path) -> dict[int, int]:
    """pid -> how many sources the member owns."""
    st = asyncio.run(group_status(load_config(cfg)))
    if st.unowned:
        return {}
    return {int(m.name.rpartition(":")[2]): len(m.owned) for m in st.members}


def agent_activity_cursors(cfg: Path) -> dict[str, int]:
    c = load_config(cfg)
    return {k: cp["cursors"]["agent-activities"] for k, cp in
            latest_checkpoints(c.kafka.bootstrap_servers, c.kafka.topic_prefix).items() if "agent-activities" in cp["cursors"]}


def owned_metric(port: int) -> float:
    """The sources a worker owns, by its metrics; NaN while its server does not answer (it
    binds again after a backoff when its port was taken at start)."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return float("nan")
    (line,) = [x for x in text.splitlines() if x.startswith("ccstream_owned_sources ")]
    return float(line.split()[1])


def two_free_ports() -> int:
    """A port whose next one is free too: worker ``i`` serves its metrics on ``port + i``."""
    while True:
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


def test_two_workers_share_the_sources_and_a_dead_one_is_restarted(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IT_VONAGE_TOKEN", "sim-token")
    port = two_free_ports()
    with SimulatorThread(seed=21, agents=6) as sim:
        ids = ["w0", "w1", "w2", "w3"]
        base = f"{sim.base_url}/vonage"
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=unique_prefix(), base_url=base,
                           id=ids[0], extra_sources=[vonage_source(i, base) for i in ids[1:]])
        tree = yaml.safe_load(cfg.read_text())
        tree["metrics"] = {"host": "127.0.0.1", "port": port}
        cfg.write_text(dump_config(tree))
        log = tmp_path / "workers.log"
        parent = DaemonProcess(cfg, log, args=["--workers", "2"]).start()
        try:
            assert wait_for(lambda: len(worker_pids(log)) == 2, 30), log.read_text()[-2000:]
            first = worker_pids(log)
            assert wait_for(lambda: owned_per_member(cfg) == {first[0]: 2, first[1]: 2}, 60), owned_per_member(cfg)
            # worker i serves its metrics on metrics.port + i
            assert wait_for(lambda: owned_metric(port) + owned_metric(port + 1) == 4, 30)

            os.kill(first[1], signal.SIGKILL)
            killed = time.monotonic()
            assert wait_for(lambda: len(worker_pids(log)) == 3, 30), log.read_text()[-2000:]
            restarted = worker_pids(log)[2]
            assert wait_for(lambda: owned_per_member(cfg) == {first[0]: 2, restarted: 2}, 60), owned_per_member(cfg)
            took = time.monotonic() - killed
            assert '"event": "worker died; restarting"' in log.read_text()

            # every source polls its history again, whoever owns it, before the stop
            assert wait_for(lambda: set(ids) <= set(agent_activity_cursors(cfg)), 60), agent_activity_cursors(cfg)
            assert parent.terminate(timeout=40) == 0, log.read_text()[-3000:]
            assert not alive(first[0]) and not alive(restarted)
        finally:
            for pid in worker_pids(log):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
        figures = check_sources(broker.bootstrap, load_config(cfg).kafka.topic_prefix, sim.world, ids)
    print(f"\n--workers 2: a SIGKILLed worker restarted and the group balanced again after {took:.1f}s; {figures}")
