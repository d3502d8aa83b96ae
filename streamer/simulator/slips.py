"""The seed documents' JSON slips, applied to an encoded response body (bytes -> bytes).

Each slip reproduces one defect of a documented example, at every place of the body
where the example's pattern fits (the simulator's bodies are compact msgspec JSON):

| switch | the seed example it reproduces |
|---|---|
| ``json_comments`` | ``sinch-cc-rmi-monitoring-api.txt``, ``GET /contacts``: ``"channel": "PHONE", // PHONE, CHAT, EMAIL`` (a ``//`` comment to the end of the line after a field) |
| ``json_missing_comma`` | ``sinch-cc-rmi-monitoring-api.txt``, ``GET /agents``: ``"availability": "LoggedOut"`` with the next field on a new line and no comma; ``GET /queueStatuses``: ``"agentsFree" : 1`` likewise (after a string or a scalar) |
| ``json_glued_literal`` | ``vonage-insights-stats-agent-activities.txt``, the 6-item page: ``"guid": null"6a6d57c3-2105-42e3-86fe-411a3496a28f"`` (a ``null`` glued to a string value) |
| ``json_missing_colon`` | ``sinch-cc-rmi-monitoring-api.txt``, ``GET /contacts``: ``"source" "0401234XXX",`` (a space where the colon between a key and its string value belongs) |

Strings are found with :data:`streamer.http.jsonrepair.STRING`, so nothing inside a string is
touched. Each slip alone keeps the body repairable by :func:`streamer.http.jsonrepair.repair_json`
(the doc shows them one at a time; a combination is not promised to be).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from streamer.http.jsonrepair import split_strings

__all__ = ["SLIPS", "COMMENT", "comments", "missing_comma", "glued_literal", "missing_colon", "apply_slips"]

COMMENT = b"// PHONE, CHAT, EMAIL"
"""The comment of the Sinch RMI ``/contacts`` example (``"channel": "PHONE", // PHONE, CHAT, EMAIL``)."""

_SCALAR_VALUE = re.compile(rb"^\s*:\s*(?:-?\d[\d.eE+-]*|true|false|null)\s*,\s*$")


def _is_key(parts: list[bytes], i: int) -> bool:
    """The string at odd index ``i`` is a key: a colon follows it."""
    return i + 1 < len(parts) and parts[i + 1].lstrip().startswith(b":")


def _is_value(parts: list[bytes], i: int) -> bool:
    """The string at odd index ``i`` is a value: a colon precedes it."""
    return parts[i - 1].rstrip().endswith(b":")


def _field_ends(parts: list[bytes]) -> list[int]:
    """Even indexes of the gaps that end a field whose value is a string or a scalar and
    lead to the next key: ``"a","b"`` (gap ``,``) or ``"a":1,"b"`` (gap ``:1,``)."""
    out = []
    for g in range(2, len(parts) - 1, 2):
        if not _is_key(parts, g + 1):
            continue
        gap = parts[g]
        if (gap.strip() == b"," and _is_value(parts, g - 1)) or _SCALAR_VALUE.match(gap):
            out.append(g)
    return out


def comments(body: bytes) -> bytes:
    """A ``//`` comment to the end of the line after each field's comma."""
    parts = split_strings(body)
    for g in _field_ends(parts):
        parts[g] = parts[g].rstrip() + b" " + COMMENT + b"\n"
    return b"".join(parts)


def missing_comma(body: bytes) -> bytes:
    """The comma after each field replaced by a line break (the next key on a new line)."""
    parts = split_strings(body)
    for g in _field_ends(parts):
        gap = parts[g].rstrip()
        parts[g] = gap[:-1] + b"\n"
    return b"".join(parts)


def glued_literal(body: bytes) -> bytes:
    """``null`` glued before every string value: ``"guid":null"6a6d..."``."""
    parts = split_strings(body)
    for i in range(1, len(parts), 2):
        if _is_value(parts, i) and not _is_key(parts, i):
            parts[i - 1] = parts[i - 1] + b"null"
    return b"".join(parts)


def missing_colon(body: bytes) -> bytes:
    """A space instead of the colon between each key and its string value: ``"source" "0401..."``."""
    parts = split_strings(body)
    for i in range(1, len(parts) - 2, 2):
        if parts[i + 1].strip() == b":" and _is_key(parts, i) and not _is_key(parts, i + 2):
            parts[i + 1] = b" "
    return b"".join(parts)


SLIPS: dict[str, Callable[[bytes], bytes]] = {
    "json_comments": comments,
    "json_missing_comma": missing_comma,
    "json_glued_literal": glued_literal,
    "json_missing_colon": missing_colon,
}
"""Fault switch name -> the slip it applies."""


def apply_slips(body: bytes, switched_on: list[str]) -> bytes:
    """``body`` with the slips named in ``switched_on`` applied, in :data:`SLIPS` order."""
    for name, slip in SLIPS.items():
        if name in switched_on:
            body = slip(body)
    return body
