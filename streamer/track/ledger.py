"""Per-entity memory of what has been published: sequences, current states, recent ids. Pure.

Every endpoint of a source feeds one ledger, so a transition seen by a snapshot and
by a history endpoint is admitted once, and ``previous``, ``previous_duration_ms``
and ``sequence`` continue across endpoints and restarts (the ledger is saved to the
state topic and replayed from the output tail).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["Recent", "StreamState", "EntityState", "Admission", "Ledger", "RECENT_PER_STREAM"]

RECENT_PER_STREAM = 8


class Recent(msgspec.Struct, frozen=True, array_like=True):
    id: str
    since_ms: int
    value: Any = None


class StreamState(msgspec.Struct):
    """One state stream of an entity (an agent's presence, an agent's part in an interaction)."""

    value: Any
    since_ms: int
    recent: list[Recent] = []
    seq: int = 0
    """Sequence of the event that set ``value``: breaks ties of ``since_ms`` on replay."""


class EntityState(msgspec.Struct):
    """Everything remembered about one Kafka key (a source's agent or interaction)."""

    seq: int = 0
    touched_ms: int = 0
    """Newest vendor time published for this key: an older transition is ``late``."""
    seen_ms: int = 0
    """When a transition of this key was last presented (observed clock): retention runs
    on this, so an old interaction the vendor keeps serving is never forgotten early."""
    streams: dict[str, StreamState] = {}


class Admission(msgspec.Struct, frozen=True):
    sequence: int
    previous: Any
    previous_duration_ms: int | None
    late: bool
    first: bool


class Ledger:
    """Admits transitions once each and remembers enough to chain them."""

    def __init__(self, entities: dict[str, EntityState] | None = None, *, seen_refresh_ms: int = 30 * 60 * 1000) -> None:
        self.entities: dict[str, EntityState] = entities if entities is not None else {}
        self.dirty: set[str] = set()
        self.seen_refresh_ms = seen_refresh_ms

    def _touch(self, entity: str, e: EntityState, observed_ms: int) -> None:
        if observed_ms - e.seen_ms >= self.seen_refresh_ms:
            self.dirty.add(entity)  # persist the refresh now and then, not on every poll
        e.seen_ms = max(e.seen_ms, observed_ms)

    def touch(self, entity: str, observed_ms: int) -> None:
        """The vendor served this entity again without a change: it is still alive."""
        e = self.entities.get(entity)
        if e is not None:
            self._touch(entity, e, observed_ms)

    def admit(
        self, entity: str, stream: str, event_id: str, since_ms: int, value: Any, observed_ms: int = 0
    ) -> Admission | None:
        """Admit a transition into ``value`` at ``since_ms``; ``None`` if it was admitted before."""
        e = self.entities.get(entity)
        if e is None:
            e = self.entities[entity] = EntityState(streams={})
        self._touch(entity, e, observed_ms)
        s = e.streams.get(stream)
        late = since_ms < e.touched_ms  # older than something already published for this key
        first = s is None
        prev: Any = None
        dur: int | None = None
        if s is None:
            s = e.streams[stream] = StreamState(value, since_ms, [], e.seq + 1)
        else:
            if any(r.id == event_id for r in s.recent):
                return None
            if since_ms >= s.since_ms:
                prev, dur = s.value, since_ms - s.since_ms
                s.value, s.since_ms, s.seq = value, since_ms, e.seq + 1
            else:
                before = [r for r in s.recent if r.since_ms < since_ms]
                if before:
                    pred = max(before, key=lambda r: r.since_ms)
                    prev, dur = pred.value, since_ms - pred.since_ms
        _remember(s, Recent(event_id, since_ms, value))
        e.seq += 1
        e.touched_ms = max(e.touched_ms, since_ms)
        self.dirty.add(entity)
        return Admission(e.seq, prev, dur, late, first)

    def seen(self, entity: str, stream: str, event_id: str) -> bool:
        e = self.entities.get(entity)
        s = e.streams.get(stream) if e else None
        return bool(s and any(r.id == event_id for r in s.recent))

    def current(self, entity: str, stream: str) -> StreamState | None:
        e = self.entities.get(entity)
        return e.streams.get(stream) if e else None

    def replay(
        self, entity: str, stream: str | None, event_id: str, since_ms: int, value: Any, sequence: int,
        observed_ms: int = 0,
    ) -> None:
        """Fold an event already on Kafka back in (restart): idempotent, order-insensitive."""
        e = self.entities.get(entity)
        if e is None:
            e = self.entities[entity] = EntityState(streams={})
        e.seen_ms = max(e.seen_ms, observed_ms)
        e.seq = max(e.seq, sequence)
        e.touched_ms = max(e.touched_ms, since_ms)
        self.dirty.add(entity)
        if stream is None:
            return
        s = e.streams.get(stream)
        if s is None:
            e.streams[stream] = StreamState(value, since_ms, [Recent(event_id, since_ms, value)], sequence)
            return
        if any(r.id == event_id for r in s.recent):
            return
        if (since_ms, sequence) >= (s.since_ms, s.seq):  # equal times: the later event wins, as in admit
            s.value, s.since_ms, s.seq = value, since_ms, sequence
        _remember(s, Recent(event_id, since_ms, value))

    def prune(self, now_ms: int, retention_ms: int, prefixes: tuple[str, ...]) -> list[str]:
        """Forget entities under ``prefixes`` not presented for ``retention_ms`` (observed
        clock); returns their keys. Retention must exceed the longest time a vendor keeps
        serving an item again (the history lookback), or the item would be published twice."""
        gone = [
            k
            for k, e in self.entities.items()
            if k.startswith(prefixes) and e.seen_ms < now_ms - retention_ms
        ]
        for k in gone:
            del self.entities[k]
            self.dirty.add(k)
        return gone

    def take_dirty(self) -> dict[str, EntityState | None]:
        """Entities changed since the last call (``None``: forgotten), for the state topic."""
        out = {k: self.entities.get(k) for k in self.dirty}
        self.dirty = set()
        return out


def _remember(s: StreamState, r: Recent) -> None:
    s.recent.append(r)
    s.recent.sort(key=lambda x: x.since_ms)
    if len(s.recent) > RECENT_PER_STREAM:
        del s.recent[: len(s.recent) - RECENT_PER_STREAM]
