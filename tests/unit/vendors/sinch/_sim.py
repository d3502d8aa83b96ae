"""Drive Sinch endpoints against the in-process simulator on a fake clock (no broker)."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterable
from typing import Any

import httpx
import msgspec

from streamer.config.load import parse_config
from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft, OutRecord, SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.engine.source import Endpoint, PollResult
from streamer.http.auth import BasicAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from streamer.track.ledger import Ledger

T0 = 1_700_000_000.0
BASIC = "Basic " + base64.b64encode(b"sim:sim").decode()


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def no_sleep(_: float) -> None:
    return None


def sim_http(world: World, faults: Faults, prefix: str) -> HttpClient:
    transport = httpx.ASGITransport(app=build_app(world, faults))
    return HttpClient(f"http://sim{prefix}", BasicAuth("sim", Secret("sim")), headers={"accept": "application/json"},
                      transport=transport, sleep=no_sleep, rng=random.Random(1))


def source_cfg(vendor: str, **kw: Any) -> SourceConfig:
    base = {"id": "sinch-it", "vendor": vendor, "base_url": f"http://sim/sinch/RI/{vendor[-3:]}",
            "auth": {"type": "basic", "username": "sim", "password": "sim"}, "lookback": 20, "safety_lag": 0.5,
            "initial_lookback": 3600, "poll_interval": 1}
    base.update(kw)
    return parse_config({"sources": [base]}, env={}).sources[0]


class Harness:
    """Polls endpoints like the runtime does (cursor kept per endpoint, one ledger)."""

    def __init__(self, vendor: str, ledger: Ledger | None = None) -> None:
        self.ctx = SourceContext(vendor, "sinch-it", "cc")
        self.ledger = ledger or Ledger()
        self.cursors: dict[str, int] = {}
        self.records: list[tuple[OutRecord, Draft]] = []
        self.bad: list[Any] = []

    async def poll(self, ep: Endpoint, now_ms: int) -> list[PollResult]:
        out = []
        async for result in ep.poll(self.cursors.get(ep.name), now_ms):
            self.records += emit_with_rules(result.drafts, self.ledger, self.ctx, now_ms)
            self.bad += result.bad
            if result.cursor_ms is not None:
                self.cursors[ep.name] = max(result.cursor_ms, self.cursors.get(ep.name, 0))
            out.append(result)
        return out

    def events(self, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        wanted = set(types) if types is not None else None
        evs = [msgspec.json.decode(r.value) for r, _ in self.records if r.value is not None]
        return [e for e in evs if wanted is None or e["type"] in wanted]
