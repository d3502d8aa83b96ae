"""A vendor over HTTPS: a TLS-terminating proxy in front of the simulator (which speaks plain
HTTP) with a certificate from a private CA. A source given that CA (``sources[].ca_file``)
takes its OAuth2 token and polls and publishes as over HTTP; one given another CA publishes
nothing but health events whose reason says the vendor's certificate is not trusted and
which key fixes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_against_truth
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    cursor_of,
    events,
    health_events,
    unique_prefix,
    vonage_source,
    write_config,
)
from tests.integration.proxy import TcpProxy
from tests.pki import Pki

pytestmark = pytest.mark.integration


def test_a_vendor_over_https_with_a_private_ca(pki: Pki, broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=63, agents=8) as sim, \
            TcpProxy(sim.port, tls=pki.server_context(require_client_cert=False)) as proxy:
        url = f"https://127.0.0.1:{proxy.port}/vonage"
        prefix = unique_prefix()
        oauth2 = {"type": "oauth2_client_credentials", "token_url": f"{url}/Auth/connect/token", "client_id": "sim",
                  "client_secret": "${IT_SECRET}", "scope": "stats"}
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=url,
                           ca_file=str(pki.ca), auth=oauth2,
                           extra_sources=[vonage_source("untrusting", url, ca_file=str(pki.other_ca))])
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log", env={"IT_SECRET": "sim"}).start()

        def refused() -> list[dict[str, Any]]:
            return [h for h in health_events(broker.bootstrap, prefix)
                    if h["source_id"] == "untrusting" and h["status"] != "healthy"]

        daemon.wait_until(lambda: cursor_of(broker.bootstrap, prefix, "vonage-it", "interactions") > 0
                          and bool(refused()), "a checkpoint over HTTPS, and the other CA's refusal", timeout=60)
        assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)
        published = [e for e in events(broker.bootstrap, prefix, "agent", "interaction")
                     if e["source"].startswith("/vonage/untrusting/")]
    assert figures["events"] > 0, figures
    assert not published, published[:3]
    assert all("the vendor's TLS certificate is not trusted (sources[].ca_file" in h["reason"] for h in refused()), \
        refused()
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
    print(f"\nvendor over HTTPS with a private CA: {figures}")
