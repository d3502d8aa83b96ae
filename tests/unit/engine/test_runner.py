"""SourceRunner on in-memory Kafka (tests/fakes.py): what a commit writes and in which
order, what a failed send does to the next one, dead letters, gap and health events,
and when the cursor moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.config.model import StreamerConfig
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft
from streamer.engine.runner import poll_phase
from streamer.engine.source import BadInput, Endpoint, PollResult
from streamer.errors import KafkaUnavailableError, RetriableError, SkippableError
from streamer.vendors.kit.drafts import interaction_state_draft
from tests.fakes import FakeLog, Stepper, fakes
from tests.waiting import eventually

T0 = 1_795_000_000_000
PREFIX = "cc"


def config(**settings: Any) -> StreamerConfig:
    return parse_config({
        "kafka": {"topic_prefix": PREFIX, "partitions": 3},
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
        **settings,
    }, env={})


def presence(agent: str, n: int) -> Draft:
    p = Presence(name=f"state{n}", category="Ready")
    return Draft(type="cc.agent.presence.changed", entity_id=agent, stream="presence", transition=f"state{n}",
                 at_ms=T0 + n * 1000, value=msgspec.to_builtins(p), previous_type=Presence,
                 payload=AgentPresenceChanged(agent_id=agent, previous=None, current=p, since="2026-11-19T00:00:00Z"),
                 endpoint="agent-activities")


class Scripted(Endpoint):
    """Serves, on each poll, the next of ``script`` (a PollResult, or an exception to raise);
    then nothing. Remembers the cursor each poll was given."""

    name = "agent-activities"
    history = True

    def __init__(self, script: list[PollResult | Exception], interval: float = 1.0) -> None:
        self.script = list(script)
        self.interval = interval
        self.cursors: list[int | None] = []
        self.resets = 0

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        self.cursors.append(cursor_ms)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            yield step

    def reset(self) -> None:
        self.resets += 1


def topics(log: FakeLog, since: int = 0) -> list[str]:
    return [r.topic.removeprefix(PREFIX + ".") for r in log.written[since:]]


def ids(log: FakeLog) -> list[str]:
    return [msgspec.json.decode(r.value)["id"] for r in log.written
            if r.topic in {f"{PREFIX}.agent", f"{PREFIX}.interaction", f"{PREFIX}.stats"} and r.value]


def checkpoints(log: FakeLog) -> list[dict[str, Any]]:
    return log.values(f"{PREFIX}.streamer.checkpoints")


async def test_a_commit_publishes_events_then_state_with_the_checkpoint_last() -> None:
    s = Stepper(config())
    ep = Scripted([PollResult([presence("a1", 1), presence("a2", 1)], cursor_ms=T0 + 5000)])
    await s.poll(ep, T0 + 10_000)
    assert topics(s.log) == [
        "streamer.checkpoints",  # the restore's, before anything else
        "agent", "agent", "agent.current", "agent.current", "streamer.state", "streamer.state", "streamer.checkpoints",
    ]
    cp = checkpoints(s.log)[-1]
    assert cp["cursors"] == {"agent-activities": T0 + 5000}
    # it covers the output up to the previous commit only: this commit's events are the tail
    assert not any(k.startswith(f"{PREFIX}.agent/") and v for k, v in cp["offsets"].items())
    assert len(set(ids(s.log))) == 2


async def test_a_failed_send_makes_the_next_commit_restore_first_and_nothing_is_published_twice() -> None:
    s = Stepper(config())
    ep = Scripted([PollResult([presence("a1", 1)], cursor_ms=T0 + 1000),
                   PollResult([presence("a1", 2), presence("a2", 2)], cursor_ms=T0 + 2000),
                   PollResult([presence("a1", 2), presence("a2", 2), presence("a3", 3)], cursor_ms=T0 + 3000)])
    await s.poll(ep, T0 + 10_000)
    restores = s.store.restores
    s.publisher.fail_sends, s.publisher.land_failed = 1, True  # the events land, their ack is lost
    with pytest.raises(KafkaUnavailableError):
        await s.poll(ep, T0 + 11_000)
    assert s.runner.needs_restore and ep.resets == 2  # forgotten: the re-poll reads the rows again
    assert s.runner.checkpoint.cursors["agent-activities"] == T0 + 1000
    await s.poll(ep, T0 + 12_000)  # the vendor serves the lost window again, and one more row
    assert s.store.restores == restores + 1 and s.publisher.settles >= 1
    assert ep.cursors == [None, T0 + 1000, T0 + 1000]
    assert len(ids(s.log)) == len(set(ids(s.log))) == 4  # a1:1, a1:2, a2:2 (read back, not again), a3:3
    assert s.runner.checkpoint.cursors["agent-activities"] == T0 + 3000


async def test_the_cursor_moves_only_once_the_state_and_checkpoint_are_acked() -> None:
    s = Stepper(config())
    ep = Scripted([PollResult([presence("a1", 1)], cursor_ms=T0 + 1000),
                   PollResult([presence("a1", 2)], cursor_ms=T0 + 2000)])
    await s.poll(ep, T0)  # restore and first commit
    original = s.publisher.send

    async def send(records: Any) -> Any:
        """The events are acked; the state and checkpoint send after them fails."""
        if any(r.topic.endswith(".streamer.checkpoints") for r in records):
            raise KafkaUnavailableError("kafka: checkpoint send failed (test)")
        return await original(records)

    s.publisher.send = send  # type: ignore[method-assign]
    with pytest.raises(KafkaUnavailableError):
        await s.poll(ep, T0 + 1000)
    s.publisher.send = original  # type: ignore[method-assign]
    assert [c["cursors"] for c in checkpoints(s.log)][-1] == {"agent-activities": T0 + 1000}
    restarted = s.restart()  # a crash now: the cursor on Kafka is the acked one
    await s.poll(Scripted([]), T0 + 2000)
    assert restarted.checkpoint.cursors == {"agent-activities": T0 + 1000}


async def test_bad_input_goes_to_dead_letters_and_the_rest_is_published() -> None:
    s = Stepper(config())
    ep = Scripted([PollResult([presence("a1", 1)], bad=[BadInput("unreadable row: expected int", b'{"x": "y"}')],
                              cursor_ms=T0 + 1000)])
    await s.poll(ep, T0)
    assert [b.reason for b in s.bad] == ["unreadable row: expected int"]
    assert s.bad[0].raw == b'{"x": "y"}' and s.bad[0].endpoint == "agent-activities"
    assert len(ids(s.log)) == 1 and s.cursors == {"agent-activities": T0 + 1000}


async def test_an_endpoint_down_too_long_publishes_a_gap_and_its_history_closes_it_as_fill() -> None:
    cfg = config()
    s = Stepper(cfg)
    ep = Scripted([PollResult([], cursor_ms=T0), PollResult([presence("a1", 1)], cursor_ms=T0 + 60_000)])
    await s.poll(ep, T0)
    await s.poll(ep, T0 + int((cfg.gap_after_intervals + 1) * ep.interval * 1000))
    gaps = [e for e in s.log.values(f"{PREFIX}.source") if e["type"] == "cc.source.gap"]
    assert len(gaps) == 1 and gaps[0]["data"]["endpoint"] == "agent-activities"
    assert s.log.values(f"{PREFIX}.agent")[0]["data"]["fill"] is True
    ep.script.append(PollResult([presence("a1", 2)]))
    await s.poll(ep, T0 + int((cfg.gap_after_intervals + 1.5) * 1000))  # polled in time: no gap
    assert len([e for e in s.log.values(f"{PREFIX}.source") if e["type"] == "cc.source.gap"]) == 1


async def test_the_loop_reports_health_and_dead_letters_a_skipped_poll() -> None:
    cfg = config()
    log, pub, store = fakes(cfg.kafka)
    from streamer.engine.runner import SourceRunner

    ep = Scripted([RetriableError("vendor: HTTP 503"), SkippableError("vendor: HTTP 400 body", raw=b"<html>"),
                   PollResult([presence("a1", 1)], cursor_ms=T0)], interval=0.001)

    class Src:
        endpoints = [ep]

        async def aclose(self) -> None:
            pass

    runner = SourceRunner(cfg.sources[0], cfg, pub, store, source=Src())  # type: ignore[arg-type]

    def health() -> list[tuple[str | None, str]]:
        return [(e["data"]["previous_status"], e["data"]["status"]) for e in log.values(f"{PREFIX}.source")
                if e["type"] == "cc.source.health.changed"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        assert await eventually(lambda: len(health()) >= 2 and bool(ids(log)))
        tg.cancel_scope.cancel()
    assert health() == [(None, "degraded"), ("degraded", "healthy")]
    assert [d["reason"] for d in log.values(f"{PREFIX}.deadletter")] == ["vendor: HTTP 400 body"]
    assert len(ids(log)) == 1


async def test_a_gap_names_the_error_that_began_the_silence_and_a_success_forgets_it() -> None:
    """After Kafka comes back a poll may fail for another reason (fenced while the group
    settles): the gap still names Kafka first, then the latest error. A successful poll
    forgets both, so the next silence names only its own error."""
    cfg = config()
    log, pub, store = fakes(cfg.kafka)
    from streamer.engine.runner import SourceRunner
    from streamer.errors import FencedError

    now = [T0 / 1000]

    class Clocked(Scripted):
        """Each failed poll takes a second of the runner's clock, each other one 0.1 ms:
        the gaps are where the failures are, however the test's loop is scheduled."""

        async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
            now[0] += 1.0 if self.script and isinstance(self.script[0], Exception) else 0.0001
            async for result in super().poll(cursor_ms, now_ms):
                yield result

    ep = Clocked([PollResult([], cursor_ms=T0), KafkaUnavailableError("kafka: broker unreachable"),
                  FencedError("source s1: not writable by this daemon now: a rebalance is under way"), PollResult([], cursor_ms=T0 + 1),
                  RetriableError("vendor: HTTP 503"), PollResult([], cursor_ms=T0 + 2)], interval=0.001)

    class Src:
        endpoints = [ep]

        async def aclose(self) -> None:
            pass

    runner = SourceRunner(cfg.sources[0], cfg, pub, store, clock=lambda: now[0], source=Src())  # type: ignore[arg-type]

    def gap_reasons() -> list[str]:
        return [e["data"]["reason"] for e in log.values(f"{PREFIX}.source") if e["type"] == "cc.source.gap"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        assert await eventually(lambda: len(gap_reasons()) >= 2)
        tg.cancel_scope.cancel()
    history = " (history endpoint: the range is re-read from its cursor)"
    assert gap_reasons() == [
        "kafka: broker unreachable; the latest error: source s1: not writable by this daemon now: a rebalance is under way"
        + history,
        "vendor: HTTP 503" + history,
    ]


async def test_a_commit_refused_by_the_group_says_why_and_writes_nothing() -> None:
    """The fence's text is the daemon's own reason (``Membership.write_refusal``): a lapsed
    lease names Kafka in the health event and the gap."""
    from streamer.errors import FencedError

    s = Stepper(config())
    ep = Scripted([PollResult([], cursor_ms=T0), PollResult([presence("a1", 1)], cursor_ms=T0 + 1000)])
    await s.poll(ep, T0)
    written = len(s.log.written)
    s.runner.write_refusal = lambda: "kafka: its group lease ran out: no heartbeat answered for 5.0s"
    with pytest.raises(FencedError) as refused:
        await s.poll(ep, T0 + 1000)
    assert str(refused.value) == ("source s1: not writable by this daemon now: "
                                  "kafka: its group lease ran out: no heartbeat answered for 5.0s")
    assert len(s.log.written) == written


async def test_idle_interactions_are_forgotten_within_a_hundredth_of_the_retention_after_it() -> None:
    """A prune scan reads every prunable key, so a commit runs one at most once per
    hundredth of ``state_retention`` (2 s of 200 s here), not on every commit."""
    s = Stepper(config(state_retention="200s"))
    ended = interaction_state_draft(interaction="i1", agent=None, state="ended", at_ms=T0, endpoint="agent-activities",
                                    transition="ended", raw="Ended")
    ep = Scripted([PollResult([ended], cursor_ms=T0 + 1), PollResult([], cursor_ms=T0 + 2),
                   PollResult([], cursor_ms=T0 + 3), PollResult([], cursor_ms=T0 + 4)])
    await s.poll(ep, T0)
    assert "interaction/i1" in s.runner.ledger
    await s.poll(ep, T0 + 199_000)  # a scan: i1 has 1 s to go
    await s.poll(ep, T0 + 200_500)  # i1 is past the retention, but the next scan is due at 201 s
    assert "interaction/i1" in s.runner.ledger
    await s.poll(ep, T0 + 201_000)
    assert "interaction/i1" not in s.runner.ledger
    last = s.log.read(f"{PREFIX}.streamer.state")[-1]
    assert last.key.endswith(b"interaction/i1") and last.value is None  # its tombstone


async def test_a_quiet_interaction_is_sealed_taken_back_when_served_again_and_forgotten_on_time() -> None:
    """The daemon's ledger seals what was not presented for a sixth of ``state_retention``
    (33 s of 200 s here): a late re-serve of it publishes nothing twice, and it is still
    forgotten, with its tombstone, when the retention runs out."""
    s = Stepper(config(state_retention="200s"))
    ended = interaction_state_draft(interaction="i1", agent=None, state="ended", at_ms=T0, endpoint="agent-activities",
                                    transition="ended", raw="Ended")
    ep = Scripted([PollResult([ended], cursor_ms=T0 + 1), PollResult([], cursor_ms=T0 + 2),
                   PollResult([ended], cursor_ms=T0 + 3), PollResult([], cursor_ms=T0 + 4),
                   PollResult([], cursor_ms=T0 + 5)])
    await s.poll(ep, T0)
    published = ids(s.log)
    assert len(published) == 1
    await s.poll(ep, T0 + 40_000)
    assert s.runner.ledger.sealed() == 1 and "interaction/i1" in s.runner.ledger

    def gauge(state: str) -> float | None:
        return s.runner.metrics.registry.get_sample_value("ccstream_ledger_entities", {"source": "s1", "state": state})

    assert (gauge("held"), gauge("sealed")) == (1, 1)  # held: the source's own entity (health, gaps)
    await s.poll(ep, T0 + 50_000)  # served again: taken back, not published again
    assert ids(s.log) == published and s.runner.ledger.sealed() == 0
    assert (gauge("held"), gauge("sealed")) == (2, 0)
    await s.poll(ep, T0 + 249_000)  # quiet since 50 s: sealed again by this scan, 1 s before its retention runs out
    assert s.runner.ledger.sealed() == 1 and "interaction/i1" in s.runner.ledger
    await s.poll(ep, T0 + 251_000)
    assert "interaction/i1" not in s.runner.ledger and s.runner.ledger.sealed() == 0
    last = s.log.read(f"{PREFIX}.streamer.state")[-1]
    assert last.key.endswith(b"interaction/i1") and last.value is None  # its tombstone


def test_sources_started_together_poll_out_of_step() -> None:
    phases = [poll_phase(f"vonage-{i:03d}", "agent-status", 1.0) for i in range(100)]
    assert phases == [poll_phase(f"vonage-{i:03d}", "agent-status", 1.0) for i in range(100)]  # fixed
    assert all(0 <= p < 1.0 for p in phases)
    spread = sorted(phases)
    assert spread[0] < 0.1 and spread[-1] > 0.9
    assert max(b - a for a, b in zip(spread, spread[1:])) < 0.2  # no second without a poll in it
    assert poll_phase("vonage-000", "agent-status", 1.0) != poll_phase("vonage-000", "interactions", 1.0)
    assert poll_phase("vonage-000", "agent-status", 4.0) == 4 * phases[0]


async def test_the_second_poll_waits_its_phase_more_and_the_others_keep_the_interval() -> None:
    cfg = config()
    log, pub, store = fakes(cfg.kafka)
    from streamer.engine.runner import SourceRunner

    ep = Scripted([PollResult([presence("a1", n)], cursor_ms=T0 + n) for n in range(1, 4)], interval=10.0)

    class Src:
        endpoints = [ep]

        async def aclose(self) -> None:
            pass

    runner = SourceRunner(cfg.sources[0], cfg, pub, store, source=Src(), clock=lambda: 1_000.0)  # type: ignore[arg-type]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await anyio.lowlevel.checkpoint()

    runner.sleep = sleep
    async with anyio.create_task_group() as tg:
        tg.start_soon(runner.run)
        assert await eventually(lambda: len(waits) >= 3)
        tg.cancel_scope.cancel()
    phase = poll_phase(cfg.sources[0].id, ep.name, ep.interval)
    assert 0 < phase < ep.interval
    assert waits[:3] == [pytest.approx(ep.interval + phase), pytest.approx(ep.interval), pytest.approx(ep.interval)]
    assert len(ids(log)) == 3
