"""Vendor misbehaviour at the source level: duplicated and out-of-order rows, a clock that
jumps back, an ``upTo`` earlier than the last one. Events stay unique; cursors never go back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.engine.emit import SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.errors import SkippableError
from streamer.http.auth import BearerAuth
from streamer.http.client import HttpClient
from streamer.secrets import Secret
from streamer.timeutil import format_ts, to_ms
from streamer.track.ledger import Ledger
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.source import AgentActivitiesEndpoint, AgentStatusEndpoint, InteractionsEndpoint

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CTX = SourceContext("vonage", "s", "cc")


def presence(agent: str, category: str, at: datetime) -> dict[str, Any]:
    return {"agentId": agent, "type": "Presence", "category": category, "name": category,
            "eligibleForRouting": category == "Ready", "start": format_ts(at), "status": None,
            "duration": None, "reason": None, "interaction": None, "channel": None, "workload": None}


def endpoint(
    pages: list[dict[str, Any]], kind: type[AgentActivitiesEndpoint] | type[InteractionsEndpoint] = AgentActivitiesEndpoint,
) -> tuple[AgentActivitiesEndpoint, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = pages[min(len(seen) - 1, len(pages) - 1)]
        return httpx.Response(200, content=msgspec.json.encode(body))

    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v", "auth": {"type": "bearer", "token": "t"},
                                     "lookback": "30s", "safety_lag": "1s", "initial_lookback": "5m"}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(handler))
    return kind(VonageClient(http), cfg), seen


def page(items: list[dict[str, Any]], up_to: datetime) -> dict[str, Any]:
    n = len(items)
    return {"meta": {"page": 1, "count": n, "pageCount": 1, "totalCount": n}, "items": items, "upTo": format_ts(up_to)}


async def poll_all(ep: AgentActivitiesEndpoint, cursor: int | None, now: datetime, ledger: Ledger) -> tuple[list[dict], int | None]:
    out, last = [], cursor
    async for result in ep.poll(cursor, to_ms(now)):
        out += [msgspec.json.decode(r.value) for r, _ in emit_with_rules(result.drafts, ledger, CTX, to_ms(now))]
        last = result.cursor_ms
    return out, last


async def test_duplicated_and_out_of_order_rows_publish_each_transition_once_in_vendor_order() -> None:
    a, b, c = T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    rows = [presence("7", "Away", b), presence("7", "LoggedOut", a), presence("7", "Away", b),
            presence("7", "Ready", c), presence("7", "LoggedOut", a)]
    ep, _ = endpoint([page(rows, c + timedelta(seconds=5))])
    evs, _ = await poll_all(ep, to_ms(a) - 1000, c + timedelta(seconds=6), Ledger())
    presences = [e for e in evs if e["type"] == "cc.agent.presence.changed"]
    assert [e["data"]["current"]["category"] for e in presences] == ["LoggedOut", "Away", "Ready"]
    assert [e["data"]["sequence"] for e in evs] == list(range(1, len(evs) + 1))
    assert len({e["id"] for e in evs}) == len(evs)


async def test_an_upto_earlier_than_the_last_never_moves_the_cursor_back() -> None:
    ledger = Ledger()
    ep, _ = endpoint([page([presence("7", "Ready", T0)], T0 + timedelta(seconds=60)),
                      page([presence("7", "Ready", T0)], T0 - timedelta(days=3))])  # vendor clock jumped back
    _, first = await poll_all(ep, to_ms(T0) - 1000, T0 + timedelta(seconds=61), ledger)
    evs, second = await poll_all(ep, first, T0 + timedelta(seconds=70), ledger)
    assert first is not None and second is not None and second >= first
    assert evs == []  # the same row again is not a new event


async def test_the_windows_asked_for_reread_the_lookback_once_per_lookback_every() -> None:
    ep, requests = endpoint([page([], T0 + timedelta(days=1))])
    cursor: int | None = to_ms(T0)
    for now in (60, 62, 72, 74):
        _, cursor = await poll_all(ep, cursor, T0 + timedelta(seconds=now), Ledger())
    starts = [requests[i].url.params["start"] for i in range(4)]
    assert starts == [
        format_ts(T0 - timedelta(seconds=40)),  # after a start: lookback (30 s) + lookback_every (10 s)
        format_ts(T0 + timedelta(seconds=58)),  # short: the safety lag (1 s) before the cursor (59 s)
        format_ts(T0 + timedelta(seconds=29)),  # 12 s past the last full read's end: the lookback before that end
        format_ts(T0 + timedelta(seconds=70)),  # short again
    ]
    assert requests[0].url.params["include"] == "Processed"
    ep.reset()  # a failed commit: nothing is known about earlier reads
    await poll_all(ep, cursor, T0 + timedelta(seconds=76), Ledger())
    assert requests[4].url.params["start"] == format_ts(T0 + timedelta(seconds=33))

    # interactions: ends and transfers show up on rows found by their start, so every read
    # re-reads the whole lookback (30 s)
    ep, requests = endpoint([page([], T0 + timedelta(days=1))], InteractionsEndpoint)
    cursor = to_ms(T0)
    for now in (60, 62, 72):
        _, cursor = await poll_all(ep, cursor, T0 + timedelta(seconds=now), Ledger())
    assert [r.url.params["start"] for r in requests] == [format_ts(T0 + timedelta(seconds=s)) for s in (-30, 29, 31)]


async def test_a_short_read_adds_to_the_rows_remembered_so_the_next_full_read_skips_them() -> None:
    old, new = presence("7", "Away", T0 + timedelta(seconds=20)), presence("8", "Ready", T0 + timedelta(seconds=59))
    up_to = T0 + timedelta(days=1)
    # full read, short read (its window holds only the new row), full read again
    ep, _ = endpoint([page([old], up_to), page([new], up_to), page([old, new], up_to)])
    decoded: list[str] = []
    drafts = ep._drafts

    def counting(item: Any) -> Any:
        decoded.append(item.agent_id)
        return drafts(item)

    ep._drafts = counting  # type: ignore[method-assign]
    ledger, cursor = Ledger(), to_ms(T0) + 30_000
    for now in (41, 43, 53):
        _, cursor = await poll_all(ep, cursor, T0 + timedelta(seconds=now), ledger)
    assert decoded == ["7", "8"]  # the third read served both again: neither decoded


def _status(agent: str, guid: str | None, state: str = "Connected") -> dict[str, Any]:
    return {"agentId": agent,
            "presence": {"since": format_ts(T0), "name": "Ready", "description": "Ready", "eligibleForRouting": True},
            "workload": {"since": format_ts(T0), "calls": 1 if guid else 0},
            "interaction": [{"guid": guid, "since": format_ts(T0), "medium": "Phone", "direction": "Inbound",
                             "state": state}] if guid else []}


async def test_unchanged_snapshot_rows_are_not_decoded_but_keep_their_interactions_alive() -> None:
    bodies = [page([_status("01", "g-1"), _status("02", None)], T0)] * 2
    bodies.append(page([_status("01", "g-1", "Wrap"), _status("02", None)], T0))
    served = iter(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=msgspec.json.encode(next(served)))

    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                     "auth": {"type": "bearer", "token": "t"}}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(handler))
    ep = AgentStatusEndpoint(VonageClient(http), cfg)
    first = [r async for r in ep.poll(None, to_ms(T0))]
    again = [r async for r in ep.poll(None, to_ms(T0))]
    changed = [r async for r in ep.poll(None, to_ms(T0))]
    assert {d.entity_id for r in first for d in r.drafts} == {"01", "02", "g-1"} and first[0].alive == []
    assert [d for r in again for d in r.drafts] == [] and again[0].alive == ["interaction/g-1"]
    assert {d.entity_id for r in changed for d in r.drafts} == {"01", "g-1"} and changed[0].alive == []


async def test_a_snapshot_of_many_changed_agents_is_decoded_a_chunk_at_a_time() -> None:
    """1,200 agents, every one new: three chunks, each decoded only when its turn comes (the
    objects of all rows decoded at once stayed in the allocator's pools), each with its own
    bad rows; the interactions of every chunk are kept alive by the next, unchanged read."""
    rows = [_status(f"{n:04d}", f"g-{n}" if n % 100 == 7 else None) for n in range(1200)]
    rows[1100]["workload"] = "not an object"  # a bad row in the last chunk
    body = msgspec.json.encode(page(rows, T0))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body)

    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                     "auth": {"type": "bearer", "token": "t"}}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(handler))
    client = VonageClient(http)
    ep = AgentStatusEndpoint(client, cfg)
    decoded: list[int] = []
    decode_rows = client.decode_rows

    async def counting(raws: list[msgspec.Raw], model: Any) -> Any:
        decoded.append(len(raws))
        return await decode_rows(raws, model)

    client.decode_rows = counting  # type: ignore[method-assign]
    first = []
    async for r in ep.poll(None, to_ms(T0)):
        first.append(r)
        assert sum(decoded) == min(500 * len(first), 1200)  # a chunk is decoded when its turn comes
    assert decoded == [500, 500, 200]
    assert [sorted({d.entity_id for d in r.drafts if not d.entity_id.startswith("g-")})
            for r in first] == [[f"{n:04d}" for n in range(a, b) if n != 1100] for a, b in ((0, 500), (500, 1000), (1000, 1200))]
    assert [len(r.bad) for r in first] == [0, 0, 1]
    again = [r async for r in ep.poll(None, to_ms(T0))]
    assert [d for r in again for d in r.drafts] == [] and sum(decoded[3:]) == 0  # nothing decoded
    assert sorted(again[0].alive) == sorted(f"interaction/g-{n}" for n in range(7, 1200, 100))
    # a reset between two chunks (another endpoint's commit failed): nothing of the read is
    # remembered, so the next read is all fresh, its later chunks' interactions included
    ep.rows.forget()
    partial = ep.poll(None, to_ms(T0))
    await partial.__anext__()
    ep.reset()
    rest = [r async for r in partial]
    assert len(rest) == 2
    fresh = [r async for r in ep.poll(None, to_ms(T0))]
    assert len({d.entity_id for r in fresh for d in r.drafts}) == 1199 + 12 and fresh[0].alive == []


async def test_history_rows_served_again_byte_for_byte_are_not_decoded_again() -> None:
    ledger = Ledger()
    old, new = presence("7", "Away", T0), presence("8", "Ready", T0 + timedelta(seconds=20))
    ep, _ = endpoint([page([old], T0 + timedelta(seconds=30)), page([old, new], T0 + timedelta(seconds=40))])
    decoded: list[str] = []
    drafts = ep._drafts

    def counting(item: Any) -> Any:
        decoded.append(item.agent_id)
        return drafts(item)

    ep._drafts = counting  # type: ignore[method-assign]
    # a steady-state window: about a lookback (30 s) long
    first_evs, cursor = await poll_all(ep, to_ms(T0) + 5000, T0 + timedelta(seconds=31), ledger)
    evs, _ = await poll_all(ep, cursor, T0 + timedelta(seconds=41), ledger)
    assert decoded == ["7", "8"]  # the overlap's row "7" came back unchanged: skipped
    assert [e["subject"] for e in first_evs] == ["7"] and [e["subject"] for e in evs] == ["8"]
    ep.reset()  # after a failed commit everything is read again (and the ledger drops repeats)
    evs, _ = await poll_all(ep, cursor, T0 + timedelta(seconds=41), ledger)
    assert decoded == ["7", "8", "7", "8"] and evs == []
    decoded.clear()  # a catch-up (hours behind, several windows) remembers nothing: its rows are not served again
    await poll_all(ep, cursor - 3_600_000, T0 + timedelta(seconds=41), ledger)
    once = len(decoded)
    await poll_all(ep, cursor - 3_600_000, T0 + timedelta(seconds=41), ledger)
    assert once > 0 and decoded == ["7", "8"] * (once // 2) * 2 and len(ep.rows) == 0


async def test_a_reset_while_reading_is_not_a_crash() -> None:
    """Another endpoint's failed commit resets every endpoint of the source, possibly in the
    middle of this one's read (seen in the broker outage test)."""
    ep: AgentStatusEndpoint | AgentActivitiesEndpoint | None = None

    def handler(request: httpx.Request) -> httpx.Response:
        assert ep is not None
        ep.reset()
        if request.url.path.endswith("/agent-status"):
            return httpx.Response(200, content=msgspec.json.encode(page([_status("01", "g-1")], T0)))
        return httpx.Response(200, content=msgspec.json.encode(page([presence("7", "Ready", T0)], T0)))

    cfg = parse_config({"sources": [{"id": "s", "vendor": "vonage", "base_url": "http://v",
                                     "auth": {"type": "bearer", "token": "t"}}]}, env={}).sources[0]
    http = HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(), transport=httpx.MockTransport(handler))
    for ep in (AgentStatusEndpoint(VonageClient(http), cfg), AgentActivitiesEndpoint(VonageClient(http), cfg)):
        for _ in range(2):
            results = [r async for r in ep.poll(to_ms(T0) - 10_000, to_ms(T0) + 60_000)]
            assert [d for r in results for d in r.drafts], "every row is read afresh after the reset"


async def test_a_page_without_meta_fails_the_poll_and_the_cursor_stays_for_the_retry() -> None:
    """Two pages; the first once comes without ``meta``. Taken for the last page, it used to
    end the read and move the cursor to ``upTo``: page 2's row was never read again."""
    a, b = presence("7", "Away", T0 + timedelta(seconds=5)), presence("8", "Ready", T0 + timedelta(seconds=6))
    up_to = T0 + timedelta(seconds=30)
    broken = [True]

    def served(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params["page"])
        body: dict[str, Any] = {"meta": {"page": n, "count": 1, "pageCount": 2, "totalCount": 2},
                                "items": [a if n == 1 else b], "upTo": format_ts(up_to)}
        if n == 1 and broken[0]:
            del body["meta"]
        return httpx.Response(200, content=msgspec.json.encode(body))

    ep, _ = endpoint([])
    ep.client = VonageClient(HttpClient("http://v", BearerAuth(Secret("t")), headers=vonage_headers(),
                                        transport=httpx.MockTransport(served)))
    ledger, cursor = Ledger(), to_ms(T0)
    results = []
    with pytest.raises(SkippableError, match="meta") as err:
        async for result in ep.poll(cursor, to_ms(up_to) + 1000):
            results.append(result)
    assert results == []  # nothing to commit: the runtime keeps the cursor where it was
    assert b'"items"' in err.value.raw  # the unreadable page goes to the dead-letter topic
    broken[0] = False  # the retry
    evs, after = await poll_all(ep, cursor, up_to + timedelta(seconds=1), ledger)
    assert sorted(e["subject"] for e in evs) == ["7", "8"] and after == to_ms(up_to)
