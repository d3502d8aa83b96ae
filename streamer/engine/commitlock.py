"""The lock that makes a source's commits one at a time, snapshots first."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType

import anyio
import anyio.lowlevel

__all__ = ["CommitLock"]


class CommitLock:
    """Held by one commit (or restore, or the daemon pausing a source for a rebalance) at a
    time. Any task may release it (the daemon releases from the group's task what it took
    from another), as with a semaphore of one.

    When it is released, a waiter that asked ``first`` gets it before the others, in the
    order they came; the others in the order they came. A snapshot's commit asks first:
    its events are the ones that lag behind the vendor by a poll only, while a history
    endpoint's come a safety lag or a lookback late anyway. Behind two history commits
    that had come just before it, a snapshot waited for both.
    """

    __slots__ = ("_held", "_first", "_others")

    def __init__(self) -> None:
        self._held = False
        self._first: deque[anyio.Event] = deque()
        self._others: deque[anyio.Event] = deque()

    def locked(self) -> bool:
        return self._held

    def waiting(self) -> int:
        """How many wait for it."""
        return len(self._first) + len(self._others)

    async def acquire(self, *, first: bool = False) -> None:
        await anyio.lowlevel.checkpoint_if_cancelled()
        if not self._held:
            self._held = True
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return
        turn = anyio.Event()
        queue = self._first if first else self._others
        queue.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():
                self.release()  # handed over as the wait was cancelled: hand it on
            else:
                queue.remove(turn)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter, or free it."""
        if not self._held:
            raise RuntimeError("CommitLock released while not held")
        for queue in (self._first, self._others):
            if queue:
                queue.popleft().set()  # it stays held, by the waiter now
                return
        self._held = False

    @asynccontextmanager
    async def hold(self, *, first: bool = False) -> AsyncIterator[None]:
        """``async with lock.hold(first=...)``: acquire, and release on the way out."""
        await self.acquire(first=first)
        try:
            yield
        finally:
            self.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
