"""fold_key: names compared without case, ``_``, ``-`` or spaces; remembered, within a bound."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.http import tolerant
from streamer.http.tolerant import fold_key


@given(st.text(alphabet=st.sampled_from("aZ_- é1Iİ"), max_size=12))
def test_fold_key_drops_separators_and_case(name: str) -> None:
    assert fold_key(name) == name.replace("_", "").replace("-", "").replace(" ", "").lower()
    assert fold_key(name) == fold_key(name)  # remembered or not, the same


def test_fold_key_remembers_a_bounded_number_of_names() -> None:
    first = fold_key("initiating_Agent-Id")
    assert first == "initiatingagentid" and fold_key("initiating_Agent-Id") is first
    for i in range(3 * tolerant.FOLDED_KEPT):
        assert fold_key(f"Key_{i}") == f"key{i}"
    assert fold_key.cache_info().currsize <= tolerant.FOLDED_KEPT
