"""History-window planning and de-duplication (property-based)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.track.window import MAX_WINDOW_MS, Cursor, LookbackSchedule, Window, WindowState, plan_windows

DAY = 24 * 3600 * 1000
ms = st.integers(0, 200 * DAY)


@given(ms, ms, st.integers(0, 40 * DAY), st.integers(0, 10_000))
def test_plan_covers_range_contiguously(cursor_ms: int, now_ms: int, lookback: int, lag: int) -> None:
    windows = plan_windows(Cursor(cursor_ms, "k"), now_ms, lookback_ms=lookback, safety_lag_ms=lag)
    end = now_ms - lag
    if end <= cursor_ms:
        assert windows == []
        return
    assert windows, "something new to read"
    assert windows[0].start_ms == max(0, cursor_ms - lookback)
    assert windows[-1].end_ms == end
    for w in windows:
        assert 0 < w.end_ms - w.start_ms <= MAX_WINDOW_MS
    for a, b in zip(windows, windows[1:]):
        assert a.end_ms == b.start_ms


@given(ms, ms, st.integers(DAY // 10, 5 * DAY))
def test_plan_honours_custom_max(cursor_ms: int, now_ms: int, max_ms: int) -> None:
    windows = plan_windows(Cursor(cursor_ms), now_ms, lookback_ms=0, safety_lag_ms=0, max_window_ms=max_ms)
    assert all(w.end_ms - w.start_ms <= max_ms for w in windows)
    # only the last window may be shorter than the maximum
    assert all(w.end_ms - w.start_ms == max_ms for w in windows[:-1])


def test_plan_splits_at_31_days() -> None:
    windows = plan_windows(Cursor(0), 70 * DAY, lookback_ms=0, safety_lag_ms=0)
    assert windows == [Window(0, 31 * DAY), Window(31 * DAY, 62 * DAY), Window(62 * DAY, 70 * DAY)]


@given(ms, st.integers(-DAY, 40 * DAY), st.integers(0, 2 * DAY), st.integers(0, 10_000), st.integers(DAY // 20, 2 * DAY))
def test_plan_caps_how_far_each_window_moves_the_cursor(
    cursor_ms: int, ahead: int, lookback: int, lag: int, span: int
) -> None:
    now_ms = cursor_ms + ahead
    windows = plan_windows(Cursor(cursor_ms), now_ms, lookback_ms=lookback, safety_lag_ms=lag, max_span_ms=span)
    uncapped = plan_windows(Cursor(cursor_ms), now_ms, lookback_ms=lookback, safety_lag_ms=lag)
    if not uncapped:
        assert windows == []
        return
    # the same range, contiguous, in windows that each move the cursor at most ``span``
    assert windows[0].start_ms == uncapped[0].start_ms and windows[-1].end_ms == uncapped[-1].end_ms
    for a, b in zip(windows, windows[1:]):
        assert a.end_ms == b.start_ms
    reached = cursor_ms
    for w in windows:
        assert w.end_ms - max(reached, w.start_ms) <= span
        assert w.end_ms - w.start_ms <= MAX_WINDOW_MS
        reached = w.end_ms
    assert len(windows) <= len(uncapped) + (windows[-1].end_ms - cursor_ms) // span + 1


def test_an_hour_behind_is_caught_up_in_five_minute_steps() -> None:
    minute = 60_000
    windows = plan_windows(Cursor(0 + 10 * minute), 70 * minute + 2000, lookback_ms=minute, safety_lag_ms=2000,
                           max_span_ms=5 * minute)
    assert windows[0] == Window(9 * minute, 15 * minute)  # the lookback, then five minutes past the cursor
    assert [w.end_ms - w.start_ms for w in windows[1:]] == [5 * minute] * 11
    assert windows[-1].end_ms == 70 * minute


def test_plan_refuses_a_span_that_never_moves() -> None:
    with pytest.raises(ValueError, match="max_span_ms"):
        plan_windows(Cursor(0), DAY, lookback_ms=0, safety_lag_ms=0, max_span_ms=0)


def test_plan_nothing_when_lag_reaches_cursor() -> None:
    assert plan_windows(Cursor(1000), 3000, lookback_ms=500, safety_lag_ms=2000) == []
    assert plan_windows(Cursor(1000), 3001, lookback_ms=500, safety_lag_ms=2000) == [Window(500, 1001)]


cursors = st.builds(Cursor, ms, st.text(max_size=2))


@given(cursors, st.lists(cursors, max_size=10), st.integers(0, 10 * DAY))
def test_close_never_moves_cursor_back(start: Cursor, ends: list[Cursor], lookback: int) -> None:
    state = WindowState(start)
    for end in ends:
        before = state.cursor
        state = state.close(end, lookback_ms=lookback)
        assert state.cursor >= before
        assert state.cursor == max(before, end)


def test_cursor_is_composite() -> None:
    assert Cursor(5, "b") > Cursor(5, "a") > Cursor(4, "z")
    state = WindowState(Cursor(5, "b")).close(Cursor(5, "a"), lookback_ms=0)
    assert state.cursor == Cursor(5, "b")


items_st = st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 1000)), max_size=20)


@given(items_st, st.integers(0, 20), st.integers(0, 20))
def test_overlapping_windows_yield_no_new_items(items: list[tuple[str, int]], cut1: int, cut2: int) -> None:
    """Reading [0, cut2) after [0, cut1) (overlap) admits each id exactly once overall."""
    rows = [(i, t, (i, t)) for i, t in items]
    state = WindowState(Cursor(0))
    first, state = state.admit(rows[:cut1])
    state = state.close(Cursor(1000), lookback_ms=10_000)
    second, state = state.admit(rows[: max(cut1, cut2)])
    again, state = state.admit(rows)
    third, state = state.admit(rows)
    got = first + second + again + third
    ids = [x[0] for x in got]
    assert len(ids) == len(set(ids))
    assert set(ids) == {i for i, _ in items}
    assert third == []
    # the first occurrence wins and input order is kept
    firsts: dict[str, tuple[str, int]] = {}
    for i, t in items:
        firsts.setdefault(i, (i, t))
    assert sorted(got) == sorted(firsts.values())


def test_admit_keeps_input_order_and_does_not_move_cursor() -> None:
    state = WindowState(Cursor(10))
    fresh, new = state.admit([("b", 3, "B"), ("a", 1, "A"), ("b", 3, "B2")])
    assert fresh == ["B", "A"]
    assert new.cursor == Cursor(10)
    assert state.seen == {}  # immutable
    assert list(new.seen.items()) == [("b", 3), ("a", 1)]


@given(st.lists(st.tuples(st.text(max_size=3), st.integers(0, 10_000)), max_size=30), st.integers(0, 20_000), st.integers(0, 3000))
def test_prune_keeps_ids_within_lookback(items: list[tuple[str, int]], end_ms: int, lookback: int) -> None:
    _, state = WindowState(Cursor(0)).admit((i, t, None) for i, t in items)
    closed = state.close(Cursor(end_ms), lookback_ms=lookback)
    horizon = closed.cursor.ts_ms - lookback
    for i, t in state.seen.items():
        if t >= horizon:
            assert i in closed.seen  # anything a re-read of the lookback can return is remembered
    # forgotten in batches: at most a quarter of the lookback past twice the lookback
    assert all(t >= closed.cursor.ts_ms - 2 * lookback - lookback // 4 for t in closed.seen.values())
    assert closed.oldest_ms == min(closed.seen.values(), default=2**63)


def test_pruned_ids_outside_lookback_are_forgotten() -> None:
    _, state = WindowState(Cursor(0)).admit([("old", 0, None), ("new", 9_000, None)])
    closed = state.close(Cursor(10_000), lookback_ms=1000)
    assert list(closed.seen) == ["new"]
    fresh, _ = closed.admit([("new", 9_000, "x"), ("other", 9_500, "y")])
    assert fresh == ["y"]


def test_ids_are_forgotten_in_batches_and_a_lingering_id_is_still_dropped() -> None:
    """Forgetting reads every id, so a close forgets only once the oldest is a quarter of
    the lookback past the horizon; until then the memory is not copied, and what lingers
    is a row admitted before, so a re-read of it is dropped, not marked."""
    _, state = WindowState.resumed(Cursor(0), 0).admit([("a", 1_000, None), ("b", 5_000, None)])
    closed = state.close(Cursor(9_500), lookback_ms=4_000)  # horizon 1_500, "a" 500 past it
    assert closed.seen is state.seen and closed.known_from_ms == 1_500
    kept, _ = closed.sort_out([("a", 1_000, 1_000, "A"), ("c", 1_000, 1_000, "C")])
    assert kept == [("C", True)]  # "a" lingers: dropped; "c" is before what is known: marked
    closed = closed.close(Cursor(10_001), lookback_ms=4_000)  # "a" 1_001 past the horizon of 2_001
    assert list(closed.seen) == ["b"] and closed.oldest_ms == 5_000
    kept, _ = closed.sort_out([("a", 1_000, 1_000, "A")])
    assert kept == [("A", True)]


def test_a_memory_given_without_its_oldest_time_is_forgotten_by_the_next_close() -> None:
    closed = WindowState(Cursor(0), {"old": 1_000, "new": 9_500}).close(Cursor(10_000), lookback_ms=1_000)
    assert list(closed.seen) == ["new"] and closed.oldest_ms == 9_500


def test_a_state_that_admits_leaves_the_state_before_as_it_was() -> None:
    """A poll that fails after sorting its rows out keeps the state before: its rows are
    sorted out again by the next poll, not dropped as seen."""
    _, before = WindowState(Cursor(0)).admit([("a", 1, None)])
    kept, after = before.sort_out([("a", 1, 1, "A"), ("b", 2, 2, "B")])
    assert kept == [("B", False)] and list(after.seen) == ["a", "b"]
    assert list(before.seen) == ["a"] and before.oldest_ms == 1
    assert before.sort_out([("b", 2, 2, "B")])[0] == [("B", False)]
    kept, same = after.sort_out([("b", 2, 2, "B")])
    assert kept == [] and same is after  # nothing new: nothing copied


def test_what_the_memory_cannot_vouch_for_is_a_reread() -> None:
    state = WindowState.resumed(Cursor(10_000), 10_000)  # a start: the cursor as checkpointed
    kept, state = state.sort_out([("old", 9_000, 9_000, "A"), ("new", 10_000, 10_000, "B"),
                                  ("long", 2_000, 10_500, "C")])  # a row found by its end, started long ago
    assert kept == [("A", True), ("B", False), ("C", True)]
    assert WindowState.resumed(Cursor(10_000), None).known_from_ms == 0  # a first run: nothing is on Kafka
    state = state.close(Cursor(20_000), lookback_ms=4_000)  # forgets ids found before 12_000
    assert state.known_from_ms == 12_000 and list(state.seen) == []
    kept, state = state.sort_out([("long", 2_000, 10_500, "C"), ("x", 12_000, 13_000, "D")])
    assert kept == [("C", True), ("D", False)]
    kept, _ = state.sort_out([("x", 12_000, 25_000, "D")])  # remembered: not kept at all
    assert kept == []


@given(st.lists(st.tuples(st.text("abc", max_size=2), st.integers(0, 10_000), st.integers(0, 3_000)), max_size=30),
       st.lists(st.integers(0, 5_000), min_size=1, max_size=6), st.integers(0, 2_000))
def test_an_id_not_remembered_and_not_marked_was_never_admitted(
    items: list[tuple[str, int, int]], ends: list[int], lookback: int
) -> None:
    """The invariant behind the marking: whatever was admitted and is no longer in
    ``seen`` comes back as a re-read, however the windows closed in between."""
    state = WindowState.resumed(Cursor(0), 0)
    admitted: set[str] = set()
    end = 0
    for step in ends:
        kept, state = state.sort_out((i, first, first + length, i) for i, first, length in items)
        for i, again in kept:
            assert i not in admitted or again
            admitted.add(i)
        end += step
        state = state.close(Cursor(end), lookback_ms=lookback)


# --- LookbackSchedule ------------------------------------------------------------------

@settings(max_examples=200)
@given(rnd=st.randoms(use_true_random=False), every=st.sampled_from([0, 4_000, 10_000, 25_000]))
def test_a_schedule_of_short_reads_misses_nothing_that_reading_the_whole_lookback_every_time_reads(
    rnd: random.Random, every: int
) -> None:
    """The same reads (times, cursors) planned both ways, with polls that stretch, upTo
    holding the cursor back and restarts: every row (vendor time ``t``, visible from wall
    time ``t + delay``) that some read from ``cursor - lookback`` sees, some read of the
    schedule sees too. (Mutations of :meth:`LookbackSchedule.plan`, such as a full read from
    ``cursor - lookback`` or no extra reach after a restart, fail this.)"""
    lookback, lag = 60_000, 2_000
    rows = [(rnd.randint(40_000, 700_000), rnd.randint(0, 70_000)) for _ in range(300)]
    schedule = LookbackSchedule(lookback, every, short_ms=lag)
    cursor = wall = 100_000
    plain: set[int] = set()
    scheduled: set[int] = set()

    def seen_by(start: int, end: int) -> set[int]:
        return {i for i, (t, delay) in enumerate(rows) if start <= t < end and t + delay <= wall}

    for last in [False] * 40 + [True]:
        wall += 200_000 if last else rnd.choice([2_000, 2_000, 2_000, rnd.randint(500, 30_000)])
        if rnd.random() < 0.05:
            schedule.forget()  # a restart, or a reset: only the checkpointed cursor is known
        end = wall - lag
        if end <= cursor:
            continue
        plain |= seen_by(cursor - lookback, end)
        start, full = schedule.plan(cursor, end)
        assert start <= cursor
        scheduled |= seen_by(start, end)
        cursor = max(cursor, end - rnd.choice([0, 0, rnd.randint(0, 3_000)]))  # upTo short of the end
        schedule.done(full, cursor)
    assert plain <= scheduled, sorted(plain - scheduled)


def test_a_schedule_reads_the_whole_lookback_once_per_every_and_a_short_overlap_between() -> None:
    schedule = LookbackSchedule(60_000, 10_000, short_ms=2_000)
    cursor, starts = 1_000_000, []
    for _ in range(12):  # a read every 2 s
        end = cursor + 2_000
        start, full = schedule.plan(cursor, end)
        starts.append((cursor - start, full))
        cursor = end
        schedule.done(full, cursor)
    assert starts[0] == (70_000, True)  # first read (after a start): lookback + every
    assert starts[1:6] == [(2_000, False)] * 5
    assert starts[6] == (70_000, True)  # lookback before the previous full read's end, 10 s back
    assert [full for _, full in starts].count(True) == 2
    assert LookbackSchedule(60_000, 0, 2_000).plan(cursor, cursor + 2_000) == (cursor - 60_000, True)
