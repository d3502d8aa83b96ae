"""Ground-truth world: determinism and behavioural invariants."""

from __future__ import annotations

from collections import Counter

from streamer.simulator.truth import TruthActivity
from streamer.simulator.world import World
from tests.unit.simulator.conftest import T0, FakeClock


def _run(seed: int, seconds: float, step: float) -> World:
    clock = FakeClock()
    world = World(seed, 20, clock=clock)
    k = 0
    while clock.t < T0 + seconds:
        k += 1
        clock.t = T0 + min(k * step, seconds)
        world.advance()
    return world


def test_same_seed_same_truth_whatever_the_advance_steps() -> None:
    a, b = _run(3, 120, 0.37), _run(3, 120, 120)
    assert a.activities() == b.activities()
    assert a.interactions() == b.interactions()
    assert a.transfers() == b.transfers()
    assert _run(4, 120, 120).activities() != a.activities()


def test_agents_log_in_within_three_seconds(world: World, clock: FakeClock) -> None:
    clock.advance(3.1)
    world.advance()
    assert world.agent_ids[:2] == ["01", "02"]
    for snap in world.agent_status():
        assert snap.presence.category == "Ready"
        assert snap.presence.start_ms <= int(T0 * 1000) + 3000


def test_dozens_of_interaction_activities_in_30_seconds(world: World, clock: FakeClock) -> None:
    clock.advance(30)
    world.advance()
    kinds = Counter(a.type for a in world.activities())
    assert kinds["Interaction"] >= 24
    assert kinds["Workload"] > 20


def _by_agent(acts: list[TruthActivity], type_: str) -> dict[str, list[TruthActivity]]:
    out: dict[str, list[TruthActivity]] = {}
    for a in acts:
        if a.type == type_:
            out.setdefault(a.agent_id, []).append(a)
    return out


def test_presence_and_workload_are_contiguous(world: World, clock: FakeClock) -> None:
    clock.advance(600)
    world.advance()
    acts = world.activities()
    for type_ in ("Presence", "Workload"):
        for agent, items in _by_agent(acts, type_).items():
            for prev, nxt in zip(items, items[1:]):
                assert prev.end_ms == nxt.start_ms, (agent, prev, nxt)
                assert prev.start_ms < prev.end_ms
            assert items[-1].end_ms is None
    names = {(a.category, a.name, a.eligible) for a in acts if a.type == "Presence"}
    assert names == {
        ("LoggedOut", "Logged Out", False), ("Ready", "Ready", True), ("Away", "Break", False),
        ("ExtendedAway", "Lunch", False), ("ExtendedAway", "Meeting", False),
    }
    assert all(a.workload is not None and a.workload[0] >= 0 for a in acts if a.type == "Workload")


def test_interactions_happen_only_while_ready(world: World, clock: FakeClock) -> None:
    clock.advance(600)
    world.advance()
    acts = world.activities()
    presences = _by_agent(acts, "Presence")
    for a in acts:
        if a.type != "Interaction":
            continue
        holder = [p for p in presences[a.agent_id]
                  if p.start_ms <= a.start_ms and (p.end_ms is None or p.end_ms > a.start_ms)]
        assert len(holder) == 1 and holder[0].category == "Ready", a
        end = holder[0].end_ms
        assert end is None or (a.end_ms is not None and a.end_ms <= end)


def test_interaction_activity_sequences(world: World, clock: FakeClock) -> None:
    clock.advance(300)
    world.advance()
    chains: dict[str | None, list[str]] = {}
    for a in world.activities():
        if a.type == "Interaction":
            chains.setdefault(a.channel_guid, []).append(a.category or "")
    seen = {tuple(c) for c in chains.values()}
    assert ("Ringing", "Connected", "Wrap") in seen
    assert ("Ringing", "Unexpected") in seen
    assert seen <= {("Ringing", "Connected", "Wrap"), ("Ringing", "Unexpected"), ("Ringing",),
                    ("Ringing", "Connected")}
    unexpected = [a for a in world.activities() if a.category == "Unexpected"]
    assert all(a.reason == "NoAnswer" for a in unexpected)


def test_consult_and_blind_transfers(world: World, clock: FakeClock) -> None:
    clock.advance(300)
    world.advance()
    transfers = world.transfers()
    assert {t.kind for t in transfers} == {"consult", "blind"}
    acts = world.activities()
    for t in transfers:
        mine = [a for a in acts if a.interaction_guid == t.interaction_guid]
        first_connected = [a for a in mine if a.agent_id == t.from_agent and a.category == "Connected"]
        assert [a.end_ms for a in first_connected] == [t.at_ms]
        second_ringing = [a for a in mine if a.agent_id == t.to_agent and a.category == "Ringing"]
        assert len(second_ringing) == 1
        if t.kind == "consult":
            second_connected = [a for a in mine if a.agent_id == t.to_agent and a.category == "Connected"]
            assert second_connected[0].start_ms < t.at_ms
            assert second_connected[0].direction == "Internal"
        else:
            assert second_ringing[0].start_ms >= t.at_ms
            assert second_ringing[0].direction == "Inbound"


def test_conference_keeps_both_agents_until_hangup(world: World, clock: FakeClock) -> None:
    clock.advance(600)
    world.advance()
    transferred = {t.interaction_guid for t in world.transfers()}
    conferences = 0
    for i in world.interactions():
        agents = [c for c in i.channels if c.role == "Agent" and c.end_reason == "Released"]
        if len(agents) == 2 and i.guid not in transferred and i.end_ms is not None:
            conferences += 1
            ext = i.channels[0]
            wraps = [next(e for e in c.events if e.type == "Wrap") for c in agents]
            assert all(w.start_ms == ext.end_ms for w in wraps)
    assert conferences > 0


def test_ccr_channel_only_after_completion(world: World, clock: FakeClock) -> None:
    seen_ccr = 0
    for _ in range(80):
        clock.advance(3)
        world.advance()
        for i in world.interactions():
            ccr = [c for c in i.channels if c.party_id == "CCRConnect"]
            if ccr:
                seen_ccr += 1
                assert i.status == "Completed" and i.end_ms is not None
                assert ccr[0].role == "System" and ccr[0].end_ms == i.end_ms
            if i.end_ms is None:
                assert not ccr
    assert seen_ccr > 0


def test_held_events_name_the_initiating_agent(world: World, clock: FakeClock) -> None:
    clock.advance(300)
    world.advance()
    held = [(i, e) for i in world.interactions() for e in i.channels[0].events if e.type == "Held"]
    assert held
    for i, e in held:
        assert i.channels[0].role == "External"
        assert e.properties is not None
        agent = e.properties["initiatingAgentId"]
        assert any(c.party_id == agent for c in i.channels[1:])


def test_agent_status_is_the_open_activities(world: World, clock: FakeClock) -> None:
    clock.advance(45)
    world.advance()
    open_acts = {(a.agent_id, a.type, a.start_ms, a.category)
                 for a in world.activities() if a.end_ms is None}
    from_status = set()
    for s in world.agent_status():
        from_status.add((s.agent_id, "Presence", s.presence.start_ms, s.presence.category))
        from_status.add((s.agent_id, "Workload", s.workload.start_ms, None))
        from_status |= {(s.agent_id, "Interaction", x.start_ms, x.category) for x in s.interactions}
    assert open_acts == from_status


def test_calls_waiting_too_long_are_abandoned(clock: FakeClock) -> None:
    world = World(5, 1, clock=clock, calls_per_second=0.5)
    clock.advance(400)
    world.advance()
    abandoned = [i for i in world.interactions() if i.channels[0].end_reason == "Abandoned"]
    assert abandoned
    for i in abandoned:
        assert i.status == "Completed" and i.end_ms is not None
        assert all(c.end_ms is not None for c in i.channels)
        queue = next(e for e in i.channels[0].events if e.type == "Queue")
        assert queue.properties is not None
        expected = "Delivered" if len(i.channels) > 1 else "Abandoned"  # re-queued after NoAnswer
        assert queue.properties["result"] == expected


def test_interactions_are_copies_a_reader_cannot_change_the_truth() -> None:
    world = _run(3, 120, 120)
    first = world.interactions()
    assert first and any(ch.events for i in first for ch in i.channels)
    for i in first:
        i.status = "changed"
        for ch in i.channels:
            ch.end_reason = "changed"
            for e in ch.events:
                e.name = "changed"
                if e.properties is not None:
                    e.properties["changed"] = True
            ch.events.clear()
        i.channels.clear()
    again = world.interactions()
    assert again == _run(3, 120, 120).interactions() and again != first
