"""Oversized vendor strings are cut with a marker that says how much went."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.contract.events import Presence
from streamer.track.cut import cut_strings, cut_text


def test_a_long_string_keeps_its_head_and_says_how_much_was_cut() -> None:
    out = cut_text("x" * 120_000, 1000)
    assert len(out.encode()) <= 1000
    assert out.endswith(f"…[cut {120_000 - out.index('…')} bytes]") and out.startswith("x" * 900)


def test_short_strings_and_untouched_containers_are_returned_as_they_are() -> None:
    value = {"name": "Lunch", "raw": {"a": ["b", 1]}}
    assert cut_strings(value, 100) is value
    p = Presence(name="Away", category="Away")
    assert cut_strings(p, 100) is p


def test_structs_dicts_and_lists_are_walked() -> None:
    big = "r" * 5000
    p = Presence(name="Away", category="Away", reason=big, raw={"reason": big, "codes": [big, "ok"]})
    out = cut_strings(p, 256)
    assert out.name == "Away" and len(out.reason.encode()) <= 256 and out.reason.endswith("bytes]")
    assert out.raw["reason"] == out.reason and out.raw["codes"][1] == "ok"
    assert p.reason == big  # the original is not changed


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=40, max_value=4000))
def test_the_cut_never_exceeds_the_limit_and_keeps_a_prefix(s: str, limit: int) -> None:
    out = cut_text(s, limit)
    if len(s.encode()) <= limit:
        assert out == s
    else:
        head = out[: out.rindex("…[cut ")]
        assert s.startswith(head) and len(out.encode()) <= limit
        removed = int(out[out.rindex("…[cut ") + 6:].split()[0])
        assert removed == len(s.encode()) - len(head.encode())


_FLAT = st.dictionaries(st.sampled_from(["name", "reason", "raw", "code"]),
                        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=120)))


@given(_FLAT, st.integers(min_value=40, max_value=200))
def test_a_flat_dict_is_cut_value_by_value(value: dict[str, object], limit: int) -> None:
    """The flat-dict shortcut (the usual vendor value) cuts exactly what the walk would."""
    out = cut_strings(value, limit)
    assert out == {k: cut_text(v, limit) if isinstance(v, str) else v for k, v in value.items()}
    if all(not isinstance(v, str) or len(v.encode()) <= limit for v in value.values()):
        assert out is value


def test_a_flat_dict_with_one_long_string_is_cut() -> None:
    value = {"name": "Away", "reason": "é" * 40, "eligible": False}  # 80 bytes in 40 characters
    out = cut_strings(value, 64)
    assert out["reason"].endswith("bytes]") and len(out["reason"].encode()) <= 64 and value["reason"] == "é" * 40
