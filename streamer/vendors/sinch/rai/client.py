"""Sinch RAI reads: every call pages with ``offset``/``limit`` until an empty page, and a
query that returns the documented row limit (10,000 rows, every RAI endpoint) is split
in time and read again (:func:`~streamer.vendors.sinch.common.read_whole`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from streamer.timeutil import format_ts, from_ms, parse_ts, to_ms
from streamer.vendors.sinch.common import LANGUAGE, QUARTER_MS, RowsRead, SinchClient, read_whole
from streamer.vendors.sinch.rai.models import AgentStatRow, AgentStatusHistoryRow, AgentStatusRow, ContactStatRow

__all__ = ["RaiClient", "EPOCH_START"]

T = TypeVar("T")

EPOCH_START = "2000-01-01T00:00:00.000Z"
"""``startTime`` for "every agent": agentStatus filters on the latest change time."""


def _aware(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("times must be timezone-aware datetimes")
    return format_ts(dt)


class RaiClient(SinchClient):
    """``/agentStatusHistory``, ``/agentStatus`` and the statistics collections."""

    async def agent_status_history(
        self, start: datetime, end: datetime | None = None, *, user_ids: Sequence[str] = ()
    ) -> RowsRead[AgentStatusHistoryRow]:
        """Status-change rows whose ``changeTimestamp`` is in ``[start, end)`` (one query;
        the history endpoint splits a window that returns the row limit itself)."""
        params: dict[str, str | int] = {"startTime": _aware(start), **LANGUAGE}
        if end is not None:
            if end < start:
                raise ValueError(f"end {format_ts(end)} is before start {format_ts(start)}")
            params["endTime"] = _aware(end)
        if user_ids:
            params["userId"] = ",".join(user_ids)
        return await self.rows("/agentStatusHistory", params, AgentStatusHistoryRow)

    async def agent_status(self, start: datetime | None = None, *, now: datetime | None = None) -> RowsRead[AgentStatusRow]:
        """Every agent's current status (those changed since ``start`` when given). Past
        the row limit, read again by ``changeTimestamp`` ranges (an agent may come twice),
        split at the vendor's clock (``Date``), else ``now``, else the host's."""

        async def read(lo: int, hi: int | None) -> RowsRead[AgentStatusRow]:
            params: dict[str, str | int] = {"startTime": format_ts(from_ms(lo)), **LANGUAGE}
            if hi is not None:
                params["endTime"] = format_ts(from_ms(hi))
            return await self.rows("/agentStatus", params, AgentStatusRow)

        lo = to_ms(parse_ts(_aware(start) if start is not None else EPOCH_START))
        now_ms = to_ms(now) if now is not None else int(time.time() * 1000)
        return await read_whole(read, lo, None, row_limit=self.row_limit, now_ms=now_ms)

    async def contact_statistic(self, start: datetime, end: datetime) -> RowsRead[ContactStatRow]:
        """Today's contacts; its times are not rounded (they select a contact by its
        disconnect time, or arrival time while active)."""
        return await self._stats("/contactStatistic", start, end, ContactStatRow, contacts=True, language=True, align=1)

    async def contact_history(self, start: datetime, end: datetime) -> RowsRead[ContactStatRow]:
        return await self._stats("/contactHistory", start, end, ContactStatRow, contacts=True, language=False)

    async def agent_statistic(self, start: datetime, end: datetime) -> RowsRead[AgentStatRow]:
        return await self._stats("/agentStatistic", start, end, AgentStatRow, contacts=False, language=True)

    async def agent_history(self, start: datetime, end: datetime) -> RowsRead[AgentStatRow]:
        return await self._stats("/agentHistory", start, end, AgentStatRow, contacts=False, language=False)

    async def _stats(self, path: str, start: datetime, end: datetime, model: type[T], *, contacts: bool, language: bool,
                     align: int = QUARTER_MS) -> RowsRead[T]:
        async def read(lo: int, hi: int | None) -> RowsRead[T]:
            params = _stats_params(from_ms(lo), from_ms(hi if hi is not None else to_ms(end)), contacts=contacts)
            return await self.rows(path, {**params, **(LANGUAGE if language else {})}, model)

        return await read_whole(read, to_ms(start), to_ms(end), row_limit=self.row_limit, align_ms=align)


def _stats_params(start: datetime, end: datetime, *, contacts: bool) -> dict[str, str | int]:
    """Quarter-hour buckets; contacts aggregated per queue (no channel/type/user split)."""
    params: dict[str, str | int] = {
        "startTime": _aware(start),
        "endTime": _aware(end),
        "timeCategory": "quarterHour",
    }
    if contacts:
        params.update(showChannel="false", showChannelType="false", showQueue="true", showUser="false")
    else:
        params.update(showUser="true")
    return params
