"""What every vendor source provides to the engine: endpoints that poll and return drafts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import msgspec

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft
from streamer.track.window import LookbackSchedule

__all__ = [
    "BadInput", "PollResult", "Endpoint", "Source", "VendorSpec", "endpoint_interval", "window_settings",
    "lookback_schedule", "catchup_span_ms",
]


class BadInput(msgspec.Struct, frozen=True):
    """A record (or body) that could not be read: goes to the dead-letter topic."""

    reason: str
    raw: bytes


def endpoint_interval(cfg: SourceConfig, name: str) -> float:
    """The endpoint's poll interval: its own override, else the source's."""
    ep = cfg.endpoints.get(name)
    return float(ep.poll_interval if ep and ep.poll_interval else cfg.poll_interval)


def catchup_span_ms(cfg: SourceConfig) -> int:
    """How far one commit of a history endpoint may move its cursor, in milliseconds."""
    return int(cfg.max_catchup_span * 1000)


def window_settings(cfg: SourceConfig) -> tuple[int, int, int]:
    """A history endpoint's (lookback, safety lag, initial lookback) in milliseconds."""
    return int(cfg.lookback * 1000), int(cfg.safety_lag * 1000), int(cfg.initial_lookback * 1000)


def lookback_schedule(cfg: SourceConfig, *, every: float | None = None) -> LookbackSchedule:
    """Which of a windowed history endpoint's reads re-read the whole lookback (once per
    ``every`` seconds of cursor progress, by default the source's ``lookback_every``)."""
    every_s = cfg.lookback_every if every is None else every
    return LookbackSchedule(int(cfg.lookback * 1000), int(every_s * 1000), int(cfg.safety_lag * 1000))


class PollResult(msgspec.Struct):
    """One unit of work to publish atomically: the drafts of one window or snapshot.

    ``cursor_ms`` (history endpoints) is where the cursor may move once these drafts are
    acked; ``complete_up_to_ms`` is the watermark the endpoint can then announce;
    ``alive``: ledger keys the vendor still serves unchanged (not decoded, so no drafts).
    """

    drafts: list[Draft]
    bad: list[BadInput] = []
    cursor_ms: int | None = None
    complete_up_to_ms: int | None = None
    alive: list[str] = []


class Endpoint(ABC):
    """One polled endpoint of a source. ``poll`` does IO and calls pure trackers."""

    name: str
    interval: float
    history: bool = False
    proves: frozenset[str] = frozenset()
    """Event types of which every event this source publishes stands for a row this
    history endpoint serves (whichever endpoint saw it first): ``streamer verify``
    recomputes their ids from a range of the history and expects each on Kafka. Not
    inferred events (sessions from presence) and not statistics (published only when
    the values change, which a range alone cannot tell)."""

    @abstractmethod
    def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        """Read from the vendor; yield results in order (one per history window)."""

    def reset(self) -> None:
        """Forget in-memory shortcuts (snapshot digests) after the ledger was reloaded."""


class Source(Protocol):
    endpoints: list[Endpoint]

    async def aclose(self) -> None: ...


class VendorSpec(msgspec.Struct, frozen=True):
    """A vendor as the registry knows it: its endpoint names, a builder, a config check and
    its own options."""

    name: str
    endpoints: tuple[str, ...]
    build: Callable[[SourceConfig], Source]
    check: Callable[[SourceConfig, str], None]
    options: type[msgspec.Struct] | None = None
    """The vendor's own config keys, written beside the common ones in a source's mapping: a
    Struct (``forbid_unknown_fields``, every field with a default) that
    ``streamer.config.load`` decodes into ``SourceConfig.options``; ``None``: none."""
