"""Coalescer: concurrent requests share batched calls, never one that started before them."""

from __future__ import annotations

import anyio
import pytest

from streamer.kafka.coalesce import Coalescer


class Recorder:
    """A batched call that records its batches and can be held open."""

    def __init__(self) -> None:
        self.batches: list[dict[str, int]] = []
        self.release = anyio.Event()
        self.entered = anyio.Event()
        self.hold = False
        self.fail: Exception | None = None

    async def __call__(self, args: dict[str, int]) -> dict[str, int]:
        self.batches.append(args)
        self.entered.set()
        if self.hold:
            await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return {k: v * 10 for k, v in args.items()}


def test_concurrent_requests_share_one_call() -> None:
    rec = Recorder()
    c: Coalescer[str, int, int] = Coalescer(rec)
    results: dict[str, int] = {}

    async def ask(key: str, arg: int) -> None:
        results[key] = await c(key, arg)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(ask, f"s{i}", i)

    anyio.run(go)
    assert len(rec.batches) == 1
    assert rec.batches[0] == {f"s{i}": i for i in range(20)}
    assert results == {f"s{i}": i * 10 for i in range(20)}


def test_a_request_during_a_call_waits_for_the_next_one() -> None:
    rec = Recorder()
    rec.hold = True
    c: Coalescer[str, int, int] = Coalescer(rec)
    results: dict[str, int] = {}

    async def ask(key: str, arg: int) -> None:
        results[key] = await c(key, arg)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "first", 1)
            await rec.entered.wait()  # the first call is running: later requests must not join it
            for i in range(5):
                tg.start_soon(ask, f"late{i}", i)
            await anyio.wait_all_tasks_blocked()
            rec.hold = False
            rec.release.set()

    anyio.run(go)
    assert rec.batches == [{"first": 1}, {f"late{i}": i for i in range(5)}]
    assert results["first"] == 10 and results["late4"] == 40


def test_an_error_reaches_every_caller_of_the_batch() -> None:
    rec = Recorder()
    rec.fail = RuntimeError("broker gone")
    c: Coalescer[str, int, int] = Coalescer(rec)
    errors: list[str] = []

    async def ask(key: str) -> None:
        with pytest.raises(RuntimeError) as e:
            await c(key, 0)
        errors.append(str(e.value))

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(ask, f"s{i}")

    anyio.run(go)
    assert errors == ["broker gone"] * 3 and len(rec.batches) == 1


def test_a_cancelled_leader_leaves_the_others_to_ask_again() -> None:
    rec = Recorder()
    rec.hold = True
    c: Coalescer[str, int, int] = Coalescer(rec)
    results: dict[str, int] = {}

    async def ask(key: str, arg: int) -> None:
        results[key] = await c(key, arg)

    async def go() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ask, "running", 1)
            await rec.entered.wait()
            with anyio.CancelScope() as leader:
                async with anyio.create_task_group() as inner:
                    inner.start_soon(ask, "leader", 2)  # opens the next batch, waits for the running call
                    await anyio.wait_all_tasks_blocked()
                    tg.start_soon(ask, "follower", 3)  # joins the leader's batch
                    await anyio.wait_all_tasks_blocked()
                    leader.cancel()
            rec.release.set()

    anyio.run(go)
    assert results == {"running": 10, "follower": 30}
    assert rec.batches == [{"running": 1}, {"follower": 3}]
