"""Sinch RMI reads: paged collections and per-contact reads (``/contacts/{id}``,
``/contacts/{id}/details``) with the id percent-encoded as one path segment."""

from __future__ import annotations

from datetime import datetime

from streamer.errors import SkippableError
from streamer.http.client import quote_segment
from streamer.http.offload import decode_off_loop
from streamer.http.tolerant import BadRecord
from streamer.timeutil import format_ts
from streamer.vendors.sinch.common import LANGUAGE, RowsRead, SinchClient, decode_rows
from streamer.vendors.sinch.rmi.models import Agent, Contact, ContactDetail, ContactSummary, QueueStatus

__all__ = ["RmiClient"]


def _aware(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError("times must be timezone-aware datetimes")
    return format_ts(dt)


class RmiClient(SinchClient):
    """``/agents``, ``/contacts`` (+ one contact, its details), ``/queueStatuses``,
    ``/contactSummaries``."""

    async def agents(self, start: datetime) -> RowsRead[Agent]:
        """Every agent now, with queue configuration and statistics (``showQueueInfo=3``);
        ``startTime`` (required) bounds the statistics."""
        return await self.rows("/agents", {"startTime": _aware(start), "showQueueInfo": 3, **LANGUAGE}, Agent)

    async def contacts(self, start: datetime, *, show_all_in_process: bool = True) -> RowsRead[Contact]:
        """Contacts after ``start``, plus every contact still in process, in ``id`` order:
        the default order is by ``name``, which contacts do not have, so pages of an
        unstable order could overlap and skip; ids are unique, so this order is total."""
        params: dict[str, str | int] = {"startTime": _aware(start), "sort": "id", **LANGUAGE}
        if show_all_in_process:
            params["showAllInProcess"] = 1
        return await self.rows("/contacts", params, Contact)

    async def contact(self, contact_id: str) -> Contact:
        """One contact by id; 400 (``Invalid GUID``) and 404 raise SkippableError."""
        response = await self.http.get(f"/contacts/{quote_segment(contact_id)}", LANGUAGE)
        rows = await decode_off_loop(len(response.body), decode_rows, response.body, Contact)
        if len(rows) != 1 or not isinstance(rows[0], Contact):
            reason = rows[0].reason if rows and not isinstance(rows[0], Contact) else f"{len(rows)} rows"
            raise SkippableError(f"/contacts/{contact_id}: not one readable contact ({reason})", raw=response.body)
        return rows[0]

    async def contact_details(self, contact_id: str) -> list[ContactDetail | BadRecord]:
        """The events of one contact, in time order (bad rows as BadRecord)."""
        return await self.list_once(f"/contacts/{quote_segment(contact_id)}/details", ContactDetail, LANGUAGE)

    async def queue_statuses(self) -> RowsRead[QueueStatus]:
        return await self.rows("/queueStatuses", LANGUAGE, QueueStatus)

    async def contact_summaries(self, start: datetime) -> RowsRead[ContactSummary]:
        return await self.rows("/contactSummaries", {"startTime": _aware(start), **LANGUAGE}, ContactSummary)
