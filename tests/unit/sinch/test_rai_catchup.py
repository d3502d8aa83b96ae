"""RAI ``agentStatusHistory`` far behind: caught up in windows of ``max_catchup_span``,
each read only after the one before was handed over (one commit each)."""

from __future__ import annotations

import random

import httpx

from streamer.auth import BasicAuth
from streamer.http import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import parse_ts, to_ms
from streamer.vendors.sinch_rai.client import RaiClient
from streamer.vendors.sinch_rai.source import AgentStatusHistoryEndpoint

from ._sim import no_sleep, source_cfg

MINUTE = 60_000


async def test_an_hour_behind_is_read_in_windows_of_five_minutes() -> None:
    asked: list[tuple[int, int]] = []

    def server(request: httpx.Request) -> httpx.Response:
        p = request.url.params
        asked.append((to_ms(parse_ts(p["startTime"])), to_ms(parse_ts(p["endTime"]))))
        return httpx.Response(200, content=b"[]", headers={"content-type": "application/json"})

    http = HttpClient("https://cc.example/RI/rai", BasicAuth("u", Secret("p")), headers={"accept": "application/json"},
                      transport=httpx.MockTransport(server), sleep=no_sleep, rng=random.Random(1))
    cfg = source_cfg("sinch_rai", lookback="20s", safety_lag="1s", max_catchup_span="5m")
    ep = AgentStatusHistoryEndpoint(RaiClient(http, page_limit=100), cfg)
    cursor = to_ms(parse_ts("2026-11-21T09:00:00Z"))
    cursors = []
    async for result in ep.poll(cursor, cursor + 60 * MINUTE + 1000):
        assert len(asked) == len(cursors) + 1, "each window is read only after the one before is handed over"
        cursors.append(result.cursor_ms)
    assert [b - a for a, b in zip([cursor, *cursors], cursors)] == [5 * MINUTE] * 12
    assert asked[0] == (cursor - 20_000, cursor + 5 * MINUTE)
