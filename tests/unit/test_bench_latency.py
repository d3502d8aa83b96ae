"""The latency bench reads where polls wait from the daemon's own histograms: what it
parses is the exposition format prometheus_client writes, and only the window counts."""

from __future__ import annotations

from prometheus_client import generate_latest

from bench.latency import _LAST_BUCKET_S, _Measurement, _waits, _window_quantile
from streamer.ops.metrics import Metrics


def _measured(before: str, after: str) -> _Measurement:
    return _Measurement(events={}, wall=1.0, cpu={}, waited={}, cut=False, metrics=[before, after])


def test_a_quantile_of_the_window_counts_only_what_happened_in_it_for_the_labels_asked() -> None:
    metrics = Metrics()
    wait = metrics.commit_wait
    for _ in range(50):
        wait.labels("vonage-01", "agent-status").observe(2.0)  # before the window: not counted
    before = generate_latest(metrics.registry).decode()
    for source in ("vonage-01", "vonage-02"):
        for _ in range(49):
            wait.labels(source, "agent-status").observe(0.003)
        wait.labels(source, "agent-status").observe(0.4)
    for _ in range(500):
        wait.labels("vonage-01", "interactions").observe(20.0)  # another endpoint: not counted
    m = _measured(before, generate_latest(metrics.registry).decode())
    assert _window_quantile(m, "ccstream_commit_wait_seconds", 0.5, endpoint="agent-status") == (0.005, 100)
    assert _window_quantile(m, "ccstream_commit_wait_seconds", 0.99, endpoint="agent-status") == (0.5, 100)
    assert _window_quantile(m, "ccstream_commit_wait_seconds", 0.5, endpoint="interactions") == (30.0, 500)


def test_without_both_scrapes_there_is_no_figure() -> None:
    text = generate_latest(Metrics().registry).decode()
    assert _window_quantile(_measured("", text), "ccstream_commit_wait_seconds", 0.5) is None
    assert _window_quantile(_measured(text, text), "ccstream_commit_wait_seconds", 0.5) is None  # nothing in the window


def test_a_wait_beyond_the_last_bucket_is_reported_as_its_bound_and_said_so() -> None:
    metrics = Metrics()
    before = generate_latest(metrics.registry).decode()
    metrics.commit_wait.labels("vonage-01", "agent-status").observe(120.0)
    figures = _waits(_measured(before, generate_latest(metrics.registry).decode()))
    (p99,) = [f for f in figures if f.name == "agent-status commit wait p99"]
    assert p99.value == _LAST_BUCKET_S * 1000 and (p99.detail or "").startswith("over the largest bucket")
