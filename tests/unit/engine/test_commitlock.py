"""The per-source commit lock: one holder, snapshots' commits first, nothing lost to cancellation."""

from __future__ import annotations

import anyio
import pytest
from anyio import wait_all_tasks_blocked

from streamer.engine.commitlock import CommitLock


async def test_waiters_marked_first_get_it_first_each_kind_in_the_order_they_came() -> None:
    lock, order = CommitLock(), []

    async def commit(name: str, first: bool) -> None:
        async with lock.hold(first=first):
            order.append(name)
            await anyio.lowlevel.checkpoint()  # held across a switch: the others keep waiting

    await lock.acquire()
    async with anyio.create_task_group() as tg:
        for name, first in (("history-1", False), ("snapshot-1", True), ("history-2", False), ("snapshot-2", True)):
            tg.start_soon(commit, name, first)
            await wait_all_tasks_blocked()
        assert lock.waiting() == 4 and order == []
        lock.release()
    assert order == ["snapshot-1", "snapshot-2", "history-1", "history-2"]
    assert not lock.locked() and lock.waiting() == 0


async def test_one_holder_at_a_time() -> None:
    lock, inside, most = CommitLock(), [0], [0]

    async def commit(first: bool) -> None:
        async with lock.hold(first=first):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            await anyio.lowlevel.checkpoint()
            inside[0] -= 1

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(commit, i % 3 == 0)
    assert most == [1] and not lock.locked()


async def test_any_task_may_release_it() -> None:
    lock, got = CommitLock(), anyio.Event()

    async def pause() -> None:
        await lock.acquire()  # as the daemon pauses a source for a rebalance

    async def commit() -> None:
        async with lock.hold(first=True):
            got.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pause)
        await wait_all_tasks_blocked()
        tg.start_soon(commit)
        await wait_all_tasks_blocked()
        assert lock.locked() and not got.is_set()
        lock.release()  # from this task, not the one that took it
        await got.wait()
    assert not lock.locked()


async def test_a_waiter_cancelled_while_waiting_leaves_the_queue() -> None:
    lock = CommitLock()
    await lock.acquire()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lock.acquire)
        await wait_all_tasks_blocked()
        assert lock.waiting() == 1
        tg.cancel_scope.cancel()
    assert lock.waiting() == 0
    lock.release()
    assert not lock.locked()


async def test_a_waiter_cancelled_as_it_is_handed_the_lock_never_loses_it() -> None:
    lock, held_by = CommitLock(), []

    async def commit(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with lock.hold():
                held_by.append(name)

    await lock.acquire()
    cancelled = anyio.CancelScope()
    with anyio.fail_after(10):  # a lost lock would leave "next" waiting for ever
        async with anyio.create_task_group() as tg:
            tg.start_soon(commit, "cancelled", cancelled)
            await wait_all_tasks_blocked()
            tg.start_soon(commit, "next", anyio.CancelScope())
            await wait_all_tasks_blocked()
            cancelled.cancel()  # the first waiter is cancelled, and before it runs ...
            lock.release()  # ... it is handed the lock
    assert held_by == ["next"]
    assert not lock.locked() and lock.waiting() == 0


async def test_releasing_a_free_lock_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="not held"):
        CommitLock().release()
