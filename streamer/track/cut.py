"""Cut oversized strings out of vendor values, saying so. Pure.

A vendor field has no size limit of its own (a 120 kB presence ``reason`` was seen); a
Kafka record has one. Strings over a limit keep their head and end in a marker that
says how much was cut, so a consumer can tell a cut value from a vendor's own text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

__all__ = ["cut_text", "cut_strings", "CUT_MARK"]

CUT_MARK = "…[cut {} bytes]"


def cut_text(s: str, limit: int) -> str:
    """``s`` if it is at most ``limit`` bytes (UTF-8), else its head and the marker, at most ``limit`` bytes."""
    if len(s) * 4 <= limit:  # cheap: no string of this length can be over the limit
        return s
    b = s.encode()
    if len(b) <= limit:
        return s
    mark = CUT_MARK.format(len(b))  # the number is the bytes removed, at most this many digits
    keep = max(0, limit - len(mark.encode()))
    head = b[:keep].decode(errors="ignore")
    removed = len(b) - len(head.encode())
    return head + CUT_MARK.format(removed)


_SCALARS = frozenset({int, float, bool, type(None)})


def _flat_and_short(values: Iterable[Any], limit: int) -> bool:
    """Whether ``values`` are scalars and strings too short to be over ``limit`` (the
    usual vendor value: one flat dict), checked without building anything."""
    for v in values:
        t = type(v)
        if t is str:
            if len(v) * 4 > limit:
                return False
        elif t not in _SCALARS:
            return False
    return True


def cut_strings(obj: Any, limit: int) -> Any:
    """``obj`` with every string over ``limit`` bytes cut (dicts, lists, tuples and
    msgspec Structs are walked; dict keys are kept). Returns ``obj`` itself when nothing was cut."""
    if isinstance(obj, str):
        return cut_text(obj, limit)
    if isinstance(obj, dict):
        if _flat_and_short(obj.values(), limit):
            return obj
        changed = {k: c for k, v in obj.items() if (c := cut_strings(v, limit)) is not v}
        return {**obj, **changed} if changed else obj
    if isinstance(obj, (list, tuple)):
        items = [cut_strings(v, limit) for v in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items) if isinstance(obj, list) else tuple(items)
    if isinstance(obj, msgspec.Struct):
        fields = {f: c for f in obj.__struct_fields__ if (c := cut_strings(v := getattr(obj, f), limit)) is not v}
        return msgspec.structs.replace(obj, **fields) if fields else obj
    return obj
