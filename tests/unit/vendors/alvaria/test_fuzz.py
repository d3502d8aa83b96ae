"""Fuzzing every Alvaria endpoint model: any body gives rows, dead-letterable BadRecords,
or a SkippableError carrying the raw body; never a crash."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.errors import SkippableError
from streamer.http.tolerant import BadRecord
from streamer.vendors.alvaria.models import (
    ChannelActivityRow,
    PresenceUser,
    TeamActivityRow,
    UserActivityRow,
    decode_list_activity,
    decode_rows,
)
from tests import paths

FIXTURES = paths.FIXTURES / "alvaria"
DECODERS: dict[str, Callable[[bytes], Any]] = {
    "user_activity": lambda b: decode_rows(b, UserActivityRow),
    "team_activity": lambda b: decode_rows(b, TeamActivityRow),
    "channel_activity": lambda b: decode_rows(b, ChannelActivityRow),
    "presence_users": lambda b: decode_rows(b, PresenceUser),
    "list_activity": decode_list_activity,
}
SEEDS = [(FIXTURES / f"{name}.json").read_bytes() for name in DECODERS]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


def check(decode: Callable[[bytes], Any], body: bytes) -> None:
    try:
        rows = decode(body)
    except SkippableError as e:
        assert str(e) and e.raw == body
        return
    for item in rows.items:
        assert isinstance(item, (msgspec.Struct, BadRecord))
        if isinstance(item, BadRecord):
            assert item.raw and item.reason


@pytest.mark.parametrize("name", DECODERS)
@given(body=st.binary(max_size=400))
def test_random_bytes(name: str, body: bytes) -> None:
    check(DECODERS[name], body)


@pytest.mark.parametrize("name", DECODERS)
@given(rows=st.lists(json_values, max_size=5), total=json_values)
def test_random_json_in_the_envelope(name: str, rows: list[Any], total: Any) -> None:
    check(DECODERS[name], msgspec.json.encode({"kind": "x", "totalItems": total, "rows": rows}))


@pytest.mark.parametrize("name", DECODERS)
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 3000), junk=st.binary(max_size=8), at=st.integers(0, 3000))
def test_mutated_real_bodies(name: str, seed: bytes, cut: int, junk: bytes, at: int) -> None:
    body = seed[: cut % (len(seed) + 1)]
    pos = at % (len(body) + 1)
    check(DECODERS[name], body[:pos] + junk + body[pos:])


@pytest.mark.parametrize("name", DECODERS)
def test_invalid_utf8_in_an_envelope_field_is_not_a_crash(name: str) -> None:
    """Found by `make soak`: a bad byte inside `kind` escaped as UnicodeDecodeError."""
    check(DECODERS[name], b'{"kind": "\x80", "totalItems": "\x80", "rows": [], "users": []}')
