"""Echo's simulator, mounted by ``streamer.simulator.app`` once this folder is on
``streamer.simulator.__path__``: agents whose presence turns every 10 s of the world."""

from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamer.simulator.faults import Faults
from streamer.simulator.world import World

AGENTS = 25
TOKEN = "echo-token"


def mount(world: World, faults: Faults) -> dict[str, Any]:
    async def agents(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return Response(b'{"message": "unauthorized"}', 401, media_type="application/json")
        offset, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
        tick = world.now_ms() // 10_000
        rows = [{"id": f"e{i:02d}", "presence": "Ready" if (tick + i) % 3 else "Break"} for i in range(AGENTS)]
        body = {"items": rows[offset: offset + limit], "total": AGENTS}
        return Response(msgspec.json.encode(body), media_type="application/json")

    return {"/echo": Starlette(routes=[Route("/agents", agents)])}
