"""Checkpoints and tracked state in compacted topics; restore; output-tail read-back.

Write order after every batch: events (acked) -> in one send, the changed ledger
entities to ``<prefix>.streamer.state`` and the checkpoint (cursors + covered output
offsets) to ``<prefix>.streamer.checkpoints``. Either of that send may land without the
other, so its checkpoint covers the output only up to the previous batch, whose state was
acked before. A crash anywhere is repaired on start by reading the output written after
the checkpoint's offsets back into the ledger.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streamer.config.model import KafkaConfig
from streamer.engine.emit import H_ENTITY, H_SINCE, H_STREAM, H_VALUE, OutRecord
from streamer.errors import CheckpointError, KafkaUnavailableError
from streamer.kafka.coalesce import Coalescer
from streamer.kafka.connection import client_kwargs
from streamer.kafka.publisher import Ack

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "ConsumerRecord",
    "Restored",
    "TailEvent",
    "StateStore",
    "SavedRead",
    "read_to_end",
    "read_limit_s",
    "scan",
    "tp_key",
    "partitions",
    "advance_offsets",
]

CHECKPOINT_VERSION = 1
TAILED = ("agent", "interaction", "stats")


def tp_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


class Checkpoint(msgspec.Struct, kw_only=True):
    version: int = CHECKPOINT_VERSION
    source_id: str
    cursors: dict[str, int] = {}
    """endpoint -> history cursor (vendor ms) fully read and published."""
    offsets: dict[str, int] = {}
    """'topic/partition' -> first output offset NOT covered by the saved state."""
    written_ms: int = 0
    owner_epoch: int = 0
    """The group epoch of the daemon that wrote it (0: written before daemons formed groups)."""


class ConsumerRecord(Protocol):
    """A record read back from Kafka (aiokafka's ConsumerRecord), as far as the daemon reads it."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def serialized_key_size(self) -> int: ...
    @property
    def serialized_value_size(self) -> int: ...


class TailEvent(msgspec.Struct, frozen=True, gc=False):
    """An event of this source found on an output topic after its checkpoint."""

    event_id: str
    entity: str
    stream: str | None
    since_ms: int
    value: Any
    sequence: int


class Restored(msgspec.Struct):
    checkpoint: Checkpoint | None
    entities: dict[str, bytes]
    """Ledger state per entity, as saved (frozen; JSON before 2026-12-03): the ledger keeps
    the bytes and decodes an entity when it needs it."""
    tail: list[TailEvent] = []
    highwaters: dict[str, int] = {}


class _SeqOnly(msgspec.Struct):
    sequence: int = 0


class _Envelope(msgspec.Struct):
    id: str
    data: _SeqOnly


class _EpochOnly(msgspec.Struct):
    owner_epoch: int = 0


_dec_cp = msgspec.json.Decoder(Checkpoint)
_dec_epoch = msgspec.json.Decoder(_EpochOnly)
_dec_env = msgspec.json.Decoder(_Envelope)
_enc = msgspec.json.Encoder()


READ_BASE_S = 60.0
"""A read of the checkpoint, state or output topics may take this long, plus ``READ_S_PER_MB``."""
READ_S_PER_MB = 2.0
"""Extra seconds a read may take per MB it has read: it fails only when slower than 0.5 MB/s."""


SCAN_FETCH_BYTES = 2 * 1024 * 1024
"""Fetched at once by a read (compressed bytes): what it holds of the topic besides what
its caller keeps is about one fetch as received plus the records of one batch handed
over. A restore of a 40 MB state topic peaks at 6.3 MB (test_restore_reads); it peaked at
8.6 MB, and at times 10.4, while the loop still held the last batch as the next fetch
arrived."""
SCAN_BATCH_RECORDS = 2000
SCAN_FETCH_WAIT_MS = 10
SCAN_POLL_MS = 20
"""How long the broker may hold a read's fetch for records to arrive (aiokafka's default:
500 ms), and how long a read waits for records before it looks at the high watermarks
again (was 200 ms). A read stops at the high watermark, so waiting for new records never
helps: a read that starts at the end (a restore going on from a read made while the
daemon joined its group, when nothing was written since) took 0.6 s of such waiting, now
30 ms."""


def read_limit_s(bytes_read: int) -> float:
    """How long a read may have taken once it has read ``bytes_read`` bytes (keys + values).

    The limit grows with what the read brings in, so a large state topic is read to its
    end while a broker that stops answering is still given up on (after the base, or the
    base plus the allowance of what came before it stopped).
    """
    return READ_BASE_S + READ_S_PER_MB * bytes_read / 1_000_000


def _hand_over(batch: dict[TopicPartition, list[ConsumerRecord]], on_record: Callable[[ConsumerRecord], None]) -> int:
    """Hand ``batch``'s records to ``on_record``; return their bytes (keys + values)."""
    size = 0
    for msgs in batch.values():
        for m in msgs:
            size += max(0, m.serialized_key_size) + max(0, m.serialized_value_size)
            on_record(m)
    return size


async def scan(
    cfg: KafkaConfig, starts: dict[TopicPartition, int], on_record: Callable[[ConsumerRecord], None]
) -> dict[TopicPartition, int]:
    """Hand every record from ``starts`` up to each partition's high watermark to
    ``on_record``, in offset order per partition; return the ends reached.

    Nothing is kept here, so the caller decides what a read holds in memory. The end is
    taken from the fetch responses' high watermark (``end_offsets`` of the embedded broker
    under-reports), so a partition is done when position >= watermark. The time limit is
    :func:`read_limit_s` of the bytes read so far.
    """
    if not starts:
        return {}
    consumer = AIOKafkaConsumer(
        **client_kwargs(cfg, suffix="-restore"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
        fetch_max_bytes=SCAN_FETCH_BYTES,
        max_partition_fetch_bytes=SCAN_FETCH_BYTES,
        fetch_max_wait_ms=SCAN_FETCH_WAIT_MS,
    )
    ends: dict[TopicPartition, int] = {}
    pending = set(starts)
    try:
        await consumer.start()
        consumer.assign(list(starts))
        for tp, off in starts.items():
            consumer.seek(tp, off)
        size = 0
        started = anyio.current_time()
        with anyio.CancelScope(deadline=started + read_limit_s(0)) as limit:
            while pending:
                # Handed over in a call, so the batch is freed before the next fetch arrives.
                size += _hand_over(
                    await consumer.getmany(*pending, timeout_ms=SCAN_POLL_MS, max_records=SCAN_BATCH_RECORDS),
                    on_record,
                )
                limit.deadline = started + read_limit_s(size)
                for tp in list(pending):
                    hw = consumer.highwater(tp)
                    if hw is not None and await consumer.position(tp) >= hw:
                        ends[tp] = hw
                        pending.discard(tp)
        if limit.cancelled_caught:
            raise KafkaUnavailableError(
                f"kafka: reading back {sorted(str(t) for t in pending)} timed out after "
                f"{read_limit_s(size):.1f}s ({size / 1e6:.1f} MB read)"
            )
    except KafkaError as e:
        raise KafkaUnavailableError(f"kafka: read-back failed: {e}") from None
    finally:
        await consumer.stop()
    return ends


async def read_to_end(
    cfg: KafkaConfig, starts: dict[TopicPartition, int]
) -> tuple[list[ConsumerRecord], dict[TopicPartition, int]]:
    """Every record from ``starts`` up to each partition's high watermark, as a list
    (for small reads and tests; restores use :func:`scan`)."""
    out: list[ConsumerRecord] = []
    ends = await scan(cfg, starts, out.append)
    return out, ends


async def partitions(cfg: KafkaConfig, topics: Iterable[str]) -> list[TopicPartition]:
    consumer = AIOKafkaConsumer(**client_kwargs(cfg, suffix="-metadata"), enable_auto_commit=False, group_id=None)
    try:
        await consumer.start()
        await consumer.topics()
        tps = []
        for t in topics:
            parts = consumer.partitions_for_topic(t)
            if not parts:
                raise KafkaUnavailableError(f"kafka: topic {t} has no partitions (not created yet?)")
            tps += [TopicPartition(t, p) for p in sorted(parts)]
        return tps
    except KafkaError as e:
        raise KafkaUnavailableError(f"kafka: metadata failed: {e}") from None
    finally:
        await consumer.stop()


RESTORE_GATHER_S = 0.05
"""How long a restore waits for others asked at about the same time, to share their read."""


class _TailCollector:
    """Keeps, while reading the output, only the records of the wanted sources that a
    checkpoint does not cover yet."""

    def __init__(self) -> None:
        self.records: dict[str, list[ConsumerRecord]] = {}
        """events key -> its records, in read order."""
        self._covered: dict[str, list[dict[str, int]]] = {}
        """events key -> the covered offsets of each checkpoint that wants its records."""

    def want(self, events_key: str, covered: dict[str, int]) -> None:
        self.records.setdefault(events_key, [])
        self._covered.setdefault(events_key, []).append(covered)

    def add(self, r: ConsumerRecord) -> None:
        if r.key is None or r.value is None:
            return
        owner, sep, _ = r.key.partition(b"/")
        key = owner.decode(errors="replace")
        mine = self.records.get(key) if sep else None
        if mine is None:
            return
        k = tp_key(r.topic, r.partition)
        if all(r.offset < covered.get(k, 0) for covered in self._covered[key]):
            return
        mine.append(r)


@dataclasses.dataclass
class SavedRead:
    """What a read of the checkpoint and state topics found for ``keys`` (the latest
    checkpoint of each, its live state records), and the offsets it read up to."""

    keys: frozenset[str]
    checkpoints: dict[str, bytes]
    states: dict[str, dict[str, bytes]]
    ends: dict[TopicPartition, int]


class StateStore:
    """Reads and writes a source's checkpoint and ledger state in compacted topics."""

    def __init__(self, cfg: KafkaConfig, *, log: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self.cfg = cfg
        self.log = log or structlog.get_logger("streamer.checkpoint")
        p = cfg.topic_prefix
        self.checkpoint_topic = f"{p}.streamer.checkpoints"
        self.state_topic = f"{p}.streamer.state"
        self.tailed_topics = [f"{p}.{t}" for t in TAILED]
        self._restores: Coalescer[str, str, Restored | CheckpointError] = Coalescer(
            self.restore_many, gather_s=RESTORE_GATHER_S
        )

    async def restore(self, source_id: str, *, rebuild: bool = False, events_key: str | None = None) -> Restored:
        """Latest checkpoint + ledger state of one source, plus its output after the checkpoint.

        Restores asked for at the same time (every source, after a broker outage) share
        one :meth:`restore_many`. ``rebuild``: ignore the checkpoint and read the whole
        output back (for the ``resume-from-now`` policy when the checkpoint cannot be used).
        ``events_key``: the source id in the output's keys, when the state is kept under
        another key (backfill). Raises :class:`CheckpointError` when the checkpoint cannot
        be used.
        """
        events_key = events_key or source_id
        if not rebuild:
            result = await self._restores(source_id, events_key)
            if isinstance(result, CheckpointError):
                raise result
            return result
        _, states = await self._read_saved({source_id})
        out_tps = await partitions(self.cfg, self.tailed_topics)
        tail = _TailCollector()
        tail.want(events_key, {})
        ends = await scan(self.cfg, {tp: 0 for tp in out_tps}, tail.add)
        return Restored(None, states[source_id], self._tail_events(events_key, tail.records[events_key]),
                        {tp_key(tp.topic, tp.partition): off for tp, off in ends.items()})

    async def restore_many(
        self, keys: dict[str, str], *, since: SavedRead | None = None
    ) -> dict[str, Restored | CheckpointError]:
        """Restore several sources at once (``{state key: events key}``): one read of the
        checkpoint and state topics and one read of the output after the oldest
        checkpoint, shared by all, so start-up time does not grow with sources x topic size.
        A source whose checkpoint cannot be used gets its :class:`CheckpointError` instead.
        ``since``: an earlier :meth:`read_saved` of (at least) these keys; only what was
        written after it is read.
        """
        checkpoints, states = await self._read_saved(set(keys), since)
        out: dict[str, Restored | CheckpointError] = {}
        usable: dict[str, Checkpoint] = {}
        for key in keys:
            try:
                cp = self._decode_checkpoint(key, checkpoints.get(key))
            except CheckpointError as e:
                out[key] = e
                continue
            if cp is None and states[key]:
                out[key] = CheckpointError(
                    f"checkpoint of source {key} is missing but {len(states[key])} tracked entities exist",
                    kind="missing",
                )
            elif cp is not None:
                usable[key] = cp
            else:
                out[key] = Restored(None, {})
        out_tps = await partitions(self.cfg, self.tailed_topics)
        tail = _TailCollector()
        if usable:
            starts = {tp: min(cp.offsets.get(tp_key(tp.topic, tp.partition), 0) for cp in usable.values())
                      for tp in out_tps}
            for key, cp in usable.items():
                tail.want(keys[key], cp.offsets)
            ends = await scan(self.cfg, starts, tail.add)
        else:
            # First run: nothing of ours is on the output yet (the first checkpoint is
            # written before the first event), so coverage starts at the current ends.
            ends = await self._ends(out_tps)
        highwaters = {tp_key(tp.topic, tp.partition): off for tp, off in ends.items()}
        for key, result in out.items():
            if isinstance(result, Restored):
                result.highwaters = highwaters
        for key, cp in usable.items():
            mine = [r for r in tail.records[keys[key]] if r.offset >= cp.offsets.get(tp_key(r.topic, r.partition), 0)]
            out[key] = Restored(cp, states[key], self._tail_events(keys[key], mine), highwaters)
        return out

    async def max_owner_epoch(self) -> int:
        """The newest owner epoch any checkpoint of this prefix carries (0: none).

        A daemon joins its group declaring it, so the epochs the group hands out are
        newer than every checkpoint written before it joined (see cluster/membership.py)."""
        newest = 0

        def fold(r: ConsumerRecord) -> None:
            nonlocal newest
            if r.value is not None:
                try:
                    newest = max(newest, _dec_epoch.decode(r.value).owner_epoch)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    pass  # a corrupt checkpoint is reported by the restore of its source

        tps = await partitions(self.cfg, [self.checkpoint_topic])
        await scan(self.cfg, {tp: 0 for tp in tps}, fold)
        return newest

    async def read_saved(self, keys: set[str]) -> SavedRead:
        """The latest checkpoints and state records of ``keys`` as the topics hold them now,
        and where the read ended: :meth:`restore_many` can go on from there later (a
        daemon reads while it waits for its group to give it sources)."""
        return await self._read_into(SavedRead(frozenset(keys), {}, {k: {} for k in keys}, {}))

    async def _read_saved(
        self, keys: set[str], since: SavedRead | None = None
    ) -> tuple[dict[str, bytes], dict[str, dict[str, bytes]]]:
        """The latest checkpoint and the live state records (left encoded) of ``keys``;
        from where ``since`` ended, when it read them all."""
        if since is not None and keys <= since.keys:
            start = SavedRead(frozenset(keys), {k: v for k, v in since.checkpoints.items() if k in keys},
                              {k: since.states[k] for k in keys}, since.ends)
        else:
            start = SavedRead(frozenset(keys), {}, {k: {} for k in keys}, {})
        read = await self._read_into(start)
        return read.checkpoints, read.states

    async def _read_into(self, read: SavedRead) -> SavedRead:
        """Fold what the checkpoint and state topics hold after ``read.ends`` into ``read``.

        Folded while reading: only the latest value of each key of ``keys`` is held, a
        tombstone deletes, so memory is the live state of these sources however many
        versions the topics hold (compaction lags, and the embedded broker never compacts).
        """
        tps = await partitions(self.cfg, [self.checkpoint_topic, self.state_topic])
        keys, checkpoints, states = read.keys, read.checkpoints, read.states
        checkpoint_topic, state_topic = self.checkpoint_topic, self.state_topic

        def fold(r: ConsumerRecord) -> None:
            if r.key is None:
                return
            if r.topic == checkpoint_topic:
                key = r.key.decode(errors="replace")
                if key in keys:
                    if r.value is None:
                        checkpoints.pop(key, None)
                    else:
                        checkpoints[key] = r.value
            elif r.topic == state_topic:
                owner, sep, entity = r.key.partition(b"|")
                st = states.get(owner.decode(errors="replace")) if sep else None
                if st is not None:
                    if r.value is None:
                        st.pop(entity.decode(errors="replace"), None)
                    else:
                        st[entity.decode(errors="replace")] = r.value

        ends = await scan(self.cfg, {tp: read.ends.get(tp, 0) for tp in tps}, fold)
        return SavedRead(keys, checkpoints, states, {**read.ends, **ends})

    async def _ends(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(**client_kwargs(self.cfg, suffix="-ends"), enable_auto_commit=False, group_id=None)
        try:
            await consumer.start()
            # end_offsets of the embedded broker may under-report: safe here, it only means
            # the first restore reads a little more than it needs.
            return dict(await consumer.end_offsets(tps))
        except KafkaError as e:
            raise KafkaUnavailableError(f"kafka: cannot read end offsets: {e}") from None
        finally:
            await consumer.stop()

    def _decode_checkpoint(self, source_id: str, value: bytes | None) -> Checkpoint | None:
        if value is None:
            return None
        try:
            cp = _dec_cp.decode(value)
        except msgspec.DecodeError as e:
            raise CheckpointError(f"checkpoint of source {source_id} is corrupt: {e}", kind="corrupt") from None
        if cp.version > CHECKPOINT_VERSION:
            raise CheckpointError(
                f"checkpoint of source {source_id} has version {cp.version}, newer than this build "
                f"({CHECKPOINT_VERSION})",
                kind="newer",
                written_ms=cp.written_ms,
            )
        return cp

    def _tail_events(self, source_id: str, records: list[ConsumerRecord]) -> list[TailEvent]:
        prefix = f"{source_id}/".encode()
        out = []
        for r in records:
            if r.key is None or not r.key.startswith(prefix) or r.value is None:
                continue
            h = {k: v for k, v in r.headers}
            if H_ENTITY not in h:
                continue
            try:
                env = _dec_env.decode(r.value)
                value = msgspec.json.decode(h[H_VALUE]) if H_VALUE in h else None
                out.append(
                    TailEvent(
                        env.id,
                        h[H_ENTITY].decode(),
                        h[H_STREAM].decode() if H_STREAM in h else None,
                        int(h.get(H_SINCE, b"0")),
                        value,
                        env.data.sequence,
                    )
                )
            except (msgspec.DecodeError, ValueError) as e:
                self.log.warning("unreadable record on output tail skipped", topic=r.topic, offset=r.offset, error=str(e))
        return out

    def state_records(self, source_id: str, changed: Mapping[str, bytes | None]) -> list[OutRecord]:
        """The state topic's records of a source's changed entities, as the ledger froze them
        (``None``: a tombstone)."""
        topic = self.state_topic
        return [OutRecord(topic, f"{source_id}|{k}".encode(), v, []) for k, v in changed.items()]

    def checkpoint_record(self, cp: Checkpoint) -> OutRecord:
        cp.written_ms = int(time.time() * 1000)
        return OutRecord(self.checkpoint_topic, cp.source_id.encode(), _enc.encode(cp), [])


def advance_offsets(offsets: dict[str, int], acks: Iterable[Ack], topics: set[str]) -> None:
    """Record that output up to each acked offset is covered (used after state is saved)."""
    best: dict[str, int] = defaultdict(int)
    for a in acks:
        if a.topic in topics:
            k = tp_key(a.topic, a.partition)
            best[k] = max(best[k], a.offset + 1)
    for k, v in best.items():
        offsets[k] = max(offsets.get(k, 0), v)
