"""The group leader's source assignment: complete, exclusive, balanced and sticky."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.cluster.assign import MemberInfo, assign, moves

source_ids = st.lists(st.text("abcdefgh", min_size=1, max_size=3), min_size=0, max_size=30, unique=True)
member_ids = st.lists(st.text("mnopq", min_size=1, max_size=2), min_size=1, max_size=6, unique=True)


def _same_config(members: list[str], sources: list[str], owned: dict[str, set[str]] | None = None) -> dict[str, MemberInfo]:
    owned = owned or {}
    return {m: MemberInfo(sources=frozenset(sources), owned=frozenset(owned.get(m, ()))) for m in members}


@given(member_ids, source_ids, st.data())
def test_every_source_goes_to_exactly_one_member_that_has_it(members: list[str], sources: list[str], data: st.DataObject) -> None:
    infos = {
        m: MemberInfo(
            sources=frozenset(data.draw(st.lists(st.sampled_from(sources), unique=True)) if sources else []),
            owned=frozenset(data.draw(st.lists(st.sampled_from(sources), unique=True)) if sources else []),
        )
        for m in members
    }
    out = assign(infos)
    assigned = [s for ss in out.values() for s in ss]
    assert len(assigned) == len(set(assigned)), "a source with two owners"
    assert set(assigned) == set().union(*(i.sources for i in infos.values()))
    assert all(s in infos[m].sources for m, ss in out.items() for s in ss), "a source given to a member without it"


@given(member_ids, source_ids, st.data())
def test_with_one_config_loads_differ_by_at_most_one(members: list[str], sources: list[str], data: st.DataObject) -> None:
    # whatever each member claims to have owned, even overlapping claims
    owned = {m: set(data.draw(st.lists(st.sampled_from(sources), unique=True))) if sources else set() for m in members}
    out = assign(_same_config(members, sources, owned))
    loads = [len(ss) for ss in out.values()]
    assert max(loads) - min(loads) <= 1


@given(member_ids, source_ids, st.text("xyz", min_size=1, max_size=2))
def test_a_joining_member_takes_only_its_share(members: list[str], sources: list[str], joiner: str) -> None:
    before = assign(_same_config(members, sources))
    if joiner in before:
        return
    after = assign(_same_config([*members, joiner], sources, before))
    n, k = len(sources), len(members) + 1
    # the newcomer gets floor or ceil of n/k, and nothing else moves
    assert moves(before, after) == len(after[joiner]) in (n // k, -(-n // k))


@given(member_ids, source_ids, st.data())
def test_a_leaving_member_moves_only_its_own_sources(members: list[str], sources: list[str], data: st.DataObject) -> None:
    if len(members) < 2:
        return
    before = assign(_same_config(members, sources))
    leaver = data.draw(st.sampled_from(members))
    stay = [m for m in members if m != leaver]
    after = assign(_same_config(stay, sources, before))
    assert moves({m: before[m] for m in stay}, after) == len(before[leaver])


def test_a_rolling_change_gives_a_new_source_only_to_members_that_have_it() -> None:
    old, new = frozenset({"a", "b", "c"}), frozenset({"a", "b", "c", "d"})
    out = assign({"m1": MemberInfo(old, frozenset({"a", "b"})), "m2": MemberInfo(new, frozenset({"c"}))})
    assert "d" in out["m2"] and out["m1"] | out["m2"] == set(new)
    assert out["m1"] == {"a", "b"}  # nothing moved that did not have to


def test_a_removed_source_is_dropped_once_no_member_has_it() -> None:
    out = assign({"m1": MemberInfo(frozenset({"a"}), frozenset({"a", "gone"}))})
    assert out == {"m1": {"a"}}


def test_no_members_no_assignment() -> None:
    assert assign({}) == {}
