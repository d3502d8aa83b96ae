"""Pure decoding off the event loop: a large response body is decoded in a worker thread.

Every source shares one event loop, so a body that takes long to decode (or to repair)
on it would stall every other source's polls, commits and the daemon's stop. Small
bodies are decoded in place (a thread hop costs more than they do); from
:data:`OFF_LOOP_BYTES` on, the decode runs in a worker thread while the loop goes on.

What a thread can take off the loop is Python-level work (repairs, a loop over rows):
the interpreter hands the GIL back to the loop every few milliseconds (5 ms, the switch
interval). A single msgspec call holds the GIL until it returns, in a thread as on the
loop, so a decode that is one such call (a page's envelope as documented, before any
repair) is done in place, whatever its size. Measured: an 8.7 MB body read in one call
took 7.3 ms; read over and over in a thread, it kept the loop's thread waiting up to
11.9 ms at a time. And a hop costs about 140 µs of CPU on an idle loop, more than half of
what the envelope of a 1,000-agent Vonage page (370 KB, 0.24 ms) costs to read.

Rows as documented are decoded in one msgspec call too, in place, up to
:data:`IN_PLACE_ITEMS_BYTES`: below the switch interval, a thread would not give the loop
its turn any sooner. More rows, or rows off the document, are decoded one by one, in a
worker thread from :data:`OFF_LOOP_BYTES` on.

Only pure functions go to the thread: bytes in, decoded values out. Trackers, the
ledger and an endpoint's memory of rows (``keep`` callbacks) are touched on the loop
only, before or after the decode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio.to_thread

__all__ = ["OFF_LOOP_BYTES", "IN_PLACE_ITEMS_BYTES", "decode_off_loop"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

OFF_LOOP_BYTES = 64 * 1024
"""Bodies of at least this many bytes are decoded in a worker thread. Below it a decode
costs the loop at most a few tens of milliseconds, even with a repair (up to about 0.4 s
of CPU per MB, see :data:`~streamer.http.jsonrepair.MAX_REPAIR_BYTES`)."""

IN_PLACE_ITEMS_BYTES = 2 * 1024 * 1024
"""Rows as documented up to this many bytes are decoded in one call on the loop, in about
the switch interval or less: 1,000 Vonage interactions (1.6 MB) took 3.4 ms, 1,000
agent-status rows (334 KB) 0.8 ms."""


async def decode_off_loop(size: int, fn: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``fn(*args)``: in place when ``size`` (the bytes it decodes) is small, else in a
    worker thread. ``fn`` must be pure. A cancelled caller does not wait for the thread;
    its result is dropped."""
    if size < OFF_LOOP_BYTES:
        return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)
