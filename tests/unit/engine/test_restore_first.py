"""A source with a restore pending restores before it reads the vendor again: while Kafka
is away, no vendor window is read only to fail at its commit."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from streamer.config.load import parse_config
from streamer.engine.runner import SourceRunner
from streamer.engine.source import Endpoint, PollResult
from streamer.errors import KafkaUnavailableError


class _Endpoint(Endpoint):
    name = "agent-activities"
    interval = 0.001
    history = True

    def __init__(self) -> None:
        self.polls = 0

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        self.polls += 1
        yield PollResult([], cursor_ms=now_ms)


class _Source:
    def __init__(self, ep: Endpoint) -> None:
        self.endpoints = [ep]

    async def aclose(self) -> None:
        pass


class _Publisher:
    """Never reached here: every restore fails first."""

    async def settle(self) -> None:
        pass

    async def send(self, records: Any) -> list[Any]:
        raise AssertionError("nothing is sent before a restore succeeds")


class _KafkaAway:
    """A state store whose broker is unreachable."""

    def __init__(self, until: int) -> None:
        self.restores = 0
        self.until = until
        self.enough = anyio.Event()

    async def restore(self, source_id: str, **kw: Any) -> Any:
        self.restores += 1
        if self.restores >= self.until:
            self.enough.set()
        raise KafkaUnavailableError("kafka: cannot connect")


def test_a_pending_restore_comes_before_the_next_vendor_read() -> None:
    cfg = parse_config(
        {"sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}]},
        env={},
    )
    ep, store = _Endpoint(), _KafkaAway(until=5)
    runner = SourceRunner(cfg.sources[0], cfg, publisher=_Publisher(), store=store,  # type: ignore[arg-type]
                          source=_Source(ep))
    assert runner.needs_restore  # as after any failed commit

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner._endpoint_loop, ep)
            await store.enough.wait()
            tg.cancel_scope.cancel()

    anyio.run(go)
    assert store.restores >= 5
    assert ep.polls == 0, f"the vendor was read {ep.polls} times while the restore kept failing"


def test_a_start_up_restore_during_an_outage_retries_within_5_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """However many restores failed while the broker was away, the next is at most 5 s off
    (the jitter pinned at its top): the source notices the broker's return within seconds."""
    cfg = parse_config(
        {"sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}]},
        env={},
    )
    store = _KafkaAway(until=10)
    runner = SourceRunner(cfg.sources[0], cfg, publisher=_Publisher(), store=store,  # type: ignore[arg-type]
                          source=_Source(_Endpoint()))
    waits: list[float] = []
    checkpoint = anyio.lowlevel.checkpoint

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await checkpoint()

    monkeypatch.setattr(anyio, "sleep", sleep)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(runner._restore_until_done)
            await store.enough.wait()
            tg.cancel_scope.cancel()

    anyio.run(go)
    assert len(waits) >= 9 and waits[:4] == [1.0, 2.0, 4.0, 5.0] and max(waits) == 5.0
