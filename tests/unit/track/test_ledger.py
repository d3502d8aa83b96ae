"""Ledger: admission, chaining, late transitions, replay, pruning."""

from __future__ import annotations

import uuid

import msgspec
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.track.ledger import (
    _ZSTD_DICT_16_BYTE_IDS,
    _ZSTD_DICT_TEXT_IDS,
    _ZSTD_PARAMS,
    MARKS_KEPT,
    RECENT_PER_STREAM,
    Admission,
    EntityState,
    Ledger,
    Mark,
    Recent,
    StreamState,
    _TextIdEntity,
    _TextIdRecent,
    _TextIdStream,
    decode_entity,
    encode_entity,
    id_bytes,
)


def test_sequence_counts_per_entity() -> None:
    led = Ledger()
    seqs = [led.admit("agent/01", "presence", f"p{i}", 1000 * i, f"v{i}").sequence for i in range(3)]  # type: ignore[union-attr]
    assert seqs == [1, 2, 3]
    # another stream of the same entity continues the same sequence
    assert led.admit("agent/01", "workload", "w1", 5000, 1).sequence == 4  # type: ignore[union-attr]
    # another entity starts at 1
    assert led.admit("agent/02", "presence", "p0", 0, "v").sequence == 1  # type: ignore[union-attr]


def test_duplicate_id_is_refused_and_changes_nothing() -> None:
    led = Ledger()
    assert led.admit("agent/01", "presence", "a", 100, "Ready") is not None
    led.take_dirty()
    assert led.admit("agent/01", "presence", "a", 100, "Ready") is None
    assert led.admit("agent/01", "presence", "a", 999, "Away") is None  # the id decides
    assert led.entities["agent/01"].seq == 1
    assert led.current("agent/01", "presence").value == "Ready"  # type: ignore[union-attr]
    assert led.take_dirty() == {}
    assert led.seen("agent/01", "presence", "a")
    assert not led.seen("agent/01", "presence", "b")
    assert not led.seen("agent/01", "workload", "a")
    assert not led.seen("agent/99", "presence", "a")


def test_previous_and_duration_chain() -> None:
    led = Ledger()
    a1 = led.admit("agent/01", "presence", "a", 7_077, "LoggedOut")
    a2 = led.admit("agent/01", "presence", "b", 16_600, "Ready")
    a3 = led.admit("agent/01", "presence", "c", 20_000, "Away")
    assert a1 == Admission(1, None, None, False, True)
    assert a2 == Admission(2, "LoggedOut", 9_523, False, False)
    assert a3 == Admission(3, "Ready", 3_400, False, False)
    cur = led.current("agent/01", "presence")
    assert cur is not None and (cur.value, cur.since_ms) == ("Away", 20_000)


def test_equal_time_counts_as_in_order() -> None:
    led = Ledger()
    led.admit("i/1", "agent/01", "r", 500, "Ringing")
    adm = led.admit("i/1", "agent/01", "c", 500, "Connected")
    assert adm == Admission(2, "Ringing", 0, False, False)
    assert led.current("i/1", "agent/01").value == "Connected"  # type: ignore[union-attr]


def test_late_transition_chains_to_its_predecessor() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "a", 1_000, "LoggedOut")
    led.admit("agent/01", "presence", "c", 5_000, "Away")
    late = led.admit("agent/01", "presence", "b", 3_000, "Ready")
    assert late == Admission(3, "LoggedOut", 2_000, True, False)
    cur = led.current("agent/01", "presence")
    assert cur is not None and (cur.value, cur.since_ms) == ("Away", 5_000)  # current untouched
    # the next in-order transition chains to the current state, not the late one
    nxt = led.admit("agent/01", "presence", "d", 6_000, "Ready")
    assert nxt == Admission(4, "Away", 1_000, False, False)


def test_late_transition_older_than_everything_has_no_previous() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "b", 5_000, "Ready")
    late = led.admit("agent/01", "presence", "a", 1_000, "LoggedOut")
    assert late == Admission(2, None, None, True, False)


def test_recent_is_bounded_and_keeps_the_newest() -> None:
    led = Ledger()
    for i in range(RECENT_PER_STREAM + 5):
        led.admit("agent/01", "presence", f"id{i}", i * 10, i)
    s = led.current("agent/01", "presence")
    assert s is not None
    assert len(s.recent) == RECENT_PER_STREAM
    assert [r.id for r in s.recent] == [id_bytes(f"id{i}") for i in range(5, RECENT_PER_STREAM + 5)]
    assert s.value == RECENT_PER_STREAM + 4


def test_a_transition_older_than_a_full_memory_may_have_been_forgotten() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "id0", 0, 0)
    assert not led.may_have_forgotten("agent/01", "presence", "x", -5)  # memory not full: it would be there
    assert not led.may_have_forgotten("agent/01", "workload", "x", -5)  # nothing known of the stream
    assert not led.may_have_forgotten("agent/99", "presence", "x", -5)
    for i in range(1, RECENT_PER_STREAM + 3):
        led.admit("agent/01", "presence", f"id{i}", i * 10, i)
    oldest = led.current("agent/01", "presence").recent[0]  # type: ignore[union-attr]
    assert oldest.since_ms == 30
    assert led.may_have_forgotten("agent/01", "presence", "id0", 0)  # dropped from the memory: yes
    assert led.may_have_forgotten("agent/01", "presence", "new", 30)  # as old as the oldest: cannot tell
    assert not led.may_have_forgotten("agent/01", "presence", "new", 31)  # newer than one remembered: new
    assert not led.may_have_forgotten("agent/01", "presence", "id3", 30)  # remembered: admit refuses it


def test_take_dirty_reports_changed_then_clears() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "a", 1, "x")
    led.admit("interaction/9", "agent/01", "b", 1, "y")
    dirty = led.take_dirty()
    assert set(dirty) == {"agent/01", "interaction/9"}
    assert dirty["agent/01"] is not None and decode_entity(dirty["agent/01"]) == led.entity("agent/01")
    assert led.take_dirty() == {}
    led.admit("agent/01", "presence", "c", 2, "z")
    assert set(led.take_dirty()) == {"agent/01"}


def test_prune_forgets_only_matching_prefixes_unseen_for_retention() -> None:
    led = Ledger()
    # retention runs on the observed clock (when a transition was last presented)
    led.admit("interaction/old", "lifecycle", "a", 1_000, "Ended", observed_ms=1_000)
    led.admit("interaction/new", "lifecycle", "b", 1_000, "Connected", observed_ms=9_500)
    led.admit("agent/old", "presence", "c", 1_000, "Ready", observed_ms=1_000)
    led.admit("interactionX/old", "lifecycle", "d", 1_000, "Ended", observed_ms=1_000)
    led.take_dirty()
    gone = led.prune(now_ms=10_000, retention_ms=5_000, prefixes=("interaction/",))
    assert gone == ["interaction/old"]
    assert set(led.entities) == {"interaction/new", "agent/old", "interactionX/old"}
    assert led.take_dirty() == {"interaction/old": None}  # a tombstone for the state topic
    # exactly at the edge is kept
    assert led.prune(now_ms=14_500, retention_ms=5_000, prefixes=("interaction/",)) == []
    assert led.prune(now_ms=14_501, retention_ms=5_000, prefixes=("interaction/",)) == ["interaction/new"]


def test_prune_uses_latest_presentation_even_of_a_duplicate() -> None:
    led = Ledger()
    led.admit("interaction/1", "agent/01", "a", 1_000, "Ringing", observed_ms=1_000)
    # the vendor serves the same row again later: refused, but the entity is still alive
    assert led.admit("interaction/1", "agent/01", "a", 1_000, "Ringing", observed_ms=9_000) is None
    assert led.prune(now_ms=10_000, retention_ms=5_000, prefixes=("interaction/",)) == []
    assert led.prune(now_ms=14_001, retention_ms=5_000, prefixes=("interaction/",)) == ["interaction/1"]


PRESENCE = "cc.agent.presence.changed"


def test_the_transition_last_presented_is_told_by_its_mark() -> None:
    led = Ledger()
    ready, away = (PRESENCE, "Ready", 1_000), (PRESENCE, "Away", 2_000)
    assert not led.presented_before("agent/01", "presence", ready, 5)
    led.admit("agent/01", "presence", "p1", 1_000, "Ready", 5, ready)
    assert led.presented_before("agent/01", "presence", ready, 6)
    assert not led.presented_before("agent/01", "workload", ready, 6)  # the mark is per stream
    assert not led.presented_before("agent/02", "presence", ready, 6)  # and per entity
    assert not led.presented_before("agent/01", "presence", (PRESENCE, "Ready", 1_001), 6)
    led.admit("agent/01", "presence", "p2", 2_000, "Away", 7, away)
    assert not led.presented_before("agent/01", "presence", ready, 8)  # only the last presented
    # a refusal is remembered as well: the ledger holds what it refused
    assert led.admit("agent/01", "presence", "p1", 1_000, "Ready", 9, ready) is None
    assert led.presented_before("agent/01", "presence", ready, 10)
    # admitted without a mark: nothing is remembered
    led.admit("agent/01", "presence", "p3", 3_000, "Busy", 11)
    assert not led.presented_before("agent/01", "presence", (PRESENCE, "Busy", 3_000), 12)


def test_a_mark_presented_again_keeps_its_interaction_alive() -> None:
    led = Ledger()
    ringing = ("cc.interaction.state.changed", "01:Ringing", 1_000)
    led.admit("interaction/1", "agent/01", "a", 1_000, "Ringing", 1_000, ringing)
    led.take_dirty()
    assert led.presented_before("interaction/1", "agent/01", ringing, 9_000)
    assert led.prune(now_ms=10_000, retention_ms=5_000, prefixes=("interaction/",)) == []
    assert led.prune(now_ms=14_001, retention_ms=5_000, prefixes=("interaction/",)) == ["interaction/1"]


def test_a_forgotten_entity_is_admitted_again_despite_its_mark() -> None:
    """Pruning forgets the marks: the vendor serving a pruned interaction again is a first
    sight to the ledger, as it was before marks, and not a transition it holds."""
    led = Ledger()
    ended = ("cc.interaction.state.changed", "Ended", 1_000)
    led.admit("interaction/1", "lifecycle", "a", 1_000, "Ended", 1_000, ended)
    assert led.prune(now_ms=10_000, retention_ms=5_000, prefixes=("interaction/",)) == ["interaction/1"]
    assert not led.presented_before("interaction/1", "lifecycle", ended, 10_000)
    assert led.admit("interaction/1", "lifecycle", "a", 1_000, "Ended", 10_000, ended) is not None


def test_an_unreadable_entity_forgets_the_marks() -> None:
    led = Ledger({"agent/02": b"\x01not zstd"})
    ready = (PRESENCE, "Ready", 1_000)
    led.admit("agent/01", "presence", "p1", 1_000, "Ready", 5, ready)
    assert led.entity("agent/02") is None and led.unreadable == ["agent/02"]
    assert not led.presented_before("agent/01", "presence", ready, 6)
    assert led.admit("agent/01", "presence", "p1", 1_000, "Ready", 6, ready) is None  # the ledger still decides


def test_marks_are_kept_for_two_generations_at_most() -> None:
    led = Ledger()

    def mark(i: int) -> Mark:
        return (PRESENCE, "Ready", i)

    for i in range(2 * MARKS_KEPT + 1):
        led.admit(f"agent/{i}", "presence", f"p{i}", i, "Ready", i, mark(i))
    assert len(led._marks) + len(led._marks_before) <= 2 * MARKS_KEPT
    assert not led.presented_before("agent/0", "presence", mark(0), 0)  # the oldest generation went
    assert led.presented_before(f"agent/{MARKS_KEPT}", "presence", mark(MARKS_KEPT), 0)
    assert led.presented_before(f"agent/{2 * MARKS_KEPT}", "presence", mark(2 * MARKS_KEPT), 0)


def test_prune_scans_at_most_once_per_prune_every_ms() -> None:
    led = Ledger(prune_every_ms=1_000)
    led.admit("interaction/1", "lifecycle", "a", 1_000, "Ended", observed_ms=1_000)
    led.admit("interaction/2", "lifecycle", "b", 1_000, "Ended", observed_ms=1_500)
    assert led.prune(now_ms=6_000, retention_ms=5_000) == []  # scanned: both still kept
    assert led.prune(now_ms=6_999, retention_ms=5_000) == []  # both are due, no scan is
    assert led.prune(now_ms=7_000, retention_ms=5_000) == ["interaction/1", "interaction/2"]
    # an observed clock that went back scans at once
    led.admit("interaction/3", "lifecycle", "c", 1_000, "Ended", observed_ms=1_000)
    assert led.prune(now_ms=6_500, retention_ms=5_000) == ["interaction/3"]
    with pytest.raises(ValueError):  # a wrong prefix is refused even when no scan is due
        led.prune(now_ms=6_600, retention_ms=5_000, prefixes=("agent/",))


def test_the_daemons_ledger_prunes_once_per_hundredth_of_the_retention() -> None:
    led = Ledger.for_retention(3_600_000)
    assert (led.prune_every_ms, led.seen_refresh_ms) == (36_000, 1_800_000)


def test_forgotten_entity_starts_over() -> None:
    led = Ledger()
    led.admit("interaction/1", "lifecycle", "a", 1_000, "Ended")
    led.prune(now_ms=100_000, retention_ms=1, prefixes=("interaction/",))
    adm = led.admit("interaction/1", "lifecycle", "b", 200_000, "Connected")
    assert adm is not None and adm.first and adm.sequence == 1


def test_state_round_trips_through_json() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "a", 1_000, {"category": "Ready"})
    led.admit("agent/01", "presence", "b", 2_000, {"category": "Away"})
    wire = msgspec.json.encode(led.entities)
    back = Ledger(msgspec.json.decode(wire, type=dict[str, EntityState]))
    assert back.admit("agent/01", "presence", "b", 2_000, {"category": "Away"}) is None
    adm = back.admit("agent/01", "presence", "c", 3_000, {"category": "Ready"})
    assert adm == Admission(3, {"category": "Away"}, 1_000, False, False)


def test_replay_restores_chain() -> None:
    led = Ledger()
    led.replay("agent/01", "presence", "a", 1_000, "LoggedOut", 5)
    led.replay("agent/01", "presence", "a", 1_000, "LoggedOut", 5)
    led.replay("agent/01", None, "s", 1_000, None, 6)  # an event without a state stream
    assert led.entities["agent/01"].seq == 6
    adm = led.admit("agent/01", "presence", "b", 3_000, "Ready")
    assert adm == Admission(7, "LoggedOut", 2_000, False, False)
    assert led.admit("agent/01", "presence", "a", 1_000, "LoggedOut") is None


# --- property: replay is idempotent and order-insensitive ---------------------------------

transitions = st.lists(
    st.tuples(
        st.sampled_from(["agent/01", "agent/02", "interaction/9"]),
        st.sampled_from(["presence", "workload"]),
        st.integers(0, 30),  # since (ties allowed)
        st.sampled_from(["Ready", "Away", "LoggedOut", 0, 1]),
    ),
    max_size=25,
)


def _snapshot(led: Ledger) -> dict[str, tuple[int, dict[str, tuple[object, int]]]]:
    return {
        k: (e.seq, {name: (s.value, s.since_ms) for name, s in e.streams.items()})
        for k, e in led.entities.items()
    }


@settings(max_examples=200)
@given(transitions, st.randoms(use_true_random=False), st.data())
def test_replay_permutation_matches_admission(trs: list[tuple[str, str, int, object]], rnd, data) -> None:  # type: ignore[no-untyped-def]
    live = Ledger()
    published = []
    for n, (entity, stream, since, value) in enumerate(trs):
        eid = f"{entity}|{stream}|{since}|{value}|{n % 3}"  # some ids repeat: duplicates are refused
        adm = live.admit(entity, stream, eid, since, value)
        if adm is not None:
            published.append((entity, stream, eid, since, value, adm.sequence))
    # the output tail, re-read in any order, with some events read twice
    dupes = data.draw(st.lists(st.sampled_from(published), max_size=5)) if published else []
    tail = published + dupes
    rnd.shuffle(tail)
    restored = Ledger()
    for t in tail:
        restored.replay(*t)
    for t in tail:  # idempotent
        restored.replay(*t)
    assert _snapshot(restored) == _snapshot(live)


def _with_text_ids(e: EntityState, texts: dict[bytes, str]) -> _TextIdEntity:
    """``e`` as state records before the \\x01 format held it: event ids as their text
    (``texts``: each id's text by its bytes)."""
    return msgspec.convert({
        "seq": e.seq, "touched_ms": e.touched_ms, "seen_ms": e.seen_ms,
        "streams": {n: {"value": s.value, "since_ms": s.since_ms, "seq": s.seq,
                        "recent": [[texts[r.id], r.since_ms, r.value] for r in s.recent]} for n, s in e.streams.items()},
    }, _TextIdEntity)


def _saved_with_text_ids(e: _TextIdEntity) -> bytes:
    """``e`` as a \\x00 state record (2026-12-03): zstd against the dictionary with text ids."""
    compress = zstandard.ZstdCompressor(dict_data=_ZSTD_DICT_TEXT_IDS, compression_params=_ZSTD_PARAMS).compress
    return b"\x00" + compress(msgspec.msgpack.encode(e))


def _16_byte_id(text: str) -> bytes:
    """An event id as the \\x01 records kept it: a canonical UUID as its 16 bytes, other text
    as UTF-8, never 16 bytes long."""
    if _canonical_uuid(text):
        return uuid.UUID(text).bytes
    b = text.encode()
    return b + b"\xff" if len(b) == 16 else b


def _saved_with_16_byte_ids(e: _TextIdEntity) -> bytes:
    """``e`` as a \\x01 state record (2026-12-03 to 2026-12-05): a UUID's 16 bytes, another dictionary."""
    compress = zstandard.ZstdCompressor(dict_data=_ZSTD_DICT_16_BYTE_IDS, compression_params=_ZSTD_PARAMS).compress
    return b"\x01" + compress(msgspec.msgpack.encode(EntityState(e.seq, e.touched_ms, e.seen_ms, {
        n: StreamState(s.value, s.since_ms, [Recent(_16_byte_id(r.id), r.since_ms, r.value) for r in s.recent], s.seq)
        for n, s in e.streams.items()})))


@pytest.mark.parametrize("written", ["now", "2026-12-05", "2026-12-03", "before"],
                         ids=["frozen", "frozen-16-byte-ids", "frozen-text-ids", "json"])
def test_entities_are_kept_frozen_between_commits_and_restored_from_what_was_saved(written: str) -> None:
    ids = ("a", "0c946c26-e324-5d0e-b6e6-e2d919b0dd23")
    led = Ledger()
    led.admit("agent/01", "presence", ids[0], 1_000, {"category": "Ready"})
    led.admit("interaction/9", "agent/01", ids[1], 1_000, "Ringing", observed_ms=5)
    saved = led.take_dirty()
    assert saved == led._store  # the state records are the frozen entities, frozen until the next transition
    assert all(isinstance(v, bytes) and v[:1] == b"\x02" for v in led._store.values())
    records: dict[str, bytes] = {k: v for k, v in saved.items() if v is not None}
    texts = {id_bytes(t): t for t in ids}
    as_text = {k: _with_text_ids(decode_entity(v), texts) for k, v in records.items()}
    damaged = b"\x02not zstd"
    if written == "2026-12-05":  # a UUID's 16 bytes, another dictionary
        records, damaged = {k: _saved_with_16_byte_ids(e) for k, e in as_text.items()}, b"\x01not zstd"
    elif written == "2026-12-03":  # ids as text, another dictionary
        records, damaged = {k: _saved_with_text_ids(e) for k, e in as_text.items()}, b"\x00not zstd"
    elif written == "before":  # JSON
        records, damaged = {k: msgspec.json.encode(e) for k, e in as_text.items()}, b"{not json"
    back = Ledger({**records, "agent/02": damaged})
    assert back.admit("interaction/9", "agent/01", ids[1], 1_000, "Ringing") is None
    assert back.admit("agent/01", "presence", ids[0], 1_000, {"category": "Ready"}) is None
    assert back.prune(now_ms=10, retention_ms=1) == ["interaction/9"]  # seen_ms read from what was saved
    adm = back.admit("agent/02", "presence", "c", 2_000, {"category": "Away"})
    assert adm is not None and adm.first and back.unreadable == ["agent/02"]


def test_an_entity_only_looked_at_keeps_its_frozen_bytes_and_a_changed_one_is_frozen_anew() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "a", 1_000, {"category": "Ready"})
    led.admit("interaction/9", "lifecycle", "b", 1_000, "Ringing", observed_ms=5)
    led.take_dirty()
    agent, interaction = led._store["agent/01"], led._store["interaction/9"]
    assert led.admit("agent/01", "presence", "a", 1_000, {"category": "Ready"}, observed_ms=9) is None
    assert led.admit("interaction/9", "lifecycle", "b", 1_000, "Ringing", observed_ms=50) is None
    assert led.seen("agent/01", "presence", "a") and not led.seen("agent/01", "workload", "a")
    assert led._store["agent/01"] is agent and not led._hot  # told from the frozen ids: not even thawed
    assert led.take_dirty() == {}
    assert led._store["agent/01"] is agent and led._store["interaction/9"] is interaction  # not compressed again
    assert led.prune(now_ms=40, retention_ms=30) == []  # the newer presentation is kept all the same
    led.admit("agent/01", "presence", "c", 2_000, {"category": "Away"})
    led.take_dirty()
    assert led._store["agent/01"] != agent
    cur = led.current("agent/01", "presence")
    assert cur is not None and cur.value == {"category": "Away"}


def test_a_commit_decompresses_each_frozen_entity_it_looks_into_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A history commit presents an entity's transitions in time order among others': each
    look into a frozen entity is kept until the commit, not only the last one."""
    from streamer.track import ledger as ledger_module

    led = Ledger()
    for a in ("agent/01", "agent/02"):
        led.admit(a, "presence", f"{a}-p", 1_000, "Ready")
        led.admit(a, "workload", f"{a}-w", 1_000, 0)
    led.take_dirty()
    calls: list[int] = []
    decompress = ledger_module._zstd.decompress
    monkeypatch.setattr(ledger_module._zstd, "decompress", lambda b: calls.append(1) or decompress(b))
    for stream in ("presence", "workload"):  # agent/01, agent/02, agent/01, agent/02
        for a in ("agent/01", "agent/02"):
            assert led.admit(a, stream, f"{a}-{stream[0]}", 1_000, "Ready" if stream == "presence" else 0) is None
    assert len(calls) == 2
    led.take_dirty()
    assert led.admit("agent/01", "presence", "agent/01-p", 1_000, "Ready") is None
    assert len(calls) == 3  # a new commit looks again: the bytes may have changed


_steps = st.lists(
    st.tuples(
        st.sampled_from(["agent/01", "interaction/9"]),
        st.sampled_from(["presence", "workload", "agent/01"]),
        st.sampled_from(["e1", "e2", "e3", "e4", "agent/01", "Ready"]),  # ids that are also stream names and values
        st.integers(0, 30),
        st.sampled_from(["Ready", "e1", 0, {"k": "e2"}]),
        st.booleans(),  # commit (freeze everything) after this step
    ),
    max_size=40,
)


@settings(max_examples=300)
@given(_steps)
def test_a_frozen_entity_admits_and_refuses_exactly_as_the_thawed_one(steps: list[tuple[str, str, str, int, object, bool]]) -> None:
    """Transitions presented to a frozen entity are judged on its ids without a thaw:
    the outcome must be the one a ledger that never freezes gives."""
    hot, frozen = Ledger(), Ledger()
    for n, (entity, stream, eid, since, value, commit) in enumerate(steps):
        assert frozen.seen(entity, stream, eid) == hot.seen(entity, stream, eid)
        assert frozen.may_have_forgotten(entity, stream, eid, since) == hot.may_have_forgotten(entity, stream, eid, since)
        assert frozen.admit(entity, stream, eid, since, value, observed_ms=n) == hot.admit(
            entity, stream, eid, since, value, observed_ms=n)
        if commit:
            frozen.take_dirty()
    assert _snapshot(frozen) == _snapshot(hot)
    now = len(steps)
    assert frozen.prune(now, 3) == hot.prune(now, 3)


_values = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20) | st.dictionaries(
    st.text(max_size=8), st.none() | st.integers(0, 9) | st.text(max_size=8), max_size=5)
_id_texts = st.text(max_size=40) | st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper())
_streams = st.builds(
    _TextIdStream, _values, st.integers(0, 2**62),
    st.lists(st.builds(_TextIdRecent, _id_texts, st.integers(0, 2**62), _values), max_size=8), st.integers(0, 99))


@given(st.builds(_TextIdEntity, st.integers(0, 2**40), st.integers(0, 2**62), st.integers(0, 2**62),
                 st.dictionaries(st.text(max_size=12), _streams, max_size=4)))
def test_frozen_entities_thaw_to_what_was_frozen(with_text_ids: _TextIdEntity) -> None:
    from streamer.track.ledger import _freeze, _thaw

    e = with_text_ids.converted()
    assert _thaw(_freeze(e)) == e
    # state records in the older formats: read with the ids as id_bytes keeps them now
    assert _thaw(_saved_with_16_byte_ids(with_text_ids)) == e
    assert _thaw(_saved_with_text_ids(with_text_ids)) == e
    assert _thaw(msgspec.json.encode(with_text_ids)) == e


def _canonical_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


@given(_id_texts, _id_texts)
def test_event_ids_are_kept_as_bytes_that_tell_apart_any_two_but_a_pair_of_uuids(a: str, b: str) -> None:
    assert id_bytes(a) == id_bytes(a)
    if not (_canonical_uuid(a) and _canonical_uuid(b)):
        assert (id_bytes(a) == id_bytes(b)) == (a == b)
    assert (len(id_bytes(a)) == 8) == _canonical_uuid(a)  # an 8-byte text gets a 9th byte
    assert len(id_bytes("01234567")) == 9


@given(st.uuids(), st.integers(1, 2**64 - 1), st.booleans())
def test_uuids_that_differ_in_one_half_only_are_kept_apart(u: uuid.UUID, flip: int, high: bool) -> None:
    other = uuid.UUID(int=u.int ^ (flip << 64 if high else flip))
    assert id_bytes(str(u)) != id_bytes(str(other))


def test_keep_alive_postpones_pruning_and_saves_the_refresh_now_and_then() -> None:
    led = Ledger(seen_refresh_ms=1_000)
    led.admit("interaction/1", "agent/01", "a", 0, "Connected", observed_ms=0)
    led.admit("agent/01", "presence", "b", 0, "Ready", observed_ms=0)
    led.take_dirty()
    led.keep_alive(["interaction/1", "agent/01", "interaction/unknown"], 500)
    assert led.take_dirty() == {}  # not yet worth a state write
    led.keep_alive(["interaction/1"], 1_200)
    saved = led.take_dirty()
    assert list(saved) == ["interaction/1"] and decode_entity(saved["interaction/1"] or b"").seen_ms == 1_200
    assert led.prune(now_ms=2_000, retention_ms=1_000) == []
    assert led.prune(now_ms=2_201, retention_ms=1_000) == ["interaction/1"]
    restored = Ledger({"interaction/1": saved["interaction/1"] or b""})
    assert restored.prune(now_ms=2_200, retention_ms=1_000) == []  # the refresh survived the restart


def test_an_interaction_touched_every_poll_is_saved_before_its_retention_runs_out() -> None:
    led = Ledger(seen_refresh_ms=1_000)
    led.admit("interaction/1", "lifecycle", "a", 0, "Connected", observed_ms=0)
    led.take_dirty()
    for now in range(100, 3_000, 100):  # served again every poll, no new transition
        assert led.admit("interaction/1", "lifecycle", "a", 0, "Connected", observed_ms=now) is None
        dirty = led.take_dirty()
        if dirty:
            last_saved = decode_entity(dirty["interaction/1"] or b"").seen_ms
    assert last_saved >= 2_000


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(1, 2_500), st.sampled_from(["keep", "same", "new"]), st.booleans()),
                min_size=1, max_size=40))
def test_what_is_saved_of_a_kept_alive_interaction_is_never_a_refresh_period_behind(
    steps: list[tuple[int, str, bool]],
) -> None:
    """However the vendor serves an interaction (kept alive unchanged, presented again, or
    with a new transition) and however far apart, after every commit the ``seen_ms`` saved
    last (what a restart would prune by) is less than ``seen_refresh_ms`` behind the latest."""
    period = 1_000
    led = Ledger(seen_refresh_ms=period)
    now = 10_000
    led.admit("interaction/1", "lifecycle", "t0", 0, "Ringing", observed_ms=now)
    saved = decode_entity(led.take_dirty()["interaction/1"] or b"").seen_ms
    last = ("t0", 0)
    for n, (gap, how, commit) in enumerate(steps):
        now += gap
        if how == "keep":
            led.keep_alive(["interaction/1"], now)
        elif how == "same":  # the last transition, presented again
            assert led.admit("interaction/1", "lifecycle", last[0], last[1], "Ringing", observed_ms=now) is None
        else:
            last = (f"t{n + 1}", n + 1)
            assert led.admit("interaction/1", "lifecycle", last[0], last[1], "Connected", observed_ms=now)
        if commit or n == len(steps) - 1:
            frozen = led.take_dirty().get("interaction/1")
            if frozen is not None:
                saved = decode_entity(frozen).seen_ms
            assert saved <= now < saved + period


@pytest.mark.parametrize("written", ["now", "2026-12-05"], ids=["frozen", "frozen-16-byte-ids"])
def test_a_restore_reads_what_it_prunes_by_without_thawing(monkeypatch: pytest.MonkeyPatch, written: str) -> None:
    """A restore gives every interaction of the retention; the ledger needs only their
    ``seen_ms`` then, so it reads that without a thaw (a damaged one is still forgotten),
    also from the records an upgrade finds in the 0x01 format."""
    import streamer.track.ledger as ledger_module

    led = Ledger()
    led.admit("interaction/1", "lifecycle", "a", 1_000, "Ended", observed_ms=7)
    led.admit("stats/q1", "calls", "b", 1_000, 3, observed_ms=8)
    saved = {k: v for k, v in led.take_dirty().items() if v is not None}
    if written == "2026-12-05":
        texts = {id_bytes(t): t for t in ("a", "b")}
        saved = {k: _saved_with_16_byte_ids(_with_text_ids(decode_entity(v), texts)) for k, v in saved.items()}
    thawed: list[bytes] = []
    unpack = ledger_module._unpack
    monkeypatch.setattr(ledger_module, "_unpack", lambda b: thawed.append(b) or unpack(b))
    back = Ledger({**saved, "interaction/bad": b"\x01not zstd"})
    assert thawed == [] and back._store == saved
    assert back.unreadable == ["interaction/bad"]
    assert back.prune(now_ms=8, retention_ms=1) == []  # seen at 7 and 8
    assert back.prune(now_ms=9, retention_ms=1) == ["interaction/1"]


def test_looks_into_frozen_entities_are_bounded_between_commits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit with nothing to publish never reaches take_dirty, which forgets the looks;
    polls that only present what was published before must not pile them up."""
    import streamer.track.ledger as ledger_module

    monkeypatch.setattr(ledger_module, "PEEKS_KEPT", 3)
    led = Ledger()
    for i in range(10):
        led.admit(f"agent/{i}", "presence", f"a{i}", 1_000, "Ready")
    led.take_dirty()
    for _ in range(2):  # polls that present again what was published: refused, no commit follows
        for i in range(10):
            assert led.admit(f"agent/{i}", "presence", f"a{i}", 1_000, "Ready") is None
            assert len(led._peeked) <= 3


def test_damaged_frozen_bytes_forget_the_entity_instead_of_failing_every_poll() -> None:
    led = Ledger()
    led.admit("agent/01", "presence", "a", 1_000, {"category": "Ready"})
    led.take_dirty()
    frozen = led._store["agent/01"]
    assert isinstance(frozen, bytes)
    led._store["agent/01"] = frozen[:1] + bytes(b ^ 0xFF for b in frozen[1:])  # as a bit flip would leave it
    adm = led.admit("agent/01", "presence", "b", 2_000, {"category": "Away"})
    assert adm is not None and adm.first and led.unreadable == ["agent/01"]


def test_entities_freeze_and_thaw_in_any_thread() -> None:
    """The compressor's contexts are per thread (a zstd context is not thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    from streamer.track.ledger import _freeze, _thaw

    entities = [EntityState(seq=i, streams={"presence": StreamState({"n": i}, i, [Recent(id_bytes(f"id{i}"), i, {"n": i})])})
                for i in range(200)]
    with ThreadPoolExecutor(4) as pool:
        back = list(pool.map(lambda e: _thaw(_freeze(e)), entities))
    assert back == entities


SAVED_2026_12_03 = bytes.fromhex(
    "00608600dd040002c71a2390a939ff507f0cc56f1fc83ffd406cc6bd7e9444fc55351e8b56ae5cd980e7ee15cb034a73e79133f2d33eaad8"
    "e8ca88353d6a4a57afa8cc4c09967281c9c32127809116c2c531c4e05efbedf40b54ca9baebdaf993de61d128588a4290610433b82c02ce4"
    "549a3b4f23110055108cc4950b646d712181e140f70b3c4cc2f9ca60503c5f8b14b8576b2902856ead1a808641875579a208"
)


SAVED_2026_12_03_BYTE_IDS = bytes.fromhex(
    "01605e00bd0300940484a3736571027c747e68427265616ba4417761c2a54c756e63680c946c26e3245d0eb6e6e2d919b0dd2381017c7491"
    "93c410b5785944f7675a1ea914e16f5fe23e4f7c74a3736571021100412018c80c64385220068330ee07d843c2efca00146b69b982ec1a2d"
    "45a0d0a35503d030e8b0164f1401"
)


SAVED_2026_12_05 = bytes.fromhex(
    "02604e00150300540384a3736571027c747e68427265616ba4417761c2a54c756e6368ba728efffa94802d81017c741c6cb82ba88564517c"
    "74a373657102110059110c320703a117623008e17e803924bcae0ca0e043cb1564d767290285feac1a808641877578a208"
)
"""The same entity as the \\x02 format freezes it (ids as 8 bytes): 105 bytes against 126."""


@pytest.mark.parametrize("saved", [SAVED_2026_12_03, SAVED_2026_12_03_BYTE_IDS, SAVED_2026_12_05],
                         ids=["text-ids", "16-byte-ids", "8-byte-ids"])
def test_a_state_record_frozen_by_an_earlier_build_is_read(saved: bytes) -> None:
    """The compression dictionaries are part of the state topic's format: a changed one (or
    frame settings) would make every saved entity unreadable after an upgrade."""
    presence = {"name": "Break", "category": "Away", "eligible_for_routing": False, "reason": "Lunch", "raw": None}
    assert decode_entity(saved) == EntityState(
        seq=2, touched_ms=1_795_251_600_500, seen_ms=1_795_251_601_000, streams={
            "presence": StreamState(presence, 1_795_251_600_000, [
                Recent(id_bytes("0c946c26-e324-5d0e-b6e6-e2d919b0dd23"), 1_795_251_600_000, presence)], 1),
            "workload": StreamState({"calls": 1}, 1_795_251_600_500, [
                Recent(id_bytes("b5785944-f767-5a1e-a914-e16f5fe23e4f"), 1_795_251_600_500, {"calls": 1})], 2),
        })


def test_an_entity_is_frozen_byte_for_byte_as_an_earlier_build_froze_it() -> None:
    """The compressor's settings changed for speed (``target_length``), not its output: an
    entity unchanged since an earlier build wrote it is saved as the same bytes; one read
    from an older format is frozen as if it had been admitted now."""
    assert encode_entity(decode_entity(SAVED_2026_12_05)) == SAVED_2026_12_05
    assert encode_entity(decode_entity(SAVED_2026_12_03_BYTE_IDS)) == SAVED_2026_12_05
    assert encode_entity(decode_entity(SAVED_2026_12_03)) == SAVED_2026_12_05


def test_a_16_byte_id_record_whose_id_is_not_text_is_unreadable_not_a_crash() -> None:
    """A 0x01 record's id of other than 16 bytes was text; a damaged one (zstd frames carry no
    checksum) may not decode as UTF-8: the key starts over, as for any damaged record."""
    compress = zstandard.ZstdCompressor(dict_data=_ZSTD_DICT_16_BYTE_IDS, compression_params=_ZSTD_PARAMS).compress
    damaged = b"\x01" + compress(msgspec.msgpack.encode(EntityState(seq=1, streams={
        "presence": StreamState("Ready", 1_000, [Recent(b"\xfe\xfe\xfe", 1_000, "Ready")], 1)})))
    with pytest.raises(msgspec.DecodeError):
        decode_entity(damaged)
    led = Ledger({"agent/01": damaged})
    adm = led.admit("agent/01", "presence", "p", 2_000, "Away")
    assert adm is not None and adm.first and led.unreadable == ["agent/01"]


def test_entities_given_as_objects_are_frozen_and_saved_as_frozen_bytes() -> None:
    given = EntityState(seq=4, touched_ms=1_000, streams={"presence": StreamState("Ready", 1_000, [], 4)})
    led = Ledger({"agent/01": given})
    assert isinstance(led._store["agent/01"], bytes)  # not kept as an object for ever
    led.replay("agent/01", "presence", "e5", 2_000, "Away", 5)
    saved = led.take_dirty()["agent/01"]
    assert saved is not None and decode_entity(saved).seq == 5
