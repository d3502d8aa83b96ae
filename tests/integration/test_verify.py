"""`streamer verify` against a real run: the daemon's output proves out; a range it never
wrote is all missing; a record written twice is a duplicate. (After SIGKILLs, a broker
outage: see test_exactly_once and test_broker_outage, where verify is an oracle too.)"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.world import World
from streamer.timeutil import format_ms, parse_ts, to_ms
from tests.integration.harness import (
    ROOT,
    DaemonProcess,
    events,
    produce,
    unique_prefix,
    verify,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

PAST_S = 900
"""Simulated history before the test starts."""
INITIAL_LOOKBACK_S = 120
"""Where the daemon's history cursors start: it never reads what lies well before this."""


def watermarks(bootstrap: str, prefix: str) -> dict[str, int]:
    """Each endpoint's newest ``complete_up_to`` (ms)."""
    out: dict[str, int] = {}
    for e in events(bootstrap, prefix, "source"):
        if e["type"] == "cc.source.watermark":
            d = e["data"]
            out[d["endpoint"]] = max(out.get(d["endpoint"], 0), to_ms(parse_ts(d["complete_up_to"])))
    return out


def test_verify_proves_a_run_and_finds_what_is_missing_or_twice(broker: EmbeddedBroker, tmp_path: Path) -> None:
    world = World(31, 12, start=time.time() - PAST_S)
    with SimulatorThread(world=world) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage", initial_lookback=f"{INITIAL_LOOKBACK_S}s")
        started_ms = int(time.time() * 1000)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()

        def caught_up() -> bool:
            try:
                marks = watermarks(broker.bootstrap, prefix)
            except Exception:  # the topics are not there yet
                return False
            return all(marks.get(ep, 0) >= started_ms for ep in ("agent-activities", "interactions", "agent-status"))

        assert wait_for(caught_up, timeout=60), (tmp_path / "daemon.log").read_text()[-3000:]
        assert daemon.terminate() == 0

        # Read by the daemon's first poll, well inside its initial lookback: all there, once.
        good = (started_ms - 90_000, started_ms - 25_000)
        code, report, err = verify(cfg, *good)
        assert code == 0, (err, report)
        assert report is not None and report["missing"] == report["duplicates"] == 0
        assert report["expected"] == report["found"] > 20, report
        assert report["by_type"]["cc.agent.presence.changed"]["expected"] > 0
        assert all(c["verifiable"] == (t != "cc.agent.session.ended" and t != "cc.agent.session.started")
                   for t, c in report["by_type"].items()), report["by_type"]
        print(f"\nverify of 65 s read by the daemon's first poll: {report['expected']} expected, all found once; "
              f"{report['unexpected']} unexpected; by type {report['by_type']}")
        cov = {c["endpoint"]: c for c in report["coverage"]}
        assert cov["agent-activities"]["status"] == cov["interactions"]["status"] == "covered", cov

        # Minutes before the daemon's first read: never written.
        never = (world.start_ms + 60_000, world.start_ms + 300_000)
        code, report, err = verify(cfg, *never)
        assert code == 1, (err, report)
        assert report is not None and report["missing"] == report["expected"] > 0 and report["found"] == 0, report
        assert report["missing_events"] and report["missing_from"] >= report["from"]

        # One event record produced a second time.
        lo, hi = good
        record = next(e for e in events(broker.bootstrap, prefix, "agent")
                      if e["type"] == "cc.agent.presence.changed" and lo <= to_ms(parse_ts(e["time"])) < hi)
        value = {k: v for k, v in record.items() if not k.startswith("_")}
        produce(broker.bootstrap, prefix, "agent", record["_key"].encode(), msgspec.json.encode(value))
        code, report, err = verify(cfg, *good)
    assert code == 1, (err, report)
    assert report is not None and report["duplicates"] == 1 and report["missing"] == 0, report
    assert report["by_type"]["cc.agent.presence.changed"]["duplicates"] == 1


def test_the_text_report_prints_the_backfill_that_would_publish_what_is_missing(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    """No daemon at all: everything is missing, and the printed command publishes it."""
    world = World(32, 6, start=time.time() - 600)
    with SimulatorThread(world=world) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage")
        span = format_ms(world.start_ms + 60_000), format_ms(world.start_ms + 180_000)
        args = ["--config", str(cfg), "--source", "vonage-it", "--from", span[0], "--to", span[1]]
        no_topics = streamer("verify", *args)
        assert no_topics.returncode == 2 and "not created yet" in no_topics.stderr, no_topics.stderr
        produce(broker.bootstrap, prefix, "source", b"x/x", b"{}")  # the topics, empty for this source
        text = streamer("verify", *args)
        assert text.returncode == 1, text.stderr
        assert "FAILED" in text.stdout and "cc.agent.presence.changed" in text.stdout
        command = next(line.strip() for line in text.stdout.splitlines() if line.strip().startswith("streamer backfill"))
        published = streamer(*shlex.split(command)[1:])
        assert published.returncode == 0, published.stderr
        again = streamer("verify", *args, "--json")
    assert again.returncode == 0, again.stderr
    report = msgspec.json.decode(again.stdout)
    assert report["expected"] == report["found"] > 0 and report["missing"] == report["duplicates"] == 0


def streamer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamer.cli", *args], cwd=ROOT,
                          env={**os.environ, "IT_VONAGE_TOKEN": "sim-token"}, capture_output=True, text=True,
                          timeout=100)
