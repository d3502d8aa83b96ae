"""Checkpoints and tracked state in compacted topics; restore; output-tail read-back.

Write order after every batch: events (acked) -> changed ledger entities to
``<prefix>.streamer.state`` -> the checkpoint (cursors + covered output offsets) to
``<prefix>.streamer.checkpoints``. A crash between any two steps is repaired on start
by reading the output written after the checkpoint's offsets back into the ledger.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Iterable

import anyio
import msgspec
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from ..config import KafkaConfig
from ..emit import H_ENTITY, H_SINCE, H_STREAM, H_VALUE, OutRecord
from ..errors import CheckpointError, KafkaUnavailableError
from .connection import client_kwargs
from ..track.ledger import EntityState

__all__ = [
    "CHECKPOINT_VERSION",
    "Checkpoint",
    "Restored",
    "TailEvent",
    "StateStore",
    "read_to_end",
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


class TailEvent(msgspec.Struct, frozen=True):
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
    """Ledger state per entity, as saved (JSON); the ledger decodes an entity when it needs it."""
    tail: list[TailEvent] = []
    highwaters: dict[str, int] = {}


class _SeqOnly(msgspec.Struct):
    sequence: int = 0


class _Envelope(msgspec.Struct):
    id: str
    data: _SeqOnly


_dec_cp = msgspec.json.Decoder(Checkpoint)
_dec_env = msgspec.json.Decoder(_Envelope)
_enc = msgspec.json.Encoder()


async def read_to_end(
    cfg: KafkaConfig, starts: dict[TopicPartition, int], *, timeout: float = 60.0
) -> tuple[list[Any], dict[TopicPartition, int]]:
    """Read every record from ``starts`` up to each partition's high watermark.

    The end is taken from the fetch responses' high watermark (``end_offsets`` of the
    embedded broker under-reports), so a partition is done when position >= watermark.
    """
    if not starts:
        return [], {}
    consumer = AIOKafkaConsumer(
        **client_kwargs(cfg, suffix="-restore"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        group_id=None,
    )
    out: list[Any] = []
    ends: dict[TopicPartition, int] = {}
    try:
        await consumer.start()
        consumer.assign(list(starts))
        for tp, off in starts.items():
            consumer.seek(tp, off)
        pending = set(starts)
        with anyio.fail_after(timeout):
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=200)
                for msgs in batch.values():
                    out.extend(msgs)
                for tp in list(pending):
                    hw = consumer.highwater(tp)
                    if hw is not None and await consumer.position(tp) >= hw:
                        ends[tp] = hw
                        pending.discard(tp)
    except TimeoutError:
        raise KafkaUnavailableError(f"kafka: reading back {sorted(str(t) for t in pending)} timed out") from None
    except KafkaError as e:
        raise KafkaUnavailableError(f"kafka: read-back failed: {e}") from None
    finally:
        await consumer.stop()
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


class StateStore:
    """Reads and writes a source's checkpoint and ledger state in compacted topics."""

    def __init__(self, cfg: KafkaConfig, *, log: structlog.stdlib.BoundLogger | None = None) -> None:
        self.cfg = cfg
        self.log = log or structlog.get_logger("streamer.checkpoint")
        p = cfg.topic_prefix
        self.checkpoint_topic = f"{p}.streamer.checkpoints"
        self.state_topic = f"{p}.streamer.state"
        self.tailed_topics = [f"{p}.{t}" for t in TAILED]

    async def restore(self, source_id: str, *, rebuild: bool = False, events_key: str | None = None) -> Restored:
        """Latest checkpoint + ledger state of one source, plus its output after the checkpoint.

        ``rebuild``: ignore the checkpoint and read the whole output back (for the
        ``resume-from-now`` policy when the checkpoint cannot be used). ``events_key``: the
        source id in the output's keys, when the state is kept under another key (backfill).
        Raises :class:`CheckpointError` when the checkpoint cannot be used.
        """
        events_key = events_key or source_id
        if not rebuild:
            result = (await self.restore_many({source_id: events_key}))[source_id]
            if isinstance(result, CheckpointError):
                raise result
            return result
        _, states = await self._read_saved({source_id})
        out_tps = await partitions(self.cfg, self.tailed_topics)
        tail_records, ends = await read_to_end(self.cfg, {tp: 0 for tp in out_tps})
        return Restored(None, states[source_id], self._tail_events(events_key, tail_records),
                        {tp_key(tp.topic, tp.partition): off for tp, off in ends.items()})

    async def restore_many(self, keys: dict[str, str]) -> dict[str, Restored | CheckpointError]:
        """Restore several sources at once (``{state key: events key}``): one read of the
        checkpoint and state topics and one read of the output after the oldest
        checkpoint, shared by all, so start-up time does not grow with sources x topic size.
        A source whose checkpoint cannot be used gets its :class:`CheckpointError` instead.
        """
        checkpoints, states = await self._read_saved(set(keys))
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
        if usable:
            starts = {tp: min(cp.offsets.get(tp_key(tp.topic, tp.partition), 0) for cp in usable.values())
                      for tp in out_tps}
            tail_records, ends = await read_to_end(self.cfg, starts)
        else:
            # First run: nothing of ours is on the output yet (the first checkpoint is
            # written before the first event), so coverage starts at the current ends.
            tail_records, ends = [], await self._ends(out_tps)
        highwaters = {tp_key(tp.topic, tp.partition): off for tp, off in ends.items()}
        for key, result in out.items():
            if isinstance(result, Restored):
                result.highwaters = highwaters
        for key, cp in usable.items():
            mine = [r for r in tail_records if r.offset >= cp.offsets.get(tp_key(r.topic, r.partition), 0)]
            out[key] = Restored(cp, states[key], self._tail_events(keys[key], mine), highwaters)
        return out

    async def _read_saved(self, keys: set[str]) -> tuple[dict[str, bytes | None], dict[str, dict[str, bytes]]]:
        """The latest checkpoint and the live state records (JSON, left encoded) of ``keys``."""
        tps = await partitions(self.cfg, [self.checkpoint_topic, self.state_topic])
        records, _ = await read_to_end(self.cfg, {tp: 0 for tp in tps})
        checkpoints: dict[str, bytes | None] = {}
        states: dict[str, dict[str, bytes | None]] = {k: {} for k in keys}
        for r in records:
            if r.key is None:
                continue
            if r.topic == self.checkpoint_topic:
                key = r.key.decode(errors="replace")
                if key in keys:
                    checkpoints[key] = r.value
            elif r.topic == self.state_topic:
                owner, sep, entity = r.key.partition(b"|")
                key = owner.decode(errors="replace")
                if sep and key in states:
                    states[key][entity.decode()] = r.value
        live = {k: {e: v for e, v in st.items() if v is not None} for k, st in states.items()}
        return checkpoints, live

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

    def _tail_events(self, source_id: str, records: list[Any]) -> list[TailEvent]:
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

    def state_records(self, source_id: str, changed: dict[str, EntityState | None]) -> list[OutRecord]:
        return [
            OutRecord(self.state_topic, f"{source_id}|{k}".encode(), None if v is None else _enc.encode(v), [])
            for k, v in changed.items()
        ]

    def checkpoint_record(self, cp: Checkpoint) -> OutRecord:
        cp.written_ms = int(time.time() * 1000)
        return OutRecord(self.checkpoint_topic, cp.source_id.encode(), _enc.encode(cp), [])


def advance_offsets(offsets: dict[str, int], acks: Iterable[Any], topics: set[str]) -> None:
    """Record that output up to each acked offset is covered (used after state is saved)."""
    best: dict[str, int] = defaultdict(int)
    for a in acks:
        if a.topic in topics:
            k = tp_key(a.topic, a.partition)
            best[k] = max(best[k], a.offset + 1)
    for k, v in best.items():
        offsets[k] = max(offsets.get(k, 0), v)
