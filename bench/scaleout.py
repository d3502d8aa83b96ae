"""Scale-out (issue 12): the capacity of 1 worker and of 2 (``streamer run --workers 2``) on
this machine, and their ratio.

Capacity: the highest offered load, in events/s the daemon publishes, at which detection
p99 of snapshot events stays <= 1.2 s (``TARGET_MS``; latency.py's target for an agent-status
poll every second). Setup as latency.py: ten simulated Vonage tenants of 1,000 agents
(``bench/sim_farm.py``, one child process, speed 1 on the wall clock), agent-status every
second, the history endpoints with latency.py's settings, a consumer in this process taking
receive time - CloudEvent ``time`` of each event on ``<prefix>.agent`` and
``<prefix>.interaction``. Ten sources, so two workers own five each (the bench waits until
the group has every source owned, balanced, before it warms up).

The load is the farm's call rate (calls per agent-hour). Each step starts afresh (broker,
farm at that rate, daemon): the embedded broker keeps everything in memory and gets slower
as it fills (its CPU rose from 8 % to 26 % of a core in three minutes at a constant load), which would charge later
steps for earlier ones. A step waits until the group owns every source, warms up for
``WARMUP_S`` (the first snapshots publish every agent), then measures a ``WINDOW_S`` window:
the events whose vendor ``time`` falls in it are read until none has arrived for
``QUIET_S``. The step's load is their count / the window; it passes when the p99 of its
snapshot events is <= 1.2 s. The search climbs by ``STEP`` until a step fails (or goes down
by it while the first fails), then tries the geometric middle of the last pass and the first
failure ``REFINE`` times. One worker starts at ``START_CALLS``; two at the rate one worker
passed last. A failed step during which other processes took ``DISTURBED_PCT`` of a core is
measured once more. Steps start while ``BUDGET_S`` per worker count lasts.

The machine's cores are shared: the farm, the broker and this consumer run next to the
workers (and, on a shared machine, other people's processes). Each step records the CPU of
every part, the seconds each waited for a CPU (runnable, not running) and the whole
machine's busy share, so a ratio below the goal says what bounded it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer

from bench.common import (
    Figure,
    as_builtins,
    cpu_seconds,
    cpu_wait,
    farm_config,
    percentiles,
    spawn,
    tail,
    topic_partitions,
    wait_listening,
)
from bench.latency import AGENTS, HISTORY, SOURCES, STATUS_INTERVAL_S, TOKEN_ENV, TOPICS
from streamer.cluster.status import group_status
from streamer.config.load import load_config
from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker, free_port
from streamer.timeutil import parse_ts, to_ms

__all__ = ["run"]

TARGET_MS = 1200.0
GOAL_RATIO = 1.8
WORKERS = (1, 2)
START_CALLS = 10.0
"""Calls per agent-hour of one worker's first step (latency.py's typical 12 is about 760 events/s)."""
STEP = 1.4
"""Each step raises the call rate by this factor until a step fails (about +20 % events/s:
agents change presence without calls too)."""
MIN_CALLS, MAX_CALLS = 2.0, 200.0
"""200: near where 1,000 simulated agents are all busy; more calls queue and abandon."""
REFINE = 1
"""Steps between the last pass and the first failure, each at their geometric middle."""
WARMUP_S = 15.0
"""After every source is owned: the first snapshots publish every agent, calls fill the farm."""
CATCH_UP_MAX_S = 20.0
"""Then up to this long for the snapshot events to arrive within the target again."""
WINDOW_S = 20.0
QUIET_S = 4.0
"""After a window, read until no event of it has arrived for this long (history reads come
every 2 s up to now - 2 s)..."""
DRAIN_MAX_S = 20.0
"""...or this long after it (then the step fails: events of it were still coming)."""
CAUGHT_UP_S = 3.0
BUDGET_S = 270.0
"""Steps per worker count stop being started after this long (a step takes about a minute)."""
DISTURBED_PCT = 30.0
"""A failed step during which processes not of this run used this much of a core (another
job on a shared machine) is measured once more before it counts."""
GROUP_WAIT_S = 90.0
FETCH_WAIT_MS = 50


class _Event(msgspec.Struct):
    source: str
    time: str
    observedtime: str


class _Window:
    """What a step's window collects."""

    def __init__(self, begin_ms: int, end_ms: int) -> None:
        self.range = range(begin_ms, end_ms)
        self.snapshot: list[int] = []
        """receive - time (ms) of each agent-status event whose time is in the window."""
        self.pipeline: list[int] = []
        """receive - observedtime (ms) of the same: publish and consume, after detection."""
        self.events = 0
        self.last_arrival = end_ms / 1000


class _Recorder:
    """The consumer's findings: the open window's events and the recent snapshot latencies."""

    def __init__(self) -> None:
        self.window: _Window | None = None
        self.recent: collections.deque[tuple[float, int, int]] = collections.deque(maxlen=10_000)
        """(receive time, snapshot events, of them over the target) per fetched batch."""

    def add(self, batch: list[_Event], got_ms: int) -> None:
        w, n, over = self.window, 0, 0
        for ev in batch:
            changed = to_ms(parse_ts(ev.time))
            snapshot = ev.source.endswith("/agent-status")
            if snapshot:
                n += 1
                over += got_ms - changed > TARGET_MS
            if w is not None and changed in w.range:
                w.events += 1
                w.last_arrival = got_ms / 1000
                if snapshot:
                    w.snapshot.append(got_ms - changed)
                    w.pipeline.append(got_ms - to_ms(parse_ts(ev.observedtime)))
        if n:
            self.recent.append((got_ms / 1000, n, over))

    def late_share(self, now: float) -> float | None:
        """The share of snapshot events received in the last ``CAUGHT_UP_S`` later than the
        target (None: none received)."""
        rows = [(n, over) for t, n, over in self.recent if t >= now - CAUGHT_UP_S]
        total = sum(n for n, _ in rows)
        return sum(o for _, o in rows) / total if total else None

    def caught_up(self, now: float) -> bool:
        late = self.late_share(now)
        return late is not None and late <= 0.01


class _Step(msgspec.Struct, kw_only=True):
    calls_per_agent_hour: float
    events_per_s: float
    snapshot_ms: dict[str, float]
    """p50, p99, max and count of the window's snapshot latencies (empty: none arrived)."""
    pipeline_ms: dict[str, float]
    """The same from the daemon's observed time on: its publish, the broker and this consumer."""
    passed: bool
    cut: bool
    cpu_pct: dict[str, float]
    """% of one core over the window: each part, ``machine`` for all processes of the host."""
    waited_s: dict[str, float]
    """Seconds each part was runnable but waiting for a CPU during the window."""
    warm: bool
    """The daemon had caught up with the start's first snapshots when the window began."""
    split: list[int]
    """Sources each worker owned when the warm-up began."""
    retried: bool = False
    """Failed while other processes took the machine: measured again (the next step)."""


class _Run(msgspec.Struct, kw_only=True):
    workers: int
    steps: list[_Step]
    note: str = ""
    """Why the search stopped early, if it did."""

    def capacity(self) -> _Step | None:
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.events_per_s) if passed else None

    def first_failure(self) -> _Step | None:
        cap = self.capacity()
        above = [s for s in self.steps if not s.passed and (cap is None or s.calls_per_agent_hour > cap.calls_per_agent_hour)]
        return min(above, key=lambda s: s.calls_per_agent_hour) if above else None


# --- CPU -----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _machine_busy_s() -> float:
    """CPU seconds all processes of the host used so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class _Parts:
    """The processes of the run, by part; a --workers supervisor's workers count as theirs."""

    def __init__(self, workers: int, daemon: int, sim: int, broker: int) -> None:
        self.workers, self.daemon = workers, daemon
        self.fixed = {"simulator": sim, "broker": broker, "consumer": os.getpid()}

    def pids(self) -> dict[str, list[int]]:
        if self.workers == 1:
            parts = {"worker 1": [self.daemon]}
        else:
            parts = {f"worker {i}": [pid] for i, pid in enumerate(_children(self.daemon), 1)}
            parts["supervisor"] = [self.daemon]
        return {**parts, **{name: [pid] for name, pid in self.fixed.items()}}

    def sample(self) -> tuple[float, dict[str, tuple[float, float]], float, dict[str, list[int]]]:
        pids = self.pids()
        used = {name: (sum(cpu_seconds(p) for p in ps), sum(cpu_wait(p) for p in ps)) for name, ps in pids.items()}
        return time.time(), used, _machine_busy_s(), pids


def _cpu(before: Any, after: Any) -> tuple[dict[str, float], dict[str, float]]:
    (t0, u0, m0, p0), (t1, u1, m1, p1) = before, after
    if p0 != p1:
        raise RuntimeError(f"the processes changed during a window (a worker restarted?): {p0} -> {p1}")
    wall = t1 - t0
    pct = {name: 100 * (u1[name][0] - u0[name][0]) / wall for name in u0}
    daemons = [name for name in pct if name.startswith(("worker", "supervisor"))]
    pct["workers"] = sum(pct[n] for n in daemons)
    pct["machine"] = 100 * (m1 - m0) / wall
    pct["other processes"] = max(0.0, pct["machine"] - sum(pct[n] for n in u0))
    waited = {name: u1[name][1] - u0[name][1] for name in u0}
    waited["workers"] = sum(waited[n] for n in daemons)
    return ({k: round(v, 1) for k, v in pct.items()}, {k: round(v, 1) for k, v in waited.items()})


# --- the search ------------------------------------------------------------------------


async def _consume(bootstrap: str, prefix: str, rec: _Recorder, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", fetch_max_wait_ms=FETCH_WAIT_MS)
    await consumer.start()
    try:
        consumer.assign(await topic_partitions(bootstrap, [f"{prefix}.{t}" for t in TOPICS]))
        await consumer.seek_to_beginning()
        decode = msgspec.json.Decoder(_Event).decode
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            got = int(time.time() * 1000)
            rec.add([decode(r.value) for records in batches.values() for r in records if r.value is not None], got)
    finally:
        await consumer.stop()


async def _wait_group(config: Path, workers: int) -> list[int]:
    """Wait until ``workers`` members own every source, balanced; their counts."""
    cfg = load_config(config, env={TOKEN_ENV: "sim-token"})
    deadline = time.monotonic() + GROUP_WAIT_S
    seen = "no answer"
    while time.monotonic() < deadline:
        with contextlib.suppress(KafkaUnavailableError, ValueError):
            status = await group_status(cfg)
            split = sorted(len(m.owned) for m in status.members)
            seen = f"{status.state}, owned {split}, unowned {len(status.unowned)}"
            if len(split) == workers and not status.unowned and split[-1] - split[0] <= 1:
                return split
        await asyncio.sleep(1.0)
    raise RuntimeError(f"the group did not give {workers} worker(s) every source within {GROUP_WAIT_S:.0f}s: {seen}")


async def _catch_up(rec: _Recorder, alive: Callable[[], None], timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        await asyncio.sleep(1.0)
        alive()
        if rec.caught_up(time.time()):
            return True
    return False


async def _window(rec: _Recorder, parts: _Parts, alive: Callable[[], None]) -> tuple[_Window, bool, Any, Any]:
    """Collect a window's events until they stop arriving; whether reading was cut, CPU samples."""
    begin = time.time()
    w = rec.window = _Window(int(begin * 1000), int((begin + WINDOW_S) * 1000))
    before = parts.sample()
    await asyncio.sleep(WINDOW_S)
    after = parts.sample()
    end = w.range.stop / 1000
    while (now := time.time()) < end + DRAIN_MAX_S and now - w.last_arrival < QUIET_S:
        await asyncio.sleep(0.2)
    rec.window = None
    alive()
    return w, now - w.last_arrival < QUIET_S, before, after


def _measure(workers: int, calls: float) -> _Step:
    """One step: a fresh broker, farm at ``calls`` per agent-hour and daemon; warm up, measure a window."""
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp, contextlib.ExitStack() as stack:
        broker = stack.enter_context(EmbeddedBroker())
        assert broker.proc is not None
        port, sim_log, daemon_log = free_port(), Path(tmp, "sim.log"), Path(tmp, "daemon.log")
        sim = spawn(stack, ["-m", "bench.sim_farm", str(port), str(SOURCES), str(AGENTS), f"{calls:g}"], sim_log)
        wait_listening(port, sim, sim_log)
        prefix = f"so{uuid.uuid4().hex[:8]}"
        config = farm_config(Path(tmp, "config.yaml"), bootstrap=broker.bootstrap, prefix=prefix,
                             sim_url=f"http://127.0.0.1:{port}", sources=SOURCES, status_interval_s=STATUS_INTERVAL_S,
                             history=HISTORY, token_env=TOKEN_ENV)
        args = ["-m", "streamer.cli", "run", "--config", str(config)] + (["--workers", str(workers)] if workers > 1 else [])
        daemon = spawn(stack, args, daemon_log, {TOKEN_ENV: "sim-token"})
        parts = _Parts(workers, daemon.pid, sim.pid, broker.proc.pid)

        def alive() -> None:
            for name, proc, log in (("daemon", daemon, daemon_log), ("simulator", sim, sim_log)):
                if proc.poll() is not None:
                    raise RuntimeError(f"the {name} exited with {proc.returncode} during the run: {tail(log)}")

        async def main() -> tuple[list[int], bool, tuple[_Window, bool, Any, Any]]:
            rec, stop = _Recorder(), asyncio.Event()
            consumer = asyncio.create_task(_consume(broker.bootstrap, prefix, rec, stop))
            try:
                split = await _wait_group(config, workers)
                await asyncio.sleep(WARMUP_S)
                warm = await _catch_up(rec, alive, CATCH_UP_MAX_S)
                return split, warm, await _window(rec, parts, alive)
            finally:
                stop.set()
                await consumer

        split, warm, (w, cut, before, after) = asyncio.run(main())
    snap = percentiles([float(x) for x in w.snapshot]) if w.snapshot else {}
    pipe = percentiles([float(x) for x in w.pipeline]) if w.pipeline else {}
    cpu, waited = _cpu(before, after)
    step = _Step(calls_per_agent_hour=round(calls, 1), events_per_s=round(w.events / WINDOW_S, 1),
                 snapshot_ms={k: round(v) for k, v in snap.items()}, pipeline_ms={k: round(v) for k, v in pipe.items()},
                 passed=bool(snap) and not cut and snap["p99"] <= TARGET_MS, cut=cut, warm=warm, split=split,
                 cpu_pct=cpu, waited_s=waited)
    print(f"  {workers} worker(s) {split}: {calls:5.1f} calls/agent-h  {step.events_per_s:6,.0f} events/s  snapshot p99 "
          f"{snap.get('p99', math.nan):6,.0f} ms (after detection {pipe.get('p99', math.nan):,.0f})  "
          f"{'pass' if step.passed else 'FAIL'}{' (cut)' if cut else ''}{'' if warm else ' (behind at the start)'}  "
          f"cpu % {cpu}", flush=True)
    return step


def _search(workers: int, start: float) -> _Run:
    """Climb from ``start`` until a step fails, then refine between the last pass and it."""
    deadline = time.monotonic() + BUDGET_S
    steps: list[_Step] = []
    lo: float | None = None
    hi: float | None = None
    calls, refined = start, 0
    while True:
        if time.monotonic() > deadline:
            return _Run(workers=workers, steps=steps, note=f"stopped by the {BUDGET_S:.0f} s budget")
        step = _measure(workers, calls)
        if not step.passed and step.cpu_pct["other processes"] >= DISTURBED_PCT and time.monotonic() < deadline:
            step.retried = True
            steps.append(step)
            step = _measure(workers, calls)
        steps.append(step)
        if step.passed:
            lo = calls
        else:
            hi = calls
        if hi is None:
            if calls >= MAX_CALLS:
                return _Run(workers=workers, steps=steps, note=f"passed at the highest rate tried, {MAX_CALLS:g} calls per agent-hour")
            calls = min(MAX_CALLS, calls * STEP)
        elif lo is None:
            if calls <= MIN_CALLS:
                return _Run(workers=workers, steps=steps, note=f"failed down to {MIN_CALLS:g} calls per agent-hour")
            calls = max(MIN_CALLS, calls / STEP)
        elif refined < REFINE:
            refined += 1
            calls = math.sqrt(lo * hi)
        else:
            return _Run(workers=workers, steps=steps)


# --- report --------------------------------------------------------------------------


def _parts_text(s: _Step) -> str:
    c, w = s.cpu_pct, s.waited_s
    workers = [n for n in c if n.startswith("worker ")]
    per_worker = " + ".join(f"{c[n]:.0f}" for n in workers)
    return (f"workers {c['workers']:.0f} % ({per_worker}; waited {w['workers']:.1f} s for a CPU), "
            f"simulator {c['simulator']:.0f} %, broker {c['broker']:.0f} %, consumer {c['consumer']:.0f} %, "
            f"other processes {c['other processes']:.0f} %: machine {c['machine']:.0f} % of {100 * (os.cpu_count() or 1)} %")


def _capacity_figure(run: _Run) -> Figure:
    cap, fail = run.capacity(), run.first_failure()
    name = f"capacity_{run.workers}_worker{'s' if run.workers > 1 else ''}"
    if cap is None:
        return Figure(name=name, value=0.0, unit="events/s",
                      detail=f"no step passed (p99 <= {TARGET_MS:,.0f} ms); {run.note}".rstrip("; "))
    first = (f"; the next step, {fail.events_per_s:,.0f} events/s ({fail.calls_per_agent_hour:g} calls/agent-h), failed with "
             f"p99 {fail.snapshot_ms.get('p99', float('nan')):,.0f} ms{' (cut)' if fail.cut else ''}" if fail else "")
    return Figure(name=name, value=cap.events_per_s, unit="events/s",
                  detail=f"snapshot p99 {cap.snapshot_ms['p99']:,.0f} ms at {cap.calls_per_agent_hour:g} calls per agent-hour, "
                         f"sources per worker {cap.split}{first}; CPU at capacity (% of a core): {_parts_text(cap)}"
                         + (f"; {run.note}" if run.note else ""))


def _ratio_figure(one: _Run, two: _Run) -> Figure:
    c1, c2 = one.capacity(), two.capacity()
    ratio = c2.events_per_s / c1.events_per_s if c1 and c2 else 0.0
    cores = 100 * (os.cpu_count() or 1)
    parts = []
    if c1 and c2:
        rest = [c.cpu_pct["simulator"] + c.cpu_pct["broker"] + c.cpu_pct["consumer"] for c in (c1, c2)]
        parts.append(f"at capacity the workers used {c1.cpu_pct['workers']:.0f} % / {c2.cpu_pct['workers']:.0f} % of a "
                     f"core, farm + broker + consumer {rest[0]:.0f} % / {rest[1]:.0f} %, other processes "
                     f"{c1.cpu_pct['other processes']:.0f} % / {c2.cpu_pct['other processes']:.0f} % (1 / 2 workers)")
    for run in (one, two):
        fail = run.first_failure()
        if fail is None:
            continue
        c = fail.cpu_pct
        text = (f"{run.workers} worker(s) first failed at {fail.events_per_s:,.0f} events/s with the machine {c['machine']:.0f} % "
                f"busy of {cores} %, other processes {c['other processes']:.0f} %, snapshot p99 after detection "
                f"{fail.pipeline_ms.get('p99', math.nan):,.0f} ms")
        if c["other processes"] >= DISTURBED_PCT:
            text += (" (DISTURBED: other jobs took a CPU from the run; the 1.2 s target leaves about 200 ms above the "
                     "1 s poll, so waiting for a CPU fails it)")
        elif c["machine"] >= 0.85 * cores:
            text += " (the machine was saturated: the workers get what the farm, broker and consumer leave them)"
        else:
            text += (" (CPU to spare: the p99 went over in detection, i.e. the poll wait, the farm's response (one "
                     "event loop for every tenant) and the worker's decode and diff, not in publishing)")
        parts.append(text)
    return Figure(name="ratio", value=round(ratio, 2), unit="x", target=f">= {GOAL_RATIO:g}", met=ratio >= GOAL_RATIO,
                  detail=f"capacity of 2 workers / capacity of 1 on {os.cpu_count()} cores shared with the simulator "
                         f"farm, the broker and the consumer; " + "; ".join(parts))


def run() -> dict[str, Any]:
    runs: list[_Run] = []
    start = START_CALLS
    for workers in WORKERS:
        print(f"  {workers} worker(s), from {start:g} calls per agent-hour", flush=True)
        runs.append(_search(workers, start))
        cap = runs[-1].capacity()
        if cap is not None:
            start = cap.calls_per_agent_hour
    one, two = runs
    figures = [_capacity_figure(one), _capacity_figure(two), _ratio_figure(one, two)]
    setup = {"sources": SOURCES, "agents_per_source": AGENTS, "agent_status_interval_s": STATUS_INTERVAL_S,
             "history_endpoints": HISTORY, "target_p99_ms": TARGET_MS, "step_factor": STEP, "window_s": WINDOW_S, "warmup_s": WARMUP_S, "budget_s_per_worker_count": BUDGET_S,
             "fresh_setup_per_step": True}
    return as_builtins(figures, setup=setup, runs={str(r.workers): msgspec.to_builtins(r) for r in runs})
