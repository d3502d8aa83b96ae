"""The bench's simulator farm keeps the collector's scans small (bench/sim_farm.py)."""

from __future__ import annotations

import gc
import threading

from bench.sim_farm import freeze_periodically
from tests.waiting import eventually


async def test_the_farm_freezes_what_it_built_until_stopped() -> None:
    kept = [[i] for i in range(1_000)]  # containers, which the collector tracks
    before = gc.get_freeze_count()
    stop = threading.Event()
    freezer = threading.Thread(target=freeze_periodically, args=(0.01, stop), daemon=True)
    freezer.start()
    try:
        assert await eventually(lambda: gc.get_freeze_count() >= before + len(kept), timeout=10)
        assert not any(o is kept[0] for o in gc.get_objects())  # out of every generation's scans
    finally:
        stop.set()
        freezer.join(10)
        gc.unfreeze()
    assert not freezer.is_alive()
