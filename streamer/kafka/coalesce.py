"""Concurrent requests for keys served by shared batched calls (a single-flight per batch).

Used by restores: after a broker outage every source asks for its state at about the
same time, and each request would otherwise read the whole checkpoint and state topics.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import anyio

__all__ = ["Coalescer"]

K = TypeVar("K")
A = TypeVar("A")
V = TypeVar("V")


class _Batch(Generic[K, A, V]):
    def __init__(self) -> None:
        self.args: dict[K, A] = {}
        self.done = anyio.Event()
        self.results: dict[K, V] | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[K, A, V]):
    """``await c(key, arg)`` returns ``fn({key: arg, ...})[key]``; concurrent callers share calls.

    At most one call of ``fn`` runs at a time. A request joins the batch that has not
    started yet, never one already running: a call that began before the request might
    not see what the caller wrote just before asking (a restore must read its own last
    writes). So N concurrent requests cost one call, or two when a call was running when
    they came. ``gather_s``: how long the first request of a batch waits for others.
    An error of the call is raised to every caller of its batch.
    """

    def __init__(self, fn: Callable[[dict[K, A]], Awaitable[dict[K, V]]], *, gather_s: float = 0.0) -> None:
        self._fn = fn
        self._gather_s = gather_s
        self._open: _Batch[K, A, V] | None = None
        """The batch collecting requests; it has not started."""
        self._running = anyio.Lock()

    async def __call__(self, key: K, arg: A) -> V:
        while True:
            batch = self._open
            if batch is not None and key in batch.args and batch.args[key] != arg:
                await batch.done.wait()  # the same key with another argument: the next batch
                continue
            if batch is None:
                batch = self._open = _Batch()
                batch.args[key] = arg
                await self._lead(batch)
            else:
                batch.args[key] = arg
                await batch.done.wait()
            if batch.error is not None:
                raise batch.error
            if batch.results is not None:
                return batch.results[key]
            # The leader was cancelled before its call finished: ask again.

    async def _lead(self, batch: _Batch[K, A, V]) -> None:
        try:
            async with self._running:
                await anyio.sleep(self._gather_s)
                self._open = None
                batch.results = await self._fn(dict(batch.args))
        except Exception as e:
            batch.error = e
        finally:
            if self._open is batch:
                self._open = None
            batch.done.set()
