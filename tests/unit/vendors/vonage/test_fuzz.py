"""Fuzzing every Vonage endpoint model: whatever the body, decoding returns items and
dead-letterable BadRecords or raises SkippableError; it never crashes or hangs."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.errors import SkippableError
from streamer.http.tolerant import BadRecord, decode_documented_items, decode_items
from streamer.vendors.vonage.models import Activity, AgentStatus, Interaction, decode_envelope, decode_page
from tests import paths

FIXTURES = paths.FIXTURES / "vonage"
MODELS = [Activity, AgentStatus, Interaction]
SEEDS = [
    (FIXTURES / "agent_activities_seed.json").read_bytes(),
    (FIXTURES / "agent_status_faq.json").read_bytes(),
    b'{"meta": {"page": 1, "count": 1, "pageCount": 1, "totalCount": 1}, "items": ['
    + (FIXTURES / "interaction_faq_transfer.json").read_bytes() + b'], "upTo": null}',
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30,
)


def check(body: bytes, model: Any) -> None:
    try:
        page = decode_page(body, model)
    except SkippableError as e:
        assert str(e)
        return
    for item in page.items:
        assert isinstance(item, (model, BadRecord))
        if isinstance(item, BadRecord):
            assert item.raw and item.reason


@pytest.mark.parametrize("model", MODELS)
@given(body=st.binary(max_size=400))
def test_random_bytes(model: Any, body: bytes) -> None:
    check(body, model)


@pytest.mark.parametrize("model", MODELS)
@given(items=st.lists(json_values, max_size=5), up_to=json_values)
def test_random_json_in_the_envelope(model: Any, items: list[Any], up_to: Any) -> None:
    check(msgspec.json.encode({"meta": {"page": 1, "pageCount": 1}, "items": items, "upTo": up_to}), model)


@pytest.mark.parametrize("model", MODELS)
@given(seed=st.sampled_from(SEEDS), cut=st.integers(0, 4000), junk=st.binary(max_size=8), at=st.integers(0, 4000))
def test_mutated_real_bodies(model: Any, seed: bytes, cut: int, junk: bytes, at: int) -> None:
    body = seed[: cut % (len(seed) + 1)]
    pos = at % (len(body) + 1)
    check(body[:pos] + junk + body[pos:], model)


@pytest.mark.parametrize("model", MODELS)
def test_deeply_nested_json_is_refused_not_a_crash(model: Any) -> None:
    deep = b'{"items": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    check(deep, model)


@pytest.mark.parametrize("model", MODELS)
def test_invalid_utf8_is_refused_not_a_crash(model: Any) -> None:
    check(b'{"items": [{"agentId": "\xff\xfe"}], "upTo": null}', model)


@pytest.mark.parametrize("model", MODELS)
def test_invalid_utf8_in_upto_is_refused_not_a_crash(model: Any) -> None:
    check(b'{"meta": {"page": 1, "pageCount": 1}, "items": [], "upTo": "\x80"}', model)


def _seed_items(model: Any) -> list[bytes]:
    """The seeds' items that are as documented for ``model`` (a strict decode reads them)."""
    def documented(raw: bytes) -> bool:
        try:
            msgspec.json.decode(raw, type=model)
        except msgspec.DecodeError:
            return False
        return True

    return [raw for seed in SEEDS for r in decode_envelope(seed).raws if documented(raw := bytes(r))]


@pytest.mark.parametrize("model", MODELS)
@given(data=st.data())
def test_items_read_in_one_call_read_as_one_by_one(model: Any, data: st.DataObject) -> None:
    """The client decodes a page's rows in one call when they are all as documented
    (decode_documented_items) and one by one otherwise (decode_items): where the first
    answers, both must say the same."""
    documented = _seed_items(model)
    pool = st.sampled_from(documented) if documented else st.nothing()
    rows = data.draw(st.lists(pool | json_values.map(msgspec.json.encode), max_size=6))
    raws = [msgspec.Raw(r) for r in rows]
    one_call = decode_documented_items(raws, model)
    assert one_call is None or one_call == decode_items(raws, model)
    if documented and all(r in documented for r in rows):
        assert one_call is not None
