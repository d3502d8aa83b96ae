"""How long a failed poll waits: Kafka's side is retried within seconds, a vendor gets more room."""

from __future__ import annotations

import random

import pytest

from streamer.engine.policy import on_failure, restore_delay
from streamer.errors import FencedError, KafkaUnavailableError, RetriableError


def _longest_wait(e: BaseException, failures: int, monkeypatch: pytest.MonkeyPatch) -> float:
    """The wait with the jitter at its top (the backoff draws uniformly below it)."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    return on_failure(e).delay(e, 1.0, failures)


@pytest.mark.parametrize("error", [
    KafkaUnavailableError("kafka: metadata failed: KafkaConnectionError"),
    FencedError("source vonage-it: not writable by this daemon now: kafka: its group lease ran out"),
], ids=["kafka-unavailable", "lease-ran-out"])
def test_kafka_side_trouble_is_retried_within_seconds_however_many_failures_came_before(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 8 failures in a row: what a 20 s broker outage left an endpoint with (the integration
    # test's daemon log), after which the lease ran out
    assert _longest_wait(error, 8, monkeypatch) == 5.0


def test_a_vendor_failing_or_another_owner_is_given_more_room(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _longest_wait(RetriableError("vendor: 503"), 8, monkeypatch) == 60.0
    assert _longest_wait(FencedError("another daemon owns it now", newer_epoch=7), 8, monkeypatch) == 60.0
    assert _longest_wait(RetriableError("vendor: 503", retry_after=90.0), 1, monkeypatch) == 90.0


def test_a_start_up_restore_retries_within_seconds_of_kafka_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert restore_delay(KafkaUnavailableError("kafka: cannot connect"), 8) == 5.0
    assert restore_delay(FencedError("its group lease ran out"), 8) == 5.0
    assert restore_delay(RetriableError("something else"), 8) == 30.0
