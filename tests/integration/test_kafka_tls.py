"""Kafka over TLS on the wire: a TLS-terminating proxy in front of the embedded broker (which
speaks no TLS) is the advertised listener, so every connection the clients make is TLS.
Publish, read-back after a crash and ``streamer tail`` work with server verification and
with a client certificate; a CA that did not sign the broker's certificate, or a missing
client certificate, fails with an error that says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from streamer.config.load import load_config
from streamer.config.model import KafkaConfig
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_against_truth
from tests.integration.harness import (
    ROOT,
    DaemonProcess,
    assert_clean_log,
    read_topic,
    unique_prefix,
    wait_for,
    write_config,
)
from tests.integration.proxy import TcpProxy
from tests.pki import Pki

pytestmark = pytest.mark.integration


@contextmanager
def tls_kafka(pki: Pki, log: Path, *, require_client_cert: bool) -> Iterator[str]:
    """A broker reachable only through TLS; yields the bootstrap address."""
    broker_port = free_port()
    with TcpProxy(broker_port, tls=pki.server_context(require_client_cert=require_client_cert)) as proxy:
        with EmbeddedBroker(broker_port, advertised_port=proxy.port, log_file=log):
            yield f"127.0.0.1:{proxy.port}"


def run_tail(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamer.cli", "tail", "--config", str(cfg), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "IT_VONAGE_TOKEN": "sim-token"},  # the config's source needs it to load
    )


def log_events(log: Path, event: str) -> list[dict[str, Any]]:
    return [e for line in log.read_text().splitlines() if line.startswith("{")
            for e in [json.loads(line)] if e.get("event") == event]


@pytest.mark.parametrize("client_cert", [False, True], ids=["server-verification", "client-certificate"])
def test_publish_read_back_and_tail_over_tls(pki: Pki, tmp_path: Path, client_cert: bool) -> None:
    tls: dict[str, Any] = {"security_protocol": "SSL", "ssl_cafile": str(pki.ca)}
    if client_cert:
        tls |= {"ssl_certfile": str(pki.client_cert), "ssl_keyfile": str(pki.client_key)}
    log = tmp_path / "daemon.log"
    with tls_kafka(pki, tmp_path / "broker.log", require_client_cert=client_cert) as bootstrap, \
            SimulatorThread(seed=61, agents=10) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage", kafka=tls)
        # The first run kills itself right after its first events are acked, before their
        # checkpoint: the next start must read them back over TLS.
        crashing = DaemonProcess(cfg, log, env={"CCSTREAM_CRASH_AT": "after-publish:1"}).start()
        assert crashing.proc is not None and crashing.proc.wait(60) == -9, log.read_text()[-3000:]
        daemon = DaemonProcess(cfg, log).start()
        assert wait_for(lambda: len(log_events(log, "state restored")) == 2, 30), log.read_text()[-3000:]
        assert log_events(log, "state restored")[1]["replayed_from_tail"] > 0
        kafka = load_config(cfg, env={"IT_VONAGE_TOKEN": "sim-token"}).kafka
        restored_at = checkpoints(bootstrap, prefix, kafka)
        assert wait_for(lambda: checkpoints(bootstrap, prefix, kafka) >= restored_at + 3, 30)  # polls commit again
        assert daemon.terminate() == 0
        figures = check_against_truth(bootstrap, prefix, sim.world, kafka=kafka)
        shown = run_tail(cfg, "--from-beginning", "--max", "5")
    assert_clean_log(log, "sim-token")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 5 and all("vonage-it" in line for line in lines), shown.stdout
    print(f"\nTLS ({'mutual' if client_cert else 'server verification'}): {figures}")


def checkpoints(bootstrap: str, prefix: str, kafka: KafkaConfig) -> int:
    return len(read_topic(bootstrap, f"{prefix}.streamer.checkpoints", kafka))


@pytest.mark.parametrize(
    ("require_client_cert", "wrong", "message"),
    [
        (False, {"ssl_cafile": "other_ca"},
         "TLS: the certificate of {bootstrap} is not trusted: unable to get local issuer certificate "
         "(kafka.ssl_cafile: {other_ca})"),
        (True, {},
         "TLS: {bootstrap} closed the connection right after the handshake: it may require a client "
         "certificate it trusts; none is configured (kafka.ssl_certfile)"),
    ],
    ids=["wrong-ca", "no-client-certificate"],
)
def test_tls_that_cannot_work_fails_with_a_clear_error(
    pki: Pki, tmp_path: Path, require_client_cert: bool, wrong: dict[str, str], message: str,
) -> None:
    log = tmp_path / "daemon.log"
    port = free_port()
    tls = {"security_protocol": "SSL", "ssl_cafile": str(pki.ca)}
    tls |= {k: str(getattr(pki, v)) for k, v in wrong.items()}
    with tls_kafka(pki, tmp_path / "broker.log", require_client_cert=require_client_cert) as bootstrap, \
            SimulatorThread(seed=62, agents=4) as sim:
        expected = message.format(bootstrap=bootstrap, other_ca=pki.other_ca)
        cfg = write_config(tmp_path / "c.yaml", bootstrap=bootstrap, prefix=unique_prefix(),
                           base_url=f"{sim.base_url}/vonage", kafka=tls)
        cfg.write_text(cfg.read_text() + f"metrics: {{host: 127.0.0.1, port: {port}}}\n")
        daemon = DaemonProcess(cfg, log).start()

        # the daemon: an error in its log, not ready (with the reason), alive and retrying
        assert wait_for(lambda: bool(log_events(log, "kafka TLS failed; retrying")), 30), log.read_text()[-3000:]
        failed = log_events(log, "kafka TLS failed; retrying")[0]
        assert failed["level"] == "error"
        assert failed["error"] == f"kafka: cannot connect to {bootstrap}: {expected}"
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 503 and ready.text == f"kafka: cannot connect to {bootstrap}: {expected}\n"
        assert daemon.alive()
        assert daemon.terminate() == 0

        # streamer tail: one line saying why, exit 1, no traceback
        shown = run_tail(cfg, "--max", "1")
    print(f"\ndaemon log: {failed['error']}\ntail (exit {shown.returncode}): {shown.stderr}")
    assert shown.returncode == 1, shown.stderr
    assert f"tail: kafka: cannot connect to {bootstrap}: {expected}\n" in shown.stderr
    assert "Traceback" not in shown.stderr
