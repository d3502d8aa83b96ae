"""Error hierarchy, grouped by what the caller must do about the error."""

from __future__ import annotations

__all__ = [
    "StreamerError",
    "RetriableError",
    "FatalError",
    "KafkaUnavailableError",
    "KafkaTlsError",
    "KafkaRejectedError",
    "TopicMismatchError",
    "SkippableError",
    "ConfigError",
    "CheckpointError",
    "FencedError",
    "PageLoopError",
]


class StreamerError(Exception):
    """Root of every error ccstream raises on purpose."""


class RetriableError(StreamerError):
    """Try again later (429, 5xx, timeouts, broker unreachable).

    ``retry_after`` is the delay in seconds the peer asked for, when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KafkaUnavailableError(RetriableError):
    """The broker could not be reached or did not ack: the source waits, polling slowly."""


class KafkaTlsError(KafkaUnavailableError):
    """TLS with the broker fails (its certificate is not trusted, ours is refused). Retried
    like an outage, since the broker side may be fixed, but it usually needs a human."""


class FencedError(RetriableError):
    """This daemon may not write for the source now: another daemon owns it, or this one
    lost touch with the group (its lease ran out). Nothing was written; the source waits
    for the group to give it back. ``newer_epoch``: the epoch of a checkpoint another
    daemon wrote (not a lapse of our own lease)."""

    def __init__(self, message: str, *, newer_epoch: int | None = None) -> None:
        super().__init__(message)
        self.newer_epoch = newer_epoch


class FatalError(StreamerError):
    """Retrying will not help without a human (bad credentials, 403, bad config)."""


class KafkaRejectedError(FatalError):
    """The broker is up but refused the request, and would refuse it again: a record over
    its size limit, no authorization for a topic or the cluster, an invalid topic."""


class TopicMismatchError(FatalError):
    """A topic exists but not as the daemon needs it (compaction, retention, record
    limit, partition count); the message names the topic and what to change."""


class SkippableError(StreamerError):
    """This request or record cannot be processed; skip it (dead-letter) and go on.

    ``raw`` is the unreadable bytes (a response body), kept for the dead-letter topic.
    """

    def __init__(self, message: str, *, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class CheckpointError(FatalError):
    """A source's checkpoint is missing (state without it), corrupt, or from a newer build."""

    def __init__(self, message: str, *, kind: str, written_ms: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.written_ms = written_ms


class ConfigError(FatalError):
    """The configuration is invalid; the message names the key path."""


class PageLoopError(RetriableError):
    """A paged read returned the same page twice; the read is abandoned, not looped."""
