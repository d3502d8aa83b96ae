"""RAI ``agentStatusHistory`` far behind: caught up in windows of ``max_catchup_span``,
each read only after the one before was handed over (one commit each)."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime

import httpx
import msgspec
import pytest

from streamer.http.auth import BasicAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import format_ts, from_ms, parse_ts, to_ms
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.source import AgentStatusHistoryEndpoint
from tests.unit.vendors.sinch._fixtures import no_sleep, source_cfg

MINUTE = 60_000


def http_date(ms: int) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(ms / 1000, UTC), usegmt=True)


async def test_an_hour_behind_is_read_in_windows_of_five_minutes() -> None:
    """No row in the hour: each empty window still moves the cursor, by the vendor's own
    clock (its Date header), so the next window starts where this one ended."""
    asked: list[tuple[int, int]] = []
    cursor = to_ms(parse_ts("2026-11-21T09:00:00Z"))
    vendor_now = cursor + 60 * MINUTE + 1000

    def server(request: httpx.Request) -> httpx.Response:
        p = request.url.params
        asked.append((to_ms(parse_ts(p["startTime"])), to_ms(parse_ts(p["endTime"]))))
        return httpx.Response(200, content=b"[]", headers={"content-type": "application/json",
                                                         "date": http_date(vendor_now)})

    http = HttpClient("https://cc.example/RI/rai", BasicAuth("u", Secret("p")), headers={"accept": "application/json"},
                      transport=httpx.MockTransport(server), sleep=no_sleep, rng=random.Random(1))
    cfg = source_cfg("sinch_rai", lookback="20s", safety_lag="1s", max_catchup_span="5m")
    ep = AgentStatusHistoryEndpoint(RaiClient(http, page_limit=100), cfg)
    cursors = []
    async for result in ep.poll(cursor, vendor_now):
        assert len(asked) == len(cursors) + 1, "each window is read only after the one before is handed over"
        cursors.append(result.cursor_ms)
    # the last stops a second short of the window: the Date header has whole seconds
    assert [b - a for a, b in zip([cursor, *cursors], cursors)] == [5 * MINUTE] * 11 + [5 * MINUTE - 1000]
    assert asked[0] == (cursor - 20_000, cursor + 5 * MINUTE)


@pytest.mark.parametrize("host_ahead_ms", [0, 60 * MINUTE])
async def test_a_quiet_tenant_moves_on_by_the_vendors_clock_never_the_hosts(host_ahead_ms: int) -> None:
    """Nothing happens for a while: the cursor follows the vendor's Date less the safety lag
    (no re-reading from the last row on every poll), and a host clock an hour ahead cannot
    carry it past what the vendor has written: the row written next is still read."""
    start = to_ms(parse_ts("2026-11-21T09:00:00Z"))
    vendor = {"now": start}
    rows: list[bytes] = []

    def server(request: httpx.Request) -> httpx.Response:
        p = request.url.params
        lo, hi = to_ms(parse_ts(p["startTime"])), to_ms(parse_ts(p["endTime"]))
        page = [r for r in rows if lo <= to_ms(parse_ts(msgspec.json.decode(r)["changeTimeStamp"])) < hi]
        body = b"[]" if int(p.get("offset", 0)) else b"[" + b",".join(page) + b"]"
        return httpx.Response(200, content=body, headers={"content-type": "application/json",
                                                         "date": http_date(vendor["now"])})

    http = HttpClient("https://cc.example/RI/rai", BasicAuth("u", Secret("p")), headers={"accept": "application/json"},
                      transport=httpx.MockTransport(server), sleep=no_sleep, rng=random.Random(1))
    cfg = source_cfg("sinch_rai", lookback="20s", safety_lag="2s", max_catchup_span="5m")
    ep = AgentStatusHistoryEndpoint(RaiClient(http, page_limit=100), cfg)
    cursor: int | None = start
    published = []
    for step in range(1, 31):  # 30 polls, 10 s apart, nothing written until the last
        vendor["now"] = start + step * 10_000
        if step == 30:
            at = vendor["now"] - 5_000
            rows.append(msgspec.json.encode({"userId": "A", "status": "Waiting", "statusTimestamp": format_ts(from_ms(at)),
                                             "changeTimeStamp": format_ts(from_ms(at))}))
        async for result in ep.poll(cursor, vendor["now"] + host_ahead_ms):
            cursor = result.cursor_ms
            published += result.drafts
        assert cursor is not None and cursor <= vendor["now"] - 2_000
    assert cursor >= start + 30 * 10_000 - 2_000 - 1_000 - 5_000  # moved on with the vendor, not stuck at start
    assert [d.entity_id for d in published] == ["A"]
