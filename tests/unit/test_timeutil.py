"""Canonical timestamp formatting: the fast millisecond formatter matches the datetime one."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from streamer import timeutil
from streamer.timeutil import _format_slow, format_ms, format_ts, from_ms, parse_ts, to_ms

YEAR_1970_TO_9999 = st.integers(0, 253_402_300_799_999)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 30)),
       st.integers(-18 * 60, 18 * 60))
def test_format_ts_fast_path_is_the_strftime_one(naive: datetime, offset_min: int) -> None:
    dt = naive.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    assert format_ts(dt) == _format_slow(dt)


@given(YEAR_1970_TO_9999)
def test_format_ms_is_format_ts_of_from_ms(ms: int) -> None:
    assert format_ms(ms) == format_ts(from_ms(ms))


@given(st.integers(-62_135_596_800_000, -1))  # year 1 to 1969: drafts format any vendor time with it
def test_format_ms_before_1970_is_format_ts_of_from_ms(ms: int) -> None:
    assert format_ms(ms) == format_ts(from_ms(ms))


def test_format_ms_remembers_a_bounded_number_of_results() -> None:
    first = format_ms(1_795_251_600_123)
    assert format_ms(1_795_251_600_123) is first  # remembered, not formatted again
    for ms in range(3 * timeutil.FORMATTED_KEPT):
        assert format_ms(ms) == format_ts(from_ms(ms))
        assert len(timeutil._FORMATTED) <= timeutil.FORMATTED_KEPT


@given(YEAR_1970_TO_9999)
def test_format_ms_round_trips(ms: int) -> None:
    assert to_ms(parse_ts(format_ms(ms))) == ms
