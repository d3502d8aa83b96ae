"""Conservative repair of the JSON slips vendors' docs (and so their APIs) contain.

Only used after strict decoding failed. Each repair is a pattern seen in the seed
documents: a literal glued to a string (``"guid": null"6a6d..."``), a missing colon
between a key and its value (``"number" 201``), a trailing comma. Repairs look only
at the text between strings, never inside one. Anything else stays unreadable.
"""

from __future__ import annotations

import re

__all__ = ["repair_json"]

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_GLUED_LITERAL = re.compile(rb"(?:null|true|false)\s*$")
_KEY_CONTEXT = re.compile(rb"[{,]\s*$")
_VALUE_START = re.compile(rb"^\s+(?=[\[{0-9tfn-])|^\s*$")
_TRAILING_COMMA = re.compile(rb",(\s*[}\]])")


def repair_json(body: bytes) -> tuple[bytes, list[str]]:
    """Return the repaired body and the names of the repairs applied (empty: none)."""
    # Alternate: gaps[i] is the text before strings[i]; gaps[-1] follows the last string.
    strings = [m.group(0) for m in _STRING.finditer(body)]
    gaps = _STRING.split(body)
    applied: set[str] = set()
    for i, s in enumerate(strings):
        before, after = gaps[i], gaps[i + 1]
        glued = _GLUED_LITERAL.search(before)
        if glued and not _KEY_CONTEXT.search(before[: glued.start()]) and before[: glued.start()].rstrip().endswith(b":"):
            gaps[i] = before[: glued.start()]
            applied.add("literal-glued-to-string")
            before = gaps[i]
        is_key = _KEY_CONTEXT.search(before) is not None
        next_is_string = i + 1 < len(strings)
        if is_key and b":" not in after.split(b",")[0] and _VALUE_START.search(after) and (
            after.strip() or next_is_string
        ):
            gaps[i + 1] = b": " + after.lstrip()
            applied.add("missing-colon")
    out = gaps[0]
    for s, g in zip(strings, gaps[1:]):
        out += s + g
    out, n = _TRAILING_COMMA.subn(rb"\1", out)
    if n:
        applied.add("trailing-comma")
    order = ["literal-glued-to-string", "missing-colon", "trailing-comma"]
    return out, [a for a in order if a in applied]
