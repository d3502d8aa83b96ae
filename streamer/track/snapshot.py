"""Keyed snapshot diff: what changed between two views of a keyed collection. Pure."""

from __future__ import annotations

from typing import Generic, Hashable, Literal, Mapping, Sequence, TypeVar

import msgspec

__all__ = ["Change", "diff", "apply"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Change(msgspec.Struct, Generic[K, V], frozen=True):
    kind: Literal["added", "changed", "removed"]
    key: K
    before: V | None
    after: V | None


def diff(before: Mapping[K, V], after: Mapping[K, V]) -> list[Change[K, V]]:
    """Changes turning ``before`` into ``after``, in ``after``'s key order, removals last.

    Values are compared with ``==``; callers that hold encoded bytes or digests get
    the cheap comparison for free.
    """
    out: list[Change[K, V]] = []
    for key, new in after.items():
        old = before.get(key, _MISSING)
        if old is _MISSING:
            out.append(Change("added", key, None, new))
        elif old != new:
            out.append(Change("changed", key, old, new))
    for key, old in before.items():
        if key not in after:
            out.append(Change("removed", key, old, None))
    return out


def apply(before: Mapping[K, V], changes: Sequence[Change[K, V]]) -> dict[K, V]:
    """Apply changes to a snapshot: ``apply(a, diff(a, b)) == b``."""
    out = dict(before)
    for c in changes:
        if c.kind == "removed":
            out.pop(c.key, None)
        else:
            out[c.key] = c.after  # type: ignore[assignment]
    return out


_MISSING: object = object()
