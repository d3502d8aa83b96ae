"""``python -m bench.sim_farm PORT WORLDS AGENTS [CALLS_PER_AGENT_HOUR]``: independent
Vonage tenants on one port.

World ``i`` (seed ``i``, 1..WORLDS, ``AGENTS`` agents, calls arriving at
``CALLS_PER_AGENT_HOUR`` per agent, default the simulator's) is served at ``/wNN/vonage``. The
worlds start now and run at speed 1 on the wall clock, so a vendor time is the wall time
of the change. One process, one event loop: the benchmark measures the daemon, and the
simulator should take as little of the machine as it can.
"""

from __future__ import annotations

import gc
import sys
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from streamer.ops.gcpolicy import tune_collector
from streamer.simulator.faults import Faults
from streamer.simulator.vonage import vonage_app
from streamer.simulator.world import World

__all__ = ["build_farm", "world_path", "FREEZE_EVERY_S", "freeze_periodically"]

FREEZE_EVERY_S = 1.0
"""How often the farm moves what it has built out of the collector's scans."""


def world_path(i: int) -> str:
    """Where world ``i`` (1-based) serves the Vonage API."""
    return f"/w{i:02d}/vonage"


def build_farm(worlds: int, agents: int, calls_per_agent_hour: float | None = None) -> Starlette:
    rate = None if calls_per_agent_hour is None else calls_per_agent_hour * agents / 3600
    routes = [Mount(world_path(i), app=vonage_app(World(i, agents, calls_per_second=rate), Faults(i)))
              for i in range(1, worlds + 1)]
    return Starlette(routes=routes)


def freeze_periodically(every_s: float, stop: threading.Event) -> None:
    """``gc.freeze()`` every ``every_s`` until ``stop`` is set. The worlds keep every change
    they make, so the objects the collector scans grow all run long: at the latency bench's
    default load a full collection held the farm's one event loop 0.5-1 s (and a middle one
    40-95 ms) while every tenant's requests waited, the bench's largest snapshot delays.
    Frozen objects are never scanned again; what the worlds keep is never garbage, and
    garbage in a reference cycle that lives through a freeze (rare here: rows, dicts
    and responses are freed by their reference counts) stays until the farm exits."""
    while not stop.wait(every_s):
        gc.freeze()


def main(argv: list[str]) -> None:
    port, worlds, agents = int(argv[0]), int(argv[1]), int(argv[2])
    calls = float(argv[3]) if len(argv) > 3 else None
    # The worlds keep every change they made: over a run the farm holds over a million
    # objects, and with CPython's collector defaults it spent a quarter of its CPU
    # scanning them, on the cores the daemon being measured needs.
    tune_collector()
    threading.Thread(target=freeze_periodically, args=(FREEZE_EVERY_S, threading.Event()), daemon=True,
                     name="gc-freeze").start()
    uvicorn.run(build_farm(worlds, agents, calls), host="127.0.0.1", port=port,
                log_level="warning", lifespan="off", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
