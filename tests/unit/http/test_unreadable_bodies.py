"""Invalid UTF-8 is unreadable input, whatever the msgspec version and whatever the path.

msgspec 0.18 raises ``UnicodeDecodeError`` for invalid UTF-8 in a string; 0.23 raises
``DecodeError`` from a generic decode and ``ValidationError`` from a typed one. Every
vendor decoder must turn all of them into a dead-letterable ``BadRecord`` or a
``SkippableError``. Each seed body below is corrupted inside every one of its strings
(keys and values, items, envelopes, ``upTo``, ``meta``), and also after a JSON slip that
only the repair path reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from streamer.errors import SkippableError
from streamer.http.tolerant import BadRecord
from streamer.vendors.alvaria import models as alvaria
from streamer.vendors.sinch.common import decode_rows as sinch_decode_rows
from streamer.vendors.sinch.rai import models as rai
from streamer.vendors.sinch.rmi import models as rmi
from streamer.vendors.vonage import models as vonage
from tests import paths

FIXTURES = paths.FIXTURES
INVALID = [b"\xff", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"]
"""A byte never valid in UTF-8, a lone continuation, a cut sequence, a surrogate, > U+10FFFF."""


def _sinch(name: str) -> bytes:
    raw = (FIXTURES / "sinch" / f"{name}.verbatim.txt").read_bytes()
    return raw if raw.lstrip().startswith(b"[") else b"[" + raw + b"]"


def _vonage_page(model: Any) -> Callable[[bytes], Any]:
    return lambda body: vonage.decode_page(body, model).items


CASES: list[tuple[str, bytes, Callable[[bytes], Any]]] = [
    ("vonage/activities", (FIXTURES / "vonage/agent_activities_seed.json").read_bytes(),
     _vonage_page(vonage.Activity)),
    ("vonage/status", (FIXTURES / "vonage/agent_status_faq.json").read_bytes(),
     _vonage_page(vonage.AgentStatus)),
    ("vonage/interactions", b'{"meta": {"page": 1, "count": 1, "pageCount": 1, "totalCount": 1}, "items": ['
     + (FIXTURES / "vonage/interaction_faq_transfer.json").read_bytes() + b'], "upTo": "2019-12-19T16:00:00Z"}',
     _vonage_page(vonage.Interaction)),
    ("alvaria/user", (FIXTURES / "alvaria/user_activity.json").read_bytes(),
     lambda b: alvaria.decode_rows(b, alvaria.UserActivityRow).items),
    ("alvaria/list", (FIXTURES / "alvaria/list_activity.json").read_bytes(),
     lambda b: alvaria.decode_list_activity(b).items),
    ("alvaria/presence", (FIXTURES / "alvaria/presence_users.json").read_bytes(),
     lambda b: alvaria.decode_rows(b, alvaria.PresenceUser, key="users").items),
    ("rai/agentStatusHistory", _sinch("rai/agent_status_history"),
     lambda b: sinch_decode_rows(b, rai.AgentStatusHistoryRow)),
    ("rai/agentStatus", _sinch("rai/agent_status"), lambda b: sinch_decode_rows(b, rai.AgentStatusRow)),
    ("rmi/agents", _sinch("rmi/agents"), lambda b: sinch_decode_rows(b, rmi.Agent)),
    ("rmi/contacts", _sinch("rmi/contacts"), lambda b: sinch_decode_rows(b, rmi.Contact)),
    ("rmi/queueStatuses", _sinch("rmi/queue_statuses"), lambda b: sinch_decode_rows(b, rmi.QueueStatus)),
]

_STRING = re.compile(rb'"([^"\\\n]{2,})"')


def _corruptions(body: bytes) -> list[bytes]:
    """``body`` with one invalid sequence inside each of its strings in turn."""
    out = []
    for n, m in enumerate(_STRING.finditer(body)):
        junk = INVALID[n % len(INVALID)]
        at = m.start(1) + 1
        out.append(body[:at] + junk + body[at:])
    return out


def _slipped(body: bytes) -> bytes:
    """A JSON slip the repair path reads (a trailing comma before the last bracket)."""
    end = body.rstrip().rfind(b"]")
    return body[:end] + b"," + body[end:] if end > 0 else body


def _assert_refused_or_bad_records(decode: Callable[[bytes], Any], body: bytes) -> None:
    try:
        items = decode(body)
    except SkippableError as exc:
        assert str(exc)
        return
    for item in items:
        if isinstance(item, BadRecord):
            assert item.raw and item.reason


@pytest.mark.parametrize(("name", "seed", "decode"), CASES, ids=[c[0] for c in CASES])
def test_invalid_utf8_anywhere_is_refused_not_a_crash(name: str, seed: bytes, decode: Callable[[bytes], Any]) -> None:
    bodies = _corruptions(seed)
    assert len(bodies) >= 3, f"{name}: the seed has too few strings to corrupt"
    for body in bodies:
        _assert_refused_or_bad_records(decode, body)


@pytest.mark.parametrize(("name", "seed", "decode"), CASES, ids=[c[0] for c in CASES])
def test_invalid_utf8_in_a_repaired_body_is_refused_not_a_crash(
    name: str, seed: bytes, decode: Callable[[bytes], Any]
) -> None:
    for body in _corruptions(_slipped(seed)):
        _assert_refused_or_bad_records(decode, body)


@pytest.mark.parametrize(
    ("name", "field"), [("vonage/activities", b'"agentId"'), ("rai/agentStatusHistory", b'"userId"')]
)
def test_a_corrupted_row_costs_only_itself(name: str, field: bytes) -> None:
    """Invalid UTF-8 in one row's value dead-letters that row; the others are read."""
    _, seed, decode = next(c for c in CASES if c[0] == name)
    clean = decode(seed)
    at = seed.index(b'"', seed.index(field) + len(field)) + 1
    items = decode(seed[:at] + b"\xff" + seed[at:])
    assert len(items) == len(clean) > 1
    assert isinstance(items[0], BadRecord) and b"\xff" in items[0].raw
    assert not any(isinstance(i, BadRecord) for i in items[1:])
