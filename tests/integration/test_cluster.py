"""Several daemons share one config's sources through their Kafka group: each test runs
real daemon processes against the embedded broker and the simulator, then checks every
source against the simulator's truth (0 history rows lost, 0 duplicate ids, 0 reused
sequence numbers) and prints how long the takeover took."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from streamer.cluster.status import GroupStatus, group_status
from streamer.config.load import load_config
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_sources
from tests.integration.harness import (
    ROOT,
    DaemonProcess,
    assert_clean_log,
    events,
    latest_checkpoints,
    unique_prefix,
    vonage_source,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IT_VONAGE_TOKEN", "sim-token")  # for load_config in this process


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(seed=12, agents=6) as s:
        yield s


def cluster_config(tmp_path: Path, broker: EmbeddedBroker, sim: SimulatorThread, sources: int) -> tuple[Path, list[str]]:
    ids = [f"s{i:02d}" for i in range(sources)]
    base = f"{sim.base_url}/vonage"
    defaults = {"session_timeout": "6s", "heartbeat_interval": "1s", "lease_margin": "1.5s"}  # what users get
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=unique_prefix(), base_url=base,
                       id=ids[0], extra_sources=[vonage_source(i, base) for i in ids[1:]], cluster=defaults)
    return cfg, ids


def status(cfg: Path) -> GroupStatus:
    return asyncio.run(group_status(load_config(cfg)))


def shares(cfg: Path) -> dict[str, set[str]]:
    """member name (host:pid) -> the sources it owns now."""
    return {m.name: set(m.owned) for m in status(cfg).members}


def pid_of(d: DaemonProcess) -> str:
    assert d.proc is not None
    return str(d.proc.pid)


def owned_by(cfg: Path, d: DaemonProcess) -> set[str]:
    return next((s for name, s in shares(cfg).items() if name.endswith(f":{pid_of(d)}")), set())


def balanced(cfg: Path, daemons: list[DaemonProcess], sources: list[str]) -> bool:
    """Every source owned, by exactly these daemons, with shares that differ by at most one."""
    st = status(cfg)
    pids = {m.name.rpartition(":")[2] for m in st.members}
    sizes = [len(m.owned) for m in st.members]
    return (pids == {pid_of(d) for d in daemons} and not st.unowned
            and sorted(s for m in st.members for s in m.owned) == sorted(sources) and max(sizes) - min(sizes) <= 1)


def checkpoints(cfg: Path) -> dict[str, dict[str, object]]:
    c = load_config(cfg)
    return latest_checkpoints(c.kafka.bootstrap_servers, c.kafka.topic_prefix)


def epochs(cfg: Path) -> dict[str, int]:
    """source -> the owner epoch of its latest checkpoint."""
    return {k: int(cp["owner_epoch"]) for k, cp in checkpoints(cfg).items()}  # type: ignore[call-overload]


def cursors(cfg: Path) -> dict[str, int]:
    """source -> the agent-activities cursor (vendor ms) of its latest checkpoint."""
    return {k: cp["cursors"].get("agent-activities", 0) for k, cp in checkpoints(cfg).items()}  # type: ignore[attr-defined]


def run_on(cfg: Path, ids: list[str], seconds: float) -> None:
    """Until every source has read its history ``seconds`` past now (whoever owns it)."""
    target = int((time.time() + seconds) * 1000)
    assert wait_for(lambda: all(c >= target for c in (cursors(cfg).get(i, 0) for i in ids)), seconds + 60), cursors(cfg)


def resumed(cfg: Path, moved: set[str], after_epoch: int) -> bool:
    """Every moved source has a checkpoint from its new owner (a newer epoch)."""
    now = epochs(cfg)
    return all(now.get(s, 0) > after_epoch for s in moved)


def stop_all(daemons: list[DaemonProcess]) -> None:
    for d in daemons:
        if d.alive():
            assert d.proc is not None
            d.proc.send_signal(signal.SIGTERM)
    for d in daemons:
        if d.proc is not None:
            assert d.proc.wait(30) in (0, -9), d.log.read_text()[-3000:]


SOURCE_GAUGES = ("ccstream_endpoint_healthy", "ccstream_last_successful_poll_timestamp_seconds",
                 "ccstream_last_checkpoint_timestamp_seconds", "ccstream_ledger_entities")


def with_metrics(cfg: Path, port: int) -> Path:
    """The same config, serving /metrics on ``port`` (one daemon per port)."""
    tree = yaml.safe_load(cfg.read_text())
    tree["metrics"] = {"host": "127.0.0.1", "port": port}
    out = cfg.with_name(f"{cfg.stem}-metrics-{port}.yaml")
    out.write_text(yaml.safe_dump(tree))
    return out


def labelled_sources(port: int, names: tuple[str, ...]) -> set[str]:
    """The ``source`` labels of these metrics' series on a daemon's /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {line.split('source="', 1)[1].split('"', 1)[0]
            for line in text.splitlines() if line.startswith(names) and 'source="' in line}


def no_gaps(cfg: Path) -> list[dict[str, object]]:
    c = load_config(cfg)
    return [e for e in events(c.kafka.bootstrap_servers, c.kafka.topic_prefix, "source") if e["type"] == "cc.source.gap"]


def test_three_daemons_share_twelve_sources_and_a_kill9_moves_only_its_share(
    broker: EmbeddedBroker, sim: SimulatorThread, tmp_path: Path
) -> None:
    cfg, ids = cluster_config(tmp_path, broker, sim, 12)
    daemons = [DaemonProcess(cfg, tmp_path / f"d{i}.log").start() for i in range(3)]
    assert wait_for(lambda: balanced(cfg, daemons, ids), 60), shares(cfg)
    before = shares(cfg)
    assert sorted(len(s) for s in before.values()) == [4, 4, 4]
    cli = subprocess.run([sys.executable, "-m", "streamer.cli", "status", "--config", str(cfg), "--json"], cwd=ROOT,
                         env={**os.environ, "IT_VONAGE_TOKEN": "sim-token"}, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert {m["name"]: set(m["owned"]) for m in json.loads(cli.stdout)["members"]} == before
    assert wait_for(lambda: set(ids) <= set(epochs(cfg)), 30)  # every source has checkpointed

    victim, survivors = daemons[1], [daemons[0], daemons[2]]
    moved = owned_by(cfg, victim)
    old_epoch = max(epochs(cfg).values())
    killed = time.monotonic()
    victim.kill9()
    assert wait_for(lambda: balanced(cfg, survivors, ids), 60), shares(cfg)
    reassigned = time.monotonic() - killed
    assert wait_for(lambda: resumed(cfg, moved, old_epoch), 60)
    took = time.monotonic() - killed
    after = shares(cfg)
    for d in survivors:  # sticky: a survivor kept what it had and only took some of the victim's
        mine = next(s for name, s in before.items() if name.endswith(f":{pid_of(d)}"))
        now = next(s for name, s in after.items() if name.endswith(f":{pid_of(d)}"))
        assert mine <= now and now - mine <= moved, (mine, now)
    run_on(cfg, ids, 3)  # the survivors poll the moved sources for a while
    stop_all(survivors)
    figures = check_sources(broker.bootstrap, load_config(cfg).kafka.topic_prefix, sim.world, ids)
    print(f"\nkill -9 of 1 of 3 daemons: its {len(moved)} sources reassigned after {reassigned:.1f}s, "
          f"polled and checkpointed by the others after {took:.1f}s; {figures}")
    assert took <= 15.0, f"takeover took {took:.1f}s (session timeout 6 s + rebalance + restore)"
    for d in survivors:
        assert_clean_log(d.log, "sim-token")


def test_a_frozen_daemon_is_fenced_and_writes_nothing_when_it_thaws(
    broker: EmbeddedBroker, sim: SimulatorThread, tmp_path: Path
) -> None:
    cfg, ids = cluster_config(tmp_path, broker, sim, 6)
    daemons = [DaemonProcess(cfg, tmp_path / f"d{i}.log").start() for i in range(2)]
    assert wait_for(lambda: balanced(cfg, daemons, ids), 60), shares(cfg)
    assert wait_for(lambda: set(ids) <= set(epochs(cfg)), 30)
    frozen, other = daemons
    moved = owned_by(cfg, frozen)
    old_epoch = max(epochs(cfg).values())
    assert frozen.proc is not None
    frozen.proc.send_signal(signal.SIGSTOP)  # mid-poll, maybe mid-commit: records may sit in its producer
    stopped = time.monotonic()
    try:
        assert wait_for(lambda: owned_by(cfg, other) == set(ids), 60), shares(cfg)
        assert wait_for(lambda: resumed(cfg, moved, old_epoch), 60)
        took = time.monotonic() - stopped
        run_on(cfg, sorted(moved), 2)  # the other daemon writes the moved sources while this one is frozen
    finally:
        frozen.proc.send_signal(signal.SIGCONT)
    thawed = time.monotonic()
    # It learns it was expelled at its next heartbeat, rejoins, and gets its share back.
    assert wait_for(lambda: balanced(cfg, daemons, ids), 60), shares(cfg)
    rejoined = time.monotonic() - thawed
    run_on(cfg, ids, 3)
    stop_all(daemons)
    figures = check_sources(broker.bootstrap, load_config(cfg).kafka.topic_prefix, sim.world, ids)
    log = frozen.log.read_text()
    print(f"\nSIGSTOP of 1 of 2 daemons: its {len(moved)} sources taken over after {took:.1f}s; "
          f"after SIGCONT it rejoined in {rejoined:.1f}s; {figures}")
    assert "expelled from the group; stopped writing" in log or "held back" in log or "not writable by this daemon now" in log, \
        "the thawed daemon must have noticed it lost its sources"


def test_a_rolling_restart_loses_nothing_and_publishes_no_gap(
    broker: EmbeddedBroker, sim: SimulatorThread, tmp_path: Path
) -> None:
    cfg, ids = cluster_config(tmp_path, broker, sim, 6)
    daemons = [DaemonProcess(cfg, tmp_path / f"old{i}.log").start() for i in range(2)]
    assert wait_for(lambda: balanced(cfg, daemons, ids), 60), shares(cfg)
    handovers = []
    for i in range(2):  # maxSurge 1: the new daemon joins, then an old one is terminated
        new = DaemonProcess(cfg, tmp_path / f"new{i}.log").start()
        daemons.append(new)
        assert wait_for(lambda: balanced(cfg, [d for d in daemons if d.alive()], ids), 60), shares(cfg)
        old = daemons[i]
        gone = owned_by(cfg, old)
        epoch = max(epochs(cfg).values())
        started = time.monotonic()
        assert old.terminate() == 0, old.log.read_text()[-3000:]
        assert wait_for(lambda: balanced(cfg, [d for d in daemons if d.alive()], ids), 60), shares(cfg)
        assert wait_for(lambda: resumed(cfg, gone, epoch), 60)
        handovers.append(time.monotonic() - started)
    run_on(cfg, ids, 2)
    stop_all(daemons)
    prefix = load_config(cfg).kafka.topic_prefix
    figures = check_sources(broker.bootstrap, prefix, sim.world, ids)
    print(f"\nrolling restart of 2 daemons: handovers took {', '.join(f'{h:.1f}s' for h in handovers)} "
          f"(SIGTERM to the new owner's first checkpoint); {figures}")
    assert no_gaps(cfg) == []
    for d in daemons:
        assert_clean_log(d.log, "sim-token")


def test_scaling_one_to_three_and_back_to_one(broker: EmbeddedBroker, sim: SimulatorThread, tmp_path: Path) -> None:
    cfg, ids = cluster_config(tmp_path, broker, sim, 12)
    port = free_port()
    first = DaemonProcess(with_metrics(cfg, port), tmp_path / "d0.log").start()
    assert wait_for(lambda: balanced(cfg, [first], ids), 60), shares(cfg)
    assert wait_for(lambda: set(ids) <= set(epochs(cfg)), 30)
    assert wait_for(lambda: labelled_sources(port, SOURCE_GAUGES) == set(ids), 30)
    started = time.monotonic()
    added = [DaemonProcess(cfg, tmp_path / f"d{i}.log").start() for i in (1, 2)]
    assert wait_for(lambda: balanced(cfg, [first, *added], ids), 60), shares(cfg)
    up = time.monotonic() - started
    kept = owned_by(cfg, first)
    assert len(kept) == 4  # only the 8 that had to move moved
    # The gauges of the 8 that moved leave the first daemon's /metrics (their new owners
    # show them); its counters keep every source it ran.
    assert labelled_sources(port, SOURCE_GAUGES) == kept
    assert labelled_sources(port, ("ccstream_polls_total",)) == set(ids)
    run_on(cfg, ids, 3)
    started = time.monotonic()
    for d in added:
        assert d.terminate() == 0
    assert wait_for(lambda: balanced(cfg, [first], ids), 60), shares(cfg)
    down = time.monotonic() - started
    run_on(cfg, ids, 2)
    assert labelled_sources(port, SOURCE_GAUGES) == set(ids)  # back, from the sources' first commits and polls
    stop_all([first])
    prefix = load_config(cfg).kafka.topic_prefix
    figures = check_sources(broker.bootstrap, prefix, sim.world, ids)
    print(f"\nscale 1 -> 3 balanced after {up:.1f}s, 3 -> 1 after {down:.1f}s; {figures}")
    assert no_gaps(cfg) == []
    for d in [first, *added]:
        assert_clean_log(d.log, "sim-token")
