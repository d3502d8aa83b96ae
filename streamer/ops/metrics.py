"""Prometheus metrics, and the paths :mod:`streamer.ops.probes` serves them and the probes on.

Names are part of the operator contract (the Grafana dashboard in ``deploy/`` queries
them); ``METRIC_NAMES`` lists them for the tests that keep the two in agreement.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics", "METRIC_NAMES"]

_LAG_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 1800)
_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    """All of the daemon's metrics, on their own registry (tests make one per daemon)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.polls = Counter("ccstream_polls_total", "Polls by outcome (ok, skipped, retriable, fatal, error).",
                             ["source", "endpoint", "outcome"], registry=r)
        self.poll_duration = Histogram("ccstream_poll_duration_seconds", "Time to poll, detect and publish one endpoint.",
                                       ["source", "endpoint"], buckets=_FAST_BUCKETS, registry=r)
        self.http_responses = Counter("ccstream_http_responses_total", "Vendor HTTP responses by status code.",
                                      ["source", "status"], registry=r)
        self.http_duration = Histogram("ccstream_http_request_duration_seconds",
                                       "Time from sending a vendor request to the last byte of its response.",
                                       ["source"], buckets=_FAST_BUCKETS, registry=r)
        self.commit_wait = Histogram("ccstream_commit_wait_seconds",
                                     "Time a poll's result waited for the source's previous commit to finish.",
                                     ["source", "endpoint"], buckets=_FAST_BUCKETS, registry=r)
        self.events = Counter("ccstream_events_total", "Events published, by type.", ["source", "type"], registry=r)
        self.dead_letters = Counter("ccstream_dead_letters_total", "Records sent to the dead-letter topic.",
                                    ["source", "endpoint"], registry=r)
        self.publish_latency = Histogram("ccstream_publish_latency_seconds", "Time from send to broker ack of a batch.",
                                         ["source"], buckets=_FAST_BUCKETS, registry=r)
        self.detection_lag = Histogram("ccstream_detection_lag_seconds",
                                       "Observed time minus vendor time of published events.",
                                       ["source", "endpoint"], buckets=_LAG_BUCKETS, registry=r)
        self.last_checkpoint = Gauge("ccstream_last_checkpoint_timestamp_seconds",
                                     "When the source's checkpoint was last written (unix time).", ["source"], registry=r)
        self.last_poll = Gauge("ccstream_last_successful_poll_timestamp_seconds",
                               "When the endpoint last polled successfully (unix time).", ["source", "endpoint"], registry=r)
        self.healthy = Gauge("ccstream_endpoint_healthy", "1 when the endpoint's health is healthy, else 0.",
                             ["source", "endpoint"], registry=r)
        self.kafka_up = Gauge("ccstream_kafka_up", "1 when the last publish or restore reached the broker.", registry=r)
        self.owned_sources = Gauge("ccstream_owned_sources", "Sources this daemon runs now (its share of the group).",
                                   registry=r)
        self.group_member = Gauge("ccstream_group_member", "1 while this daemon is a member of its group with a valid lease.",
                                  registry=r)
        self.rebalances = Counter("ccstream_rebalances_total", "Assignments this daemon received from its group.",
                                  registry=r)
        self.fenced = Counter("ccstream_fenced_commits_total",
                              "Commits refused because this daemon was not (or no longer) the source's owner.",
                              ["source"], registry=r)
        self.ledger_entities = Gauge("ccstream_ledger_entities",
                                     "Entities a source's ledger remembers, by state: held, or sealed (packed once "
                                     "quiet for a sixth of state_retention).", ["source", "state"], registry=r)

    def forget_source(self, source_id: str) -> None:
        """Drop the gauges of a source the group gave to another daemon. Left in place, a
        value frozen at the hand-over would read as a stalled source (its checkpoint and
        poll ages grow, its health stays what it was) and be summed with the new owner's.
        Counters and histograms stay: a series that stops growing adds nothing to a rate,
        and dropping one could lose increments not scraped yet (the fenced commits of the
        hand-over)."""
        for gauge in (self.last_checkpoint, self.last_poll, self.healthy, self.ledger_entities):
            gauge.remove_by_labels({"source": source_id})


METRIC_NAMES = (
    "ccstream_polls_total",
    "ccstream_poll_duration_seconds",
    "ccstream_http_responses_total",
    "ccstream_http_request_duration_seconds",
    "ccstream_commit_wait_seconds",
    "ccstream_events_total",
    "ccstream_dead_letters_total",
    "ccstream_publish_latency_seconds",
    "ccstream_detection_lag_seconds",
    "ccstream_last_checkpoint_timestamp_seconds",
    "ccstream_last_successful_poll_timestamp_seconds",
    "ccstream_endpoint_healthy",
    "ccstream_kafka_up",
    "ccstream_owned_sources",
    "ccstream_group_member",
    "ccstream_rebalances_total",
    "ccstream_fenced_commits_total",
    "ccstream_ledger_entities",
)


# --- /metrics, /healthz, /readyz ------------------------------------------------------

METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"

METRICS = Metrics()
"""The daemon's metrics (one daemon per process)."""
