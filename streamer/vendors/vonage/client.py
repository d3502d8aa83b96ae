"""Vonage Insights Stats API reads: one call reads every page of one window."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar, cast

import msgspec

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
    "RowsRead",
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


@dataclass(frozen=True, slots=True)
class RowsRead:
    """A snapshot's rows, raw (those its ``keep`` accepted), in API order, and its ``upTo``."""

    rows: list[msgspec.Raw]
    up_to: datetime | None = None


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

    async def agent_status_rows(self, keep: Keep) -> RowsRead:
        """The current snapshot's rows that ``keep`` accepts, not decoded: the caller decodes
        them a chunk at a time (:meth:`decode_rows`), so a snapshot of many changed agents is
        never all decoded at once (the objects of 10,000 decoded rows, freed, left the
        allocator's pools scattered among long-lived ones: 14 % of the RSS per busy agent)."""
        read: WindowRead[msgspec.Raw] = await self._read_all("/agent-status", {}, None, keep)
        return RowsRead(rows=cast("list[msgspec.Raw]", read.items), up_to=read.up_to)

    @staticmethod
    async def decode_rows(raws: list[msgspec.Raw], model: type[T]) -> list[T | BadRecord]:
        """``raws`` decoded as ``model``, one item per row (an unreadable one as
        :class:`BadRecord`); many rows in a worker thread, as :meth:`_decode` does."""
        size = sum(map(len, raws))
        items = decode_documented_items(raws, model) if size <= IN_PLACE_ITEMS_BYTES else None
        if items is None:
            items = await decode_off_loop(size, decode_items, raws, model)
        return items

    async def _read_all(
        self, path: str, params: Mapping[str, str | int], model: type[T] | None,
        keep: Keep | None = None,
    ) -> WindowRead[T]:
        """Every page of ``path``; with ``model`` None, the rows ``keep`` accepts stay raw."""
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

    @classmethod
    async def _decode(cls, body: bytes, model: type[T] | None, keep: Keep | None) -> Page[T]:
        """:func:`~streamer.vendors.vonage.models.decode_page`, with ``keep`` (the endpoint's
        memory of rows) on the loop. A page as documented is read here, its envelope and
        its rows each in one msgspec call (see :mod:`streamer.http.offload`); a large body
        off the document, and a very large set of rows, are decoded in a worker thread.
        With ``model`` None the rows are left raw."""
        env = documented_envelope(body)
        if env is None:
            env = await decode_off_loop(len(body), tolerant_envelope, body)
        raws = env.raws if keep is None else keep(env.raws)
        if model is None:
            return Page(items=cast("list[T | BadRecord]", raws), meta=env.meta, up_to=env.up_to)
        return Page(items=await cls.decode_rows(raws, model), meta=env.meta, up_to=env.up_to)
