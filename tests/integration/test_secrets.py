"""Canary secrets in every credential: they never appear in logs, events, dead letters or errors."""

from __future__ import annotations

import base64
from pathlib import Path

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from tests.integration.harness import DaemonProcess, health_events, read_topic, unique_prefix, write_config

pytestmark = pytest.mark.integration
CANARIES = {
    "CANARY_BEARER": "canary-bearer-5e1d",
    "CANARY_OAUTH": "canary-oauth-77c2",
    "CANARY_API_KEY": "canary-apikey-0b9a",
    "CANARY_ALVARIA": "canary-alvaria-c4f8",
}
TOPICS = ("agent", "interaction", "stats", "source", "deadletter", "agent.current", "streamer.checkpoints", "streamer.state")


def test_canary_credentials_never_leak(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=41, agents=6) as sim:
        prefix = unique_prefix()
        vonage = f"{sim.base_url}/vonage"
        extra = [
            {"id": "vonage-oauth", "vendor": "vonage", "base_url": vonage, "poll_interval": "1s",
             "auth": {"type": "oauth2_client_credentials", "token_url": f"{vonage}/Auth/connect/token",
                      "client_id": "sim", "client_secret": "${CANARY_OAUTH}", "scope": "stats"}},
            {"id": "alvaria-canary", "vendor": "alvaria", "base_url": f"{sim.base_url}/alvaria", "poll_interval": "1s",
             "org_id": "sim", "api_key": "${CANARY_API_KEY}", "team_ids": ["salesTeam"],
             "auth": {"type": "oauth2_client_credentials",
                      "token_url": f"{sim.base_url}/alvaria/tokenservice/oauth2/access_token",
                      "client_id": "sim", "client_secret": "${CANARY_ALVARIA}", "scope": "reportingapi"}},
        ]
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=vonage,
                           auth={"type": "bearer", "token": "${CANARY_BEARER}"}, extra_sources=extra)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log", env=CANARIES).start()
        # every source has tried its canary credential, been refused, and said so
        daemon.wait_until(lambda: {h["source_id"] for h in health_events(broker.bootstrap, prefix)
                                   if h["status"] == "failing"} == {"vonage-it", "vonage-oauth", "alvaria-canary"},
                          "every source failing on its credentials", timeout=60)
        assert daemon.terminate() == 0

    log = (tmp_path / "daemon.log").read_text()
    assert "credentials" in log  # the failures are explained...
    haystack = [log.encode()]
    for t in TOPICS:
        for r in read_topic(broker.bootstrap, f"{prefix}.{t}"):
            haystack += [r.key or b"", r.value or b"", *(v for _, v in r.headers)]
            if t == "deadletter" and r.value:
                haystack.append(base64.b64decode(msgspec.json.decode(r.value)["raw"]))
    blob = b"\n".join(haystack)
    for name, canary in CANARIES.items():
        assert canary.encode() not in blob, f"{name} leaked"  # ...without the secrets
    health = [r.value for r in read_topic(broker.bootstrap, f"{prefix}.source")]
    assert any(b'"failing"' in v for v in health)
