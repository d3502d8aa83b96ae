"""Sinch RMI, declared: endpoints (IO) -> the pure mapping of :mod:`.mapping` -> drafts.

- ``agents`` (snapshot): presence (``userStatus`` + profile), work state
  (``contactHandlingStatus``; wrap-up, which it has no value for, is ``Waiting`` with a
  contact still active: :func:`wrapping`), workload (active phone/chat/email contacts) and queue
  logins (the ``serving`` flags) of every agent. RMI reports how long each value has
  held, not since when: ``since`` is the poll time minus that duration, floored to the
  second. Queue logins carry no time at all: their ``since`` is the start of the
  agent's current ``userStatus`` (queue logins change at sign-on in practice); a
  workload dropping to zero is timed when it is seen.
- ``contacts`` (moving ``startTime`` + ``showAllInProcess=1``): each contact's
  lifecycle from its own timestamps (exact, so re-reads and restarts give the same
  ids): queued, ringing (``DestAllocated`` in ``/contacts/{id}/details``, read for
  changed contacts with bounded concurrency), connected, pending, wrap-up, and its
  final status. ``contactGroupId`` is the interaction; a later contact of the group
  with another agent is a transfer (consult when that agent connected before the
  first left, blind otherwise). A contact that was in process and is no longer listed
  is read by id to learn how it ended.
- ``queueStatuses`` (snapshot) and ``contactSummaries`` (quarter hours):
  ``cc.stats.changed``; the longest current wait rides along.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import anyio

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft, draft_order
from streamer.engine.source import BadInput, PollResult, VendorSpec, window_settings
from streamer.errors import SkippableError, StreamerError
from streamer.http.build import build_http
from streamer.timeutil import from_ms, to_ms
from streamer.track.snapshot import KeyedDigests
from streamer.vendors.kit.endpoints import KeyedSnapshot, StatsEndpoint, VendorEndpoint, enabled_only
from streamer.vendors.kit.helpers import split_bad
from streamer.vendors.sinch.common import (
    RowsRead,
    SinchOptions,
    change_ms_of,
    check_sinch,
    guid,
    sinch_headers,
)
from streamer.vendors.sinch.rmi.client import RmiClient
from streamer.vendors.sinch.rmi.mapping import (
    FINAL_STATUSES,
    agent_drafts,
    contact_drafts,
    contact_fields,
    group_transfers,
    queue_status_draft,
    summary_draft,
)
from streamer.vendors.sinch.rmi.models import (
    Contact,
    ContactDetail,
    ContactSummary,
    QueueStatus,
)

__all__ = [
    "SPEC", "VENDOR", "RmiSource", "AgentsEndpoint", "ContactsEndpoint",
]

VENDOR = "sinch_rmi"
DETAILS_CONCURRENCY = 4
GROUP_MEMORY_MS = 15 * 60 * 1000
"""How long the contacts of an interaction are remembered after last being served
(transfers are read off the group; a restart re-reads the lookback instead)."""


# --- endpoints (IO) --------------------------------------------------------------------


def _day_start(now_ms: int) -> datetime:
    return from_ms(now_ms - now_ms % 86_400_000).astimezone(UTC)


class AgentsEndpoint(KeyedSnapshot[tuple[str, str]]):
    """Snapshot of ``/agents``: an aspect is drafted on first sight and when its value
    changes (its transition and value, not its time: RMI gives durations, so the time
    estimated from them moves on every read)."""

    def __init__(self, client: RmiClient, cfg: SourceConfig) -> None:
        super().__init__("agents", cfg)
        self.client = client

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        read = await self.client.agents(_day_start(now_ms))
        good, bad = split_bad(read.items)
        drafts: list[Draft] = []
        self.digests.begin()
        for a in good:
            for aspect, d in agent_drafts(a, now_ms, self.name).items():
                if self.digests.changed((d.entity_id, aspect), [d.transition, d.value]):
                    drafts.append(d)
        self.digests.end()
        drafts.sort(key=draft_order)  # estimates of one view, in time order
        yield PollResult(drafts, bad, complete_up_to_ms=now_ms)


def _latest_ms(c: Contact) -> int:
    """The newest vendor time a contact row shows."""
    times = (c.arrival_time, c.arrival_queue_time, c.preview_time, c.connect_time, c.pending_time, c.pick_time,
             c.disconnect_time, c.wrap_up_begin_time, c.wrap_up_end_time)
    return max(to_ms(t) for t in times if t is not None)


class ContactsEndpoint(VendorEndpoint):
    """``/contacts`` with a moving ``startTime`` (the cursor, the newest vendor time read,
    minus the lookback): interaction lifecycles and transfers."""

    history = True
    proves = frozenset({"cc.interaction.state.changed", "cc.interaction.transferred"})

    def __init__(self, client: RmiClient, cfg: SourceConfig) -> None:
        super().__init__("contacts", cfg)
        self.client = client
        self.lookback_ms, self.lag_ms, self.initial_ms = window_settings(cfg)
        self.concurrency = DETAILS_CONCURRENCY
        self.reset()

    def reset(self) -> None:
        self.digests: KeyedDigests[str] = KeyedDigests()
        """What each served contact said (its status and times): a changed one has its details read."""
        self.details: dict[str, list[ContactDetail]] = {}
        self.open: dict[str, Contact] = {}
        self.groups: dict[str, dict[str, Contact]] = {}
        self.group_seen: dict[str, int] = {}

    async def _each(self, ids: Sequence[str], fetch: Any) -> None:
        """Run ``fetch(id)`` for every id, at most ``concurrency`` at a time; the first
        retriable or fatal error is raised after the others finished."""
        limiter = anyio.CapacityLimiter(self.concurrency)
        failures: list[StreamerError] = []

        async def one(cid: str) -> None:
            async with limiter:
                try:
                    await fetch(cid)
                except StreamerError as e:  # translated, so the engine's table applies
                    failures.append(e)

        async with anyio.create_task_group() as tg:
            for cid in ids:
                tg.start_soon(one, cid)
        if failures:
            raise failures[0]

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        cursor = cursor_ms if cursor_ms is not None else now_ms - self.initial_ms
        read = await self.client.contacts(from_ms(cursor - self.lookback_ms))
        good, bad = split_bad(read.items)
        served: dict[str, Contact] = {(guid(c.id) or c.id): c for c in good}

        async def ended(cid: str) -> None:
            try:
                served[cid] = await self.client.contact(self.open[cid].id)
            except SkippableError as e:
                bad.append(BadInput(f"contact {cid} was in process and is no longer listed: {e}", e.raw))

        gone = [cid for cid in self.open if cid not in served]
        await self._each(gone, ended)

        self.digests.begin()
        changed = [cid for cid, c in served.items() if self.digests.changed(cid, contact_fields(c))]

        async def details(cid: str) -> None:
            try:
                rows = await self.client.contact_details(served[cid].id)
            except SkippableError as e:
                bad.append(BadInput(f"details of contact {cid}: {e}", e.raw))
                return
            ok, wrong = split_bad(rows)
            bad.extend(wrong)
            self.details[cid] = ok

        await self._each(changed, details)

        drafts: list[Draft] = []
        touched: set[str] = set()
        for cid, c in served.items():
            drafts.extend(contact_drafts(c, self.details.get(cid, ()), self.name))
            group = guid(c.contact_group_id) or cid
            self.groups.setdefault(group, {})[cid] = c
            self.group_seen[group] = now_ms
            touched.add(group)
        for group in sorted(touched):
            drafts.extend(group_transfers(list(self.groups[group].values()), self.name))
        drafts.sort(key=draft_order)

        self.digests.end()
        self.open = {cid: c for cid, c in served.items() if (c.status or "").strip() not in FINAL_STATUSES}
        self.details = {cid: v for cid, v in self.details.items() if cid in served}
        for group in [g for g, t in self.group_seen.items() if t < now_ms - GROUP_MEMORY_MS]:
            self.groups.pop(group, None)
            self.group_seen.pop(group, None)
        # The cursor is vendor time: the newest time a served contact shows. The local
        # clock (a skewed or jumping host) could move it past contacts not yet read.
        newest = max((_latest_ms(c) for c in served.values()), default=cursor)
        up_to = now_ms - self.lag_ms
        yield PollResult(drafts, bad, cursor_ms=max(cursor, min(newest, up_to)), complete_up_to_ms=up_to)


class RmiSource:
    """A configured RMI interface: one HttpClient, its endpoints."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(cfg, headers=sinch_headers(cfg))
        client = RmiClient(self.http, page_limit=cfg.page_limit)

        async def queue_statuses(_start: None, _end: datetime) -> RowsRead[QueueStatus]:
            return await client.queue_statuses()

        async def summaries(start: datetime, _end: datetime) -> RowsRead[ContactSummary]:
            return await client.contact_summaries(start)

        all_eps: list[VendorEndpoint] = [
            AgentsEndpoint(client, cfg),
            ContactsEndpoint(client, cfg),
            StatsEndpoint("queueStatuses", cfg, queue_statuses, to_draft=queue_status_draft),
            StatsEndpoint("contactSummaries", cfg, summaries, to_draft=summary_draft,
                          change_ms=lambda s: change_ms_of(s.change_timestamp)),
        ]
        self.endpoints = enabled_only(all_eps)

    async def aclose(self) -> None:
        await self.http.aclose()


def _check(cfg: SourceConfig, path: str) -> None:
    check_sinch(cfg, path, VENDOR, "/RI/rmi")


ENDPOINTS = ("agents", "contacts", "queueStatuses", "contactSummaries")

SPEC = VendorSpec(name=VENDOR, endpoints=ENDPOINTS, build=RmiSource, check=_check, options=SinchOptions)
