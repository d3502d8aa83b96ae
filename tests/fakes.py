"""In-memory stand-ins for the Kafka side of a source: :class:`FakeLog` (topics of
partitions of offset-numbered records), :class:`FakePublisher` and :class:`FakeStateStore`.

They keep the contract of ``streamer.kafka.publisher.Publisher`` and
``streamer.kafka.checkpoint.StateStore`` that ``SourceRunner`` relies on (the same
contract tests run against both: tests/contract/test_kafka.py): a send is acked with
offsets per partition, partitioned as the real producer does; a restore reads back the
latest checkpoint, the live state (tombstones delete) and the output after the
checkpoint's offsets. A new runner on the same log is a restart after a crash.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from streamer.config.model import KafkaConfig, StreamerConfig
from streamer.contract.deadletter import DeadLetter
from streamer.engine.emit import H_ENTITY, H_SINCE, H_STREAM, H_VALUE, OutRecord
from streamer.engine.runner import SourceRunner
from streamer.engine.source import Endpoint, PollResult
from streamer.errors import CheckpointError, KafkaUnavailableError
from streamer.kafka.checkpoint import CHECKPOINT_VERSION, Checkpoint, Restored, TailEvent, tp_key
from streamer.kafka.partition import PARTITIONER
from streamer.kafka.publisher import Ack

__all__ = ["FakeLog", "FakePublisher", "FakeStateStore", "Stepper", "Stored", "fakes"]


@dataclass(frozen=True)
class Stored:
    """A record as a consumer reads it back (the attributes restore code looks at)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass
class FakeLog:
    """A broker's worth of topics in memory: ``topic -> partition -> records``."""

    partitions: int = 3
    topics: dict[str, list[list[Stored]]] = field(default_factory=dict)
    written: list[Stored] = field(default_factory=list)
    """Every record in the order it was appended (across topics and partitions)."""

    def append(self, r: OutRecord) -> Ack:
        parts = self.topics.setdefault(r.topic, [[] for _ in range(self.partitions)])
        p = PARTITIONER(r.key, list(range(len(parts))), [])
        rec = Stored(r.topic, p, len(parts[p]), r.key, r.value, list(r.headers))
        parts[p].append(rec)
        self.written.append(rec)
        return Ack(r.topic, p, rec.offset)

    def read(self, topic: str, starts: dict[int, int] | None = None) -> list[Stored]:
        """The topic's records from ``starts`` (partition -> offset; 0 when absent)."""
        out: list[Stored] = []
        for p, recs in enumerate(self.topics.get(topic, [])):
            out += recs[(starts or {}).get(p, 0):]
        return out

    def ends(self, topic: str) -> dict[int, int]:
        return {p: len(recs) for p, recs in enumerate(self.topics.get(topic, [[] for _ in range(self.partitions)]))}

    def values(self, topic: str) -> list[Any]:
        """The decoded JSON values of a topic (tombstones left out), in partition order."""
        return [msgspec.json.decode(r.value) for r in self.read(topic) if r.value is not None]


class FakePublisher:
    """``Publisher`` in memory: ``send`` appends to the log and returns the acks.

    ``fail_sends``: that many next sends raise ``KafkaUnavailableError``; with
    ``land_failed`` their records are written first (a request the broker appended
    though its ack was lost)."""

    def __init__(self, log: FakeLog) -> None:
        self.log = log
        self.started = False
        self.reachable = False
        self.fail_sends = 0
        self.land_failed = False
        self.sends = 0
        self.settles = 0

    async def start(self) -> None:
        self.started = self.reachable = True

    async def stop(self) -> None:
        self.started = False

    async def ensure_topics(self, **_: Any) -> None:
        """Nothing to do: a topic appears on its first record."""

    async def settle(self) -> float:
        self.settles += 1
        return 0.0

    async def send(self, records: Sequence[OutRecord]) -> list[Ack]:
        if not self.started:
            raise RuntimeError("Publisher.send() before start() or after stop()")
        if not records:
            return []
        self.sends += 1
        if self.fail_sends:
            self.fail_sends -= 1
            if self.land_failed:
                for r in records:
                    self.log.append(r)
            self.reachable = False
            raise KafkaUnavailableError("kafka: publish failed (fake)")
        self.reachable = True
        return [self.log.append(r) for r in records]


_enc = msgspec.json.Encoder()


class FakeStateStore:
    """``StateStore`` over a :class:`FakeLog`: same topics, keys and restore rules."""

    def __init__(self, log: FakeLog, cfg: KafkaConfig) -> None:
        self.log = log
        self.cfg = cfg
        p = cfg.topic_prefix
        self.checkpoint_topic = f"{p}.streamer.checkpoints"
        self.state_topic = f"{p}.streamer.state"
        self.tailed_topics = [f"{p}.{t}" for t in ("agent", "interaction", "stats")]
        self.restores = 0

    async def restore(self, source_id: str, *, rebuild: bool = False, events_key: str | None = None) -> Restored:
        events_key = events_key or source_id
        if rebuild:
            highwaters = self._highwaters()
            return Restored(None, self._states(source_id), self._tail(events_key, {}), highwaters)
        result = (await self.restore_many({source_id: events_key}))[source_id]
        if isinstance(result, CheckpointError):
            raise result
        return result

    async def restore_many(self, keys: dict[str, str]) -> dict[str, Restored | CheckpointError]:
        self.restores += 1
        out: dict[str, Restored | CheckpointError] = {}
        highwaters = self._highwaters()
        for key, events_key in keys.items():
            states = self._states(key)
            try:
                cp = self._checkpoint(key)
            except CheckpointError as e:
                out[key] = e
                continue
            if cp is None and states:
                out[key] = CheckpointError(
                    f"checkpoint of source {key} is missing but {len(states)} tracked entities exist", kind="missing")
            elif cp is None:
                out[key] = Restored(None, {}, [], highwaters)
            else:
                out[key] = Restored(cp, states, self._tail(events_key, cp.offsets), highwaters)
        return out

    async def max_owner_epoch(self) -> int:
        newest = 0
        for v in self.log.values(self.checkpoint_topic):
            newest = max(newest, int(v.get("owner_epoch", 0)))
        return newest

    def state_records(self, source_id: str, changed: Mapping[str, bytes | None]) -> list[OutRecord]:
        return [OutRecord(self.state_topic, f"{source_id}|{k}".encode(), v, []) for k, v in changed.items()]

    def checkpoint_record(self, cp: Checkpoint) -> OutRecord:
        cp.written_ms = int(time.time() * 1000)
        return OutRecord(self.checkpoint_topic, cp.source_id.encode(), _enc.encode(cp), [])

    # --- reading back ------------------------------------------------------------------

    def _highwaters(self) -> dict[str, int]:
        return {tp_key(t, p): end for t in self.tailed_topics for p, end in self.log.ends(t).items()}

    def _checkpoint(self, key: str) -> Checkpoint | None:
        latest: bytes | None = None
        for r in self.log.read(self.checkpoint_topic):
            if r.key == key.encode():
                latest = r.value  # a tombstone (None) deletes
        if latest is None:
            return None
        try:
            cp = msgspec.json.decode(latest, type=Checkpoint)
        except msgspec.DecodeError as e:
            raise CheckpointError(f"checkpoint of source {key} is corrupt: {e}", kind="corrupt") from None
        if cp.version > CHECKPOINT_VERSION:
            raise CheckpointError(f"checkpoint of source {key} has version {cp.version}, newer than this build",
                                  kind="newer", written_ms=cp.written_ms)
        return cp

    def _states(self, key: str) -> dict[str, bytes]:
        states: dict[str, bytes] = {}
        prefix = f"{key}|".encode()
        for r in self.log.read(self.state_topic):
            if r.key is None or not r.key.startswith(prefix):
                continue
            entity = r.key[len(prefix):].decode()
            if r.value is None:
                states.pop(entity, None)
            else:
                states[entity] = r.value
        return states

    def _tail(self, events_key: str, covered: dict[str, int]) -> list[TailEvent]:
        prefix = f"{events_key}/".encode()
        out: list[TailEvent] = []
        for topic in self.tailed_topics:
            for r in self.log.read(topic):
                if r.offset < covered.get(tp_key(r.topic, r.partition), 0):
                    continue
                if r.key is None or not r.key.startswith(prefix) or r.value is None:
                    continue
                h = dict(r.headers)
                if H_ENTITY not in h:
                    continue
                env = msgspec.json.decode(r.value)
                out.append(TailEvent(
                    env["id"], h[H_ENTITY].decode(), h[H_STREAM].decode() if H_STREAM in h else None,
                    int(h.get(H_SINCE, b"0")), msgspec.json.decode(h[H_VALUE]) if H_VALUE in h else None,
                    int(env.get("data", {}).get("sequence", 0)),
                ))
        return out


def fakes(cfg: KafkaConfig, log: FakeLog | None = None) -> tuple[FakeLog, FakePublisher, FakeStateStore]:
    """A log with a started publisher and a store on it."""
    log = log or FakeLog(partitions=cfg.partitions)
    pub = FakePublisher(log)
    pub.started = pub.reachable = True
    return log, pub, FakeStateStore(log, cfg)


class _Endpoints:
    """A source made of whichever endpoints a test polls (a new one of a name replaces the old)."""

    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def use(self, ep: Endpoint) -> None:
        if ep not in self.endpoints:
            self.endpoints = [e for e in self.endpoints if e.name != ep.name] + [ep]

    async def aclose(self) -> None:
        pass


class Stepper:
    """The first source of ``cfg`` in a ``SourceRunner`` on the fakes, polled one step at a
    time at the vendor instants a test chooses (no loop, no sleeps).

    ``poll(ep, now_ms)`` is one turn of the runner's endpoint loop (``SourceRunner.poll_once``)
    at that instant: each result is committed as the daemon commits it. Passing a new
    endpoint object of a name is a restart of that endpoint (its memory lost, the ledger
    and the cursors kept). ``restart()`` is a crash of the whole runner: a new one restores
    from the log.
    """

    def __init__(self, cfg: StreamerConfig, log: FakeLog | None = None) -> None:
        self.gcfg = cfg
        self.log, self.publisher, self.store = fakes(cfg.kafka, log)
        self.now_ms = 0
        self.restart()

    def restart(self) -> SourceRunner:
        self.source = _Endpoints()
        # Half a millisecond in: the runner takes int(clock() * 1000) as now, which float
        # rounding of an exact instant could put one millisecond early.
        self.runner = SourceRunner(self.gcfg.sources[0], self.gcfg, self.publisher, self.store,  # type: ignore[arg-type]
                                   clock=lambda: (self.now_ms + 0.5) / 1000, source=self.source)
        return self.runner

    async def poll(self, ep: Endpoint, now_ms: int) -> list[PollResult]:
        self.now_ms = now_ms
        self.source.use(ep)
        return await self.runner.poll_once(ep)

    @property
    def event_topics(self) -> set[str]:
        return {f"{self.gcfg.kafka.topic_prefix}.{t}" for t in ("agent", "interaction", "stats")}

    @property
    def records(self) -> list[Stored]:
        """The events published (agent, interaction and stats topics), in publishing order."""
        topics = self.event_topics
        return [r for r in self.log.written if r.topic in topics]

    @property
    def bad(self) -> list[DeadLetter]:
        """The dead letters published, in order."""
        topic = f"{self.gcfg.kafka.topic_prefix}.deadletter"
        return [msgspec.json.decode(r.value, type=DeadLetter) for r in self.log.written
                if r.topic == topic and r.value is not None]

    @property
    def cursors(self) -> dict[str, int]:
        return self.runner.checkpoint.cursors

    def events(self, types: Any = None) -> list[dict[str, Any]]:
        """The published events (decoded), optionally only those of ``types``."""
        wanted = set(types) if types is not None else None
        evs = [msgspec.json.decode(r.value) for r in self.records if r.value is not None]
        return [e for e in evs if wanted is None or e["type"] in wanted]
