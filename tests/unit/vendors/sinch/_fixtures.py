"""The Sinch seed examples (verbatim) as response bodies; the simulator in-process, and
a source runner stepped on in-memory Kafka (tests.fakes.Stepper)."""

from __future__ import annotations

import base64
import random
from typing import Any

import httpx

from streamer.config.load import parse_config
from streamer.config.model import SourceConfig, StreamerConfig
from streamer.http.auth import BasicAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from tests import paths
from tests.fakes import Stepper

FIXTURES = paths.FIXTURES / "sinch"


def verbatim(name: str) -> bytes:
    """``rmi/agents`` -> the example's bytes exactly as the doc has them."""
    return (FIXTURES / f"{name}.verbatim.txt").read_bytes()


def body(name: str) -> bytes:
    """The example as a server would send it: a list example gets its brackets."""
    raw = verbatim(name)
    return raw if raw.lstrip().startswith(b"[") else b"[" + raw + b"]"


#: what the RAI status-log example means, in the order things happened (the status
#: times, not the order the log wrote them): (type, time, raw or category). The two
#: ``Waiting`` rows written 3 ms and 0 ms before a ``Wrap`` (07:20:37.387, 07:21:27.600)
#: are the call ending, folded into the Wrap; the two ``Dialing_Outbound_Campaign`` rows
#: written after a newer ``Waiting`` come before it.
SEED_EVENTS = [
    ("presence.changed", "2019-12-03T07:19:59.127Z", "Ready"),
    ("session.started", "2019-12-03T07:19:59.127Z", None),
    ("state.changed", "2019-12-03T07:19:59.127Z", "Waiting"),
    ("presence.changed", "2019-12-03T07:19:59.160Z", "Away"),
    ("presence.changed", "2019-12-03T07:20:12.960Z", "Ready"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "OBJoin"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "Preview"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "Dialing_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:20:21.250Z", "Waiting"),
    ("state.changed", "2019-12-03T07:20:21.907Z", "Talking_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:20:37.390Z", "Wrap"),
    ("state.changed", "2019-12-03T07:20:42.230Z", "Waiting"),
    ("state.changed", "2019-12-03T07:20:42.233Z", "OBUnJoin"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "OBJoin"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "Preview"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "Dialing_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:21:08.223Z", "Waiting"),
    ("state.changed", "2019-12-03T07:21:27.600Z", "Wrap"),
    ("state.changed", "2019-12-03T07:22:40.587Z", "Waiting"),
    ("state.changed", "2019-12-03T07:22:40.593Z", "OBUnJoin"),
    ("presence.changed", "2019-12-03T07:40:58.870Z", "LoggedOut"),
    ("session.ended", "2019-12-03T07:40:58.870Z", None),
    ("state.changed", "2019-12-03T07:40:58.870Z", "LoggedOut"),
]


# --- the simulator in-process on a fake clock, and the runner stepped on fakes ----------

T0 = 1_700_000_000.0
BASIC = "Basic " + base64.b64encode(b"sim:sim").decode()


class FakeClock:
    """A settable clock (seconds) for the simulated world."""

    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def no_sleep(_: float) -> None:
    return None


def sim_http(world: World, faults: Faults, prefix: str) -> HttpClient:
    """An HTTP client to the in-process simulator (no socket) under ``prefix``."""
    transport = httpx.ASGITransport(app=build_app(world, faults))
    return HttpClient(f"http://sim{prefix}", BasicAuth("sim", Secret("sim")), headers={"accept": "application/json"},
                      transport=transport, sleep=no_sleep, rng=random.Random(1))


def sinch_config(vendor: str, **kw: Any) -> StreamerConfig:
    base = {"id": "sinch-it", "vendor": vendor, "base_url": f"http://sim/sinch/RI/{vendor[-3:]}",
            "auth": {"type": "basic", "username": "sim", "password": "sim"}, "lookback": 20, "safety_lag": 0.5,
            "initial_lookback": 3600, "poll_interval": 1}
    base.update(kw)
    return parse_config({"sources": [base]}, env={})


def source_cfg(vendor: str, **kw: Any) -> SourceConfig:
    return sinch_config(vendor, **kw).sources[0]


def Harness(vendor: str) -> Stepper:
    """A ``SourceRunner`` of a ``vendor`` source on in-memory Kafka, polled step by step."""
    return Stepper(sinch_config(vendor))
