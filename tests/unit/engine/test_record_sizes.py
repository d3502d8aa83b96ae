"""Record sizes as production brokers enforce them: oversized vendor strings are cut,
state records keep one copy of a value, an event that cannot fit is dead-lettered, and
the broker's refusals are not "Kafka unavailable"."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import anyio
import msgspec
import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
)

from streamer.config.load import parse_config
from streamer.config.model import KafkaConfig
from streamer.contract.events import Presence
from streamer.engine.emit import H_VALUE, MAX_FIELD_BYTES, OutRecord, SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.engine.runner import SourceRunner
from streamer.errors import KafkaRejectedError, KafkaUnavailableError, RetriableError
from streamer.kafka.checkpoint import StateStore
from streamer.kafka.publisher import Publisher, kafka_error, record_size
from streamer.timeutil import parse_ts
from streamer.track.ledger import Ledger
from streamer.vendors.vonage.mapping import presence_draft
from tests.unit.kafka.test_publisher import FakeProducer

T0 = parse_ts("2026-01-05T09:00:00Z")
REASON = "r" * 120_000
OBSERVED_MS = 1_800_000_000_000


def _presences(n: int, reason: str) -> list[Any]:
    """n presence changes of one agent, each with the same long reason."""
    cats = ["Away", "Ready", "ExtendedAway"]
    return [presence_draft("01", Presence(name=f"{cats[i % 3]}-{i}", category=cats[i % 3], reason=reason),
                           T0 + timedelta(seconds=i), "agent-activities") for i in range(n)]


def _state_record_size(ledger: Ledger) -> int:
    (rec,) = StateStore(KafkaConfig()).state_records("s", ledger.take_dirty())
    assert rec.value is not None
    return len(rec.value)


def test_a_120_kb_reason_makes_a_small_state_record() -> None:
    ledger = Ledger()
    out = emit_with_rules(_presences(9, REASON), ledger, SourceContext("vonage", "s", "cc"), OBSERVED_MS)
    size = _state_record_size(ledger)
    print(f"\nstate record after 9 changes with a 120 kB reason: {size} bytes")
    assert len(out) == 9
    assert size < MAX_FIELD_BYTES + 4096  # one cut copy (the current value) and 8 short recents


def test_recents_keep_no_copy_of_a_long_value() -> None:
    ledger = Ledger()
    for i, d in enumerate(_presences(9, REASON)):  # straight into the ledger: nothing cut on the way
        ledger.admit("agent/01", "presence", f"id{i}", d.at_ms, d.value, OBSERVED_MS)
    size = _state_record_size(ledger)
    assert size < len(REASON) + 4096  # the current value once, not 9 times
    # a late transition still chains to its predecessor, whose long strings are cut
    late = ledger.admit("agent/01", "presence", "late", T0.timestamp() * 1000 + 2500, {"category": "Ready"})
    assert late is not None and late.previous["category"] == "ExtendedAway"
    assert late.previous["reason"].endswith("bytes]") and len(late.previous["reason"]) < 100


def test_an_oversized_reason_is_cut_in_the_event_and_its_header() -> None:
    ctx = SourceContext("vonage", "s", "cc", max_field_bytes=1000)
    ((rec, _),) = emit_with_rules(_presences(1, REASON), Ledger(), ctx, OBSERVED_MS)
    ev = json.loads(rec.value)  # type: ignore[arg-type]
    reason = ev["data"]["current"]["reason"]
    assert reason.startswith("rrr") and reason.endswith(f"…[cut {120_000 - reason.index('…')} bytes]")
    assert len(reason.encode()) <= 1000
    assert json.loads(dict(rec.headers)[H_VALUE])["reason"] == reason
    assert record_size(rec) < 4000


def _runner(**kafka: Any) -> SourceRunner:
    cfg = parse_config({
        "kafka": kafka,
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
    }, env={})
    return SourceRunner(cfg.sources[0], cfg, publisher=None, store=None, source=object())  # type: ignore[arg-type]


class _Ep:
    name = "agent-activities"


def test_an_event_still_over_the_limit_is_dead_lettered_and_the_dead_letter_fits() -> None:
    runner = _runner(max_record_bytes=20_000)
    # many short fields: nothing to cut, but together over the limit
    fat = OutRecord("cc.agent", b"s1/01", msgspec.json.encode({"f": ["x" * 500] * 100}), [], "ev-1", "cc.agent.presence.changed")
    ok = OutRecord("cc.agent", b"s1/02", b"{}", [], "ev-2", "cc.agent.presence.changed")
    out = runner._fit(_Ep(), [ok, fat], 0)  # type: ignore[arg-type]
    assert out[0] is ok
    dead = out[1]
    assert dead.topic == "cc.deadletter" and record_size(dead) <= 20_000
    value = msgspec.json.decode(dead.value)  # type: ignore[arg-type]
    assert "cc.agent.presence.changed ev-1" in value["reason"] and "kafka.max_record_bytes (20000)" in value["reason"]
    assert value["raw_size"] == len(fat.value)  # type: ignore[arg-type]


def test_a_dead_letter_of_a_huge_body_fits_the_record_limit() -> None:
    from streamer.engine.source import BadInput

    for limit in (16_384, 100_000, 1_048_576):
        rec = _runner(max_record_bytes=limit)._dead_letter(_Ep(), BadInput("x" * 50_000, b"\xff" * 5_000_000), 0)  # type: ignore[arg-type]
        assert record_size(rec) <= limit, limit


@pytest.mark.parametrize("error", [
    MessageSizeTooLargeError("too big"), RecordListTooLargeError(), TopicAuthorizationFailedError(),
])
def test_refusals_are_not_kafka_unavailable(error: Exception) -> None:
    e = kafka_error(error, "publish to cc.agent")
    assert isinstance(e, KafkaRejectedError) and not isinstance(e, RetriableError)


def test_timeouts_are_kafka_unavailable() -> None:
    assert isinstance(kafka_error(KafkaTimeoutError(), "publish"), KafkaUnavailableError)
    assert isinstance(kafka_error(ConnectionResetError(), "publish"), KafkaUnavailableError)


def _Producer(error: Exception | None) -> FakeProducer:  # noqa: N802 - reads as the fake's class
    producer = FakeProducer()
    producer.error = error
    return producer


def test_the_publisher_reports_a_refused_record_as_rejected_and_names_it() -> None:
    producer = _Producer(TopicAuthorizationFailedError())
    pub = Publisher(KafkaConfig(), producer_factory=lambda **kw: producer)

    async def go() -> None:
        await pub.start()
        with pytest.raises(KafkaRejectedError, match=r"kafka rejected publish to cc\.agent \(key b'k'\)"):
            await pub.send([OutRecord("cc.agent", b"k", b"v", [])])

    anyio.run(go)


def test_the_publisher_refuses_a_record_over_the_limit_before_sending_anything() -> None:
    producer = _Producer(None)
    pub = Publisher(KafkaConfig(max_record_bytes=20_000), producer_factory=lambda **kw: producer)

    async def go() -> None:
        await pub.start()
        big = OutRecord("cc.streamer.state", b"s|agent/01", b"x" * 30_000, [])
        with pytest.raises(KafkaRejectedError, match=r"cc\.streamer\.state .* over kafka\.max_record_bytes \(20000\)"):
            await pub.send([OutRecord("cc.agent", b"k", b"v", []), big])

    anyio.run(go)
    assert producer.sent == 0


def test_a_refused_restore_reports_failing_and_retries_instead_of_killing_the_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamer.engine import runner as runner_module
    from streamer.kafka.checkpoint import Restored
    from tests.unit.kafka.test_publisher import FakeProducer, _Source

    monkeypatch.setattr(runner_module, "REJECTED_RETRY_S", 0.0)
    cfg = parse_config({
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
    }, env={})
    producer = FakeProducer()
    sent: list[OutRecord] = []
    pub = Publisher(cfg.kafka, producer_factory=lambda **kw: producer)
    real_send = pub.send

    async def send(records: list[OutRecord]) -> Any:
        sent.extend(records)
        return await real_send(records)

    pub.send = send  # type: ignore[method-assign]

    class Store(StateStore):
        calls = 0

        async def restore(self, source_id: str, **kw: Any) -> Restored:
            Store.calls += 1
            if Store.calls == 1:
                raise KafkaRejectedError("kafka rejected read of t.streamer.state: TopicAuthorizationFailedError")
            return Restored(None, {})

    runner = SourceRunner(cfg.sources[0], cfg, pub, Store(cfg.kafka), source=_Source())

    async def go() -> bool:
        await pub.start()
        async with runner.lock:
            return await runner._restore_until_done()

    assert anyio.run(go) is True and Store.calls == 2
    health = [json.loads(r.value)["data"] for r in sent if r.topic == "cc.source" and r.value]  # type: ignore[arg-type]
    assert health and health[0]["status"] == "failing" and "TopicAuthorizationFailed" in health[0]["reason"]


@pytest.mark.parametrize("n", [0, 1, 5])
def test_the_quick_size_check_agrees_with_the_exact_size(n: int) -> None:
    from streamer.kafka.publisher import size_over

    for value_len in range(0, 3000, 7):
        r = OutRecord("t", b"s1/agent-01", b"v" * value_len, [(f"h{i}", b"x" * i) for i in range(n)])
        exact = record_size(r)
        for limit in (exact - 1, exact, exact + 1):
            assert size_over(r, limit) == (exact if exact > limit else None)
