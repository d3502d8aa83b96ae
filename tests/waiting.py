"""Waiting on a condition from async tests (``tests.integration.harness.wait_for`` is the sync twin)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["POLL_S", "eventually"]

POLL_S = 0.05
"""How often a condition is looked at again: a poll, not a guess of how long things take."""


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 20.0) -> bool:
    """Look at ``check`` until it holds (True), or until ``timeout`` (False)."""
    with anyio.move_on_after(timeout):
        while True:
            ok = check()
            if inspect.isawaitable(ok):
                ok = await ok
            if ok:
                return True
            await anyio.sleep(POLL_S)
    return False
