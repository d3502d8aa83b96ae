"""The world as the Vonage Contact Center Insights Stats API (a Starlette app).

Mounted at ``/vonage``: ``/vonage/agent-activities``, ``/vonage/agent-status``,
``/vonage/interactions`` and the token endpoint ``/vonage/Auth/connect/token``.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Iterable, Sequence
from hashlib import blake2b
from typing import Any, TypeVar
from urllib.parse import parse_qs

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamer.simulator.faults import Faults
from streamer.simulator.tokens import TokenStore
from streamer.simulator.truth import TruthActivity, TruthInteraction
from streamer.simulator.vonage_render import (
    activity_item,
    activity_sort_key,
    interaction_item,
    interaction_sort_key,
    iso,
    status_item,
)
from streamer.simulator.world import World
from streamer.timeutil import parse_ts

__all__ = ["vonage_app", "ACCEPT", "STATIC_TOKEN", "RenderedInteractions", "ProcessedIndex"]

ACCEPT = "application/vnd.newvoicemedia.v3+json"
STATIC_TOKEN = "sim-token"
CLIENT_ID = CLIENT_SECRET = "sim"
TOKEN_TTL_S = 7200.0
MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
DEFAULT_LIMIT, MAX_LIMIT = 100, 5000
INCLUDES = ("Started", "StartedOrEnded", "Processed")
TYPES = ("Presence", "Workload", "Interaction")
DENIED = "Authorization has been denied for this request."
T = TypeVar("T")


class ApiError(Exception):
    """An error answered as ``{"message": ...}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(payload: Any, status: int = 200, faults: Faults | None = None) -> Response:
    """``application/json`` with ``Cache-Control: max-age=5``; quirks applied if asked."""
    body = faults.transform(payload) if faults is not None else payload
    return Response(
        msgspec.json.encode(body), status_code=status, media_type="application/json",
        headers={"Cache-Control": "max-age=5"},
    )


# ---------------------------------------------------------------------- parameters
def parse_time(value: str, name: str) -> int:
    """An ISO 8601 time (``Z``, offset or no zone = UTC) as epoch milliseconds."""
    try:
        return math.floor(parse_ts(value).timestamp() * 1000)
    except ValueError:
        raise ApiError(400, f"The value '{value}' is not valid for {name}.") from None


def parse_int(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"The value '{raw}' is not valid for {name}.") from None
    if value < low:
        raise ApiError(400, f"The value '{raw}' is not valid for {name}.")
    return value if high is None else min(value, high)


def parse_window(request: Request, now_ms: int) -> tuple[int, int, str]:
    """``start`` (required), ``end`` (default now), ``include``; 31-day limit.

    Started: what started in [start, end); StartedOrEnded: what started or ended in it;
    Processed: what the vendor wrote in it (:class:`ProcessedIndex`). seeds/README.md,
    Vonage: ``include`` (``Started`` default, ``StartedOrEnded``, ``Processed``).
    """
    raw_start = request.query_params.get("start")
    if not raw_start:
        raise ApiError(400, "The start parameter is required.")
    start = parse_time(raw_start, "start")
    raw_end = request.query_params.get("end")
    end = parse_time(raw_end, "end") if raw_end else now_ms
    if end < start:
        raise ApiError(400, "The end must not be before the start.")
    if end - start > MAX_WINDOW_MS:
        raise ApiError(400, "Request window size limit exceeded 31 days")
    include = request.query_params.get("include") or "Started"
    matched = [i for i in INCLUDES if i.lower() == include.lower()]
    if not matched:
        raise ApiError(400, f"The value '{include}' is not valid for include.")
    return start, end, matched[0]


LATE_SHARE = 26
"""Of 256: about one moment in ten is written late (seeds/README.md, Vonage: with
``include=Processed`` "items that ended before the window can appear")."""
LATE_MAX_MS = 500 + 255 * 10
"""The latest a moment is written: about 3 s, well inside a daemon's lookback."""


LAGS_KEPT = 1 << 17
"""Moments whose lag :func:`processing_lag_ms` remembers: more than a lookback's worth at the
bench's default load (ten tenants), whose reads ask for each moment's lag again and again."""


@functools.lru_cache(maxsize=LAGS_KEPT)
def processing_lag_ms(ms: int) -> int:
    """How long after the moment ``ms`` the vendor writes what happened then: usually at
    once, sometimes late. Every row that starts or ends at one moment is written
    together (an agent's Connected ends as its Wrap starts), and a moment's lag depends
    only on the moment, so every response agrees. Remembered: the hash was a fifth of the
    simulator's CPU at the latency bench's default load."""
    h = blake2b(ms.to_bytes(8, "big", signed=True), digest_size=2).digest()
    return 500 + h[1] * 10 if h[0] < LATE_SHARE else 0


class ProcessedIndex:
    """``include=Processed``: the activities written in a window (by ``now``) -- at their
    start and at their end, each moment possibly late -- in start order.

    The moments are indexed by the second they are written in, brought up to date from
    the world on each read. Filtering every activity near the window instead, for every
    page of every read, was a fifth of the simulator's CPU at the latency bench's default
    load, in bursts that held its one event loop while snapshot requests waited."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._starts = 0
        self._ends = 0
        self._by_second: dict[int, list[tuple[int, int]]] = {}
        """Second -> (written at, activity index) of each start and end written in it."""

    def between(self, lo: int, hi: int, now: int) -> list[TruthActivity]:
        """The activities written in ``[lo, hi)`` and by ``now`` (live: read them while
        holding the world's lock)."""
        self._catch_up()
        top = min(hi, now + 1)
        first, last = lo // 1000, (top - 1) // 1000
        by_second = self._by_second
        span = range(first, last + 1)
        seconds: Iterable[int] = (span if len(span) <= len(by_second)  # else a long window: the seconds with a moment
                                  else sorted(s for s in by_second if first <= s <= last))
        found: set[int] = set()
        for second in seconds:
            for at, index in by_second.get(second, ()):
                if lo <= at < top:
                    found.add(index)
        return self._world.activities_at(sorted(found))

    def _catch_up(self) -> None:
        starts, ends = self._world.activity_moments(self._starts, self._ends)
        self._starts += len(starts)
        self._ends += len(ends)
        by_second = self._by_second
        for moment, index in (*starts, *ends):
            at = moment + processing_lag_ms(moment)
            by_second.setdefault(at // 1000, []).append((at, index))


def page_of(
    request: Request, items: Sequence[T], order: Callable[[T], tuple[Any, ...]] | None = None
) -> tuple[dict[str, int], Sequence[T]]:
    """Slice one page (of ``sorted(items, key=order)`` if ``order`` is given); ``meta`` as
    the vendor renders it (pageCount at least 1)."""
    page = parse_int(request, "page", 1, 1)
    limit = parse_int(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    first, last = (page - 1) * limit, page * limit
    chunk = items[first:last] if order is None else sorted_slice(items, first, last, order)
    meta = {
        "page": page,
        "count": len(chunk),
        "pageCount": max(1, math.ceil(len(items) / limit)),
        "totalCount": len(items),
    }
    return meta, chunk


def sorted_slice(items: Sequence[T], first: int, last: int, order: Callable[[T], tuple[Any, ...]]) -> list[T]:
    """``sorted(items, key=order)[first:last]`` for ``items`` already ordered by the first
    element of ``order`` (the start): sorting then only moves items among equal starts, so
    only the starts the slice touches need sorting, and every page of a long window is cheap."""
    last = min(last, len(items))
    if first >= last:
        return []

    def start(item: T) -> Any:
        return order(item)[0]

    lo = bisect_left(items, start(items[first]), key=start)
    hi = bisect_right(items, start(items[last - 1]), key=start)
    return sorted(items[lo:hi], key=order)[first - lo : last - lo]


RENDERED_KEPT = 4096
"""Completed interactions whose ``/interactions`` item an app remembers: more than a
lookback's worth of one tenant at the bench's default load (about 1,800 a minute)."""


class RenderedInteractions:
    """:func:`interaction_item` of completed interactions, remembered. A completed
    interaction never changes again (its CCR channel comes with the completion), and every
    history read of the last lookback renders the same ones again: a full re-read of a
    minute's interactions took the simulator's event loop up to 0.8 s at the latency bench's
    default load, while every other request of its ten tenants waited behind it. The items
    are shared between responses: nothing may change one (quirks build new objects)."""

    def __init__(self, kept: int = RENDERED_KEPT) -> None:
        self._items: dict[str, dict[str, Any]] = {}
        self._kept = kept

    def __len__(self) -> int:
        return len(self._items)

    def item(self, i: TruthInteraction) -> dict[str, Any]:
        if i.end_ms is None:
            return interaction_item(i)  # ongoing: it may still change
        item = self._items.get(i.guid)
        if item is None:
            item = interaction_item(i)
            if len(self._items) >= self._kept:
                del self._items[next(iter(self._items))]  # the oldest rendered
            self._items[i.guid] = item
        return item


# ---------------------------------------------------------------------- app
Handler = Callable[[Request], Awaitable[Response]]


def vonage_app(world: World, faults: Faults) -> Starlette:
    """The Insights Stats API over ``world``; faults' JSON quirks applied to bodies."""
    tokens = TokenStore(world.clock, static=(STATIC_TOKEN,))
    rendered = RenderedInteractions()
    processed = ProcessedIndex(world)

    def guarded(fn: Callable[[Request, int], Response]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                auth = request.headers.get("authorization", "")
                scheme, _, token = auth.partition(" ")
                if scheme.lower() != "bearer" or not tokens.valid(token.strip()):
                    raise ApiError(401, DENIED)
                if ACCEPT not in request.headers.get("accept", ""):
                    raise ApiError(406, f"The accept header must be '{ACCEPT}'.")
                with world.lock:  # one consistent instant per response
                    return fn(request, world.advance())
            except ApiError as err:
                return json_response({"message": err.message}, err.status)

        return endpoint

    def activities(type_filter: str | None) -> Callable[[Request, int], Response]:
        def handler(request: Request, now: int) -> Response:
            lo, hi, include = parse_window(request, now)
            agent = request.query_params.get("agentId")
            wanted = type_filter or request.query_params.get("type")
            if wanted is not None:
                matched = [t for t in TYPES if t.lower() == wanted.lower()]
                if not matched:
                    raise ApiError(400, f"The value '{wanted}' is not valid for type.")
                wanted = matched[0]
            def keep(a: TruthActivity) -> bool:
                return (agent is None or a.agent_id == agent) and (wanted is None or a.type == wanted)

            if include == "Processed":
                window = processed.between(lo, hi, now)
            else:
                window = world.activities_between(lo, hi, ended=include != "Started")
            selected = window if agent is None and wanted is None else list(filter(keep, window))
            meta, chunk = page_of(request, selected, activity_sort_key)
            statuses = world.interaction_statuses() if any(a.type == "Interaction" for a in chunk) else {}
            items = [activity_item(a, statuses) for a in chunk]
            return json_response({"meta": meta, "items": items, "upTo": iso(min(hi, now))}, faults=faults)

        return handler

    def agent_status(request: Request, now: int) -> Response:
        meta, chunk = page_of(request, world.agent_status(live=True))
        items = [status_item(s) for s in chunk]
        return json_response({"meta": meta, "items": items, "upTo": iso(now)}, faults=faults)

    def interactions(request: Request, now: int) -> Response:
        lo, hi, include = parse_window(request, now)
        selected = world.interactions_between(lo, hi, ended=include != "Started")
        meta, chunk = page_of(request, selected, interaction_sort_key)
        items = [rendered.item(i) for i in chunk]
        return json_response({"meta": meta, "items": items, "upTo": iso(min(hi, now))}, faults=faults)

    def ongoing(request: Request, now: int) -> Response:
        selected = world.interactions(lambda i: i.end_ms is None)
        selected.sort(key=interaction_sort_key)
        meta, chunk = page_of(request, selected)
        items = [interaction_item(i) for i in chunk]
        return json_response({"meta": meta, "items": items, "upTo": iso(now)}, faults=faults)

    def one_interaction(request: Request, now: int) -> Response:
        guid = request.path_params["guid"]
        for i in world.interactions(lambda i: i.guid == guid):
            return json_response(interaction_item(i), faults=faults)
        raise ApiError(404, "Interaction not found.")

    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if form.get("grant_type") != "client_credentials":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return json_response({"error": "invalid_client"}, 400)
        if "stats" not in form.get("scope", "").split():
            return json_response({"error": "invalid_scope"}, 400)
        ttl = faults.short_token_ttl if faults.short_token_ttl is not None else TOKEN_TTL_S
        expires_in = int(ttl) if float(ttl).is_integer() else ttl
        return json_response({"access_token": tokens.issue(ttl), "token_type": "Bearer",
                              "expires_in": expires_in, "scope": "stats"})

    routes = [
        Route("/Auth/connect/token", token, methods=["POST"]),
        Route("/agent-activities", guarded(activities(None))),
        Route("/agent-activities/presence", guarded(activities("Presence"))),
        Route("/agent-activities/interactions", guarded(activities("Interaction"))),
        # no /agent-activities/workload: the documents name only /presence and /interactions
        Route("/agent-status", guarded(agent_status)),
        Route("/interactions", guarded(interactions)),
        Route("/interactions/ongoing", guarded(ongoing)),
        Route("/interactions/{guid}", guarded(one_interaction)),
    ]
    return Starlette(routes=routes)


RETRY_AFTER = False
"""Vonage's 429 carries no ``Retry-After`` (seeds/README.md, Vonage: "no number and no
``Retry-After`` are documented"): the fault middleware leaves it out here."""


def mount(world: World, faults: Faults) -> dict[str, Starlette]:
    """Where the simulator serves this vendor."""
    return {"/vonage": vonage_app(world, faults)}
