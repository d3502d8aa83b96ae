"""Re-reads of the history horizon never publish an id twice (issue 13, item 11).

The ledger remembers the last 8 transitions of a stream. A row read again once its id
has left that memory (a presence row served again when it ends, hours after it
started; every row of the horizon after a restart) used to be published again, as
``late``, with a new ``sequence``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.config.load import parse_config
from streamer.engine.emit import SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import format_ts, from_ms, to_ms
from streamer.track.ledger import Ledger
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.source import AgentActivitiesEndpoint

T0 = to_ms(datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
CTX = SourceContext("vonage", "s", "cc")
CATEGORIES = ("Ready", "Away", "ExtendedAway")


@dataclass
class Row:
    agent: str
    start: int
    end: int | None
    category: str
    visible: int
    """When the vendor has the row (its start, or later: written late)."""


class Vendor:
    """``/agent-activities`` with ``include=Processed``: a row is served in the windows
    that hold its start and in the one that holds its end (once it has ended)."""

    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.now = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        lo, hi = to_ms(_ts(p["start"])), to_ms(_ts(p["end"]))
        items = []
        for r in self.rows:
            if r.visible > self.now:
                continue
            ended = r.end is not None and r.end <= self.now
            if lo <= r.start < hi or (ended and lo <= r.end < hi):  # type: ignore[operator]
                items.append({"agentId": r.agent, "type": "Presence", "category": r.category, "name": r.category,
                              "eligibleForRouting": r.category == "Ready", "start": format_ts(from_ms(r.start)),
                              "duration": (r.end - r.start) if ended else None})  # type: ignore[operator]
        page, limit = int(p["page"]), int(p["limit"])
        chunk = items[(page - 1) * limit: page * limit]
        meta = {"page": page, "count": len(chunk), "pageCount": max(1, -(-len(items) // limit)), "totalCount": len(items)}
        body = {"meta": meta, "items": chunk, "upTo": format_ts(from_ms(min(hi, self.now)))}
        return httpx.Response(200, content=msgspec.json.encode(body))


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def endpoint(vendor: Vendor, page_limit: int = 1000) -> AgentActivitiesEndpoint:
    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                     "auth": {"type": "bearer", "token": "t"}, "lookback": "30s",
                                     "lookback_every": "10s", "safety_lag": "1s", "initial_lookback": "60s",
                                     "page_limit": page_limit}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(vendor))
    return AgentActivitiesEndpoint(VonageClient(http, page_limit=page_limit), cfg)


class Daemon:
    """Polls like the runtime: the cursor and the ledger as committed; a restart keeps
    only what is on Kafka (the ledger's saved state, the checkpointed cursor)."""

    def __init__(self, vendor: Vendor, page_limit: int = 1000) -> None:
        self.vendor, self.page_limit = vendor, page_limit
        self.ep = endpoint(vendor, page_limit)
        self.ledger = Ledger()
        self.saved: dict[str, bytes] = {}
        self.cursor: int | None = None
        self.events: list[dict[str, Any]] = []

    async def poll(self, now: int) -> None:
        self.vendor.now = now
        async for result in self.ep.poll(self.cursor, now):
            records = emit_with_rules(result.drafts, self.ledger, CTX, now)
            self.events += [msgspec.json.decode(r.value) for r, _ in records if r.value is not None]
            for key, entity in self.ledger.take_dirty().items():  # the state topic
                if entity is not None:
                    self.saved[key] = entity
            if result.cursor_ms is not None:
                self.cursor = max(result.cursor_ms, self.cursor or 0)

    def restart(self) -> None:
        self.ep = endpoint(self.vendor, self.page_limit)
        self.ledger = Ledger(dict(self.saved))

    def presence(self, agent: str) -> list[tuple[int, str]]:
        return [(to_ms(_ts(e["data"]["since"])), e["data"]["current"]["category"]) for e in self.events
                if e["type"] == "cc.agent.presence.changed" and e["subject"] == agent]


def burst(agent: str, start: int, n: int, step: int, *, last_open: bool = True) -> list[Row]:
    """``n`` presence activities back to back, ``step`` ms each."""
    out = []
    for i in range(n):
        at = start + i * step
        end = None if last_open and i == n - 1 else at + step
        out.append(Row(agent, at, end, CATEGORIES[i % 3], at))
    return out


async def test_a_row_served_again_at_its_end_after_ten_newer_transitions_is_not_published_twice() -> None:
    """An hour-long Away, then ten short presences: every read of the next half minute
    serves the Away again (it ended in the window), long after its id left the
    ledger's memory of 8."""
    away = Row("7", T0, T0 + 3_600_000, "Away", T0)
    rows = [away, *burst("7", away.end, 10, 1_000)]  # type: ignore[arg-type]
    d = Daemon(Vendor(rows))
    d.cursor = T0 - 5_000
    for now in range(T0 + 1_000, T0 + 3_600_000, 600_000):  # the hour, read as it passes
        await d.poll(now)
    for now in range(away.end + 11_000, away.end + 50_000, 2_000):  # type: ignore[operator]
        await d.poll(now)
    got = d.presence("7")
    assert got == [(r.start, r.category) for r in rows]
    assert len({e["id"] for e in d.events}) == len(d.events)
    assert not any(e["data"].get("late") for e in d.events)


async def test_after_a_restart_the_reread_horizon_publishes_nothing_again() -> None:
    rows = burst("7", T0, 12, 1_500)  # 12 transitions in 18 s: more than the ledger keeps
    d = Daemon(Vendor(rows))
    d.cursor = T0 - 5_000
    for now in range(T0 + 2_000, T0 + 24_000, 2_000):
        await d.poll(now)
    published = len(d.events)
    assert d.presence("7") == [(r.start, r.category) for r in rows]
    d.restart()  # the first read reaches back lookback + lookback_every (40 s): all 12 again
    await d.poll(T0 + 26_000)
    await d.poll(T0 + 40_000)
    assert len(d.events) == published


async def test_a_row_written_late_is_still_published_after_a_restart() -> None:
    """Re-reads are published when the ledger can tell they are new: the lookback still
    catches a row the vendor wrote late, across a restart."""
    rows = burst("7", T0, 4, 2_000, last_open=False)
    late = Row("8", T0 + 1_000, None, "Away", T0 + 15_000)  # started at +1 s, served from +15 s
    d = Daemon(Vendor([*rows, late]))
    d.cursor = T0 - 5_000
    for now in range(T0 + 2_000, T0 + 14_000, 2_000):
        await d.poll(now)
    d.restart()
    await d.poll(T0 + 16_000)
    assert d.presence("8") == [(late.start, "Away")]
    assert len({e["id"] for e in d.events}) == len(d.events)


# --- the property ----------------------------------------------------------------------

@st.composite
def histories(draw: st.DrawFn) -> list[Row]:
    rows: list[Row] = []
    for agent in ("1", "2"):
        at = T0 + draw(st.integers(0, 5_000))
        for i in range(draw(st.integers(1, 30))):
            length = draw(st.one_of(st.integers(100, 4_000), st.integers(20_000, 120_000)))
            rows.append(Row(agent, at, at + length, CATEGORIES[i % 3], at))
            at += length
        rows[-1].end = None  # the current presence
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories(), steps=st.lists(st.tuples(st.integers(300, 15_000), st.sampled_from(["", "", "", "restart", "reset"])),
                                         min_size=1, max_size=30),
       page_limit=st.sampled_from([2, 5, 1000]))
async def test_any_sequence_of_rereads_publishes_each_transition_exactly_once(
    rows: list[Row], steps: list[tuple[int, str]], page_limit: int
) -> None:
    """Reads of the horizon in any rhythm, restarts and resets (a failed commit) between
    them: each transition the vendor shows is published once, and never again."""
    d = Daemon(Vendor(rows), page_limit)
    d.cursor = T0 - 2_000
    now = T0
    for step, what in steps:
        now += step
        if what == "restart":
            d.restart()
        elif what == "reset":
            d.ep.reset()
        await d.poll(now)
    ids = [e["id"] for e in d.events]
    assert len(ids) == len(set(ids))
    read_to = d.cursor or 0
    for agent in ("1", "2"):
        expected = [(r.start, r.category) for r in rows if r.agent == agent and r.start < read_to]
        assert sorted(d.presence(agent)) == expected
