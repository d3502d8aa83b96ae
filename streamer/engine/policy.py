"""What a failed poll does, by the kind of error: one table, as ``http/client.py`` has for
status codes. The poll loop looks the error up and carries out the row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

from streamer.engine.backoff import backoff_delay
from streamer.engine.source_events import Health
from streamer.errors import FatalError, FencedError, KafkaUnavailableError, RetriableError, SkippableError

__all__ = ["OnFailure", "POLICY", "on_failure", "restore_delay"]

Delay = Callable[[BaseException, float, int], float]
"""(error, the endpoint's interval, failures in a row) -> seconds before the next poll."""


class OnFailure(msgspec.Struct, frozen=True):
    """One row of the policy."""

    outcome: str
    """The ``outcome`` label of the polls counter."""
    log: Literal["warning", "error", "exception"]
    message: str
    delay: Delay
    health: Callable[[int], Health]
    """Failures in a row -> the endpoint's health."""
    counts: bool = True
    """A failure in a row (the backoff grows), or not (a skipped record)."""
    dead_letter: bool = False
    """The error carries the unreadable input: it goes to the dead-letter topic."""
    restore: bool = False
    """Reload the source's state from Kafka before the next poll (an unexpected error)."""
    internal: bool = False
    """The health reason names only the error's type (a bug: its text may hold anything)."""


def _kafka_side(e: BaseException) -> bool:
    """Kafka away, or our group lease run out while it was (heartbeats unanswered): a retry
    should notice its return within seconds, however many failures piled up meanwhile.
    Another owner's newer epoch is not ours to wait out: the group takes the source away."""
    return isinstance(e, KafkaUnavailableError) or (isinstance(e, FencedError) and e.newer_epoch is None)


def _retriable_delay(e: BaseException, interval: float, failures: int) -> float:
    # A fenced retry reads no vendor: it stops at its restore, refused while the lease is out.
    cap = 5.0 if _kafka_side(e) else 60.0  # vendors get more room
    retry_after = e.retry_after if isinstance(e, RetriableError) else None
    return max(retry_after or 0.0, backoff_delay(failures, base=interval, cap=cap))


def restore_delay(e: BaseException, failures: int) -> float:
    """Seconds before a source's start-up restore is tried again after ``failures`` failed:
    within 5 s of Kafka (or the group) answering again, as a poll's retry; else up to 30 s."""
    return backoff_delay(failures, cap=5.0 if _kafka_side(e) else 30.0)


POLICY: tuple[tuple[type[BaseException], OnFailure], ...] = (
    (SkippableError, OnFailure(
        "skipped", "warning", "poll skipped", delay=lambda e, interval, n: interval,
        health=lambda n: "degraded", counts=False, dead_letter=True)),
    (RetriableError, OnFailure(
        "retriable", "warning", "poll failed; backing off", delay=_retriable_delay,
        health=lambda n: "failing" if n >= 3 else "degraded")),
    (FatalError, OnFailure(
        "fatal", "error", "poll failed and needs attention", delay=lambda e, interval, n: max(60.0, interval * 10),
        health=lambda n: "failing")),
    # A bug must not stop the other endpoints; the source's state is reloaded.
    (Exception, OnFailure(
        "error", "exception", "unexpected error in poll; state will be reloaded",
        delay=lambda e, interval, n: backoff_delay(n, base=interval, cap=60.0),
        health=lambda n: "failing", restore=True, internal=True)),
)


def on_failure(e: BaseException) -> OnFailure:
    """The first row whose error type ``e`` is an instance of."""
    for kind, row in POLICY:
        if isinstance(e, kind):
            return row
    raise e
