"""``python -m bench.sim_farm PORT WORLDS AGENTS [CALLS_PER_AGENT_HOUR]``: independent
Vonage tenants on one port.

World ``i`` (seed ``i``, 1..WORLDS, ``AGENTS`` agents, calls arriving at
``CALLS_PER_AGENT_HOUR`` per agent, default the simulator's) is served at ``/wNN/vonage``. The
worlds start now and run at speed 1 on the wall clock, so a vendor time is the wall time
of the change. One process, one event loop: the benchmark measures the daemon, and the
simulator should take as little of the machine as it can.
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from streamer.ops.gcpolicy import tune_collector
from streamer.simulator.faults import Faults
from streamer.simulator.vonage import vonage_app
from streamer.simulator.world import World

__all__ = ["build_farm", "world_path"]


def world_path(i: int) -> str:
    """Where world ``i`` (1-based) serves the Vonage API."""
    return f"/w{i:02d}/vonage"


def build_farm(worlds: int, agents: int, calls_per_agent_hour: float | None = None) -> Starlette:
    rate = None if calls_per_agent_hour is None else calls_per_agent_hour * agents / 3600
    routes = [Mount(world_path(i), app=vonage_app(World(i, agents, calls_per_second=rate), Faults(i)))
              for i in range(1, worlds + 1)]
    return Starlette(routes=routes)


def main(argv: list[str]) -> None:
    port, worlds, agents = int(argv[0]), int(argv[1]), int(argv[2])
    calls = float(argv[3]) if len(argv) > 3 else None
    # The worlds keep every change they made: over a run the farm holds over a million
    # objects, and with CPython's collector defaults it spent a quarter of its CPU
    # scanning them, on the cores the daemon being measured needs.
    tune_collector()
    uvicorn.run(build_farm(worlds, agents, calls), host="127.0.0.1", port=port,
                log_level="warning", lifespan="off", access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
