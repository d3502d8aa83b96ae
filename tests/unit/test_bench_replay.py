"""The replay bench's premise: a replayed pass does the recorded pass's work again (the
same polls, the same events byte for byte), so its CPU time compares across runs."""

from __future__ import annotations

from bench import replay


def test_a_replayed_pass_publishes_what_the_recorded_pass_published() -> None:
    bodies, recorded = replay.record(agents=30, warmup_s=6, measure_s=10)
    # seconds 6 to 16: agent-status each second, the two history endpoints on even ones
    assert recorded.events > 0 and recorded.polls == 11 + 6 * 2
    again = replay.replay(bodies, warmup_s=6, measure_s=10)
    assert (again.events, again.polls, again.digest) == (recorded.events, recorded.polls, recorded.digest)
