"""``streamer verify``: prove that a time range of a source is on Kafka, each event once.

Event ids are computed from the vendor's facts (:func:`streamer.engine.emit.draft_event_id`), so
the ids a range must have can be computed again from the vendor's history: the range is
read through the daemon's own endpoints (:mod:`streamer.engine.history`, as ``streamer backfill``
reads it), and compared with the source's events on the output topics, read to their end
with a plain consumer (no group, nothing committed). Nothing is published, no state or
checkpoint is written.

Only the types a history endpoint *proves* (``Endpoint.proves``) are counted; the others
(snapshot-only, inferred, statistics) are reported as not verifiable, with what was found
and any duplicate. Coverage: per endpoint, whether ``[from, to)`` is covered by the
source's ``cc.source.watermark`` events, and which holes ``cc.source.gap`` events explain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal, TextIO

import msgspec

from streamer.config.model import KafkaConfig, StreamerConfig
from streamer.engine.emit import SourceContext, draft_event_id
from streamer.engine.history import RangeSource, open_range, progress_bar, read_range
from streamer.engine.source import endpoint_interval
from streamer.kafka.checkpoint import TAILED, ConsumerRecord, partitions, scan
from streamer.timeutil import format_ms, parse_ts, to_ms

__all__ = [
    "Expected", "Published", "TypeCount", "Span", "Coverage", "Report", "MISSING_SHOWN",
    "compare", "coverage", "expected_events", "provable_types", "read_published", "verify",
]

MISSING_SHOWN = 10
"""How many missing events the report lists with their facts."""


class Expected(msgspec.Struct, frozen=True):
    """An event the history says the range must hold: its id and the facts behind it."""

    id: str
    type: str
    entity_id: str
    transition: str
    at_ms: int
    endpoint: str


class Published(msgspec.Struct):
    """What the output topics hold of one source (events: only those inside the range)."""

    copies: dict[str, int] = {}
    """Event id -> how many records carry it."""
    types: dict[str, str] = {}
    """Event id -> its type."""
    watermarks: dict[str, list[int]] = {}
    """Endpoint -> the ``complete_up_to`` of each of its watermarks (any time)."""
    gaps: dict[str, list[tuple[int, int]]] = {}
    """Endpoint -> the ``[from, to)`` of each of its gaps (any time)."""

    def add_event(self, event_id: str, type_: str) -> None:
        self.copies[event_id] = self.copies.get(event_id, 0) + 1
        self.types[event_id] = type_


class TypeCount(msgspec.Struct, kw_only=True):
    """The comparison for one event type."""

    verifiable: bool
    expected: int = 0
    found: int = 0
    """Expected ids that are on Kafka (not verifiable: ids of the type in the range)."""
    missing: int = 0
    duplicates: int = 0
    """Records beyond the first of an id."""
    unexpected: int = 0
    """Ids in the range that the history does not hold."""
    note: str | None = None


class Span(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    from_: str
    to: str
    explained: bool | None = None
    """For a hole: whether ``cc.source.gap`` events cover it (within the tolerance)."""


class Coverage(msgspec.Struct, kw_only=True):
    """Whether the watermarks of one endpoint cover the range."""

    endpoint: str
    history: bool
    status: Literal["covered", "explained", "not covered"]
    """``covered``: no hole; ``explained``: every hole is inside gaps; else ``not covered``."""
    complete_up_to: str | None
    """The endpoint's newest watermark, if any."""
    holes: list[Span] = []
    gaps: list[Span] = []
    """The endpoint's ``cc.source.gap`` events that overlap the range."""


class MissingEvent(msgspec.Struct, kw_only=True):
    id: str
    type: str
    entity_id: str
    transition: str
    time: str
    endpoint: str


class Report(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """The result of ``streamer verify`` (its ``--json`` output)."""

    source: str
    from_: str
    to: str
    ok: bool
    """Nothing missing and nothing duplicated."""
    expected: int
    found: int
    missing: int
    duplicates: int
    unexpected: int
    by_type: dict[str, TypeCount]
    missing_events: list[MissingEvent]
    """The first few missing events (by vendor time) with their facts."""
    missing_endpoints: list[str]
    """The history endpoints the missing events come from."""
    missing_from: str | None
    missing_to: str | None
    """The smallest range that holds every missing event (``to`` exclusive)."""
    coverage: list[Coverage]


# --- pure: comparison and coverage -------------------------------------------------------


def compare(
    expected: Iterable[Expected], published: Published, provable: set[str], notes: Mapping[str, str] | None = None,
) -> tuple[dict[str, TypeCount], list[Expected]]:
    """Counts per type, and the expected events not on Kafka (by vendor time).

    ``provable``: the types whose every event the history holds; ids of those types on
    Kafka that the history does not hold are *unexpected*. Other types are not
    verifiable: only what is there and its duplicates are counted (``notes``: why not,
    where it is known better than by the type)."""
    by_type = {t: TypeCount(verifiable=True) for t in sorted(provable)}
    missing: list[Expected] = []
    wanted: set[str] = set()
    for e in expected:
        if e.id in wanted:
            continue
        wanted.add(e.id)
        c = by_type.setdefault(e.type, TypeCount(verifiable=True))
        c.expected += 1
        if e.id in published.copies:
            c.found += 1
        else:
            c.missing += 1
            missing.append(e)
    for eid, n in published.copies.items():
        t = published.types[eid]
        count = by_type.get(t)
        if count is None:
            count = by_type[t] = TypeCount(verifiable=False, note=(notes or {}).get(t) or _why_not(t))
        count.duplicates += n - 1
        if not count.verifiable:
            count.found += 1
        elif eid not in wanted:
            count.unexpected += 1
    missing.sort(key=lambda e: (e.at_ms, e.type, e.entity_id))
    return dict(sorted(by_type.items())), missing


def _why_not(type_: str) -> str:
    if type_.startswith("cc.agent.session."):
        return "inferred from the presence chain, which may start before the range"
    if type_ == "cc.stats.changed":
        return "published only when values change: a range alone cannot tell which"
    return "no history endpoint of this source reads every one of these (snapshot only)"


def coverage(
    endpoint: str, *, history: bool, start_ms: int, end_ms: int, watermarks: Iterable[int],
    gaps: Iterable[tuple[int, int]], tolerance_ms: int,
) -> Coverage:
    """Whether ``[start_ms, end_ms)`` is covered by the endpoint's watermarks.

    A history endpoint's watermark vouches for everything before it (its cursor never
    passes what it did not read; a restart re-reads from it), so its only hole is what
    lies past its newest watermark. A snapshot endpoint sees only what it polls: a hole
    is any stretch of the range not between two watermarks at most ``tolerance_ms``
    apart (before its first, after its last). A hole is explained when the endpoint's
    gap events cover some of it and all of it but ``tolerance_ms`` (a gap runs from the
    last good poll to when the failure was noticed, not from watermark to watermark).
    """
    points = sorted(set(watermarks))
    gap_list = sorted(gaps)
    holes: list[tuple[int, int]] = []
    newest = points[-1] if points else None
    if history:
        if newest is None or newest < end_ms:
            holes.append((max(start_ms, newest or start_ms), end_ms))
    else:
        # Stretches between watermarks, whole (a hole is explained or not as a whole), then
        # clipped to the range to be shown.
        before = [p for p in points if p <= start_ms]
        prev = before[-1] if before else None
        if prev is None:
            prev = next((p for p in points if p > start_ms), end_ms)
            holes.append((start_ms, prev))
        for p in points:
            if p <= prev:
                continue
            if prev >= end_ms:
                break
            if p - prev > tolerance_ms:
                holes.append((prev, p))
            prev = p
        if prev < end_ms:
            holes.append((prev, end_ms))
    spans = [Span(from_=format_ms(max(a, start_ms)), to=format_ms(min(b, end_ms)),
                  explained=_uncovered(a, b, gap_list) <= min(tolerance_ms, b - a - 1))
             for a, b in holes if min(b, end_ms) > max(a, start_ms)]
    status: Literal["covered", "explained", "not covered"] = (
        "covered" if not spans else "explained" if all(s.explained for s in spans) else "not covered")
    return Coverage(
        endpoint=endpoint, history=history, status=status,
        complete_up_to=format_ms(newest) if newest is not None else None, holes=spans,
        gaps=[Span(from_=format_ms(a), to=format_ms(b)) for a, b in gap_list if a < end_ms and b > start_ms],
    )


def _uncovered(start: int, end: int, gaps: list[tuple[int, int]]) -> int:
    """How much of ``[start, end)`` no gap covers (gaps sorted by start)."""
    left, at = 0, start
    for a, b in gaps:
        if b <= at:
            continue
        if a >= end:
            break
        left += max(0, a - at)
        at = max(at, b)
        if at >= end:
            return left
    return left + max(0, end - at)


# --- IO: the history and the topics --------------------------------------------------------


async def expected_events(
    rs: RangeSource, vendor: str, topic_prefix: str, start_ms: int, end_ms: int, *, progress: TextIO | None = None,
) -> tuple[list[Expected], set[str]]:
    """The events the history says ``[start_ms, end_ms)`` holds, of the types the selected
    history endpoints prove, and those types. Reads only."""
    ctx = SourceContext(vendor, rs.cfg.id, topic_prefix)
    out: list[Expected] = []
    provable = provable_types(rs)
    for ep in rs.history:
        async for result, done_to in read_range(ep, rs.cfg, start_ms, end_ms):
            out += [Expected(id=draft_event_id(d, ctx), type=d.type, entity_id=d.entity_id, transition=d.transition,
                             at_ms=d.at_ms, endpoint=ep.name)
                    for d in result.drafts if d.type in provable]
            if progress is not None:
                progress.write(f"\r{ep.name} {progress_bar(done_to - start_ms, end_ms - start_ms)} "
                               f"up to {format_ms(done_to)}   ")
                progress.flush()
        if progress is not None:
            progress.write("\n")
    return out, provable


def provable_types(rs: RangeSource) -> set[str]:
    """The types the selected history endpoints prove together: a type that an endpoint
    left out (``--endpoint``) proves too is not complete without it."""
    selected = {ep.name for ep in rs.endpoints}
    left_out = {t for ep in rs.source.endpoints if ep.name not in selected for t in ep.proves}
    return {t for ep in rs.history for t in ep.proves} - left_out


def left_out_notes(rs: RangeSource) -> dict[str, str]:
    """Why a type is not verifiable when its history endpoints are not all selected."""
    selected = {ep.name for ep in rs.endpoints}
    return {t: f"{ep.name} also reads these and is not among --endpoint"
            for ep in rs.source.endpoints if ep.name not in selected for t in ep.proves}


class _Head(msgspec.Struct):
    id: str
    type: str
    time: str


class _SourceData(msgspec.Struct, rename={"from_": "from"}):
    endpoint: str = ""
    complete_up_to: str | None = None
    from_: str | None = None
    to: str | None = None


class _SourceEvent(msgspec.Struct):
    type: str
    data: _SourceData


_dec_head = msgspec.json.Decoder(_Head)
_dec_source = msgspec.json.Decoder(_SourceEvent)


async def read_published(kafka: KafkaConfig, source_id: str, start_ms: int, end_ms: int) -> Published:
    """The source's events in ``[start_ms, end_ms)`` (by vendor time) on the event topics,
    and all its watermarks and gaps, read from the beginning to the end of each partition."""
    prefix = kafka.topic_prefix
    event_topics = {f"{prefix}.{t}" for t in TAILED}
    source_topic = f"{prefix}.source"
    tps = await partitions(kafka, sorted(event_topics | {source_topic}))
    owner = f"{source_id}/".encode()
    lo, hi = format_ms(start_ms), format_ms(end_ms)
    out = Published(copies={}, types={}, watermarks={}, gaps={})

    def on_record(r: ConsumerRecord) -> None:
        if r.key is None or r.value is None or not r.key.startswith(owner):
            return
        try:
            if r.topic == source_topic:
                _source_record(out, _dec_source.decode(r.value))
                return
            head = _dec_head.decode(r.value)
        except (msgspec.DecodeError, ValueError):
            return  # not an event of ours (a record staged by hand): nothing to match
        time = head.time if len(head.time) == len(lo) else format_ms(to_ms(parse_ts(head.time)))
        if lo <= time < hi:  # canonical RFC 3339 UTC with milliseconds: ordered as text
            out.add_event(head.id, head.type)

    await scan(kafka, {tp: 0 for tp in tps}, on_record)
    return out


def _source_record(out: Published, ev: _SourceEvent) -> None:
    d = ev.data
    if ev.type == "cc.source.watermark" and d.complete_up_to:
        out.watermarks.setdefault(d.endpoint, []).append(to_ms(parse_ts(d.complete_up_to)))
    elif ev.type == "cc.source.gap" and d.from_ and d.to:
        out.gaps.setdefault(d.endpoint, []).append((to_ms(parse_ts(d.from_)), to_ms(parse_ts(d.to))))


async def verify(
    cfg: StreamerConfig, source_id: str, start: datetime, end: datetime, *,
    endpoints: list[str] | None = None, progress: TextIO | None = None,
) -> Report:
    """Compare ``[start, end)`` of the source's history with its events on Kafka."""
    rs = open_range(cfg, source_id, start, end, endpoints)
    start_ms, end_ms = to_ms(start), to_ms(end)
    try:
        expected, provable = await expected_events(rs, rs.cfg.vendor, cfg.kafka.topic_prefix, start_ms, end_ms,
                                                   progress=progress)
    finally:
        await rs.aclose()
    published = await read_published(cfg.kafka, source_id, start_ms, end_ms)
    by_type, missing = compare(expected, published, provable, left_out_notes(rs))
    covered = []
    for ep in rs.endpoints:
        tolerance = int((cfg.watermark_interval + cfg.gap_after_intervals * endpoint_interval(rs.cfg, ep.name)) * 1000)
        covered.append(coverage(ep.name, history=ep.history, start_ms=start_ms, end_ms=end_ms,
                                watermarks=published.watermarks.get(ep.name, []),
                                gaps=published.gaps.get(ep.name, []), tolerance_ms=tolerance))
    counted = [c for c in by_type.values() if c.verifiable]
    n_missing = sum(c.missing for c in counted)
    duplicates = sum(c.duplicates for c in by_type.values())
    return Report(
        source=source_id, from_=format_ms(start_ms), to=format_ms(end_ms), ok=n_missing == 0 and duplicates == 0,
        expected=sum(c.expected for c in counted), found=sum(c.found for c in counted), missing=n_missing,
        duplicates=duplicates, unexpected=sum(c.unexpected for c in counted), by_type=by_type,
        missing_events=[MissingEvent(id=e.id, type=e.type, entity_id=e.entity_id, transition=e.transition,
                                     time=format_ms(e.at_ms), endpoint=e.endpoint) for e in missing[:MISSING_SHOWN]],
        missing_endpoints=sorted({e.endpoint for e in missing}),
        missing_from=format_ms(missing[0].at_ms) if missing else None,
        missing_to=format_ms(max(e.at_ms for e in missing) + 1) if missing else None,
        coverage=covered,
    )

