"""Canonical timestamp formatting: the fast millisecond formatter matches the datetime one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.timeutil import format_ms, format_ts, from_ms, parse_ts, to_ms

YEAR_1970_TO_9999 = st.integers(0, 253_402_300_799_999)


@given(YEAR_1970_TO_9999)
def test_format_ms_is_format_ts_of_from_ms(ms: int) -> None:
    assert format_ms(ms) == format_ts(from_ms(ms))


@given(YEAR_1970_TO_9999)
def test_format_ms_round_trips(ms: int) -> None:
    assert to_ms(parse_ts(format_ms(ms))) == ms
