"""A Vonage history endpoint far behind catches up window by window, each window one
commit that moves the cursor at most ``max_catchup_span``; an ``upTo`` short of a
window's end ends the poll there, so no later window is read past the hole."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from streamer.config.load import parse_config
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import format_ts, parse_ts, to_ms
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.source import AgentActivitiesEndpoint

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
MINUTE = 60_000


def endpoint(up_to: Any) -> tuple[AgentActivitiesEndpoint, list[tuple[int, int]]]:
    """An endpoint on a vendor with no rows; ``up_to(start, end)`` is the ``upTo`` it answers."""
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        start, end = (to_ms(parse_ts(request.url.params[k])) for k in ("start", "end"))
        asked.append((start, end))
        body = {"meta": {"page": 1, "count": 0, "pageCount": 1, "totalCount": 0}, "items": [],
                "upTo": format_ts(up_to(start, end))}
        return httpx.Response(200, content=msgspec.json.encode(body))

    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                     "auth": {"type": "bearer", "token": "t"}, "lookback": "30s", "lookback_every": 0,
                                     "safety_lag": "1s", "max_catchup_span": "5m"}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(handler))
    return AgentActivitiesEndpoint(VonageClient(http), cfg), asked


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def test_an_hour_behind_is_read_in_windows_of_five_minutes_one_commit_each() -> None:
    ep, asked = endpoint(lambda start, end: _at(end))
    cursor = to_ms(T0)
    now = cursor + 60 * MINUTE + 1000
    cursors = []
    async for result in ep.poll(cursor, now):
        assert len(asked) == len(cursors) + 1, "each window is read only after the one before is handed over"
        cursors.append(result.cursor_ms)
    assert len(cursors) == 12
    steps = [b - a for a, b in zip([cursor, *cursors], cursors)]
    assert steps == [5 * MINUTE] * 12
    assert asked[0] == (cursor - 30_000, cursor + 5 * MINUTE)  # the lookback, then five minutes


async def test_an_upto_short_of_a_window_ends_the_poll_there() -> None:
    short = to_ms(T0) + 3 * MINUTE
    ep, asked = endpoint(lambda start, end: _at(min(end, short)))
    results = [r async for r in ep.poll(to_ms(T0), to_ms(T0) + 60 * MINUTE)]
    assert [r.cursor_ms for r in results] == [short]
    assert len(asked) == 1, "no window past the part the vendor did not vouch for"
