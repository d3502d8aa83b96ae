"""Keyed snapshot diff (property-based)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from streamer.track.snapshot import Change, KeyedDigests, RawRows, apply, diff

snapshots = st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=12)


@given(snapshots)
def test_diff_with_itself_is_empty(a: dict[str, int]) -> None:
    assert diff(a, a) == []
    assert diff(a, dict(a)) == []


@given(snapshots, snapshots)
def test_apply_diff_reaches_after(a: dict[str, int], b: dict[str, int]) -> None:
    assert apply(a, diff(a, b)) == b


@given(snapshots, snapshots)
def test_kinds_are_right(a: dict[str, int], b: dict[str, int]) -> None:
    changes = diff(a, b)
    by_key = {c.key: c for c in changes}
    assert len(by_key) == len(changes)  # one change per key
    for k in set(a) | set(b):
        c = by_key.get(k)
        if k in a and k in b:
            if a[k] == b[k]:
                assert c is None
            else:
                assert c == Change("changed", k, a[k], b[k])
        elif k in b:
            assert c == Change("added", k, None, b[k])
        else:
            assert c == Change("removed", k, a[k], None)


@given(snapshots, snapshots)
def test_order_follows_after_then_removals(a: dict[str, int], b: dict[str, int]) -> None:
    changes = diff(a, b)
    kinds = [c.kind for c in changes]
    if "removed" in kinds:
        first = kinds.index("removed")
        assert all(k == "removed" for k in kinds[first:])
    present = [c.key for c in changes if c.kind != "removed"]
    assert present == [k for k in b if k in present]


def test_diff_example() -> None:
    assert diff({"a": 1, "b": 2, "c": 3}, {"c": 3, "b": 5, "d": 0}) == [
        Change("changed", "b", 2, 5),
        Change("added", "d", None, 0),
        Change("removed", "a", 1, None),
    ]


def test_apply_does_not_mutate_input() -> None:
    a = {"x": 1}
    apply(a, [Change("removed", "x", 1, None), Change("added", "y", None, 2)])
    assert a == {"x": 1}


def test_equal_bytes_are_unchanged() -> None:
    assert diff({"a": b"row"}, {"a": b"row"}) == []


def test_raw_rows_fresh_only_for_rows_not_served_byte_for_byte_before() -> None:
    rows = RawRows()
    rows.begin()
    assert [rows.fresh(b'{"id":1}'), rows.fresh(msgspec.Raw(b'{"id":2}'))] == [True, True]
    rows.end()
    rows.begin()
    assert rows.fresh(b'{"id":1}') is False
    assert rows.fresh(b'{"id": 1}') is True  # re-formatted: looked at again (the ledger dedups)
    assert rows.fresh(b'{"id":2,"x":0}') is True
    rows.end()
    assert len(rows) == 3


def test_raw_rows_keep_the_previous_snapshot_until_one_is_read_to_its_end() -> None:
    rows = RawRows()
    rows.begin()
    rows.fresh(b"a")
    rows.end()
    rows.begin()
    rows.fresh(b"b")  # the read fails here: no end()
    rows.begin()
    assert rows.fresh(b"a") is False
    rows.end()
    rows.forget()
    rows.begin()
    assert rows.fresh(b"a") is True


def test_a_forget_in_the_middle_of_a_read_leaves_nothing_remembered() -> None:
    rows = RawRows()
    rows.begin()
    rows.fresh(b"a")
    rows.end()
    rows.begin()
    assert rows.fresh(b"a") is False
    rows.forget()  # another endpoint's commit failed while this one was reading
    assert rows.fresh(b"a") is True
    assert rows.end() == [] and len(rows) == 0
    rows.begin()
    assert rows.fresh(b"a") is True


def test_raw_rows_report_the_keys_of_unchanged_rows_as_alive() -> None:
    rows = RawRows()
    rows.begin()
    rows.fresh(b"call"), rows.fresh(b"idle"), rows.fresh(b"two calls")
    fresh = rows.end()
    assert len(fresh) == 3
    rows.attach(fresh[0], ("interaction/1",))  # one key is kept as itself, not as a tuple
    rows.attach(fresh[2], ("interaction/2", "interaction/3"))
    rows.begin()
    assert rows.fresh(b"call") is False and rows.fresh(b"idle") is False and rows.fresh(b"two calls") is False
    rows.end()
    assert rows.alive == ["interaction/1", "interaction/2", "interaction/3"]
    assert rows._previous[fresh[0]] == "interaction/1"  # a string, not a tuple of one (48 bytes a row)
    rows.begin()
    assert rows.fresh(b"call, wrapped") is True  # the row changed: decoded again, nothing kept alive by it
    rows.end()
    assert rows.alive == []


def test_keyed_digests_report_an_entity_changed_on_first_sight_and_when_what_it_says_differs() -> None:
    d: KeyedDigests[str] = KeyedDigests()
    d.begin()
    assert [d.changed("a", ["Ready", 1]), d.changed("b", ["Away", 2])] == [True, True]
    d.end()
    d.begin()
    assert d.changed("a", ["Ready", 1]) is False
    assert d.changed("b", ["Ready", 2]) is True
    d.end()
    d.begin()  # "a" is gone from this snapshot: it is new again when it comes back
    d.changed("b", ["Ready", 2])
    d.end()
    d.begin()
    assert d.changed("a", ["Ready", 1]) is True and len(d) == 1


def test_keyed_digests_keep_an_unhandled_change_and_the_previous_snapshot_until_one_ends() -> None:
    d: KeyedDigests[str] = KeyedDigests()
    d.begin()
    d.changed("a", 1)
    d.end()
    d.begin()
    assert d.changed("a", 2) is True
    d.keep("a")  # not handled yet (deferred): still changed next time
    assert d.changed("new", 0) is True
    d.keep("new")
    d.end()
    d.begin()
    assert d.changed("a", 2) is True and d.changed("new", 0) is True
    d.begin()  # that read failed: no end(), the previous snapshot stays
    assert d.changed("a", 1) is False
    d.end()
    d.forget()
    d.begin()
    assert d.changed("a", 1) is True


_reads = st.lists(
    st.tuples(
        st.lists(st.sampled_from([b"a", b"b", b"c", b"d", b'{"id":1}']), max_size=6),  # a snapshot's rows
        st.booleans(),  # added to the previous one (a short history read)
        st.integers(0, 6),  # a forget comes after this many rows (6: none)
    ),
    max_size=8,
)


@given(_reads)
def test_fresh_rows_is_fresh_for_each_row(reads: list[tuple[list[bytes], bool, int]]) -> None:
    """One call per page gives what one call per row gives, and leaves the same memory."""
    one, each = RawRows(), RawRows()
    for n, (snapshot, add, forget_at) in enumerate(reads):
        one.begin()
        each.begin()
        assert one.fresh_rows(snapshot[:forget_at]) == [r for r in snapshot[:forget_at] if each.fresh(r)]
        if forget_at < len(snapshot):
            one.forget()
            each.forget()
        assert one.fresh_rows(snapshot[forget_at:]) == [r for r in snapshot[forget_at:] if each.fresh(r)]
        assert one.alive == each.alive
        fresh = one.end(add=add)
        assert fresh == each.end(add=add)
        for digest in fresh[:1]:
            one.attach(digest, (f"interaction/{n}",))
            each.attach(digest, (f"interaction/{n}",))
        assert len(one) == len(each)
