"""/metrics, /healthz and /readyz of a running daemon, scraped as Prometheus and Kubernetes would."""

from __future__ import annotations

import os
import re
import resource
import socket
from pathlib import Path

import httpx
import pytest

from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.ops.metrics import METRIC_NAMES
from streamer.simulator.app import SimulatorThread
from tests.integration.harness import DaemonProcess, events_so_far, unique_prefix, wait_for, write_config
from tests.integration.harness import metric_sample as sample

pytestmark = pytest.mark.integration


def test_metrics_and_probes(broker: EmbeddedBroker, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with SimulatorThread(seed=51, agents=10) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
        cfg.write_text(cfg.read_text() + f"metrics: {{host: 127.0.0.1, port: {port}}}\n")
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()

        def get(path: str) -> httpx.Response | None:
            try:
                return httpx.get(base + path, timeout=2)
            except httpx.HTTPError:
                return None

        assert wait_for(lambda: (r := get("/healthz")) is not None and r.status_code == 200, 15)
        assert wait_for(lambda: (r := get("/readyz")) is not None and r.status_code == 200, 15), get("/readyz")
        first = get("/metrics")
        assert first is not None

        def polled_again() -> bool:
            """A later scrape counts more successful polls (and a checkpoint, shown below)."""
            nonlocal second
            second = get("/metrics")
            return second is not None and "ccstream_last_checkpoint_timestamp_seconds{" in second.text and sample(
                second.text, "ccstream_polls_total", source="vonage-it", outcome="ok") > sample(
                first.text, "ccstream_polls_total", source="vonage-it", outcome="ok")

        second: httpx.Response | None = None
        daemon.wait_until(polled_again, "more successful polls on /metrics", timeout=30)
        assert get("/nope").status_code == 404  # type: ignore[union-attr]
        assert daemon.terminate() == 0

    assert first is not None and second is not None
    assert second.headers["content-type"].startswith("text/plain")
    text = second.text
    for name in METRIC_NAMES:
        assert name in text, name
    assert sample(text, "ccstream_polls_total", source="vonage-it", outcome="ok") > sample(
        first.text, "ccstream_polls_total", source="vonage-it", outcome="ok")
    assert sample(text, "ccstream_events_total", type="cc.agent.presence.changed") > 0
    assert sample(text, "ccstream_detection_lag_seconds_count", endpoint="agent-status") > 0
    assert sample(text, "ccstream_http_responses_total", source="vonage-it", status="200") > 0
    assert sample(text, "ccstream_http_request_duration_seconds_count", source="vonage-it") > 0
    assert sample(text, "ccstream_commit_wait_seconds_count", source="vonage-it", endpoint="agent-status") > 0
    assert sample(text, "ccstream_kafka_up") == 1
    assert sample(text, "ccstream_endpoint_healthy", endpoint="agent-activities") == 1
    assert re.search(r'ccstream_last_checkpoint_timestamp_seconds\{source="vonage-it"\} 1\.\d+e\+09', text)


def test_out_of_file_descriptors_the_server_backs_off_and_the_daemon_keeps_publishing(
    broker: EmbeddedBroker, tmp_path: Path,
) -> None:
    """EMFILE from accept() once cancelled the whole daemon. The daemon's descriptor limit is
    cut to what it uses plus two, then clients pile onto the probe port."""
    port = free_port()
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=52, agents=10) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage")
        cfg.write_text(cfg.read_text() + f"metrics: {{host: 127.0.0.1, port: {port}}}\n")
        daemon = DaemonProcess(cfg, log).start()
        assert daemon.proc is not None
        pid = daemon.proc.pid

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        def published() -> int:
            return len(events_so_far(broker.bootstrap, prefix, "source"))  # none before its topics exist

        assert wait_for(healthy, 15)
        assert wait_for(lambda: published() > 0, 15)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir(f"/proc/{pid}/fd")) + 2, hard))
        clients: list[socket.socket] = []
        try:
            clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(20)]
            assert wait_for(lambda: "cannot accept" in log.read_text(), 15), log.read_text()[-2000:]
        finally:
            for c in clients:
                c.close()
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        before = published()
        assert daemon.alive(), log.read_text()[-3000:]
        assert wait_for(healthy, 15)
        assert wait_for(lambda: published() > before, 20)
        assert daemon.terminate() == 0
    text = log.read_text()
    assert '"error": "EMFILE: Too many open files"' in text
    assert "metrics and probe server accepting again" in text
