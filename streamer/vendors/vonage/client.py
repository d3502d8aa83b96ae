"""Vonage Insights Stats API reads: one call reads every page of one window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from streamer.errors import SkippableError
from streamer.http.client import HttpClient
from streamer.http.offload import IN_PLACE_ITEMS_BYTES, decode_off_loop
from streamer.http.paging import PageNumberPaginator
from streamer.http.tolerant import decode_documented_items, decode_items
from streamer.timeutil import format_ts
from streamer.vendors.vonage.models import (
    Activity,
    AgentStatus,
    BadRecord,
    Interaction,
    Keep,
    Page,
    documented_envelope,
    tolerant_envelope,
)

__all__ = [
    "VONAGE_ACCEPT",
    "MAX_WINDOW",
    "WINDOW_LIMIT_MESSAGE",
    "vonage_headers",
    "WindowRead",
    "VonageClient",
]

T = TypeVar("T")

VONAGE_ACCEPT = "application/vnd.newvoicemedia.v3+json"
MAX_WINDOW = timedelta(days=31)
WINDOW_LIMIT_MESSAGE = "Request window size limit exceeded 31 days"


def vonage_headers() -> dict[str, str]:
    """Default headers for every Insights Stats request."""
    return {"accept": VONAGE_ACCEPT}


@dataclass(frozen=True, slots=True)
class WindowRead(Generic[T]):
    """All pages of one read, items in API order.

    ``up_to`` is the earliest ``upTo`` any page reported (the vendor's request time),
    so using it as the next window start can only overlap, never skip.
    """

    items: list[T | BadRecord] = field(default_factory=list)
    up_to: datetime | None = None
    pages: int = 0


def _window_params(start: datetime, end: datetime, include: str) -> dict[str, str | int]:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware datetimes")
    if end < start:
        raise ValueError(f"window end {format_ts(end)} is before start {format_ts(start)}")
    if end - start > MAX_WINDOW:
        raise ValueError(
            f"window {format_ts(start)}..{format_ts(end)} is over 31 days; split it first"
        )
    return {"start": format_ts(start), "end": format_ts(end), "include": include}


class VonageClient:
    """Reads ``/agent-activities``, ``/interactions`` and ``/agent-status``."""

    def __init__(self, http: HttpClient, *, page_limit: int = 1000) -> None:
        if page_limit < 1:
            raise ValueError("page_limit must be >= 1")
        self._http = http
        self._page_limit = page_limit

    async def agent_activities(
        self, start: datetime, end: datetime, include: str = "Processed",
        keep: Keep | None = None,
    ) -> WindowRead[Activity]:
        """Presence, workload and interaction activities in ``[start, end]`` (only the
        rows ``keep`` accepts are decoded)."""
        params = _window_params(start, end, include)
        return await self._read_all("/agent-activities", params, Activity, keep)

    async def interactions(
        self, start: datetime, end: datetime, include: str = "Processed",
        keep: Keep | None = None,
    ) -> WindowRead[Interaction]:
        """Interactions with their channels in ``[start, end]`` (only the rows ``keep``
        accepts are decoded)."""
        params = _window_params(start, end, include)
        return await self._read_all("/interactions", params, Interaction, keep)

    async def agent_status(self, keep: Keep | None = None) -> WindowRead[AgentStatus]:
        """The current snapshot of every agent (only the rows ``keep`` accepts are decoded)."""
        return await self._read_all("/agent-status", {}, AgentStatus, keep)

    async def _read_all(
        self, path: str, params: Mapping[str, str | int], model: type[T],
        keep: Keep | None = None,
    ) -> WindowRead[T]:
        pager = PageNumberPaginator()
        items: list[T | BadRecord] = []
        up_to: datetime | None = None
        while not pager.finished:
            query = {**params, "page": pager.current_value, "limit": self._page_limit}
            try:
                response = await self._http.get(path, query)
            except SkippableError as exc:
                if WINDOW_LIMIT_MESSAGE.lower() in str(exc).lower():
                    raise SkippableError(
                        f"{path} {params.get('start')}..{params.get('end')}: {WINDOW_LIMIT_MESSAGE}"
                    ) from None
                raise
            page = await self._decode(response.body, model, keep)
            pager.advance(page, raw=response.body)
            items.extend(page.items)
            if page.up_to is not None and (up_to is None or page.up_to < up_to):
                up_to = page.up_to
        return WindowRead(items=items, up_to=up_to, pages=pager.count)

    @staticmethod
    async def _decode(body: bytes, model: type[T], keep: Keep | None) -> Page[T]:
        """:func:`~streamer.vendors.vonage.models.decode_page`, with ``keep`` (the endpoint's
        memory of rows) on the loop. A page as documented is read here, its envelope and
        its rows each in one msgspec call (see :mod:`streamer.http.offload`); a large body
        off the document, and a very large set of rows, are decoded in a worker thread."""
        env = documented_envelope(body)
        if env is None:
            env = await decode_off_loop(len(body), tolerant_envelope, body)
        raws = env.raws if keep is None else keep(env.raws)
        size = sum(map(len, raws))
        items = decode_documented_items(raws, model) if size <= IN_PLACE_ITEMS_BYTES else None
        if items is None:
            items = await decode_off_loop(size, decode_items, raws, model)
        return Page(items=items, meta=env.meta, up_to=env.up_to)
