"""Publish path: events per second through the daemon's Publisher to the embedded broker.

Issue 7 asks that our Publisher reach at least 0.8 of a bare aiokafka send loop of the
same records. The records come from the real path (Vonage agent-status drafts through
``emit`` and the ledger, plus the ``agent.current`` record the daemon writes for every
changed agent) and are built once, outside the timing. Rounds alternate between ours
and two bare producers, each round with a fresh producer warmed up on one batch:

- bare with our settings (acks=all, linger, compression): isolates the wrapper's cost;
- bare with aiokafka's defaults (acks=1, linger 0, no compression).

Records go out in batches of 500 awaited one after another, as the daemon commits,
and in one call of all records. Medians of the rounds give the figures; CPU is
``time.process_time`` of this process per 10,000 events. The sweep of compression x
linger (our Publisher only) is context for picking defaults; bytes on the wire are the
TCP ``bytes_sent`` of the producer's connections as ``ss`` reports them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer

from bench.common import Figure, as_builtins
from streamer.config.model import KafkaConfig
from streamer.engine.emit import OutRecord, SourceContext, agent_current_record, emit
from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.publisher import Publisher
from streamer.track.ledger import Ledger
from streamer.vendors.vonage.mapping import status_drafts
from streamer.vendors.vonage.models import AgentStatus, decode_page

RECORDS = 20_000
AGENTS = 2_000
BATCH = 500
ROUNDS = 5
SWEEP_ROUNDS = 2
CODECS = ("none", "gzip", "lz4", "zstd", "snappy")
LINGERS = (0, 5, 20)
PREFIX = "bench"
TARGET = 0.8
CPU_TARGET_S = 0.2
"""Issue 16: CPU seconds per 10,000 events published."""
T0_MS = 1_795_000_000_000

Send = Callable[[Sequence[OutRecord]], Awaitable[Any]]
Variant = Callable[[], AbstractAsyncContextManager[Send]]
"""A fresh producer per round: the context starts it, yields its ``Send`` and stops it."""


class Run(NamedTuple):
    seconds: float
    cpu: float
    wire_bytes: int | None


# --- records ---------------------------------------------------------------------------


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def snapshot(agents: int, round_: int) -> bytes:
    """An agent-status page where every agent changed presence and workload since the last round."""
    at = _iso(T0_MS + round_ * 60_000)
    items = [{
        "agentId": f"agent-{i:05d}",
        "presence": {"since": at, "name": ("Ready", "Away")[(i + round_) % 2], "description": "Lunch",
                     "eligibleForRouting": (i + round_) % 2 == 0},
        "workload": {"since": at, "calls": round_ % 3, "semiLive": 0, "nonLive": 1},
        "interaction": [] if i % 3 == 0 else [{
            "guid": f"{round_:08d}-0000-0000-0000-{i:012d}", "channelGuid": None, "since": at, "medium": "Phone",
            "mediumManager": "CC", "direction": "Inbound", "state": "Connected", "reason": None}],
    } for i in range(agents)]
    return json.dumps({"meta": {"page": 1, "count": agents, "pageCount": 1, "totalCount": agents},
                       "items": items, "upTo": at}).encode()


def build_records(n: int, agents: int) -> list[OutRecord]:
    """``n`` records as the daemon publishes them for successive snapshots of ``agents`` agents."""
    ledger, ctx = Ledger(), SourceContext("vonage", "vonage-bench", PREFIX)
    out: list[OutRecord] = []
    round_ = 0
    while len(out) < n:
        now = T0_MS + round_ * 60_000 + 500
        for row in decode_page(snapshot(agents, round_), AgentStatus).items:
            assert isinstance(row, AgentStatus)
            out += [e[0] for d in status_drafts(row) if (e := emit(d, ledger, ctx, now)) is not None]
            out.append(agent_current_record(ledger, ctx, row.agent_id, now))
        round_ += 1
    return out[:n]


# --- senders ---------------------------------------------------------------------------


def kafka_config(bootstrap: str, **overrides: Any) -> KafkaConfig:
    """Our defaults, with ``overrides`` (the sweep sets codecs the config type does not list yet).
    Idempotence off: the embedded broker rejects InitProducerId (the bare sender below does the same)."""
    return KafkaConfig(bootstrap_servers=bootstrap, topic_prefix=PREFIX, idempotence=False, **overrides)


@asynccontextmanager
async def ours(cfg: KafkaConfig) -> AsyncIterator[Send]:
    publisher = Publisher(cfg)
    await publisher.start()
    try:
        yield publisher.send
    finally:
        await publisher.stop()


def ours_with(cfg: KafkaConfig) -> Variant:
    return lambda: ours(cfg)


@asynccontextmanager
async def bare(bootstrap: str, **settings: Any) -> AsyncIterator[Send]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, **settings)
    await producer.start()

    async def send(records: Sequence[OutRecord]) -> None:
        futures = [await producer.send(r.topic, r.value, key=r.key, headers=r.headers) for r in records]
        await asyncio.gather(*futures)

    try:
        yield send
    finally:
        await producer.stop()


def same_settings(cfg: KafkaConfig) -> dict[str, Any]:
    """The producer settings of ours that shape throughput."""
    return {"acks": "all", "linger_ms": cfg.linger_ms,
            "compression_type": None if cfg.compression == "none" else cfg.compression}


# --- measuring -------------------------------------------------------------------------


def wire_bytes(port: int) -> int | None:
    """TCP bytes sent so far on this host's connections to ``port`` (None without ``ss``)."""
    try:
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( dport = :{port} )"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sum(int(w.split(":", 1)[1]) for w in out.split() if w.startswith("bytes_sent:"))


async def one_run(variant: Variant, records: list[OutRecord], batch: int, port: int) -> Run:
    """Start a producer, warm it up on one batch, then time sending ``records`` in ``batch``-sized calls."""
    async with variant() as send:
        await send(records[:BATCH])
        sent_before = wire_bytes(port)
        cpu, start = time.process_time(), time.perf_counter()
        for i in range(0, len(records), batch):
            await send(records[i:i + batch])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        sent_after = wire_bytes(port)
    wire = None if sent_before is None or sent_after is None else sent_after - sent_before
    return Run(seconds, cpu, wire)


async def codec_verdicts(bootstrap: str, records: list[OutRecord]) -> dict[str, str]:
    """Whether the broker acks a batch in each codec: "accepted" or the error."""
    verdicts = {}
    for codec in CODECS:
        try:
            async with ours(kafka_config(bootstrap, compression=codec)) as send:
                await send(records[:BATCH])
            verdicts[codec] = "accepted"
        except KafkaUnavailableError as e:
            verdicts[codec] = str(e)
    return verdicts


async def alternate(variants: dict[str, Variant], records: list[OutRecord], batch: int, rounds: int,
                    port: int) -> dict[str, list[Run]]:
    """``rounds`` runs of each variant, interleaved, the order reversed every other round."""
    runs: dict[str, list[Run]] = {name: [] for name in variants}
    for r in range(rounds):
        for name in (list(variants) if r % 2 == 0 else list(reversed(variants))):
            runs[name].append(await one_run(variants[name], records, batch, port))
    return runs


def rate(runs: list[Run], n: int) -> float:
    return statistics.median(n / r.seconds for r in runs)


def cpu_per_10k(runs: list[Run], n: int) -> float:
    return statistics.median(r.cpu * 10_000 / n for r in runs)


# --- figures ---------------------------------------------------------------------------


def headline_figures(shape: str, runs: dict[str, list[Run]], n: int) -> list[Figure]:
    ours_rate, same_rate, default_rate = (rate(runs[k], n) for k in ("ours", "bare_same", "bare_default"))
    ratio = ours_rate / same_rate
    rates = f"ours {ours_rate:,.0f}/s, bare same settings {same_rate:,.0f}/s, bare defaults {default_rate:,.0f}/s"
    return [
        Figure(name=f"ratio_vs_bare_same_settings_{shape}", value=round(ratio, 3), unit="x", target=f">= {TARGET}",
               met=ratio >= TARGET, detail=f"{rates}; medians of {len(runs['ours'])} alternated rounds"),
        Figure(name=f"ratio_vs_bare_defaults_{shape}", value=round(ours_rate / default_rate, 3), unit="x",
               detail="aiokafka defaults: acks=1, linger_ms=0, no compression"),
        Figure(name=f"events_per_s_{shape}", value=round(ours_rate), unit="events/s", detail=rates),
    ]


def cpu_figures(runs: dict[str, list[Run]], n: int) -> list[Figure]:
    ours_cpu, same_cpu, default_cpu = (cpu_per_10k(runs[k], n) for k in ("ours", "bare_same", "bare_default"))
    detail = (f"process CPU per 10,000 events: ours {ours_cpu:.3f} s, bare same settings {same_cpu:.3f} s, "
              f"bare defaults {default_cpu:.3f} s")
    return [
        Figure(name="cpu_s_per_10k_events", value=round(ours_cpu, 3), unit="s", target=f"<= {CPU_TARGET_S}",
               met=ours_cpu <= CPU_TARGET_S, detail=detail),
        Figure(name="cpu_ratio_vs_bare_same_settings", value=round(ours_cpu / same_cpu, 3), unit="x", detail=detail),
    ]


def sweep_figures(sweep: dict[str, list[Run]], n: int, default: str) -> tuple[list[Figure], dict[str, Any]]:
    """events/s of each setting, also as a ratio to our current default (rounds were interleaved)."""
    figures: list[Figure] = []
    table: dict[str, Any] = {}
    for name, runs in sweep.items():
        wires = [r.wire_bytes for r in runs if r.wire_bytes is not None]
        events_per_s, cpu = round(rate(runs, n)), round(cpu_per_10k(runs, n), 3)
        vs_default = round(rate(runs, n) / rate(sweep[default], n), 2)
        wire = round(statistics.median(wires) / n, 1) if wires else None
        table[name] = {"events_per_s": events_per_s, "vs_default": vs_default, "cpu_s_per_10k_events": cpu,
                       "wire_bytes_per_event": wire}
        figures.append(Figure(name=f"sweep_{name}", value=events_per_s, unit="events/s",
                              detail=f"{vs_default}x the default ({default}); wire {wire} B/event; "
                                     f"CPU {cpu} s per 10k events"))
    return figures, table


# --- the benchmark ---------------------------------------------------------------------


async def measure(broker: EmbeddedBroker, records: list[OutRecord]) -> dict[str, Any]:
    base = kafka_config(broker.bootstrap)
    admin = Publisher(base)
    await admin.start()
    try:
        await admin.ensure_topics()
    finally:
        await admin.stop()
    variants: dict[str, Variant] = {
        "ours": ours_with(base),
        "bare_same": lambda: bare(broker.bootstrap, **same_settings(base)),
        "bare_default": lambda: bare(broker.bootstrap),
    }
    n = len(records)
    batched = await alternate(variants, records, BATCH, ROUNDS, broker.port)
    one_call = await alternate(variants, records, n, ROUNDS, broker.port)
    verdicts = await codec_verdicts(broker.bootstrap, records)
    sweep_variants = {
        f"{codec}_linger{linger}": ours_with(kafka_config(broker.bootstrap, compression=codec, linger_ms=linger))
        for codec in CODECS if verdicts[codec] == "accepted" for linger in LINGERS
    }
    sweep = await alternate(sweep_variants, records, BATCH, SWEEP_ROUNDS, broker.port)
    figures = [*headline_figures(f"batch{BATCH}", batched, n), *headline_figures("one_call", one_call, n),
               *cpu_figures(batched, n)]
    sweep_figs, sweep_table = sweep_figures(sweep, n, f"{base.compression}_linger{base.linger_ms}")
    return as_builtins(
        figures + sweep_figs, records=n, agents=AGENTS, batch=BATCH, rounds=ROUNDS,
        record_bytes=sum(len(r.value or b"") + len(r.key) + sum(len(k) + len(v) for k, v in r.headers)
                         for r in records) / n,
        defaults={"linger_ms": base.linger_ms, "compression": base.compression},
        codecs=verdicts, sweep=sweep_table,
    )


def run() -> dict[str, Any]:
    records = build_records(RECORDS, AGENTS)
    with EmbeddedBroker() as broker:
        return asyncio.run(measure(broker, records))


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
