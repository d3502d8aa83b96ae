"""/metrics, /healthz and /readyz of a running daemon, scraped as Prometheus and Kubernetes would."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from streamer.broker import EmbeddedBroker, free_port
from streamer.metrics import METRIC_NAMES
from streamer.simulator.app import SimulatorThread

from .harness import DaemonProcess, unique_prefix, wait_for, write_config

pytestmark = pytest.mark.integration


def sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


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
        time.sleep(4)
        second = get("/metrics")
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
    assert sample(text, "ccstream_kafka_up") == 1
    assert sample(text, "ccstream_endpoint_healthy", endpoint="agent-activities") == 1
    assert re.search(r'ccstream_last_checkpoint_timestamp_seconds\{source="vonage-it"\} 1\.\d+e\+09', text)
