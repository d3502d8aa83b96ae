"""Per-entity memory of what has been published: sequences, current states, recent ids. Pure.

Every endpoint of a source feeds one ledger, so a transition seen by a snapshot and
by a history endpoint is admitted once, and ``previous``, ``previous_duration_ms``
and ``sequence`` continue across endpoints and restarts (the ledger is saved to the
state topic and replayed from the output tail).
"""

from __future__ import annotations

import threading
from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

import msgspec
import zstandard

from streamer.track.cut import cut_strings
from streamer.track.sealed import Sealed

__all__ = [
    "Recent", "StreamState", "EntityState", "Admission", "Ledger", "RECENT_PER_STREAM", "RECENT_STRING_BYTES",
    "PRUNABLE", "encode_entity", "decode_entity", "id_bytes", "Mark", "MARKS_KEPT",
]

RECENT_PER_STREAM = 8
RECENT_STRING_BYTES = 64
"""Recents keep strings up to this long; a longer one is cut (with the marker): the
current value is the only whole copy an entity keeps."""


class Recent(msgspec.Struct, frozen=True, array_like=True, gc=False):
    id: bytes
    """The event id as :func:`id_bytes` keeps it (8 bytes for a UUID)."""
    since_ms: int
    value: Any = None
    """The value the transition entered, strings cut to RECENT_STRING_BYTES: it becomes
    ``previous`` of a late transition that follows it."""


class StreamState(msgspec.Struct, gc=False):
    """One state stream of an entity (an agent's presence, an agent's part in an interaction)."""

    value: Any
    since_ms: int
    recent: list[Recent] = []
    seq: int = 0
    """Sequence of the event that set ``value``: breaks ties of ``since_ms`` on replay."""


class EntityState(msgspec.Struct, gc=False):
    """Everything remembered about one Kafka key (a source's agent or interaction)."""

    seq: int = 0
    touched_ms: int = 0
    """Newest vendor time published for this key: an older transition is ``late``."""
    seen_ms: int = 0
    """When a transition of this key was last presented (observed clock): retention runs
    on this, so an old interaction the vendor keeps serving is never forgotten early."""
    streams: dict[str, StreamState] = {}


class Admission(msgspec.Struct, frozen=True, gc=False):
    sequence: int
    previous: Any
    previous_duration_ms: int | None
    late: bool
    first: bool


def id_bytes(event_id: str) -> bytes:
    """How an entity keeps an event id: a UUID in its canonical text (every id ccstream
    makes) as 8 bytes, its two halves XORed; anything else as UTF-8, never 8 bytes long (a
    byte 0xFF, which UTF-8 never holds, is added to one that would be).

    An entity only asks whether an id is among its stream's last few
    (:data:`RECENT_PER_STREAM`), and ccstream's ids are UUIDv5, 122 bits of SHA-1: two of
    them share these 8 bytes by chance once in 2**64, where 16 bytes cost a busy agent 128
    bytes more (random bytes do not compress). Folding rather than cutting keeps apart
    UUIDs that differ in one half only (sequential ones)."""
    if len(event_id) == 36 and event_id[8] == event_id[13] == event_id[18] == event_id[23] == "-":
        digits = event_id.replace("-", "")
        if len(digits) == 32:
            try:
                b = bytes.fromhex(digits)
            except ValueError:
                pass
            else:
                if b.hex() == digits:  # lower case, no blanks: the canonical text (a regex took twice as long)
                    return _fold(b)
    b = event_id.encode()
    return b + b"\xff" if len(b) == 8 else b


def _fold(uuid_bytes: bytes) -> bytes:
    n = int.from_bytes(uuid_bytes)
    return ((n >> 64) ^ (n & 0xFFFF_FFFF_FFFF_FFFF)).to_bytes(8)


def _id_of_16_byte_format(b: bytes) -> bytes:
    """An id as the ``\x01`` records keep it (a UUID as its 16 bytes, other text as UTF-8
    never 16 bytes long) as :func:`id_bytes` keeps it now."""
    return _fold(b) if len(b) == 16 else id_bytes(b.removesuffix(b"\xff").decode())


_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(EntityState).decode
_FROZEN = b"\x02"
"""First byte of a frozen entity: msgpack compressed with zstd against :data:`_ZDICT`, event
ids as :func:`id_bytes` keeps them. Older state records start with ``\x01`` (the same, with
a UUID's 16 bytes and another dictionary; written 2026-12-03 to 2026-12-05), ``\x00`` (ids
as text, another dictionary; written 2026-12-03) or are JSON (before), which starts with
``{``."""
_FROZEN_16_BYTE_IDS = b"\x01"
"""First byte of the state records written 2026-12-03 to 2026-12-05 (see :data:`_FROZEN`)."""
_T = 1_795_251_600_000


def _typical(recent_id: Any) -> bytes:
    """A typical interaction and a typical agent, their recent ids ``recent_id``."""
    return _pack(EntityState(seq=3, touched_ms=_T, seen_ms=_T, streams={
        "agent/000000": StreamState("Connected", _T, [Recent(recent_id, _T, "Ringing"),
                                                      Recent(recent_id, _T, "Connected")], 2),
        "lifecycle": StreamState("Ended", _T, [Recent(recent_id, _T, "Ended")], 3),
    })) + _pack(EntityState(seq=1, touched_ms=_T, seen_ms=_T, streams={
        "presence": StreamState({"name": "Ready", "category": "Ready", "eligible_for_routing": True, "reason": None,
                                 "raw": None}, _T, [Recent(recent_id, _T, None)], 1),
        "workload": StreamState({"calls": 0, "semi_live": None, "non_live": None}, _T, [], 2),
        "lifecycle": StreamState("Connected", _T, [], 3),
    }))


_ZDICT = _typical(bytes(8))
"""The compressor finds the field names and common values here, so an entity compresses
to a third to a half of its msgpack size. Frozen entities are the state topic's records
too, so this dictionary is part of what is saved: never change it. A new one needs a new
first byte (:data:`_FROZEN`), with this one kept to read the records written before."""

_LEVEL_1 = zstandard.ZstdCompressionParameters.from_level(1)
_ZSTD_PARAMS = zstandard.ZstdCompressionParameters(
    window_log=_LEVEL_1.window_log, hash_log=_LEVEL_1.hash_log, chain_log=_LEVEL_1.chain_log,
    search_log=_LEVEL_1.search_log, min_match=_LEVEL_1.min_match, strategy=_LEVEL_1.strategy,
    # Level 1 leaves target_length at 0, "the default"; the fast strategy steps the same
    # with 0 and 1, and the output is byte for byte the same, but with 0 compressing a
    # 720-byte agent took 5.7 µs against 2.0-2.4 (zstandard 0.25, zstd 1.5.7).
    target_length=1,
    format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=1, write_checksum=0, write_dict_id=0)
_ZSTD_DICT = zstandard.ZstdCompressionDict(_ZDICT, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
_ZSTD_DICT.precompute_compress(compression_params=_ZSTD_PARAMS)
"""Frozen entities are zstd level 1, without the frame's magic number, checksum or
dictionary id (up to 12 bytes that only a file needs). Measured against zlib level 1 with
the same dictionary, on a busy agent (16 recent transitions, 1.5 KB of msgpack): compress
11 µs against 61 (before ``target_length`` was set), decompress 5 µs against 18, about
600 bytes either way; an interaction: compress 6 µs against 14, 89 bytes against 74. Every
entity changed in a commit is frozen again, so the time counts more than the few bytes."""
_ZSTD_DICT_16_BYTE_IDS = zstandard.ZstdCompressionDict(_typical(bytes(16)), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
"""The dictionary of the ``\x01`` records (a UUID's 16 bytes), to read them."""
_ZSTD_DICT_TEXT_IDS = zstandard.ZstdCompressionDict(
    _typical("00000000-0000-5000-8000-000000000000"), dict_type=zstandard.DICT_TYPE_RAWCONTENT)
"""The dictionary of the ``\x00`` records (ids as text), to read them: byte for byte the
dictionary of that format."""


class _RecentId(msgspec.Struct, array_like=True, gc=False):
    """A :class:`Recent` without its value (msgspec skips the array's trailing elements)."""

    id: bytes
    since_ms: int


class _TextIdRecent(msgspec.Struct, frozen=True, array_like=True, gc=False):
    id: str
    since_ms: int
    value: Any = None


class _TextIdStream(msgspec.Struct, gc=False):
    value: Any
    since_ms: int
    recent: list[_TextIdRecent] = []
    seq: int = 0


class _TextIdEntity(msgspec.Struct, gc=False):
    """An entity as state records before the ``\x01`` format hold it: ids as text."""

    seq: int = 0
    touched_ms: int = 0
    seen_ms: int = 0
    streams: dict[str, _TextIdStream] = {}

    def converted(self) -> EntityState:
        return EntityState(self.seq, self.touched_ms, self.seen_ms, {
            name: StreamState(s.value, s.since_ms, [Recent(id_bytes(r.id), r.since_ms, r.value) for r in s.recent], s.seq)
            for name, s in self.streams.items()
        })


_unpack_text_ids = msgspec.msgpack.Decoder(_TextIdEntity).decode
_thaw_json = msgspec.json.Decoder(_TextIdEntity).decode


class _StreamIds(msgspec.Struct, gc=False):
    recent: list[_RecentId] = []


class _EntityIds(msgspec.Struct, gc=False):
    """The part of an :class:`EntityState` that tells whether a transition was admitted:
    decoding only this skips the values, most of a busy agent's decoding."""

    streams: dict[str, _StreamIds] = {}


_unpack_ids = msgspec.msgpack.Decoder(_EntityIds).decode


class _SeenOnly(msgspec.Struct, gc=False):
    """The ``seen_ms`` of an :class:`EntityState`: decoding only this skips its streams."""

    seen_ms: int = 0


_unpack_seen = msgspec.msgpack.Decoder(_SeenOnly).decode


Mark = tuple[str, str, int]
"""A transition as its draft names it: (event type, transition, vendor time in ms). Within
one source, with the entity, it is what the event id is made of (:func:`event_id`)."""

MARKS_KEPT = 2048
"""Transitions remembered as presented (:meth:`Ledger.presented_before`), per generation;
two generations are kept, so 2,048 to 4,096 of the last presented: about 1 MB (the memory
bench, 10 sources). At the simulator's default load a 1,000-agent source presents about 900
a second, and the history endpoints present the snapshot's transitions again 2-4 s later;
half as many marks caught half as many refusals (the replay bench's source: 47,414 of
136,336, against 99,705 with these)."""

PEEKS_KEPT = 4096
"""Most looks into frozen entities kept between two commits (a look holds the entity
decompressed, about 1.5 KB for a busy agent). A commit that finds nothing to publish does
not reach :meth:`Ledger.take_dirty`, which forgets them, so without this bound a source
whose polls only ever present what was published before would end up holding its
whole ledger decompressed."""


class _Peek:
    """A frozen entity looked into: its bytes, decompressed, and its ids once decoded."""

    __slots__ = ("frozen", "unpacked", "streams")

    def __init__(self, frozen: bytes, unpacked: bytes) -> None:
        self.frozen, self.unpacked = frozen, unpacked
        self.streams: dict[str, _StreamIds] | None = None


class _Zstd(threading.local):
    """zstd contexts are not thread-safe: one pair per thread (a daemon uses one)."""

    def __init__(self) -> None:
        self.compress = zstandard.ZstdCompressor(dict_data=_ZSTD_DICT, compression_params=_ZSTD_PARAMS).compress
        self.decompress = zstandard.ZstdDecompressor(
            dict_data=_ZSTD_DICT, format=zstandard.FORMAT_ZSTD1_MAGICLESS).decompress
        self.decompress_16_byte_ids = zstandard.ZstdDecompressor(
            dict_data=_ZSTD_DICT_16_BYTE_IDS, format=zstandard.FORMAT_ZSTD1_MAGICLESS).decompress
        self.decompress_text_ids = zstandard.ZstdDecompressor(
            dict_data=_ZSTD_DICT_TEXT_IDS, format=zstandard.FORMAT_ZSTD1_MAGICLESS).decompress


_zstd = _Zstd()


def _freeze(e: EntityState) -> bytes:
    return _FROZEN + _zstd.compress(_pack(e))


def encode_entity(e: EntityState) -> bytes:
    """``e`` as the state topic saves it (what :func:`decode_entity` reads)."""
    return _freeze(e)


def decode_entity(saved: bytes) -> EntityState:
    """An entity as :meth:`Ledger.take_dirty` froze it (or in an older state record's
    format); raises :class:`msgspec.DecodeError` for anything else."""
    return _thaw(saved)


def _with_ids_of_16_byte_format(e: EntityState) -> EntityState:
    for s in e.streams.values():
        s.recent = [Recent(_id_of_16_byte_format(r.id), r.since_ms, r.value) for r in s.recent]
    return e


def _thaw(b: bytes) -> EntityState:
    first = b[:1]
    try:
        if first == _FROZEN:
            return _unpack(_zstd.decompress(memoryview(b)[1:]))
        if first == _FROZEN_16_BYTE_IDS:
            return _with_ids_of_16_byte_format(_unpack(_zstd.decompress_16_byte_ids(memoryview(b)[1:])))
        if first == b"\x00":
            return _unpack_text_ids(_zstd.decompress_text_ids(memoryview(b)[1:])).converted()
    except (zstandard.ZstdError, UnicodeDecodeError) as e:  # the latter: a damaged 0x01 record's id
        raise msgspec.DecodeError(str(e)) from None
    return _thaw_json(b).converted()


PRUNABLE = ("interaction/", "stats/")
"""Key prefixes of entities that come and go (forgotten after the retention); agents stay."""


class Ledger:
    """Admits transitions once each and remembers enough to chain them.

    Memory: an entity is held as an object only while it is being worked on; after
    :meth:`take_dirty` (once per commit) every entity is kept frozen (msgpack compressed
    with zstd against typical entities, 70-650 bytes) and thawed again on its next transition.
    With 1% of the agents changing per poll, nearly every agent stays frozen. The frozen
    bytes are also what the state topic saves, so a restore keeps the records as they
    are read. Entities given to the constructor may also be in an older state record's
    format (ids as text, or JSON); they are frozen anew the first time they are thawed.
    An interaction or statistic not presented for :attr:`seal_after_ms` is sealed (see
    :mod:`streamer.track.sealed`): kept with others, packed (23 bytes against about 300 in
    ``bench/memory.py``), and taken back unchanged when it is presented again.
    """

    def __init__(
        self,
        entities: Mapping[str, EntityState | bytes] | None = None,
        *,
        seen_refresh_ms: int = 30 * 60 * 1000,
        prune_every_ms: int = 0,
        seal_after_ms: int = 0,
    ) -> None:
        self._store: dict[str, EntityState | bytes] = dict(entities) if entities is not None else {}
        self._hot: set[str] = {k for k, e in self._store.items() if isinstance(e, EntityState)}
        """Keys held as objects right now; frozen by :meth:`take_dirty` (and objects given
        here, at the end of the constructor)."""
        self._thawed: dict[str, bytes] = {}
        """The frozen bytes of hot entities: one that did not change goes back to them."""
        self._peeked: dict[str, _Peek] = {}
        """Frozen entities looked into without a thaw since the last commit: a commit
        presents an entity's transitions several times, in time order among others' (an
        interaction's row gives one per channel and its end)."""
        self._marks: dict[tuple[str, str], Mark] = {}
        """(entity, stream) -> the transition last presented to :meth:`admit` with a mark."""
        self._marks_before: dict[tuple[str, str], Mark] = {}
        """The generation of ``_marks`` before (:data:`MARKS_KEPT`)."""
        self._seen: dict[str, int] = {}
        """``seen_ms`` of the prunable entities, so pruning and keeping alive thaw nothing."""
        self.dirty: set[str] = set()
        self.unreadable: list[str] = []
        """Keys whose saved state could not be decoded and were forgotten."""
        self.seen_refresh_ms = seen_refresh_ms
        self.prune_every_ms = prune_every_ms
        self.seal_after_ms = seal_after_ms
        """A prunable entity not presented for this long is sealed at the next :meth:`prune`
        scan (0: never)."""
        self._sealed = Sealed()
        """Prunable entities quiet for :attr:`seal_after_ms`, packed; a key is either here
        or in ``_store`` (with its ``seen_ms`` in ``_seen``), never both."""
        self._largest = 0
        """Most entities ``_store`` held at a scan since its table was last made anew: a
        dictionary keeps its table when entries leave, so when most of them were sealed
        the tables are made anew at their size."""
        self._pruned_at: int | None = None
        """Observed time of the last scan :meth:`prune` made."""
        for key in list(self._store):
            if key.startswith(PRUNABLE) and (seen := self._given_seen_ms(key)) is not None:
                self._seen[key] = seen
        self._freeze_hot()

    def _given_seen_ms(self, entity: str) -> int | None:
        """The ``seen_ms`` of an entity given to the constructor; None when its bytes are
        damaged (then it is forgotten, and listed in :attr:`unreadable`). Frozen bytes of
        the current format (and of ``\x01``, which differs in its ids only) are read
        without a thaw: a restore gives every interaction of the retention, about 108,000
        per source at the default load after an hour, and a thaw of each took 22 µs. Other
        forms are thawed (and frozen anew)."""
        frozen = self._store.get(entity)
        if isinstance(frozen, bytes) and frozen[:1] in (_FROZEN, _FROZEN_16_BYTE_IDS):
            decompress = _zstd.decompress if frozen[:1] == _FROZEN else _zstd.decompress_16_byte_ids
            try:
                return _unpack_seen(decompress(memoryview(frozen)[1:])).seen_ms
            except (zstandard.ZstdError, msgspec.DecodeError):
                pass  # damaged: the thaw below forgets the key and says so
        e = self._get_or_none(entity)
        return e.seen_ms if e is not None else None

    @classmethod
    def for_retention(cls, retention_ms: int, entities: Mapping[str, EntityState | bytes] | None = None) -> Ledger:
        """The daemon's ledger for ``state_retention``: a kept-alive entity's ``seen_ms`` is
        saved once per half of it (what is saved is less than half of it behind), and
        :meth:`prune` scans once per hundredth of it (36 s for an hour), so an idle entity
        is forgotten up to 1 % later than the retention. An interaction or statistic not
        presented for a sixth of it (10 minutes) is sealed: the config keeps the retention
        at least twice the longest re-read of a history, so what is sealed is rarely
        wanted again before it is forgotten."""
        return cls(entities, seen_refresh_ms=retention_ms // 2, prune_every_ms=retention_ms // 100,
                   seal_after_ms=retention_ms // 6)

    def __len__(self) -> int:
        return len(self._store) + len(self._sealed)

    def __contains__(self, entity: str) -> bool:
        return entity in self._store or entity in self._sealed

    def keys(self) -> list[str]:
        return [*self._store, *self._sealed.keys()]

    def sealed(self) -> int:
        """How many entities are sealed now."""
        return len(self._sealed)

    def _lookup(self, entity: str) -> EntityState | bytes | None:
        """The entity as ``_store`` holds it; a sealed one is taken back there first."""
        e = self._store.get(entity)
        if e is None and self._sealed and entity.startswith(PRUNABLE):
            back = self._sealed.take(entity)
            if back is not None:
                self._seen[entity], e = back
                self._store[entity] = e
        return e

    def entity(self, entity: str) -> EntityState | None:
        """The remembered state of one key (decoded if it was kept encoded)."""
        return self._get_or_none(entity)

    def _get_or_none(self, entity: str, unpacked: bytes | None = None) -> EntityState | None:
        """``unpacked``: the entity's frozen bytes already decompressed (by :meth:`_unpacked`)."""
        e = self._lookup(entity)
        if e is None or isinstance(e, EntityState):
            return e
        frozen = e
        try:
            e = _thaw(frozen) if unpacked is None else _unpack(unpacked)
        except msgspec.DecodeError:
            # A damaged state record: the key starts over (its next event is a first sight)
            # rather than blocking every poll; the runner logs the key.
            del self._store[entity]
            self._seen.pop(entity, None)
            self._forget_marks()
            self.unreadable.append(entity)
            return None
        if entity in self._seen:
            e.seen_ms = max(e.seen_ms, self._seen[entity])  # kept alive while frozen
        self._store[entity] = e
        self._hot.add(entity)
        if frozen[:1] == _FROZEN:
            self._thawed[entity] = frozen
        return e

    def _get_or_new(self, entity: str, unpacked: bytes | None = None) -> EntityState:
        e = self._get_or_none(entity, unpacked)
        if e is None:
            e = self._store[entity] = EntityState(streams={})
            self._hot.add(entity)
        return e

    def _freeze_hot(self, changed: Container[str] = ()) -> None:
        """Encode every hot entity again. One thawed only to be looked at (a transition
        admitted before, a read of its current state) and not in ``changed`` goes back to
        its frozen bytes: compressing is most of the cost of a thaw-freeze round trip. Its
        ``seen_ms`` may be older there; the prunable ones keep theirs in ``_seen``, and an
        agent's is only ever read when the agent is saved, which makes it changed."""
        store, thawed = self._store, self._thawed
        for k in self._hot:
            e = store.get(k)
            if isinstance(e, EntityState):
                old = thawed.get(k)
                store[k] = old if old is not None and k not in changed else _freeze(e)
        self._hot = set()
        self._thawed = {}
        self._peeked = {}

    def _touch(self, entity: str, e: EntityState, observed_ms: int) -> None:
        e.seen_ms = max(e.seen_ms, observed_ms)
        if entity.startswith(PRUNABLE):
            self._saw(entity, e.seen_ms)

    def _saw(self, entity: str, seen_ms: int) -> None:
        """Index a prunable entity's ``seen_ms``, and save it now and then (not on every
        poll), so that after a restart an entity the vendor still serves is not pruned
        for having been quiet: whenever its ``seen_ms`` enters another period of
        :attr:`seen_refresh_ms` (counted from the epoch). Between two saves it stays in the
        period of the last one, so what is saved is less than a period behind, and what was
        saved need not be remembered per entity to compare with (that cost a dictionary
        entry and an integer per interaction: 190 of a busy agent's 3,590 bytes in
        ``bench/memory.py``)."""
        before = self._seen.get(entity, 0)
        seen = self._seen[entity] = max(before, seen_ms)
        period = self.seen_refresh_ms
        if period <= 0 or seen // period != before // period:
            self.dirty.add(entity)

    def keep_alive(self, entities: Iterable[str], observed_ms: int) -> None:
        """The vendor still serves these entities, unchanged (a snapshot row not decoded
        because it is byte for byte the previous one): postpone their pruning, without
        thawing them, as :meth:`touch` does."""
        seen = self._seen
        for k in entities:
            if k in seen or (self._sealed and self._lookup(k) is not None and k in seen):
                self._saw(k, observed_ms)  # else: not prunable, or not tracked

    def touch(self, entity: str, observed_ms: int) -> None:
        """The vendor served this entity again without a change: it is still alive."""
        e = self._lookup(entity)
        if isinstance(e, EntityState):
            self._touch(entity, e, observed_ms)
        elif e is not None:
            self._seen_frozen(entity, observed_ms)

    def _seen_frozen(self, entity: str, observed_ms: int) -> None:
        """A frozen entity was presented again, unchanged: what :meth:`_touch` does, without
        the thaw. Only a prunable entity's ``seen_ms`` matters then (it lives in ``_seen``);
        an agent's is saved when the agent changes, and a thawed, unchanged agent went
        back to its frozen bytes anyway."""
        if entity in self._seen:
            self._saw(entity, observed_ms)

    def _unpacked(self, entity: str) -> bytes | None:
        """A frozen entity's msgpack, decompressed without thawing the entity; None when it
        is not frozen (an object, absent, an older state record's format) or its bytes are
        damaged (a thaw says so)."""
        frozen = self._lookup(entity)
        if not isinstance(frozen, bytes) or frozen[:1] != _FROZEN:
            return None
        peek = self._peeked.get(entity)
        if peek is not None and peek.frozen is frozen:
            return peek.unpacked
        try:
            unpacked = _zstd.decompress(memoryview(frozen)[1:])
        except zstandard.ZstdError:
            return None
        if len(self._peeked) >= PEEKS_KEPT:
            self._peeked.clear()
        self._peeked[entity] = _Peek(frozen, unpacked)
        return unpacked

    def _recent_ids(self, entity: str, unpacked: bytes, stream: str) -> list[_RecentId] | None:
        """The ids and times of ``stream``'s recent transitions in ``entity``'s decompressed
        frozen bytes (from :meth:`_unpacked`); None without that stream, or when the bytes
        are damaged (the thaw that follows forgets the entity and says so)."""
        peek = self._peeked.get(entity)
        streams = peek.streams if peek is not None and peek.unpacked is unpacked else None
        if streams is None:
            try:
                streams = _unpack_ids(unpacked).streams
            except msgspec.DecodeError:
                return None
            if peek is not None and peek.unpacked is unpacked:
                peek.streams = streams
        s = streams.get(stream)
        return s.recent if s is not None else None

    def presented_before(self, entity: str, stream: str, mark: Mark, observed_ms: int) -> bool:
        """Whether ``mark`` is the transition last presented to :meth:`admit` for this stream
        (among the last :data:`MARKS_KEPT` to 2x that presented); then it was admitted,
        now or before, and this presentation counts as one more (:meth:`touch`).

        Most transitions presented were presented moments before: the history endpoints
        present what the snapshot did 2-4 s earlier, and a snapshot row that changed
        presents its unchanged parts again. This tells those apart in a dictionary look,
        before the caller computes the event id (a SHA-1) and without looking into the
        frozen entity. False says nothing: :meth:`admit` decides."""
        key = (entity, stream)
        last = self._marks.get(key)
        if last is None:
            last = self._marks_before.get(key)
        if last != mark:
            return False
        self.touch(entity, observed_ms)
        return True

    def _forget_marks(self) -> None:
        """An entity was forgotten: a mark of it no longer says that it is admitted."""
        self._marks, self._marks_before = {}, {}

    def admit(
        self, entity: str, stream: str, event_id: str, since_ms: int, value: Any, observed_ms: int = 0,
        mark: Mark | None = None,
    ) -> Admission | None:
        """Admit a transition into ``value`` at ``since_ms``; ``None`` if it was admitted before.
        ``mark``: the transition's :data:`Mark` (``event_id`` must follow from it, within
        one source), remembered for :meth:`presented_before`."""
        adm = self._admit(entity, stream, event_id, since_ms, value, observed_ms)
        if mark is not None:
            marks = self._marks
            if len(marks) >= MARKS_KEPT:
                self._marks_before, self._marks = marks, {}
            self._marks[(entity, stream)] = mark
        return adm

    def _admit(
        self, entity: str, stream: str, event_id: str, since_ms: int, value: Any, observed_ms: int
    ) -> Admission | None:
        # Most transitions presented were admitted before: the snapshot and the history
        # endpoints present the same ones, and a history read presents a row again until
        # its window has passed it. Those are told from the frozen entity's ids alone (the
        # id's bytes are in the msgpack when the entity remembers it), without a thaw.
        eid = id_bytes(event_id)
        unpacked = self._unpacked(entity)
        if unpacked is not None and eid in unpacked:
            ids = self._recent_ids(entity, unpacked, stream)
            if ids is not None and _holds(ids, eid):
                self._seen_frozen(entity, observed_ms)
                return None
        e = self._get_or_new(entity, unpacked)
        self._touch(entity, e, observed_ms)
        s = e.streams.get(stream)
        late = since_ms < e.touched_ms  # older than something already published for this key
        first = s is None
        prev: Any = None
        dur: int | None = None
        if s is None:
            s = e.streams[stream] = StreamState(value, since_ms, [], e.seq + 1)
        else:
            if _holds(s.recent, eid):
                return None
            if since_ms >= s.since_ms:
                prev, dur = s.value, since_ms - s.since_ms
                s.value, s.since_ms, s.seq = value, since_ms, e.seq + 1
            else:
                before = [r for r in s.recent if r.since_ms < since_ms]
                if before:
                    pred = max(before, key=lambda r: r.since_ms)
                    prev, dur = pred.value, since_ms - pred.since_ms
        _remember(s, Recent(eid, since_ms, value))
        e.seq += 1
        e.touched_ms = max(e.touched_ms, since_ms)
        self.dirty.add(entity)
        return Admission(e.seq, prev, dur, late, first)

    def may_have_forgotten(self, entity: str, stream: str, event_id: str, since_ms: int) -> bool:
        """Whether a transition at ``since_ms`` not remembered now could still have been
        admitted before: the stream remembers its full :data:`RECENT_PER_STREAM` and
        every one of them is at least as new, so the transition may have been dropped
        from the memory. A history read again after a restart asks this (its drafts are
        ``reread``) and does not publish what may be a second time."""
        recent = self._recent(entity, stream)
        if recent is None or len(recent) < RECENT_PER_STREAM or _holds(recent, id_bytes(event_id)):
            return False
        return since_ms <= min(r.since_ms for r in recent)

    def seen(self, entity: str, stream: str, event_id: str) -> bool:
        recent = self._recent(entity, stream)
        return recent is not None and _holds(recent, id_bytes(event_id))

    def _recent(self, entity: str, stream: str) -> Sequence[Recent | _RecentId] | None:
        """The ids and times of a stream's recent transitions; a frozen entity stays frozen."""
        unpacked = self._unpacked(entity)
        if unpacked is not None:
            return self._recent_ids(entity, unpacked, stream)
        s = self.current(entity, stream)
        return s.recent if s is not None else None

    def current(self, entity: str, stream: str) -> StreamState | None:
        e = self._get_or_none(entity)
        return e.streams.get(stream) if e else None

    def replay(
        self, entity: str, stream: str | None, event_id: str, since_ms: int, value: Any, sequence: int,
        observed_ms: int = 0,
    ) -> None:
        """Fold an event already on Kafka back in (restart): idempotent, order-insensitive."""
        eid = id_bytes(event_id)
        e = self._get_or_new(entity)
        e.seen_ms = max(e.seen_ms, observed_ms)
        if entity.startswith(PRUNABLE):
            self._saw(entity, e.seen_ms)
        e.seq = max(e.seq, sequence)
        e.touched_ms = max(e.touched_ms, since_ms)
        self.dirty.add(entity)
        if stream is None:
            return
        s = e.streams.get(stream)
        if s is None:
            e.streams[stream] = StreamState(value, since_ms, [], sequence)
            _remember(e.streams[stream], Recent(eid, since_ms, value))
            return
        if _holds(s.recent, eid):
            return
        if (since_ms, sequence) >= (s.since_ms, s.seq):  # equal times: the later event wins, as in admit
            s.value, s.since_ms, s.seq = value, since_ms, sequence
        _remember(s, Recent(eid, since_ms, value))

    def prune(self, now_ms: int, retention_ms: int, prefixes: tuple[str, ...] = PRUNABLE) -> list[str]:
        """Forget entities under ``prefixes`` (within :data:`PRUNABLE`) not presented for
        ``retention_ms`` (observed clock); returns their keys. Retention must exceed the
        longest time a vendor keeps serving an item again (the history lookback), or the
        item would be published twice.

        A scan reads every prunable key: at the default load an hour's retention holds
        about 108,000 interactions per source, and a source commits about twice a second.
        So it scans at most once per :attr:`prune_every_ms` of observed time (and again if
        that time went back); in between it forgets nothing. The same scan seals what has
        been quiet for :attr:`seal_after_ms`; a sealed entity is forgotten exactly as it
        would have been unsealed. With 90,000 of 108,000 sealed a scan took 12 ms (3 ms
        with none sealed: most of it is rebuilding the sealed index)."""
        if not all(p.startswith(PRUNABLE) for p in prefixes):
            raise ValueError(f"only keys under {PRUNABLE} can be pruned, not {prefixes}")
        if self._pruned_at is not None and 0 <= now_ms - self._pruned_at < self.prune_every_ms:
            return []
        self._pruned_at = now_ms
        floor = now_ms - retention_ms
        store, seen_ms = self._store, self._seen
        gone = [k for k, seen in seen_ms.items() if seen < floor and k.startswith(prefixes)]
        for k in gone:
            del store[k]
            del seen_ms[k]
            self._hot.discard(k)
            self._thawed.pop(k, None)
        to_seal = self._to_seal(now_ms - self.seal_after_ms) if self.seal_after_ms > 0 else []
        if self._sealed or to_seal:
            gone += self._sealed.expire(floor, prefixes, seal=to_seal)
        if gone:
            self._forget_marks()
        self.dirty.update(gone)
        if len(self._store) * 2 < self._largest:
            self._store, self._seen = dict(self._store), dict(self._seen)
            self._largest = len(self._store)
        return gone

    def _to_seal(self, quiet_ms: int) -> list[list[tuple[str, int, bytes]]]:
        """Take out of ``_store`` the prunable entities not presented since ``quiet_ms``
        that are frozen and unchanged since the last commit, to be sealed: one batch per
        :attr:`prune_every_ms` of their ``seen_ms`` (so that forgetting them opens few
        segments)."""
        store, seen_ms, dirty = self._store, self._seen, self.dirty
        self._largest = max(self._largest, len(store))
        batches: dict[int, list[tuple[str, int, bytes]]] = {}
        period = max(self.prune_every_ms, 1)
        for k, seen in seen_ms.items():
            if seen < quiet_ms and k not in dirty and isinstance(frozen := store[k], bytes):
                batches.setdefault(seen // period, []).append((k, seen, frozen))
        for batch in batches.values():
            for k, _, _ in batch:
                del store[k]
                del seen_ms[k]
        return list(batches.values())

    def take_dirty(self) -> dict[str, bytes | None]:
        """Entities changed since the last call, frozen (``None``: forgotten): the state
        topic's records. Afterwards every entity is kept frozen until its next transition,
        and no sealed segment is held decoded (:meth:`Sealed.release`)."""
        changed = {k: self._get_or_none(k) for k in self.dirty}
        seen = self._seen
        for k, e in changed.items():
            if e is not None and k in seen:  # kept alive while thawed: keep_alive sets only _seen
                e.seen_ms = max(e.seen_ms, seen[k])
        self.dirty = set()
        self._freeze_hot(changed)
        self._sealed.release()
        store = self._store
        out: dict[str, bytes | None] = {}
        for k, e in changed.items():
            frozen = store[k] if e is not None else None
            assert not isinstance(frozen, EntityState)  # _freeze_hot froze every changed entity
            out[k] = frozen
        return out

    @property
    def entities(self) -> dict[str, EntityState]:
        """Every entity decoded (for tests and inspection; the daemon never needs them all)."""
        return {k: e for k in self.keys() if (e := self._get_or_none(k)) is not None}


def _holds(recent: Sequence[Recent | _RecentId], event_id: bytes) -> bool:
    """Whether ``event_id`` is among ``recent`` (a loop: ``any()`` over a generator costs
    several times more, on every transition admitted)."""
    for r in recent:
        if r.id == event_id:
            return True
    return False


def _remember(s: StreamState, r: Recent) -> None:
    slim = cut_strings(r.value, RECENT_STRING_BYTES)
    s.recent.append(r if slim is r.value else Recent(r.id, r.since_ms, slim))
    s.recent.sort(key=lambda x: x.since_ms)
    if len(s.recent) > RECENT_PER_STREAM:
        del s.recent[: len(s.recent) - RECENT_PER_STREAM]
