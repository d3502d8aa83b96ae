"""`streamer verify` without IO: the comparison, the coverage, the report, the history read."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from streamer import cli
from streamer.cli.verify import Expected, Published, compare, coverage, expected_events
from streamer.cli.verify_report import backfill_command, render_json, render_text
from streamer.config.model import SourceConfig, dump_config
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft, SourceContext, draft_event_id, emit
from streamer.engine.history import RangeSource, chunk_ms
from streamer.engine.source import Endpoint, PollResult
from streamer.timeutil import format_ms
from streamer.track.ledger import Ledger
from streamer.track.window import MAX_WINDOW_MS

T0 = 1_700_000_000_000
PRESENCE, SESSION, STATE = "cc.agent.presence.changed", "cc.agent.session.started", "cc.interaction.state.changed"


def exp(i: int, type_: str = PRESENCE, endpoint: str = "agent-activities") -> Expected:
    return Expected(id=f"id-{i}", type=type_, entity_id=f"a{i}", transition="presence:Ready", at_ms=T0 + i,
                    endpoint=endpoint)


def published(*events: tuple[str, str]) -> Published:
    p = Published(copies={}, types={}, watermarks={}, gaps={})
    for eid, t in events:
        p.add_event(eid, t)
    return p


def test_all_found_once_is_clean() -> None:
    by_type, missing = compare([exp(1), exp(2)], published(("id-1", PRESENCE), ("id-2", PRESENCE)), {PRESENCE})
    c = by_type[PRESENCE]
    assert (c.expected, c.found, c.missing, c.duplicates, c.unexpected) == (2, 2, 0, 0, 0) and not missing


def test_missing_duplicated_and_unexpected_are_told_apart() -> None:
    got = published(("id-1", PRESENCE), ("id-1", PRESENCE), ("id-9", PRESENCE))
    by_type, missing = compare([exp(2), exp(1), exp(3), exp(1)], got, {PRESENCE})  # exp(1) read twice: one id
    c = by_type[PRESENCE]
    assert (c.expected, c.found, c.missing, c.duplicates, c.unexpected) == (3, 1, 2, 1, 1)
    assert [m.id for m in missing] == ["id-2", "id-3"]  # by vendor time


def test_types_history_cannot_prove_are_counted_apart() -> None:
    got = published(("s-1", SESSION), ("s-1", SESSION), ("id-1", PRESENCE))
    by_type, _ = compare([exp(1)], got, {PRESENCE, STATE})
    session = by_type[SESSION]
    assert not session.verifiable and session.found == 1 and session.duplicates == 1
    assert session.expected == session.missing == session.unexpected == 0 and "inferred" in (session.note or "")
    assert by_type[STATE].verifiable and by_type[STATE].expected == 0  # provable, none in the range


def test_a_draft_id_is_the_id_emit_gives_its_event() -> None:
    ctx = SourceContext("vonage", "tenant-a", "cc")
    p = Presence(name="Ready", category="Ready")
    d = Draft(type=PRESENCE, entity_id="a1", stream="presence", transition="presence:Ready", at_ms=T0,
              value={"name": "Ready", "category": "Ready"}, previous_type=Presence, endpoint="agent-activities",
              payload=AgentPresenceChanged(agent_id="a1", previous=None, current=p, since=format_ms(T0)))
    made = emit(d, Ledger(), ctx, T0 + 5)
    assert made is not None and made[0].event_id == draft_event_id(d, ctx)


def test_a_history_endpoint_covers_what_its_newest_watermark_covers() -> None:
    c = coverage("agent-activities", history=True, start_ms=T0, end_ms=T0 + 60_000,
                 watermarks=[T0 - 5_000, T0 + 90_000], gaps=[], tolerance_ms=10_000)
    assert c.status == "covered" and c.complete_up_to == format_ms(T0 + 90_000) and not c.holes
    short = coverage("agent-activities", history=True, start_ms=T0, end_ms=T0 + 60_000,
                     watermarks=[T0 + 30_000], gaps=[], tolerance_ms=10_000)
    assert short.status == "not covered"
    assert [(h.from_, h.to) for h in short.holes] == [(format_ms(T0 + 30_000), format_ms(T0 + 60_000))]


def test_a_snapshot_endpoint_has_holes_where_its_watermarks_stop() -> None:
    marks = [T0 - 1_000, T0 + 8_000, T0 + 16_000, T0 + 50_000, T0 + 58_000, T0 + 66_000]
    c = coverage("agent-status", history=False, start_ms=T0, end_ms=T0 + 60_000, watermarks=marks, gaps=[],
                 tolerance_ms=10_000)
    assert c.status == "not covered"
    assert [(h.from_, h.to, h.explained) for h in c.holes] == [(format_ms(T0 + 16_000), format_ms(T0 + 50_000), False)]
    gap = (T0 + 17_000, T0 + 48_000)  # the daemon's gap: from its last good poll to when it noticed
    explained = coverage("agent-status", history=False, start_ms=T0, end_ms=T0 + 60_000, watermarks=marks,
                         gaps=[gap, (T0 - 900_000, T0 - 800_000)], tolerance_ms=10_000)
    assert explained.status == "explained" and explained.holes[0].explained
    assert [(g.from_, g.to) for g in explained.gaps] == [(format_ms(gap[0]), format_ms(gap[1]))]


def test_a_snapshot_endpoint_not_watched_at_the_start_or_end_of_the_range() -> None:
    c = coverage("agent-status", history=False, start_ms=T0, end_ms=T0 + 60_000, watermarks=[T0 + 5_000, T0 + 12_000],
                 gaps=[], tolerance_ms=10_000)
    assert [(h.from_, h.to) for h in c.holes] == [(format_ms(T0), format_ms(T0 + 5_000)),
                                                 (format_ms(T0 + 12_000), format_ms(T0 + 60_000))]
    none = coverage("agent-status", history=False, start_ms=T0, end_ms=T0 + 60_000, watermarks=[], gaps=[],
                    tolerance_ms=10_000)
    assert none.complete_up_to is None and [(h.from_, h.to) for h in none.holes] == [(format_ms(T0), format_ms(T0 + 60_000))]


class FakeHistory(Endpoint):
    """A history of one presence row per second; ``poll`` serves ``[cursor - lookback, now - lag)``."""

    history = True
    proves = frozenset({PRESENCE})

    def __init__(self, lookback_ms: int, lag_ms: int) -> None:
        self.name, self.interval = "agent-activities", 1.0
        self.lookback_ms, self.lag_ms = lookback_ms, lag_ms
        self.reads: list[tuple[int, int]] = []

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        assert cursor_ms is not None
        start, end = cursor_ms - self.lookback_ms, now_ms - self.lag_ms
        self.reads.append((start, end))
        drafts = [Draft(type=t, entity_id="a1", stream="presence", transition=f"presence:{ms}", at_ms=ms,
                        payload=None, endpoint=self.name)
                  for ms in range(start - start % 1000, end, 1000) if ms >= start
                  for t in (PRESENCE, SESSION)]
        yield PollResult(drafts, cursor_ms=end, complete_up_to_ms=end)


class Closeable:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = endpoints

    async def aclose(self) -> None:
        pass


def test_the_history_read_keeps_the_range_and_the_types_the_endpoint_proves() -> None:
    cfg = SourceConfig(id="s", vendor="vonage", base_url="http://x", auth={"type": "bearer", "token": "t"},  # type: ignore[arg-type]
                       lookback=20.0, safety_lag=0.5)
    ep = FakeHistory(20_000, 500)
    rs = RangeSource(cfg=cfg, source=Closeable([ep]), endpoints=[ep])
    start, end = T0, T0 + 120_000
    expected, provable = anyio.run(lambda: expected_events(rs, "vonage", "cc", start, end))
    assert provable == {PRESENCE}
    assert sorted(e.at_ms for e in expected) == list(range(start, end, 1000)) and {e.type for e in expected} == {PRESENCE}
    assert all(e.id == draft_event_id(Draft(type=PRESENCE, entity_id="a1", stream="presence", transition=e.transition,
                                            at_ms=e.at_ms, payload=None, endpoint=ep.name),
                                      SourceContext("vonage", "s", "cc")) for e in expected)
    assert min(a for a, _ in ep.reads) <= start and max(b for _, b in ep.reads) >= end
    # the last read goes a lookback past the end: a row of the range the vendor writes late
    assert max(b for _, b in ep.reads) >= end + 20_000


def test_chunks_never_exceed_the_vendor_window() -> None:
    assert chunk_ms(400 * 24 * 3600 * 1000, 60_000) <= min(MAX_WINDOW_MS, 3_600_000)
    assert chunk_ms(10_000, 60_000) == 61_000


def report_of(missing: int, duplicates: int) -> object:
    from streamer.cli.verify import Coverage, MissingEvent, Report, TypeCount

    c = TypeCount(verifiable=True, expected=5, found=5 - missing, missing=missing, duplicates=duplicates)
    return Report(
        source="vonage-it", from_=format_ms(T0), to=format_ms(T0 + 60_000), ok=not missing and not duplicates,
        expected=5, found=5 - missing, missing=missing, duplicates=duplicates, unexpected=0,
        by_type={PRESENCE: c, SESSION: TypeCount(verifiable=False, found=2, note="inferred")},
        missing_events=[MissingEvent(id="id-1", type=PRESENCE, entity_id="a1", transition="presence:Ready",
                                     time=format_ms(T0 + 1), endpoint="agent-activities")] if missing else [],
        missing_endpoints=["agent-activities"] if missing else [],
        missing_from=format_ms(T0 + 1) if missing else None, missing_to=format_ms(T0 + 2) if missing else None,
        coverage=[Coverage(endpoint="agent-status", history=False, status="covered", complete_up_to=format_ms(T0))],
    )


def test_the_json_report_has_the_contract_fields() -> None:
    doc = json.loads(render_json(report_of(1, 0)))  # type: ignore[arg-type]
    for key in ("expected", "found", "missing", "duplicates", "unexpected"):
        assert isinstance(doc[key], int), key
    assert doc["by_type"][PRESENCE]["missing"] == 1 and doc["from"] == format_ms(T0)


def test_the_text_report_says_how_to_publish_what_is_missing() -> None:
    report = report_of(1, 0)
    text = render_text(report, "c.yaml")  # type: ignore[arg-type]
    command = backfill_command(report, "c.yaml")  # type: ignore[arg-type]
    assert command == (f"streamer backfill --config c.yaml --source vonage-it --from {format_ms(T0 + 1)} "
                       f"--to {format_ms(T0 + 2)} --endpoint agent-activities")
    assert command in text and "id-1" in text and "not verifiable" in text and "FAILED" in text
    clean = report_of(0, 0)
    assert backfill_command(clean, "c.yaml") is None and "OK" in render_text(clean, "c.yaml")  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "says"), [
    (["--source", "nope"], "--source: no source 'nope'"),
    (["--source", "s", "--endpoint", "bogus"], "--endpoint: bogus"),
    (["--source", "s", "--to", "2023-11-14T22:00:00Z"], "--to: must be after --from"),
    (["--source", "s", "--from", "yesterday"], "got 'yesterday'"),
])
def test_usage_errors_exit_2_and_name_the_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str,
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(dump_config({"kafka": {"bootstrap_servers": "127.0.0.1:1"}, "sources": [
        {"id": "s", "vendor": "vonage", "base_url": "http://127.0.0.1:1", "auth": {"type": "bearer", "token": "t"}}]}))
    argv = ["verify", "--config", str(cfg), "--from", "2023-11-14T22:13:20Z", "--to", "2023-11-14T23:00:00Z", *args]
    assert cli.main(argv) == 2
    assert says in capsys.readouterr().err


def test_a_hole_is_judged_whole_not_by_the_part_inside_the_range() -> None:
    c = coverage("agent-status", history=False, start_ms=T0, end_ms=T0 + 60_000,
                 watermarks=[T0 + 2_000, T0 + 58_000, T0 + 120_000], gaps=[], tolerance_ms=10_000)
    assert [(h.from_, h.to, h.explained) for h in c.holes] == [
        (format_ms(T0), format_ms(T0 + 2_000), False),  # before the first watermark, and no gap says why
        (format_ms(T0 + 2_000), format_ms(T0 + 58_000), False),
        (format_ms(T0 + 58_000), format_ms(T0 + 60_000), False),  # 62 s without a watermark, 2 s of it inside
    ]


def test_a_type_two_history_endpoints_prove_is_verifiable_only_with_both() -> None:
    from streamer.cli.verify import left_out_notes, provable_types

    cfg = SourceConfig(id="s", vendor="vonage", base_url="http://x", auth={"type": "bearer", "token": "t"})  # type: ignore[arg-type]
    activities, interactions = FakeHistory(0, 0), FakeHistory(0, 0)
    activities.proves = frozenset({PRESENCE, STATE})
    interactions.name, interactions.proves = "interactions", frozenset({STATE, "cc.interaction.transferred"})
    source = Closeable([activities, interactions])
    both = RangeSource(cfg=cfg, source=source, endpoints=[activities, interactions])
    assert provable_types(both) == {PRESENCE, STATE, "cc.interaction.transferred"}
    one = RangeSource(cfg=cfg, source=source, endpoints=[interactions])
    assert provable_types(one) == {"cc.interaction.transferred"}
    assert "agent-activities" in left_out_notes(one)[STATE]
