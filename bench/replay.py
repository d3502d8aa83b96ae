"""CPU per event of one Vonage source's pipeline, replayed: no wire, no broker, no wall clock.

The latency bench measures the daemon as it is deployed, and on this 2-core machine, shared
with the simulator farm and the broker, back-to-back runs of the same code differ by 5-10 %
in CPU per event: a change worth a few percent cannot be seen there. Here the same work is
done twice in one process, on a virtual clock:

- **recorded**: one source (``AGENTS`` agents at the simulator's default 108 calls per
  agent-hour) is polled as the daemon's schedule polls it (agent-status every second, the
  two history endpoints every 2 s with the latency bench's settings); the simulator app
  answers in this process (``httpx.ASGITransport``) and every response is kept by URL;
- **replayed**, ``RUNS`` times: the same polls from a fresh runner, each response served
  from the recording (``httpx.MockTransport``), committed to the in-memory Kafka of the
  tests (``tests/fakes.py``). Measured: the process's CPU time (every thread: large bodies'
  repairs and rows are decoded in a worker thread) per event published, over the polls
  after ``WARMUP_S``, with the cycle collector tuned as ``streamer run`` tunes it.

CPU time alone still does not compare across runs here: this machine's speed drifts by up
to 2x within seconds (a pure-Python loop timed 0.49-0.91 s, one run after another). So
after every measured poll the same fixed piece of work, :func:`reference` (stdlib JSON and
dicts), is timed too, and CPU per event is also given in units of that work. A drift slows
both, though not exactly alike (the reference slowed more than the pipeline), so compare
two versions by alternating runs, at similar reference times.

Everything from the HTTP client's ``send`` to the publisher's ``send`` is the daemon's own
code; left out are the wire (httpcore, h11, sockets) and the Kafka producer (batching,
compression, network), which the latency and publish benches measure. The polls, the
responses and the events are the same in every run and in every version of the code that
asks for the same URLs, so two versions compare on the same work.
"""

from __future__ import annotations

import gc
import hashlib
import json
import statistics
import time
from typing import Any, NamedTuple

import anyio
import httpx

from bench.common import Figure, as_builtins
from bench.latency import HISTORY
from streamer.config.load import parse_config
from streamer.engine.emit import OutRecord
from streamer.kafka.partition import PARTITIONER
from streamer.kafka.publisher import Ack
from streamer.ops.gcpolicy import tune_collector
from streamer.simulator.app import build_app
from streamer.simulator.faults import Faults
from streamer.simulator.vonage import STATIC_TOKEN
from streamer.simulator.world import World
from tests.fakes import FakeLog, Stepper

AGENTS = 1000
CALLS_PER_AGENT_HOUR = 108.0
"""The simulator's default, the latency bench's stress load."""
WARMUP_S = 150
"""Virtual seconds before the measurement: the first sight of every agent, and a history
endpoint's memory of ids filled to its horizon, 2 x (lookback + lookback_every) = 140 s."""
MEASURE_S = 120
RUNS = 3
START_S = 1_795_251_600.0  # 2026-11-21T09:00:00Z
BASE_URL = "http://sim/vonage"
HISTORY_EVERY_S = 2
REFERENCE_PER_POLL = 3
Bodies = dict[str, list[tuple[int, list[tuple[bytes, bytes]], bytes]]]
"""Responses by URL, in the order they were asked for (agent-status has one URL)."""
_REFERENCE_BODY = json.dumps([
    {"agentId": f"{i:06d}", "presence": {"name": "Ready", "since": "2026-11-21T09:00:00.000Z"}, "calls": i % 3}
    for i in range(200)
])


def reference() -> int:
    """A fixed piece of work of the daemon's kind (JSON, dicts, a sort): the unit CPU per event
    is also given in, timed over the same polls, for a machine whose speed drifts."""
    rows = json.loads(_REFERENCE_BODY)
    by_agent = {r["agentId"]: r for r in rows}
    return len(json.dumps(sorted(by_agent.values(), key=lambda r: (r["calls"], r["agentId"]))))


def _config() -> Any:
    return parse_config({
        "kafka": {"topic_prefix": "replay", "partitions": 3},
        "sources": [{"id": "vonage-replay", "vendor": "vonage", "base_url": BASE_URL,
                     "auth": {"type": "bearer", "token": STATIC_TOKEN}, **HISTORY}],
    }, env={})


class _CountingLog(FakeLog):
    """The tests' in-memory log, keeping no record: the offsets it acks, and the count and a
    digest of the events. Keeping every record (as the tests do) put half a million objects
    in the cycle collector's way: it took 2.2-2.5 s of a pass, 1.5 s of it in one full
    collection, a cost the daemon, which holds no records, never pays."""

    def __init__(self, partitions: int, event_topics: set[str]) -> None:
        super().__init__(partitions=partitions)
        self._event_topics = event_topics
        self._next: dict[tuple[str, int], int] = {}
        self.events = 0
        self.digest = hashlib.blake2b(digest_size=16)

    def restart_count(self) -> None:
        """Count and digest the events from here on."""
        self.events, self.digest = 0, hashlib.blake2b(digest_size=16)

    def append(self, r: OutRecord) -> Ack:
        p = PARTITIONER(r.key, list(range(self.partitions)), [])
        offset = self._next.get((r.topic, p), 0)
        self._next[(r.topic, p)] = offset + 1
        if r.topic in self._event_topics:
            self.events += 1
            self.digest.update(r.value or b"")
        return Ack(r.topic, p, offset)


class _Recorder(httpx.AsyncBaseTransport):
    """Answers from the simulator app and keeps each response's body by URL."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.bodies: Bodies = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        self.bodies.setdefault(str(request.url), []).append((response.status_code, list(response.headers.raw), body))
        return httpx.Response(response.status_code, headers=response.headers.raw, content=body)


def _replayer(bodies: Bodies) -> httpx.MockTransport:
    served = {url: iter(responses) for url, responses in bodies.items()}

    def handle(request: httpx.Request) -> httpx.Response:
        try:
            status, headers, body = next(served[str(request.url)])
        except (KeyError, StopIteration):
            raise RuntimeError(f"replay: {request.url} was not asked for (that often) when recording; "
                               "this version of the code polls differently") from None
        return httpx.Response(status, headers=headers, content=body)

    return httpx.MockTransport(handle)


class Pass(NamedTuple):
    """What one pass over the schedule did after the warm-up."""

    cpu_s: float
    events: int
    polls: int
    reference_s: float
    """CPU time of the :func:`reference` work done after each measured poll, :data:`REFERENCE_PER_POLL` times."""
    digest: str
    """Of every event published (their bytes, in order): the same in every pass."""


async def _drive(transport: httpx.AsyncBaseTransport, clock: list[float], warmup_s: int, measure_s: int) -> Pass:
    """Polls the source on the virtual clock, as the daemon's schedule would."""
    import streamer.vendors.vonage.source as vonage_source
    from streamer.http.build import build_http

    cfg = _config()
    original = vonage_source.build_http
    vonage_source.build_http = lambda c, **kw: build_http(c, transport=transport, **kw)
    try:
        source = vonage_source.VonageSource(cfg.sources[0])
    finally:
        vonage_source.build_http = original
    by_name = {ep.name: ep for ep in source.endpoints}
    log = _CountingLog(cfg.kafka.partitions, {f"{cfg.kafka.topic_prefix}.{t}" for t in ("agent", "interaction", "stats")})
    stepper = Stepper(cfg, log)
    cpu_s = reference_s = 0.0
    polls = 0
    try:
        for second in range(warmup_s + measure_s + 1):
            measuring = second >= warmup_s
            if second == warmup_s:
                gc.collect()
                log.restart_count()
            clock[0] = START_S + second
            now_ms = int(clock[0] * 1000)
            names = ["agent-status"] + (["agent-activities", "interactions"] if second % HISTORY_EVERY_S == 0 else [])
            for name in names:
                started = time.process_time()
                await stepper.poll(by_name[name], now_ms)
                if measuring:
                    polls += 1
                    cpu_s += time.process_time() - started
                    started = time.process_time()
                    for _ in range(REFERENCE_PER_POLL):
                        reference()
                    reference_s += time.process_time() - started
        return Pass(cpu_s, log.events, polls, reference_s, log.digest.hexdigest())
    finally:
        await source.aclose()


def record(agents: int = AGENTS, warmup_s: int = WARMUP_S, measure_s: int = MEASURE_S) -> tuple[Bodies, Pass]:
    """One pass with the simulator answering: every response by URL, and the pass."""
    clock = [START_S]
    world = World(1, agents, clock=lambda: clock[0], start=START_S,
                  calls_per_second=CALLS_PER_AGENT_HOUR * agents / 3600)
    recorder = _Recorder(build_app(world, Faults(1)))
    recorded = anyio.run(_drive, recorder, clock, warmup_s, measure_s)
    return recorder.bodies, recorded


def replay(bodies: Bodies, warmup_s: int = WARMUP_S, measure_s: int = MEASURE_S) -> Pass:
    """One pass with every response served from ``bodies``."""
    return anyio.run(_drive, _replayer(bodies), [START_S], warmup_s, measure_s)


def run() -> dict[str, Any]:
    thresholds = gc.get_threshold()
    tune_collector()  # as `streamer run` does; undone below for the benches that follow
    try:
        bodies, recorded = record()
        passes = [replay(bodies) for _ in range(RUNS)]
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
    if any(p.digest != recorded.digest for p in passes):
        raise RuntimeError("a replayed pass published other events than the recorded one")
    per_event_us = [p.cpu_s / p.events * 1e6 for p in passes]
    units = [in_reference_units(p) for p in passes]
    events = recorded.events
    print(f"  {events:,} events in {MEASURE_S} virtual s; CPU per event "
          + ", ".join(f"{u:.1f} us ({r:.3f} units)" for u, r in zip(per_event_us, units)), flush=True)
    setup = (f"1 source x {AGENTS:,} agents, {CALLS_PER_AGENT_HOUR:g} calls per agent-hour, {MEASURE_S} virtual s "
             f"after {WARMUP_S}; no wire, no producer")
    figures = [
        Figure(name="CPU per event, replayed, in reference units (median)", value=round(statistics.median(units), 3),
               unit="units", detail=f"runs: {', '.join(f'{r:.3f}' for r in units)}; one unit: bench.replay.reference(), "
                                    "timed over the same polls; compare versions by alternating runs"),
        Figure(name="CPU per event, replayed (median)", value=round(statistics.median(per_event_us), 1), unit="us",
               detail=f"runs: {', '.join(f'{u:.1f}' for u in per_event_us)}; {setup}"),
        Figure(name="events replayed", value=events, unit="events", detail=f"{events / MEASURE_S:,.0f}/s of virtual time"),
    ]
    return as_builtins(figures, runs_us=[round(u, 2) for u in per_event_us], runs_units=[round(r, 4) for r in units],
                       polls=recorded.polls,
                       recorded_bytes=sum(len(b) for responses in bodies.values() for _, _, b in responses))


def in_reference_units(p: Pass) -> float:
    """The pass's CPU per event over the CPU of one :func:`reference`, both timed over the same polls."""
    return (p.cpu_s / p.events) / (p.reference_s / (p.polls * REFERENCE_PER_POLL))
