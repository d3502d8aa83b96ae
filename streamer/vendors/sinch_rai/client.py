"""Sinch RAI reads: every call pages with ``offset``/``limit`` until an empty page."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ...timeutil import format_ts
from ..sinch_common import RowsRead, SinchClient
from .models import AgentStatRow, AgentStatusHistoryRow, AgentStatusRow, ContactStatRow

__all__ = ["RaiClient", "EPOCH_START"]

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
        """Status-change rows whose ``changeTimestamp`` is in ``[start, end)``."""
        params: dict[str, str | int] = {"startTime": _aware(start)}
        if end is not None:
            if end < start:
                raise ValueError(f"end {format_ts(end)} is before start {format_ts(start)}")
            params["endTime"] = _aware(end)
        if user_ids:
            params["userId"] = ",".join(user_ids)
        return await self.rows("/agentStatusHistory", params, AgentStatusHistoryRow)

    async def agent_status(self, start: datetime | None = None) -> RowsRead[AgentStatusRow]:
        """Every agent's current status (those changed since ``start`` when given)."""
        params = {"startTime": _aware(start) if start is not None else EPOCH_START}
        return await self.rows("/agentStatus", params, AgentStatusRow)

    async def contact_statistic(self, start: datetime, end: datetime) -> RowsRead[ContactStatRow]:
        return await self.rows("/contactStatistic", _stats_params(start, end, contacts=True), ContactStatRow)

    async def contact_history(self, start: datetime, end: datetime) -> RowsRead[ContactStatRow]:
        return await self.rows("/contactHistory", _stats_params(start, end, contacts=True), ContactStatRow)

    async def agent_statistic(self, start: datetime, end: datetime) -> RowsRead[AgentStatRow]:
        return await self.rows("/agentStatistic", _stats_params(start, end, contacts=False), AgentStatRow)

    async def agent_history(self, start: datetime, end: datetime) -> RowsRead[AgentStatRow]:
        return await self.rows("/agentHistory", _stats_params(start, end, contacts=False), AgentStatRow)


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
