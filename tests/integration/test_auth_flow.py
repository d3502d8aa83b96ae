"""OAuth2 client credentials against the real daemon: renewal of short-lived tokens, bad credentials."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import msgspec
import pytest

import streamer.simulator.tokens as sim_tokens
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.publisher import topic_names
from streamer.simulator.app import SimulatorThread
from tests.integration.check import check_against_truth
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    cursor_past,
    events,
    health_events,
    read_topic,
    unique_prefix,
    write_config,
)

pytestmark = pytest.mark.integration

TOKEN_PATH = "/vonage/Auth/connect/token"
CANARY = "canary-secret-9f3e"
ENDPOINTS = {"agent-status", "agent-activities", "interactions"}


def oauth2(sim: SimulatorThread) -> dict[str, str]:
    return {
        "type": "oauth2_client_credentials",
        "token_url": f"{sim.base_url}{TOKEN_PATH}",
        "client_id": "sim",
        "client_secret": "${IT_SECRET}",
        "scope": "stats",
    }


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every access token the simulator hands out (it runs in this process)."""
    tokens: list[str] = []
    lock = threading.Lock()
    issue = sim_tokens.TokenStore.issue

    def recording(self: sim_tokens.TokenStore, ttl: float) -> str:
        token = issue(self, ttl)
        with lock:
            tokens.append(token)
        return token

    monkeypatch.setattr(sim_tokens.TokenStore, "issue", recording)
    return tokens


def test_oauth2_client_credentials_with_short_lived_tokens(
    broker: EmbeddedBroker, tmp_path: Path, issued_tokens: list[str]
) -> None:
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=41, agents=16) as sim:
        sim.faults.update(short_token_ttl=3)
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage", auth=oauth2(sim))
        daemon = DaemonProcess(cfg, log, env={"IT_SECRET": "sim"}).start()
        # 3 s tokens renewed again and again, over a run whose history is checkpointed for 10 s
        daemon.wait_until(lambda: len(issued_tokens) >= 4, "four tokens issued", timeout=60)
        daemon.wait_until(cursor_past(broker.bootstrap, prefix, "vonage-it", "agent-activities",
                                      sim.world.start_ms + 10_000), "the checkpoint past 10 s of the world", timeout=60)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)

    assert figures["expected"] > 30, figures
    # 3 s tokens over the run: renewed again and again, not fetched once and reused after expiry.
    token_posts = served["requests_by_path"].get(TOKEN_PATH, 0)
    assert len(issued_tokens) >= 4, (issued_tokens, served)
    assert token_posts == len(issued_tokens), (token_posts, len(issued_tokens))
    # ... and not fetched per request either (one fetch shared by the three endpoints).
    data_requests = served["requests_served"] - token_posts
    assert len(issued_tokens) < data_requests / 2, (len(issued_tokens), data_requests)
    health = [e["data"] for e in events(broker.bootstrap, prefix, "source")
              if e["type"] == "cc.source.health.changed"]
    assert health and all(h["status"] == "healthy" for h in health), health
    # Renewed before expiry (the refresh margin), not after the vendor said 401.
    assert '"http.reauth"' not in log.read_text()
    assert_clean_log(log, *issued_tokens, "client_secret=sim", "sim-token")


def test_bad_credentials_give_a_clear_health_event_not_a_crash_loop(
    broker: EmbeddedBroker, tmp_path: Path, issued_tokens: list[str]
) -> None:
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=42, agents=8) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage", auth=oauth2(sim))
        daemon = DaemonProcess(cfg, log, env={"IT_SECRET": CANARY}).start()
        daemon.wait_until(lambda: {h["endpoint"] for h in health_events(broker.bootstrap, prefix)
                                   if h["status"] == "failing"} == ENDPOINTS, "every endpoint failing", timeout=60)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()

    assert issued_tokens == []
    token_posts = served["requests_by_path"].get(TOKEN_PATH, 0)
    assert token_posts >= 1, served
    # Not a retry storm against the token endpoint: a rejected secret needs a human, and
    # the next try is at least a minute away.
    assert token_posts <= 6, served
    retries = [msgspec.json.decode(line)["retry_in"] for line in log.read_text().splitlines()
               if '"event": "poll failed and needs attention"' in line]
    assert retries and min(retries) >= 60, retries
    assert set(served["requests_by_path"]) == {TOKEN_PATH}, served

    health = [e["data"] for e in events(broker.bootstrap, prefix, "source")
              if e["type"] == "cc.source.health.changed"]
    failing = [h for h in health if h["status"] == "failing"]
    assert failing, health
    assert {h["endpoint"] for h in failing} == ENDPOINTS, failing
    for h in failing:
        reason = (h["reason"] or "").lower()
        assert "credentials" in reason and "token endpoint" in reason, h
    assert not [h for h in health if h["status"] == "healthy"], health

    # The secret is nowhere: not in the log, not in any key, value or header of any topic.
    text = log.read_text()
    assert CANARY not in text, "the client secret leaked into the log"
    assert "credentials" in text  # the operator is told what is wrong
    plain, compacted = topic_names(prefix)
    seen = 0
    for topic in plain + compacted:
        for r in read_topic(broker.bootstrap, topic):
            seen += 1
            parts = [r.key or b"", r.value or b"", *(v or b"" for _, v in r.headers or ())]
            if r.value and topic.endswith(".deadletter"):
                parts.append(base64.b64decode(msgspec.json.decode(r.value)["raw"]))
            assert CANARY.encode() not in b"".join(parts), f"the client secret leaked into {topic}"
    assert seen >= 3, seen
