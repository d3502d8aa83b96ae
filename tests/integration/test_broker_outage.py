"""The broker unreachable for a minute: nothing lost, nothing duplicated, memory bounded,
recovery on its own within seconds, and the outage visible in health events."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.simulator.app import SimulatorThread
from streamer.timeutil import format_ms, parse_ts
from tests.integration.check import check_against_truth, check_with_verify
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    cursor_of,
    cursor_past,
    events,
    health_events,
    unique_prefix,
    wait_for,
    write_config,
)
from tests.integration.proxy import TcpProxy

pytestmark = pytest.mark.integration
OUTAGE_S = int(os.environ.get("CCSTREAM_OUTAGE_S", "20"))
"""`make soak` cuts for the full minute."""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def source_health(bootstrap: str, prefix: str) -> list[dict]:
    """Health events as published (with their time), in order."""
    evs = [e for e in events(bootstrap, prefix, "source") if e["type"] == "cc.source.health.changed"]
    return sorted(evs, key=lambda e: (e["_partition"], e["_offset"]))


@contextmanager
def proxied_broker(tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, TcpProxy]]:
    """A broker of the test's own, reached (and advertised) only through a proxy it can cut."""
    proxy_port = free_port()
    with EmbeddedBroker(advertised_port=proxy_port, log_file=tmp_path / "broker.log") as broker:
        proxy = TcpProxy(broker.port)
        proxy.port = proxy_port
        with proxy:
            yield broker, proxy


@pytest.mark.timeout(OUTAGE_S + 100)
def test_the_broker_away_loses_nothing(tmp_path: Path) -> None:
    with proxied_broker(tmp_path) as (broker, proxy):
        proxy_port = proxy.port
        with SimulatorThread(seed=21, agents=16) as sim:
            prefix = unique_prefix()
            cfg = write_config(tmp_path / "c.yaml", bootstrap=f"127.0.0.1:{proxy_port}", prefix=prefix,
                               base_url=f"{sim.base_url}/vonage", kafka={"request_timeout": "5s"})
            daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
            # running in earnest before the cut: history checkpointed, every endpoint healthy
            daemon.wait_until(lambda: cursor_of(broker.bootstrap, prefix, "vonage-it", "interactions") > 0
                              and len(health_events(broker.bootstrap, prefix)) >= 3,
                              "a checkpoint and every endpoint's health", timeout=60)
            assert daemon.proc is not None
            rss_before = rss_kib(daemon.proc.pid)
            proxy.cut()
            cut_at = time.time()
            peak = rss_before
            while time.time() - cut_at < OUTAGE_S:  # the outage: the fault itself
                time.sleep(2)
                assert daemon.alive()
                peak = max(peak, rss_kib(daemon.proc.pid))
            proxy.restore()
            restored_at = time.time()

            def published_after_restore() -> bool:
                return any(parse_ts(e["observedtime"]).timestamp() > restored_at
                           for e in events(broker.bootstrap, prefix, "agent"))

            daemon.wait_until(published_after_restore, "an event published after the broker came back", timeout=30)
            recovery_s = time.time() - restored_at
            # recovered in full: the history checkpointed past the outage, the source healthy again
            for endpoint in ("agent-activities", "interactions"):
                daemon.wait_until(cursor_past(broker.bootstrap, prefix, "vonage-it", endpoint, int(restored_at * 1000)),
                                  f"the {endpoint} checkpoint past the outage", timeout=60)
            daemon.wait_until(lambda: any(e["data"]["status"] == "healthy" and parse_ts(e["time"]).timestamp() > restored_at
                                          for e in source_health(broker.bootstrap, prefix)),
                              "a healthy health event after the outage", timeout=60)
            assert daemon.terminate() == 0
            figures = check_against_truth(broker.bootstrap, prefix, sim.world)
            figures.update(check_with_verify(cfg, broker.bootstrap, prefix, sim.world))
            source_events = events(broker.bootstrap, prefix, "source")
            health = [e for e in source_events if e["type"] == "cc.source.health.changed"]
            gaps = [e["data"] for e in source_events if e["type"] == "cc.source.gap"]
            filled = [e for e in events(broker.bootstrap, prefix, "agent", "interaction") if e["data"].get("fill")]

    growth_mib = (peak - rss_before) / 1024
    print(f"\noutage {OUTAGE_S}s: RSS {rss_before / 1024:.1f} MiB -> peak {peak / 1024:.1f} MiB "
          f"(+{growth_mib:.1f} MiB); recovered in {recovery_s:.1f}s; {figures}")
    assert growth_mib < 30, f"memory grew {growth_mib:.1f} MiB during the outage"
    assert recovery_s < 15, recovery_s
    during = [e for e in health if cut_at <= parse_ts(e["time"]).timestamp() <= restored_at
              and e["data"]["status"] in ("degraded", "failing")]
    assert during and all("kafka" in e["data"]["reason"] for e in during), health
    assert health[-1]["data"]["status"] == "healthy" or any(
        e["data"]["status"] == "healthy" and parse_ts(e["time"]).timestamp() > restored_at for e in health)
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
    # silence is information: the stretch without publishing is a gap, and what the
    # history re-read after it is marked as a fill
    assert {g["endpoint"] for g in gaps} >= {"agent-activities", "interactions"}, gaps
    # A gap starts at the endpoint's last successful poll. After the cut a snapshot poll
    # with nothing to publish still succeeds (it needs no Kafka) until the first failed
    # commit is reported; from then on every poll carries that health event. So the gap
    # starts by the first failure, however long the source stayed quiet after the cut.
    first_failure = min(parse_ts(e["time"]).timestamp() for e in during)
    assert all("kafka" in g["reason"] and parse_ts(g["from"]).timestamp() <= first_failure
               for g in gaps), ([(g["endpoint"], g["from"], g["reason"]) for g in gaps], format_ms(int(first_failure * 1000)))
    assert filled and all(e["source"].endswith(("/agent-activities", "/interactions")) for e in filled)


@pytest.mark.timeout(90)
def test_sigterm_with_the_broker_frozen_still_stops_the_daemon(tmp_path: Path) -> None:
    """A last commit cannot wait for ever on a broker that stopped answering: the daemon
    exits within its shutdown deadline (the next start's read-back covers what it wrote)."""
    from streamer.engine.daemon import SHUTDOWN_GRACE_S

    log = tmp_path / "daemon.log"
    with proxied_broker(tmp_path) as (broker, proxy):
        proxy_port = proxy.port
        with SimulatorThread(seed=22, agents=8) as sim:
            prefix = unique_prefix()
            cfg = write_config(tmp_path / "c.yaml", bootstrap=f"127.0.0.1:{proxy_port}", prefix=prefix,
                               base_url=f"{sim.base_url}/vonage")
            daemon = DaemonProcess(cfg, log).start()

            def published() -> bool:
                try:
                    return len(events(broker.bootstrap, prefix, "agent")) > 0
                except KafkaUnavailableError:  # topics not created yet
                    return False

            assert wait_for(published, timeout=30)
            proxy.stall()
            # a commit went out to the frozen broker: it waits for an answer that never comes
            assert wait_for(lambda: proxy.swallowed > 0, timeout=30)
            assert daemon.proc is not None
            sent = time.monotonic()
            daemon.proc.send_signal(signal.SIGTERM)
            code = daemon.proc.wait(SHUTDOWN_GRACE_S + 20)
            took = time.monotonic() - sent
    print(f"\nSIGTERM with the broker frozen: exited {code} after {took:.1f}s (deadline {SHUTDOWN_GRACE_S}s)")
    assert code == 1 and took < SHUTDOWN_GRACE_S + 5
    assert "shutdown overran its deadline" in log.read_text()
