"""Sealed entities: kept packed, taken back, forgotten exactly as the ledger would forget them."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamer.track.sealed as sealed_module
from streamer.track.ledger import Ledger, decode_entity
from streamer.track.sealed import Sealed


def _entries(n: int, seen: int = 100) -> list[tuple[str, int, bytes]]:
    return [(f"interaction/{i}", seen + i, f"frozen-{i}".encode()) for i in range(n)]


def test_a_sealed_entity_is_taken_back_once() -> None:
    s = Sealed()
    s.seal(_entries(50))
    assert len(s) == 50 and "interaction/7" in s and "interaction/50" not in s
    assert s.take("interaction/7") == (107, b"frozen-7")
    assert s.take("interaction/7") is None and "interaction/7" not in s and len(s) == 49
    assert sorted(s.keys()) == sorted(k for k, _, _ in _entries(50) if k != "interaction/7")


def test_a_key_taken_back_and_sealed_again_is_found_in_its_new_segment() -> None:
    s = Sealed()
    s.seal(_entries(3))
    assert s.take("interaction/1") == (101, b"frozen-1")
    s.seal([("interaction/1", 500, b"newer")])
    assert s.take("interaction/1") == (500, b"newer")
    assert s.expire(10_000, ("interaction/",)) == ["interaction/0", "interaction/2"]
    assert len(s) == 0 and s.segments() == 0


def test_keys_of_the_same_hash_are_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed_module, "_hash", lambda key: 42)
    s = Sealed()
    s.seal(_entries(5)[:3])
    s.seal(_entries(5)[3:])
    assert "interaction/9" not in s
    for i in (4, 0, 3, 2, 1):
        assert s.take(f"interaction/{i}") == (100 + i, f"frozen-{i}".encode())
    assert len(s) == 0 and s.segments() == 0


def test_a_key_sealed_again_beside_others_of_its_hash_is_read_from_its_new_segment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealed_module, "_hash", lambda key: 42)
    s = Sealed()
    s.seal([("interaction/a", 1, b"a"), ("interaction/b", 2, b"b")])
    assert s.take("interaction/a") == (1, b"a")
    s.seal([("interaction/a", 3, b"newer")])
    assert s.take("interaction/a") == (3, b"newer")
    assert s.take("interaction/b") == (2, b"b") and len(s) == 0


def test_expire_forgets_only_what_is_older_than_the_floor_under_the_prefixes() -> None:
    s = Sealed()
    s.seal([("interaction/a", 10, b"a"), ("stats/b", 10, b"b"), ("interaction/c", 30, b"c")])
    s.seal([("interaction/d", 50, b"d")])
    s.seal([("interaction/x", 5, b"x"), ("interaction/y", 10, b"y")])
    assert s.expire(10, ("interaction/",)) == ["interaction/x"]  # y, seen at the floor itself, is kept (as the ledger keeps it)
    assert s.take("interaction/y") == (10, b"y") and len(s) == 4
    assert s.expire(20, ("interaction/",)) == ["interaction/a"]
    assert sorted(s.keys()) == ["interaction/c", "interaction/d", "stats/b"]
    assert s.take("interaction/c") == (30, b"c") and s.take("stats/b") == (10, b"b")
    assert s.expire(51, ("interaction/", "stats/")) == ["interaction/d"]
    assert len(s) == 0


_ENTITIES = ["agent/01", "interaction/1", "interaction/2", "interaction/3", "stats/q1"]
_ops = st.lists(
    st.tuples(
        st.sampled_from(["admit", "admit", "again", "keep_alive", "touch", "replay"]),
        st.sampled_from(_ENTITIES),
        st.sampled_from(["presence", "lifecycle", "agent/01"]),
        st.sampled_from(["e1", "e2", "e3", "e4"]),
        st.integers(0, 40),  # since
        st.integers(0, 8),  # time passing before the step
        st.booleans(),  # commit after it
        st.booleans(),  # prune after it (sealing what is quiet)
    ),
    max_size=60,
)


@settings(max_examples=500)
@given(_ops)
def test_a_ledger_that_seals_answers_as_one_that_never_does(ops: list[tuple[str, str, str, str, int, int, bool, bool]]) -> None:
    """Whatever is presented, kept alive, replayed, pruned and committed, and whenever
    entities are sealed in between, every answer and every state record is the one a
    ledger that never seals gives."""
    plain = Ledger(seen_refresh_ms=30)
    sealing = Ledger(seen_refresh_ms=30, seal_after_ms=5)
    now, last = 0, ("e1", 0)
    for op, entity, stream, eid, since, wait, commit, prune in ops:
        now += wait
        assert len(sealing) == len(plain) and (entity in sealing) == (entity in plain)
        if op == "admit":
            last = (eid, since)
            assert sealing.admit(entity, stream, eid, since, eid, observed_ms=now, mark=("t", eid, since)) == plain.admit(
                entity, stream, eid, since, eid, observed_ms=now, mark=("t", eid, since))
        elif op == "again":  # the last transition presented again, as the history endpoints do
            mark = ("t", last[0], last[1])
            assert sealing.presented_before(entity, stream, mark, now) == plain.presented_before(entity, stream, mark, now)
            assert sealing.seen(entity, stream, last[0]) == plain.seen(entity, stream, last[0])
            assert sealing.may_have_forgotten(entity, stream, last[0], last[1]) == plain.may_have_forgotten(
                entity, stream, last[0], last[1])
        elif op == "keep_alive":
            sealing.keep_alive([entity, "interaction/unknown"], now)
            plain.keep_alive([entity, "interaction/unknown"], now)
        elif op == "touch":
            sealing.touch(entity, now)
            plain.touch(entity, now)
        else:
            sealing.replay(entity, stream, eid, since, eid, since, observed_ms=now)
            plain.replay(entity, stream, eid, since, eid, since, observed_ms=now)
        if commit:
            assert sealing.take_dirty() == plain.take_dirty()
        if prune:
            assert sorted(sealing.prune(now, 20)) == sorted(plain.prune(now, 20))
    assert sealing.take_dirty() == plain.take_dirty()
    assert sorted(sealing.keys()) == sorted(plain.keys())
    assert sealing.entities == plain.entities


def test_the_daemons_ledger_seals_what_was_quiet_for_a_sixth_of_the_retention() -> None:
    hour = 3_600_000
    led = Ledger.for_retention(hour)
    for i in range(200):
        led.admit(f"interaction/{i}", "lifecycle", f"e{i}", i, "Ended", observed_ms=i * 1_000)
    led.admit("agent/01", "presence", "p", 0, "Ready", observed_ms=0)
    led.take_dirty()
    led.prune(hour // 6 + 100_000, hour)
    assert led.sealed() == 100  # seen before 100 s: interaction/0 .. interaction/99; never the agent
    assert len(led) == 201 and "interaction/0" in led and "agent/01" in led
    assert led.prune(hour + 50_500, hour) == [f"interaction/{i}" for i in range(51)]  # seen before 50.5 s
    assert set(led.take_dirty()) == {f"interaction/{i}" for i in range(51)}  # their tombstones
    assert led.sealed() == 149  # the rest, quiet since
    # presented again, a sealed interaction is taken back, with what it had
    assert led.admit("interaction/60", "lifecycle", "e60", 60, "Ended", observed_ms=hour + 60_000) is None
    assert led.sealed() == 148
    again = led.admit("interaction/60", "lifecycle", "later", 61, "Gone", observed_ms=hour + 60_000)
    assert again is not None and again.sequence == 2 and again.previous == "Ended"
    assert decode_entity(led.take_dirty()["interaction/60"] or b"").seen_ms == hour + 60_000


def test_the_tables_shrink_when_most_entities_are_sealed() -> None:
    """A dictionary keeps its table when entries leave it: once most entities are sealed,
    the ledger's tables are made anew at their size (after a restore or a busy hour)."""
    led = Ledger(seal_after_ms=10)
    for i in range(5_000):
        led.admit(f"interaction/{i}", "lifecycle", f"e{i}", 0, "Ended", observed_ms=0)
    led.admit("agent/01", "presence", "p", 0, "Ready", observed_ms=0)
    led.take_dirty()
    before = sys.getsizeof(led._store)
    led.prune(100, 1_000)
    assert led.sealed() == 5_000 and len(led) == 5_001
    assert sys.getsizeof(led._store) < before / 10


def test_a_segment_holds_its_compressed_bytes_not_the_compressors_worst_case_buffer() -> None:
    import tracemalloc

    # 10,000 entries, about 650 KB of msgpack that compresses to about 30 KB
    entries = [(f"interaction/{i:08d}", 1_795_251_600_000 + i, bytes(40)) for i in range(10_000)]
    tracemalloc.start()
    try:
        s = Sealed()
        s.seal(entries)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    blob = next(iter(s._segments.values())).blob
    assert len(blob) < 40_000
    assert held < 10_000 * 8 + 2 * len(blob)  # the index (8 bytes a key) and the blob, with room; not 650 KB


def _traced(steps: list[Callable[[], object]]) -> list[int]:
    """Memory traced after each of ``steps``, from a start just before the first."""
    import tracemalloc

    tracemalloc.start()
    try:
        out = []
        for step in steps:
            step()
            out.append(tracemalloc.get_traced_memory()[0])
        return out
    finally:
        tracemalloc.stop()


def test_a_segment_decoded_to_take_an_entity_back_is_let_go_at_release() -> None:
    s = Sealed()
    s.seal([(f"interaction/{i:08d}", 1_795_251_600_000 + i, bytes(40)) for i in range(10_000)])
    taken: list[object] = []
    start, opened, released = _traced([lambda: None, lambda: taken.append(s.take("interaction/00000007")), s.release])
    assert taken == [(1_795_251_600_007, bytes(40))]
    assert opened - start > 10_000 * 100  # the segment, decoded: a few hundred bytes an entity
    # Let go. Traced memory keeps the tuples CPython holds for reuse (up to 2,000 of a size).
    assert released - start < (opened - start) / 10
    assert s.take("interaction/00000008") == (1_795_251_600_008, bytes(40))  # decoded again when needed
    assert s.take("interaction/00000007") is None and len(s) == 9_998


def test_the_ledger_holds_no_decoded_segment_after_a_commit() -> None:
    """A late re-serve takes one interaction back out of a segment of 10,000: once committed,
    the ledger holds that one entity more, not the whole segment decoded."""
    led = Ledger(seal_after_ms=10)
    for i in range(10_000):
        led.admit(f"interaction/{i}", "lifecycle", f"e{i}", 0, "Ended", observed_ms=0)
    led.take_dirty()
    led.prune(100, 10_000)
    assert led.sealed() == 10_000
    start, taken_back, committed = _traced([
        lambda: None,
        lambda: led.admit("interaction/7", "lifecycle", "later", 1, "Gone", observed_ms=200),
        led.take_dirty,
    ])
    assert led.sealed() == 9_999 and led.entity("interaction/7") is not None
    assert taken_back - start > 10_000 * 100
    assert committed - start < (taken_back - start) / 10
