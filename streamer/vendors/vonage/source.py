"""Vonage Insights Stats, declared: its endpoints (IO) over the pure mapping of
:mod:`.mapping` (rows -> drafts).

- ``agent-activities``: history windows (``include=Processed``, next start = previous
  end, overlap by ``lookback`` once per ``lookback_every``, else by ``safety_lag``) of
  presence, workload and interaction activities.
- ``agent-status``: the low-latency snapshot; the same transition as a history row
  (same vendor ``since``/``start``) gets the same event id and is published once.
- ``interactions``: history windows of interactions with channels (the whole lookback
  on every read): transfers and ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import msgspec

from streamer.config.model import BearerAuthConfig, OAuth2AuthConfig, SourceConfig
from streamer.engine.emit import Draft, draft_order, entity_key
from streamer.engine.source import BadInput, PollResult, VendorSpec, lookback_schedule
from streamer.errors import ConfigError
from streamer.http.build import build_http
from streamer.timeutil import from_ms, to_ms
from streamer.track.snapshot import RawRows
from streamer.track.window import Cursor, plan_windows
from streamer.vendors.kit.endpoints import HistoryWindow, RowSnapshot, VendorEndpoint, enabled_only
from streamer.vendors.kit.helpers import split_bad
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.mapping import (
    activity_drafts,
    interaction_drafts,
    part_end_draft,
    status_drafts,
)
from streamer.vendors.vonage.models import Activity, AgentStatus, BadRecord, Interaction
from streamer.vendors.vonage.parts import PartEnds

__all__ = [
    "SPEC", "VONAGE", "VonageSource", "AgentActivitiesEndpoint", "InteractionsEndpoint", "AgentStatusEndpoint",
    "with_default_scope", "status_chunk",
]

VENDOR = "vonage"
SCOPE = "stats"
"""OAuth2 scope when the config gives none (seeds/README.md, Vonage: ``scope=stats``)."""
_INTERACTION_STATE = "cc.interaction.state.changed"
SNAPSHOT_CHUNK = 500
"""Agents per commit when a snapshot has many changed agents (the first poll)."""


# --- endpoints (IO) --------------------------------------------------------------------


class _HistoryEndpoint(HistoryWindow):
    short_reads = True
    """Reads between the full lookback re-reads start ``safety_lag`` before the cursor."""

    def __init__(self, name: str, client: VonageClient, cfg: SourceConfig) -> None:
        super().__init__(name, cfg)
        self.client = client
        self.schedule = lookback_schedule(cfg, every=None if self.short_reads else 0)
        self.rows = RawRows()
        """The overlap is served again on every read: rows that come back byte for byte
        are not decoded again (they were admitted when first read)."""

    def reset(self) -> None:
        super().reset()
        self.rows.forget()
        self.schedule.forget()

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        cursor = self.resume(cursor_ms, now_ms)
        start_ms, full = self.schedule.plan(cursor.ts_ms, now_ms - self.lag_ms)
        windows = plan_windows(cursor, now_ms, lookback_ms=cursor.ts_ms - start_ms, safety_lag_ms=self.lag_ms,
                               max_span_ms=self.span_ms)
        # Rows are remembered only in the steady state (one window about a lookback long):
        # a catch-up window of hours would cost memory for rows no later read serves again.
        steady = len(windows) == 1 and windows[0].end_ms - windows[0].start_ms <= 2 * self.schedule.reach_ms
        if steady:
            self.rows.begin()
        else:
            self.rows.forget()
        for w in windows:
            read = await self._read(from_ms(w.start_ms), from_ms(w.end_ms))
            if steady:
                self.rows.end(add=not full)  # a short read: the rows of the last full one are served again
            good, bad = split_bad(read.items)
            end_ms = w.end_ms
            if read.up_to is not None:
                # The vendor vouches for data up to ``upTo`` only; an old or bogus upTo
                # may hold the cursor back, never move it backwards.
                end_ms = max(cursor.ts_ms, min(end_ms, to_ms(read.up_to)))
            timed = [(*_row_times(item), d) for item in good for d in self._drafts(item)]
            timed += self._settled(good, end_ms)
            timed.sort(key=lambda t: draft_order(t[2]))
            fresh, state = self.sort_out(timed)
            self.window = state.close(Cursor(end_ms), lookback_ms=self.schedule.reach_ms)
            self.schedule.done(full, self.window.cursor.ts_ms)
            yield PollResult(fresh, bad, cursor_ms=end_ms, complete_up_to_ms=end_ms)
            if end_ms < w.end_ms:
                return  # the vendor vouched for less: the next window would start past a hole

    async def _read(self, start: datetime, end: datetime) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _drafts(self, item: Any) -> list[Draft]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _settled(self, good: list[Any], vouched_ms: int) -> list[tuple[int, int, Draft]]:
        """Drafts that follow from the rows read so far rather than from one row, with
        (first, row) times for :meth:`WindowState.sort_out`."""
        return []


def _row_times(item: Activity | Interaction) -> tuple[int, int]:
    """(start, end or start) of a row: ``include=Processed`` returns a row in the windows
    that hold its start and in the one that holds its end."""
    start = to_ms(item.start)
    return start, start + max(0, item.duration or 0)


class AgentActivitiesEndpoint(_HistoryEndpoint):
    """Also publishes the end of each agent's part in an interaction (:mod:`.parts`), once
    the cursor is a lookback past it. The snapshot never publishes that end (it would not
    know the exact time): one event per end, from here."""

    proves = frozenset({"cc.agent.presence.changed", "cc.agent.workload.changed", _INTERACTION_STATE})

    def __init__(self, client: VonageClient, cfg: SourceConfig) -> None:
        super().__init__("agent-activities", client, cfg)
        self.parts = PartEnds(keep_ms=2 * self.schedule.reach_ms)

    def reset(self) -> None:
        super().reset()
        self.parts.forget()

    def _settled(self, good: list[Any], vouched_ms: int) -> list[tuple[int, int, Draft]]:
        for a in good:
            self.parts.see(a)
        ends = self.parts.settled(vouched_ms - self.schedule.lookback_ms)
        return [(p.start_ms, p.end_ms, part_end_draft(p, self.name)) for p in ends]

    async def _read(self, start: datetime, end: datetime) -> Any:
        return await self.client.agent_activities(start, end, include="Processed", keep=self.rows.fresh_rows)

    def _drafts(self, item: Activity) -> list[Draft]:
        return activity_drafts(item, self.name)


class InteractionsEndpoint(_HistoryEndpoint):
    proves = frozenset({"cc.interaction.transferred", _INTERACTION_STATE})
    short_reads = False
    """Every read re-reads the whole lookback: an interaction's row is found by its start,
    and its end and transfers show up on it later, so most rows that matter come back
    changed after the cursor has passed their start."""

    def __init__(self, client: VonageClient, cfg: SourceConfig) -> None:
        super().__init__("interactions", client, cfg)

    async def _read(self, start: datetime, end: datetime) -> Any:
        return await self.client.interactions(start, end, include="Processed", keep=self.rows.fresh_rows)

    def _drafts(self, item: Interaction) -> list[Draft]:
        return interaction_drafts(item, self.name)


class AgentStatusEndpoint(RowSnapshot):
    """Snapshot: only rows that differ from the previous snapshot are decoded and looked at."""

    def __init__(self, client: VonageClient, cfg: SourceConfig) -> None:
        super().__init__("agent-status", cfg)
        self.client = client

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        self.rows.begin()
        read = await self.client.agent_status_rows(keep=self.rows.fresh_rows)
        digests = self.rows.end()
        up_to = to_ms(read.up_to) if read.up_to is not None else now_ms
        # Decoded and committed in chunks: a first snapshot of many agents never holds all
        # of them decoded, nor all of their events, at once (the ledger drops what a
        # retried chunk already published).
        for i in range(0, max(len(read.rows), 1), SNAPSHOT_CHUNK):
            items = await self.client.decode_rows(read.rows[i:i + SNAPSHOT_CHUNK], AgentStatus)
            drafts, bad = status_chunk(self.rows, digests[i:i + SNAPSHOT_CHUNK], items, self.name)
            yield PollResult(drafts, bad, complete_up_to_ms=up_to, alive=self.rows.alive if i == 0 else [])


def status_chunk(
    rows: RawRows, digests: Sequence[bytes], items: Sequence[AgentStatus | BadRecord], endpoint: str = "agent-status",
) -> tuple[list[Draft], list[BadInput]]:
    """A chunk of a snapshot's changed rows, decoded (``items``, in the order of their
    ``digests``): the keys of each row's interactions attached to it, since an unchanged
    row is not decoded again and its ongoing interactions must be kept alive (after a
    forget in between, attaching does nothing); then the chunk's drafts and bad rows."""
    for digest, item in zip(digests, items):
        if isinstance(item, AgentStatus) and item.interaction:
            rows.attach(digest, tuple(entity_key(_INTERACTION_STATE, x.guid) for x in item.interaction))
    good, bad = split_bad(items)
    return [d for s in good for d in status_drafts(s, endpoint)], bad


class VonageSource:
    """A configured Vonage tenant: one HttpClient, three endpoints."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(with_default_scope(cfg), headers=vonage_headers())
        client = VonageClient(self.http, page_limit=cfg.page_limit)
        all_eps: list[VendorEndpoint] = [
            AgentStatusEndpoint(client, cfg),
            AgentActivitiesEndpoint(client, cfg),
            InteractionsEndpoint(client, cfg),
        ]
        self.endpoints = enabled_only(all_eps)

    async def aclose(self) -> None:
        await self.http.aclose()


def with_default_scope(cfg: SourceConfig) -> SourceConfig:
    """``cfg`` with the OAuth2 scope ``stats`` when it names none."""
    if isinstance(cfg.auth, OAuth2AuthConfig) and not cfg.auth.scope:
        return msgspec.structs.replace(cfg, auth=msgspec.structs.replace(cfg.auth, scope=SCOPE))
    return cfg


def _check(cfg: SourceConfig, path: str) -> None:
    if not isinstance(cfg.auth, (BearerAuthConfig, OAuth2AuthConfig)):
        raise ConfigError(f"{path}.auth.type: vonage takes bearer or oauth2_client_credentials")


SPEC = VONAGE = VendorSpec(
    name=VENDOR,
    endpoints=("agent-status", "agent-activities", "interactions"),
    build=VonageSource,
    check=_check,
)
