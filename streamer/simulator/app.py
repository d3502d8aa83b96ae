"""One HTTP server for every simulated vendor, plus ``/_sim`` control endpoints.

``build_app`` mounts each vendor app under its prefix behind the fault middleware;
``serve`` runs it (``streamer simulate``); ``SimulatorThread`` runs it in a background
thread for tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import socket
import threading
import time
from types import TracebackType
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from streamer.simulator.faults import FaultMiddleware, Faults
from streamer.simulator.world import World

__all__ = ["build_app", "serve", "SimulatorThread"]


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status_code=status, media_type="application/json")


def simulated_vendors() -> dict[str, Any]:
    """The simulator's vendor modules: each module of this package with
    ``mount(world, faults) -> {prefix: app}``, by name."""
    found = {}
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{__package__}.{info.name}")
        if callable(getattr(module, "mount", None)):
            found[info.name] = module
    return found


def build_app(world: World, faults: Faults) -> Starlette:
    """All vendor apps under their prefixes, faults applied; ``/_sim`` is never faulted."""
    vendors: dict[str, Any] = {}
    no_retry_after: set[str] = set()  # prefixes of vendors whose 429 documents no Retry-After
    for module in simulated_vendors().values():
        mounted = module.mount(world, faults)
        vendors.update(mounted)
        if not getattr(module, "RETRY_AFTER", True):
            no_retry_after.update(mounted)

    async def set_faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                raw = await request.body()
                body = msgspec.json.decode(raw) if raw else {}
                if not isinstance(body, dict):
                    raise ValueError("expected a JSON object")
                if body.pop("reset", False):
                    faults.reset()
                faults.update(**body)
            except (ValueError, msgspec.DecodeError) as err:
                return _json({"message": str(err)}, 400)
        return _json(faults.settings())

    async def truth(request: Request) -> Response:
        with world.lock:
            return _json({
                "now_ms": world.advance(),
                "activities": world.activities(),
                "interactions": world.interactions(),
                "transfers": world.transfers(),
            })

    routes: list[BaseRoute] = [
        Route("/_sim/faults", set_faults, methods=["GET", "POST"]),
        Route("/_sim/truth", truth),
    ]
    routes += [Mount(prefix, app=FaultMiddleware(app, faults, retry_after=prefix not in no_retry_after))
               for prefix, app in vendors.items()]
    return Starlette(routes=routes)


def serve(port: int, seed: int, agents: int, host: str = "127.0.0.1", history: float = 0.0) -> None:
    """Run the simulator until interrupted (blocking); ``history`` seconds of past come first."""
    app = build_app(World(seed, agents, start=time.time() - history), Faults(seed))
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")


class SimulatorThread:
    """The simulator on an ephemeral 127.0.0.1 port in a background thread.

    ``with SimulatorThread(seed=1, agents=20) as sim: httpx.get(sim.base_url + ...)``
    """

    def __init__(self, seed: int = 1, agents: int = 20, speed: float = 1.0,
                 world: World | None = None, faults: Faults | None = None) -> None:
        self.world = world if world is not None else World(seed, agents, speed=speed)
        self.faults = faults if faults is not None else Faults(seed)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(build_app(self.world, self.faults), log_level="warning",
                                lifespan="off", ws="none")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> SimulatorThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator failed to start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
