"""Conservative repair of the JSON slips vendors' docs (and so their APIs) contain.

Only used after strict decoding failed, for every vendor (a slip documented for one
vendor's API is a way any of them can answer). Each repair is a pattern seen in the
seed documents:

- ``//`` comments to the end of the line (Sinch RMI ``/contacts``:
  ``"channel": "PHONE", // PHONE, CHAT, EMAIL``);
- a missing comma at a line end (Sinch RMI ``/agents``: ``"availability": "LoggedOut"``
  then the next key on a new line; ``/queueStatuses``: ``"agentsFree" : 1``);
- a literal glued to a string (Vonage ``agent-activities``: ``"guid": null"6a6d..."``);
- a missing colon between a key and its value (Sinch RMI ``/contacts``:
  ``"source" "0401234XXX"``);
- a trailing comma (Sinch RMI ``/queueStatuses``).

Repairs look only at the text between strings, never inside one. Anything else stays
unreadable.

Repair is linear in the body's size (the pieces are joined once), and a body over
:data:`MAX_REPAIR_BYTES` is not repaired at all: callers report it unreadable.
"""

from __future__ import annotations

import re
from itertools import chain

from streamer.errors import SkippableError

__all__ = ["MAX_REPAIR_BYTES", "STRING", "REPAIRS", "repair_refused", "split_strings", "split_around", "repair_json"]

REPAIRS = ("comments", "missing-comma", "literal-glued-to-string", "missing-colon", "trailing-comma")
"""The names :func:`repair_json` reports, in the order it applies them."""

MAX_REPAIR_BYTES = 2 * 1024 * 1024
"""The largest body repair is tried on (2 MiB, four times a default 1,000-row page).
The slips repaired are the docs' and small; a larger body that strict decoding rejects
is far more likely cut off or garbled than slipped, and repair costs up to about 0.4 s
of CPU per MB. A larger body is unreadable (dead-lettered, the endpoint ``degraded``,
its cursor held); lower the source's ``page_limit`` if a vendor really sends such pages."""

STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
"""A JSON string, escapes included; one cut off by the end of the body runs to the end.
The unrolled form (runs of ``[^"\\]``) is several times faster in the regex engine
than a per-character alternation, and since a match never fails once started, finding
every string is one linear pass even in a body cut off inside a string."""
_GLUED_LITERAL = re.compile(rb"(?:null|true|false)\s*$")
_KEY_CONTEXT = re.compile(rb"[{,]\s*$")
_VALUE_START = re.compile(rb"^\s+(?=[\[{0-9tfn-])|^\s*$")
_TRAILING_COMMA = re.compile(rb",(?=\s*[}\]])")  # a lookahead: the replacement is a constant, no per-match template


def repair_refused(body: bytes) -> str | None:
    """Why ``body`` is not repaired (too large), or None when it may be."""
    if len(body) > MAX_REPAIR_BYTES:
        return f"not repaired: {len(body)} bytes is over the {MAX_REPAIR_BYTES}-byte repair limit"
    return None


def split_strings(body: bytes) -> list[bytes]:
    """``body`` as ``[gap, string, gap, ..., string, gap]``: the strings at odd indexes,
    the text between them at even ones; ``b"".join`` of the list is ``body`` again (one
    join after editing gaps keeps a repair linear, where ``+=`` on bytes is quadratic)."""
    return split_around(STRING, body)


def split_around(pattern: re.Pattern[bytes], body: bytes) -> list[bytes]:
    """``pattern.split`` with the matches kept at odd indexes, match by match: one
    ``split`` call holds the GIL for its whole run (about 100 ms per MB of short strings),
    while a loop over ``finditer`` lets the event loop's thread in between matches."""
    cuts = [0, *chain.from_iterable([m.span() for m in pattern.finditer(body)]), len(body)]
    return [body[a:b] for a, b in zip(cuts, cuts[1:])]


_STRINGS_AND_COMMENTS = re.compile(STRING.pattern + rb"|//[^\n]*", re.DOTALL)
"""Splits a body into text, strings and ``//`` comments (to the end of their line)."""


def _strip_comments(body: bytes) -> tuple[bytes, bool]:
    """Remove ``// ...`` to the end of the line, outside strings (one regex pass)."""
    if b"//" not in body:
        return body, False
    parts = split_around(_STRINGS_AND_COMMENTS, body)
    tokens = parts[1::2]
    kept = [b"" if t.startswith(b"//") else t for t in tokens]
    if kept == tokens:
        return body, False
    parts[1::2] = kept
    return b"".join(parts), True


_VALUE_END_BEFORE_NEWLINE = re.compile(rb"([0-9\]}]|true|false|null)([ \t\r]*\n\s*)$")
_ONLY_NEWLINE_SPACE = re.compile(rb"^[ \t\r]*\n\s*$")
_COLON_BEFORE = re.compile(rb":\s*$")


def _add_missing_commas(body: bytes) -> tuple[bytes, bool]:
    """Insert the comma missing between a value and the next key on a new line."""
    parts = split_strings(body)
    changed = False
    for i in range(2, len(parts) - 1, 2):
        gap = parts[i]  # the text between two strings
        if b"\n" not in gap:
            continue  # both slips end a line
        m = _VALUE_END_BEFORE_NEWLINE.search(gap)
        if m and b":" in gap:
            parts[i] = gap[: m.end(1)] + b"," + gap[m.end(1):]
            changed = True
        elif _ONLY_NEWLINE_SPACE.match(gap) and _COLON_BEFORE.search(parts[i - 2]):
            parts[i] = b"," + gap  # the previous string was a value
            changed = True
    return b"".join(parts), changed


_LITERAL_END = frozenset({b"l", b"e"})
_KEY_END = frozenset({b"{", b","})


def _candidates(parts: list[bytes]) -> list[int]:
    """The strings a repair may apply to, found with cheap tests: a literal may be glued
    to a string only when the gap before it ends in ``l``/``e`` (null, true, false), and a
    colon may be missing only after a key (the gap before ends in ``{``/``,``) whose gap
    after is empty or starts with a space. Most strings are neither."""
    tails = [g.rstrip()[-1:] for g in parts[0:-1:2]]
    return [
        i for i, (tail, after) in enumerate(zip(tails, parts[2::2]))
        if tail in _LITERAL_END or (tail in _KEY_END and (not after or after[:1].isspace()))
    ]


def repair_json(body: bytes) -> tuple[bytes, list[str]]:
    """Return the repaired body and the names of the repairs applied (empty: none).

    A body :func:`repair_refused` refuses raises :class:`SkippableError` with the reason
    (callers that want the strict decoder's reason beside it check first).
    """
    refused = repair_refused(body)
    if refused is not None:
        raise SkippableError(refused)
    applied: set[str] = set()
    body, changed = _strip_comments(body)
    if changed:
        applied.add("comments")
    body, changed = _add_missing_commas(body)
    if changed:
        applied.add("missing-comma")
    parts = split_strings(body)
    count = len(parts) // 2  # strings; the gap before string i is parts[2 * i], after it parts[2 * i + 2]
    for i in _candidates(parts):
        before, after = parts[2 * i], parts[2 * i + 2]
        glued = _GLUED_LITERAL.search(before)
        if glued and not _KEY_CONTEXT.search(before[: glued.start()]) and before[: glued.start()].rstrip().endswith(b":"):
            parts[2 * i] = before[: glued.start()]
            applied.add("literal-glued-to-string")
            before = parts[2 * i]
        is_key = _KEY_CONTEXT.search(before) is not None
        next_is_string = i + 1 < count
        if is_key and b":" not in after.split(b",")[0] and _VALUE_START.search(after) and (
            after.strip() or next_is_string
        ):
            parts[2 * i + 2] = b": " + after.lstrip()
            applied.add("missing-colon")
    out, n = _TRAILING_COMMA.subn(b"", b"".join(parts))
    if n:
        applied.add("trailing-comma")
    return out, [a for a in REPAIRS if a in applied]
