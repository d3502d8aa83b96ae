"""Entities nobody has presented for a while, packed tight until they are needed or forgotten. Pure.

The ledger keeps every interaction it published within ``state_retention`` (an hour by
default): at the simulator's default load about 108,000 per 1,000-agent source, each a
key, two dictionary slots, frozen bytes and a ``seen_ms``: about 300 bytes. Nearly all
of them are done with (the vendor stopped serving them minutes ago) and are only kept so
that a late re-serve is not published twice and so that pruning can tombstone them.

:class:`Sealed` keeps such entities in segments: each a list of (key, seen_ms, frozen
bytes) compressed together, where the keys' shared shape and the entities' shared
field names cost next to nothing (15 bytes an entity in ``bench/memory.py``, 8 of them its
event id's random bytes; the bench's interaction keys are regular and many share their
times, so real ones compress less). One sorted array, 8 bytes a key, tells whether
a key is sealed without opening anything. Opening a segment (to take an entity back, or
to forget the expired part of it) decompresses the whole segment, about 0.5 ms for a
thousand entities: the ledger seals only what has been quiet long enough that it is
rarely wanted again.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable

import msgspec
import zstandard

__all__ = ["Sealed"]

_Entry = tuple[str, int, bytes]
"""(key, seen_ms, frozen bytes)."""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[tuple[str, int, bytes]]).decode
_hash = hash
"""Of a key, for the index (a name of its own so that a test can make every key collide)."""


class _Segment:
    __slots__ = ("blob", "oldest", "live", "taken")

    def __init__(self, entries: list[_Entry]) -> None:
        # A context per segment: zstd's are not thread-safe, and a segment is made once per
        # prune scan at most (opened about as rarely), so making one costs nothing that shows.
        compressed = zstandard.ZstdCompressor(level=1).compress(_encode(entries))
        # zstandard (0.25) returns its output buffer, allocated for the worst case (about the
        # input's size), with its length set to what was written: a 100 KB blob held 1 MB.
        # A copy is allocated at its length (the memory bench: 1,145 B a busy agent, not 1,418-1,445).
        self.blob = bytes(memoryview(compressed))
        self.oldest = min(seen for _, seen, _ in entries)
        """The oldest ``seen_ms`` in the segment: nothing in it expires before this."""
        self.live = len(entries)
        self.taken: set[str] = set()
        """Keys taken back out (still in ``blob``): skipped from then on."""

    def entries(self) -> list[_Entry]:
        taken = self.taken
        return [e for e in _decode(zstandard.ZstdDecompressor().decompress(self.blob)) if e[0] not in taken]


_SLOT_BITS = 20
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_HASH_MASK = (1 << (63 - _SLOT_BITS)) - 1


class Sealed:
    """Sealed entities by key: :meth:`seal` many at once, :meth:`take` one back,
    :meth:`expire` the ones not seen since a time. Keys are hashed with ``hash()``, so the
    index lives in one process's memory only (as the entities do)."""

    __slots__ = ("_index", "_segments", "_free", "_next", "_opened")

    def __init__(self) -> None:
        self._index = array("q")
        """Per sealed key, sorted: 43 bits of its ``hash()`` above the number of its segment
        (20 bits). One array of integers, so that a seal or an expiry rebuilds it in one pass
        without a tuple per key; two keys that share the 43 bits are told apart by opening
        their segments (one in 10^8 lookups, at 100,000 keys)."""
        self._segments: dict[int, _Segment] = {}
        self._free: list[int] = []
        """Segment numbers given back: numbers are reused, so 20 bits always do."""
        self._next = 0
        """Every number below this is a segment's or free."""
        self._opened: tuple[int, dict[str, tuple[int, bytes]]] | None = None
        """The segment opened last, decoded, until :meth:`release`: entities are usually
        taken back in runs."""

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: str) -> bool:
        return self._find(key) is not None

    def segments(self) -> int:
        return len(self._segments)

    def seal(self, *batches: Iterable[_Entry]) -> None:
        """Keep each of ``batches`` (keys not sealed already) as one more segment."""
        self._rebuild(batches, dropped=())

    def take(self, key: str) -> tuple[int, bytes] | None:
        """Remove ``key``'s entity; its ``(seen_ms, frozen bytes)``, or None when not sealed."""
        found = self._find(key)
        if found is None:
            return None
        i, number, seen, frozen = found
        del self._index[i]
        seg = self._segments[number]
        seg.live -= 1
        seg.taken.add(key)
        self._open(number).pop(key, None)
        if seg.live == 0:
            self._rebuild((), dropped=(number,))
        return seen, frozen

    def release(self) -> None:
        """Let go of the segment decoded last. Decoded, an entity costs about 350 bytes (a
        key, a tuple, its frozen bytes, a dictionary slot; ``bench/memory.py``'s
        interactions) against 15-30 packed; at the default load a segment holds about a
        thousand, so one kept from a single late re-serve until it expired (up to 50
        minutes) held about 350 bytes more per agent of a 1,000-agent source. The ledger
        releases at every commit (the memory bench's late re-serve: 1,297 bytes an agent
        while it was kept, 1,098 now)."""
        self._opened = None

    def expire(self, floor_ms: int, prefixes: tuple[str, ...], seal: Iterable[Iterable[_Entry]] = ()) -> list[str]:
        """Forget the entities under ``prefixes`` last seen before ``floor_ms``; their keys.
        Only segments holding something that old are opened; one that keeps part of its
        entities is written again with those. ``seal``: batches to :meth:`seal` too, in the
        same pass over the index (a pass over 100,000 keys takes a few milliseconds)."""
        gone: list[str] = []
        dropped: list[int] = []
        kept: list[list[_Entry]] = []
        for number in [n for n, seg in self._segments.items() if seg.oldest < floor_ms]:
            keep: list[_Entry] = []
            expired: list[str] = []
            for e in self._segments[number].entries():
                if e[1] < floor_ms and e[0].startswith(prefixes):
                    expired.append(e[0])
                else:
                    keep.append(e)
            if expired:
                gone += expired
                dropped.append(number)
                kept.append(keep)
        self._rebuild([*kept, *seal], dropped)
        return gone

    def keys(self) -> list[str]:
        return [key for seg in self._segments.values() for key, _, _ in seg.entries()]

    def _find(self, key: str) -> tuple[int, int, int, bytes] | None:
        """(index position, segment, seen_ms, frozen) of ``key``; None when not sealed."""
        h = _hash(key) & _HASH_MASK
        index = self._index
        i = bisect_left(index, h << _SLOT_BITS)
        while i < len(index) and index[i] >> _SLOT_BITS == h:
            number = index[i] & _SLOT_MASK
            found = self._open(number).get(key)
            if found is not None:
                return i, number, found[0], found[1]
            i += 1
        return None

    def _open(self, number: int) -> dict[str, tuple[int, bytes]]:
        opened = self._opened
        if opened is None or opened[0] != number:
            opened = self._opened = number, {k: (seen, frozen) for k, seen, frozen in self._segments[number].entries()}
        return opened[1]

    def _rebuild(self, batches: Iterable[Iterable[_Entry]], dropped: Iterable[int]) -> None:
        """Drop the segments ``dropped``, add one per non-empty batch, and index them, in one pass."""
        gone = set(dropped)
        for number in gone:
            del self._segments[number]
            self._free.append(number)
        if self._opened is not None and self._opened[0] in gone:
            self._opened = None
        added: list[int] = []
        for batch in map(list, batches):
            if not batch:
                continue
            if self._free:  # may be one just dropped: its old keys leave the index below
                number = self._free.pop()
            else:
                number, self._next = self._next, self._next + 1
                if number > _SLOT_MASK:  # the daemon's ledger keeps about a hundred
                    raise OverflowError(f"more than {_SLOT_MASK + 1} sealed segments")
            self._segments[number] = _Segment(batch)
            added += [(_hash(key) & _HASH_MASK) << _SLOT_BITS | number for key, _, _ in batch]
        if not added and not gone:
            return
        index = list(self._index) if not gone else [x for x in self._index if x & _SLOT_MASK not in gone]
        index += added
        index.sort()
        self._index = array("q", index)
