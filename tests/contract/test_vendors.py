"""The contract every vendor keeps, run for each name the registry knows (as
``singer_sdk.testing`` runs one suite for every tap): built from its config and run by
the real ``SourceRunner`` against the simulator over HTTP, on in-memory Kafka.

- it publishes the event types its facade promises, each id once, no dead letter;
- restarted on the same Kafka it reads its state back and publishes nothing twice;
- an unreadable response goes to the dead letters and the source goes on;
- small pages give the events big pages give;
- a token that expires mid-run is replaced and the source goes on;
- its documented examples, served verbatim by a plain HTTP stub (no simulator), give
  its golden events (``UPDATE_GOLDEN=1`` rewrites them: read the diff).

A vendor's facade (tests/contract/facades/<vendor>.py) says how to configure it for the
simulator and what to expect. The simulated world has a few minutes of past, so one poll
reads plenty; tests wait on conditions (every endpoint polled), never on time.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.config.model import StreamerConfig
from streamer.engine.runner import SourceRunner
from streamer.simulator.app import SimulatorThread
from streamer.simulator.world import World
from streamer.timeutil import parse_ts, to_ms
from streamer.vendors import registry
from streamer.vendors.kit.endpoints import PerKeyEndpoint
from tests.contract.facades import Facade, Verbatim, facade
from tests.fakes import FakeLog, Stepper, fakes
from tests.stub_http import JsonHandler, serve
from tests.unit.vendors._golden import check_golden
from tests.waiting import eventually

HISTORY_S = 240.0
"""Past the simulated world has when a test starts."""
PREFIX = "cc"
EVENT_TOPICS = {f"{PREFIX}.{t}" for t in ("agent", "interaction", "stats")}


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    world = World(seed=11, agents=8, start=time.time() - HISTORY_S)
    with SimulatorThread(world=world) as s:
        yield s


def config(f: Facade, base_url: str, source_id: str = "contract", **over: Any) -> StreamerConfig:
    src = {"id": source_id, "poll_interval": "200ms", "lookback": "20s", "safety_lag": "500ms",
           "initial_lookback": "1h", "timeout": "5s", **f.source(base_url), **over}
    return parse_config({"kafka": {"topic_prefix": PREFIX, "partitions": 3}, "sources": [src],
                         "watermark_interval": "1h"}, env=f.env)


class Run:
    """One source on a log, run by SourceRunner until a condition holds."""

    def __init__(self, cfg: StreamerConfig, log: FakeLog | None = None) -> None:
        self.cfg = cfg
        self.log, self.publisher, self.store = fakes(cfg.kafka, log)

    async def until_polled(self, times: int = 2, also: Any = None, then: Any = None,
                           timeout: float = 20.0) -> SourceRunner:
        """Run a new runner until every endpoint polled ``times`` times without error
        (and ``also()`` holds); then stop it. ``then()``: called once every endpoint
        polled once, and the count starts over."""
        runner = SourceRunner(self.cfg.sources[0], self.cfg, self.publisher, self.store)  # type: ignore[arg-type]
        ok: dict[str, int] = {}
        polled = runner.poll_once

        async def counting(ep: Any) -> Any:
            out = await polled(ep)
            ok[ep.name] = ok.get(ep.name, 0) + 1
            return out

        runner.poll_once = counting  # type: ignore[method-assign]

        def done() -> bool:
            nonlocal then
            eps = runner.source.endpoints if runner.source is not None else []
            if then is not None and eps and all(ok.get(ep.name, 0) >= 1 for ep in eps):
                then()
                then = None
                ok.clear()
            return bool(eps) and then is None and all(ok.get(ep.name, 0) >= times for ep in eps) and (
                also is None or also())

        async with anyio.create_task_group() as tg:
            tg.start_soon(runner.run)
            reached = await eventually(done, timeout)
            tg.cancel_scope.cancel()
        assert reached, f"not every endpoint polled {times} times: {ok}; dead letters: {self.dead_letters()}"
        return runner

    def events(self) -> list[dict[str, Any]]:
        return [msgspec.json.decode(r.value) for r in self.log.written if r.topic in EVENT_TOPICS and r.value]

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.log.values(f"{PREFIX}.deadletter")


def ids_once(evs: list[dict[str, Any]]) -> None:
    ids = [e["id"] for e in evs]
    assert len(ids) == len(set(ids)), [i for i in set(ids) if ids.count(i) > 1][:5]


@pytest.fixture(params=registry.names())
def vendor(request: pytest.FixtureRequest) -> Facade:
    return facade(request.param)


@pytest.fixture(params=[n for n in registry.names() if facade(n).small_pages is not None])
def paging_vendor(request: pytest.FixtureRequest) -> Facade:
    """The vendors whose reads come in pages (Alvaria's do not)."""
    return facade(request.param)


@pytest.fixture(params=[n for n in registry.names()
                        if facade(n).expiring_tokens is not None and facade(n).token_path is not None])
def token_vendor(request: pytest.FixtureRequest) -> Facade:
    """The vendors whose auth is a token that expires (Sinch's is Basic)."""
    return facade(request.param)


async def test_publishes_its_event_types_each_once(vendor: Facade, sim: SimulatorThread) -> None:
    run = Run(config(vendor, sim.base_url))
    await run.until_polled()
    evs = run.events()
    assert vendor.produces <= {e["type"] for e in evs}, {e["type"] for e in evs}
    ids_once(evs)
    assert run.dead_letters() == []


async def test_a_restart_reads_back_and_publishes_nothing_twice(vendor: Facade, sim: SimulatorThread) -> None:
    run = Run(config(vendor, sim.base_url))
    await run.until_polled()
    before = len(run.events())
    restores = run.store.restores
    await run.until_polled()  # a new runner, the vendor source built again, the same Kafka
    assert run.store.restores > restores and before > 0
    ids_once(run.events())


async def test_an_unreadable_response_is_a_dead_letter_and_the_source_goes_on(vendor: Facade, sim: SimulatorThread) -> None:
    run = Run(config(vendor, sim.base_url))
    await run.until_polled(times=2, then=lambda: vendor.bad_record(sim.faults), also=lambda: bool(run.dead_letters()))
    assert len(run.dead_letters()) == 1 and run.dead_letters()[0]["source_id"] == "contract"
    ids_once(run.events())


async def test_small_pages_give_what_big_pages_give(paging_vendor: Facade, sim: SimulatorThread) -> None:
    vendor = paging_vendor
    assert vendor.small_pages is not None
    cutoff = time.time() - 60  # the world's settled past: both runs see all of it

    def settled(run: Run) -> set[tuple[str, str, str]]:
        return {(e["type"], e["subject"], e["time"]) for e in run.events()
                if e["time"] < time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(cutoff))}

    big, small = Run(config(vendor, sim.base_url)), Run(config(vendor, sim.base_url, **vendor.small_pages))
    await big.until_polled(times=1)
    requests = sim.faults.requests_served
    await small.until_polled(times=1)
    assert sim.faults.requests_served - requests > len(small.cfg.sources) * 4  # several pages were read
    def subjects(run: Run) -> set[str]:
        return {e["subject"] for e in run.events()}

    # no page of entities missed (the small run comes later: the live world may have more)
    assert subjects(big) <= subjects(small) and len(subjects(big)) > 5
    assert settled(small) == settled(big)  # and the same past, event for event


async def test_a_token_expiring_mid_run_is_replaced(token_vendor: Facade, sim: SimulatorThread) -> None:
    vendor = token_vendor
    assert vendor.expiring_tokens is not None and vendor.token_path is not None
    run = Run(config(vendor, sim.base_url, **vendor.expiring_tokens(sim.base_url)))
    sim.faults.update(short_token_ttl=1)
    path = vendor.token_path

    def tokens() -> int:
        return int(sim.faults.settings()["requests_by_path"].get(path, 0))

    await run.until_polled(times=1)
    first = tokens()
    assert first >= 1
    await run.until_polled(times=2, also=lambda: tokens() > first + 1)  # the source went on through refreshes
    assert run.dead_letters() == []
    ids_once(run.events())


# --- golden events from the vendor's documented examples ----------------------------------

STUB_TOKEN = "contract-token"


class VerbatimStub:
    """What a plain HTTP server of documented examples serves now (``case``), and the
    requests it got: (method, path, authorization)."""

    def __init__(self, token_path: str | None) -> None:
        self.token_path = token_path
        self.case: Verbatim | None = None
        self.got: list[tuple[str, str, str]] = []

    def serve(self, case: Verbatim) -> None:
        self.case, self.got = case, []


@contextmanager
def verbatim_stub(token_path: str | None) -> Iterator[tuple[str, VerbatimStub]]:
    """A plain HTTP server of the stub's case's bodies, byte for byte, whatever the query
    (and an OAuth2 token at ``token_path``); yields its URL and the stub. One server for
    all of a vendor's cases: stopping one takes up to half a second."""
    stub = VerbatimStub(token_path)

    class Handler(JsonHandler):
        def date_time_string(self, timestamp: float | None = None) -> str:
            assert stub.case is not None
            return email.utils.formatdate(to_ms(parse_ts(stub.case.at)) / 1000, usegmt=True)  # the poll's instant

        def do_GET(self) -> None:  # noqa: N802 - stdlib API
            assert stub.case is not None
            url = urlsplit(self.path)
            stub.got.append(("GET", url.path, self.headers.get("authorization", "")))
            offset = parse_qs(url.query).get("offset", ["0"])[0]
            body = stub.case.bodies.get(url.path)
            if body is None:
                self.send_json(404, b'{"message": "no example at this path"}')
            elif stub.case.later_pages is not None and offset != "0":
                self.send_json(200, stub.case.later_pages)
            else:
                self.send_json(200, body)

        def do_POST(self) -> None:  # noqa: N802 - stdlib API
            url = urlsplit(self.path)
            stub.got.append(("POST", url.path, self.headers.get("authorization", "")))
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if url.path != stub.token_path:
                self.send_json(404, b'{"message": "not a token endpoint"}')
                return
            self.send_json(200, msgspec.json.encode({"access_token": STUB_TOKEN, "token_type": "Bearer",
                                                     "expires_in": 3600}))

    with serve(Handler) as url:
        yield url, stub


async def test_its_documented_examples_give_its_golden_events(vendor: Facade) -> None:
    assert vendor.verbatim, f"{vendor.name}: its facade declares no documented example (Facade.verbatim)"
    spec = registry.get(vendor.name)
    assert spec is not None
    with verbatim_stub(vendor.token_path) as (url, stub):
        for case in vendor.verbatim:
            stub.serve(case)
            cfg = config(vendor, url, source_id="golden", **case.config)
            source = spec.build(cfg.sources[0])  # a new source per case: nothing remembered across cases
            steps = Stepper(cfg)
            for ep in source.endpoints:
                if isinstance(ep, PerKeyEndpoint):  # its events are timed poll time + time into the round
                    ep.clock = lambda: 0.0
            try:
                endpoints = {ep.name: ep for ep in source.endpoints}
                for name in case.polls:
                    await steps.poll(endpoints[name], to_ms(parse_ts(case.at)))
            finally:
                await source.aclose()
            got = stub.got
            assert steps.bad == [], (case.name, steps.bad)
            assert {p for m, p, _ in got if m == "GET"} == set(case.bodies), (case.name, got)  # every example was read
            assert all(a for m, _, a in got if m == "GET"), got  # and with credentials
            if any(m == "POST" for m, _, _ in got):  # OAuth2: with the token the stub issued
                assert {a for m, _, a in got if m == "GET"} == {f"Bearer {STUB_TOKEN}"}, got
            evs = steps.events()
            ids_once(evs)
            # observedtime is the runner's clock, fixed here: no field depends on the wall time
            check_golden(f"{vendor.name}/contract_{case.name}.events.json", evs)
