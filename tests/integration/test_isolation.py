"""One bad vendor never slows the others: each source polls and backs off on its own."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.timeutil import parse_ts
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    events,
    unique_prefix,
    vonage_source,
    write_config,
)

pytestmark = pytest.mark.integration


def test_a_failing_vendor_does_not_slow_a_healthy_one(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=31, agents=12) as bad, SimulatorThread(seed=32, agents=12) as good:
        bad.faults.update(latency_ms=3000, server_errors=10_000)  # slow and failing throughout
        prefix = unique_prefix()
        healthy = vonage_source("vonage-good", f"{good.base_url}/vonage")
        # 3 attempts of 3 s each plus backoff: the failure is declared well within the run
        # (with the default 5 the random backoff sometimes pushed it past the 20 s).
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{bad.base_url}/vonage", extra_sources=[healthy], max_attempts=3)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
        live_from = time.time() + 4  # changes after start-up, seen live by the snapshot
        time.sleep(20)
        assert daemon.terminate() == 0

    evs = events(broker.bootstrap, prefix, "agent", "interaction", "source")
    good_snapshot = [e for e in evs if e["source"] == "/vonage/vonage-good/agent-status"
                     and parse_ts(e["time"]).timestamp() > live_from]
    assert len(good_snapshot) >= 10
    lags = [parse_ts(e["observedtime"]).timestamp() - parse_ts(e["time"]).timestamp() for e in good_snapshot]
    # The healthy source sees a change within about one poll interval, as if alone.
    assert statistics.median(lags) < 1.5 and max(lags) < 3.0, sorted(lags)[-5:]
    bad_health = [e["data"] for e in evs if e["type"] == "cc.source.health.changed" and e["data"]["source_id"] == "vonage-it"]
    assert any(h["status"] in ("degraded", "failing") for h in bad_health), bad_health
    assert not [e for e in evs if e["source"].startswith("/vonage/vonage-it/") and e["type"].startswith("cc.agent")]
    print(f"\nhealthy source lag while the other fails: median {statistics.median(lags):.2f}s, max {max(lags):.2f}s")
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
