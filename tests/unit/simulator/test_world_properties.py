"""Property tests: world invariants hold for any seed, size and speed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.simulator.world import World
from tests.unit.simulator.conftest import FakeClock


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), agents=st.integers(1, 12), speed=st.sampled_from([0.5, 1.0, 4.0]),
       steps=st.lists(st.floats(0.1, 20.0), min_size=1, max_size=8))
def test_invariants(seed: int, agents: int, speed: float, steps: list[float]) -> None:
    clock = FakeClock()
    world = World(seed, agents, clock=clock, speed=speed)
    for step in steps:
        clock.advance(step)
        now = world.advance()
        assert world.now_ms() == now
        acts = world.activities()
        assert all(a.start_ms <= now and (a.end_ms is None or a.start_ms <= a.end_ms <= now) for a in acts)
        for snap in world.agent_status():
            live = sum(x.category in ("Ringing", "Connected") for x in snap.interactions)
            assert snap.workload.workload == (live, 0, 0)
            if snap.interactions:
                assert snap.presence.category == "Ready"
        for inter in world.interactions():
            channels_open = any(c.end_ms is None for c in inter.channels)
            assert (inter.status == "Completed") == (inter.end_ms is not None)
            if inter.end_ms is not None:
                assert not channels_open
                assert inter.end_ms == max(c.end_ms or 0 for c in inter.channels)
            for ch in inter.channels:
                assert all(e.start_ms >= ch.start_ms for e in ch.events)
                if ch.end_ms is not None:
                    assert all(e.end_ms is not None and e.end_ms <= ch.end_ms for e in ch.events)
        for t in world.transfers():
            assert t.from_agent != t.to_agent and t.kind in ("consult", "blind")
