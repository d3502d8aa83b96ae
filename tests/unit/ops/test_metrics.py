"""Metrics.forget_source: a source given to another daemon leaves this one's gauges."""

from __future__ import annotations

from prometheus_client import generate_latest

from streamer.ops.metrics import Metrics


def _series(m: Metrics, source: str) -> list[str]:
    text = generate_latest(m.registry).decode()
    return sorted(line.split("{", 1)[0] for line in text.splitlines()
                  if not line.startswith("#") and f'source="{source}"' in line)


def test_forgetting_a_source_drops_its_gauges_and_keeps_its_counters_and_the_others() -> None:
    m = Metrics()
    for sid in ("s1", "s2"):
        m.healthy.labels(sid, "agent-status").set(0)
        m.healthy.labels(sid, "agent-activities").set(1)
        m.last_poll.labels(sid, "agent-status").set(1.0)
        m.last_checkpoint.labels(sid).set(2.0)
        m.ledger_entities.labels(sid, "held").set(3)
        m.ledger_entities.labels(sid, "sealed").set(4)
        m.polls.labels(sid, "agent-status", "ok").inc()
        m.fenced.labels(sid).inc()
    before = _series(m, "s2")

    m.forget_source("s1")

    assert _series(m, "s1") == [
        "ccstream_fenced_commits_created", "ccstream_fenced_commits_total",
        "ccstream_polls_created", "ccstream_polls_total",
    ]
    assert _series(m, "s2") == before
    assert "ccstream_endpoint_healthy" in before and "ccstream_ledger_entities" in before
    m.forget_source("s1")  # again, or a source never shown: nothing to drop
    m.forget_source("never")
    assert _series(m, "s2") == before
