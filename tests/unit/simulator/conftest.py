"""Fixtures: a fake clock, a world on it and an in-process ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.vonage import ACCEPT
from streamer.simulator.world import World

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HEADERS = {"authorization": "Bearer sim-token", "accept": ACCEPT}


class FakeClock:
    """A clock (seconds) that only moves when told to."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def world(clock: FakeClock) -> World:
    return World(seed=7, agents=20, clock=clock)


@pytest.fixture
def faults() -> Faults:
    return Faults(seed=7)


@pytest.fixture
async def client(world: World, faults: Faults) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(world, faults))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=HEADERS) as c:
        yield c
