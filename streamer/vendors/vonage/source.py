"""Vonage Insights Stats: endpoints -> pure trackers -> drafts.

- ``agent-activities``: history windows (``include=Processed``, next start = previous
  end, overlap by ``lookback`` once per ``lookback_every``, else by ``safety_lag``) of
  presence, workload and interaction activities.
- ``agent-status``: the low-latency snapshot; the same transition as a history row
  (same vendor ``since``/``start``) gets the same event id and is published once.
- ``interactions``: history windows of interactions with channels (the whole lookback
  on every read): transfers and ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, AsyncIterator

import msgspec

from ...clients import build_http
from ...config import BearerAuthConfig, OAuth2AuthConfig, SourceConfig
from ...emit import Draft, draft_order, entity_key
from ...errors import ConfigError
from ...events import AgentPresenceChanged, AgentWorkloadChanged, InteractionStateChanged, InteractionTransferred, Presence, Workload
from ...source import (
    Endpoint, PollResult, VendorSpec, catchup_span_ms, endpoint_interval, lookback_schedule, split_bad, window_settings,
)
from ...timeutil import format_ts, from_ms, to_ms
from ...track.snapshot import RawRows
from ...track.transfer import Leg, detect_transfers
from ...track.window import Cursor, WindowState, plan_windows
from .client import VonageClient, vonage_headers
from .models import Activity, AgentStatus, Interaction

__all__ = ["VONAGE", "VonageSource", "activity_drafts", "status_drafts", "interaction_drafts"]

VENDOR = "vonage"
PRESENCE_CATEGORIES = frozenset({"Ready", "Away", "ExtendedAway", "LoggedOut"})
_INTERACTION_STATE = "cc.interaction.state.changed"
SNAPSHOT_CHUNK = 500
"""Agents per commit when a snapshot has many changed agents (the first poll)."""
INTERACTION_STATES = frozenset({"Ringing", "Connected", "Wrap", "Unexpected", "Failed", "Held"})


# --- pure mapping: vendor models -> drafts ---------------------------------------------


def _presence(category: str | None, name: str | None, eligible: bool | None, reason: str | None) -> Presence:
    raw = category or ""
    known = raw in PRESENCE_CATEGORIES
    return Presence(
        name=name,
        category=raw if known else "Unknown",
        eligible_for_routing=eligible,
        reason=reason,
        raw=None if known else {"category": category, "name": name},
    )


def presence_draft(agent: str, p: Presence, at: datetime, endpoint: str) -> Draft:
    at_ms = to_ms(at)
    raw_cat = p.raw["category"] if p.raw else p.category
    return Draft(
        type="cc.agent.presence.changed",
        entity_id=agent,
        stream="presence",
        transition=f"presence:{raw_cat}",
        at_ms=at_ms,
        value=msgspec.to_builtins(p),
        previous_type=Presence,
        endpoint=endpoint,
        payload=AgentPresenceChanged(agent_id=agent, previous=None, current=p, since=format_ts(at)),
    )


def workload_draft(agent: str, w: Workload, at: datetime, endpoint: str) -> Draft:
    return Draft(
        type="cc.agent.workload.changed",
        entity_id=agent,
        stream="workload",
        transition="workload",
        at_ms=to_ms(at),
        value=msgspec.to_builtins(w),
        previous_type=Workload,
        endpoint=endpoint,
        payload=AgentWorkloadChanged(agent_id=agent, previous=None, current=w, since=format_ts(at)),
    )


def interaction_state_draft(
    guid: str, agent: str | None, state_raw: str | None, at: datetime, endpoint: str, *,
    medium: str | None = None, direction: str | None = None, reason: str | None = None,
    inferred: bool = False, rule: str | None = None,
) -> Draft:
    raw = state_raw or ""
    state = raw if raw in INTERACTION_STATES or raw == "Ended" else "Unknown"
    return Draft(
        type="cc.interaction.state.changed",
        entity_id=guid,
        stream=f"agent/{agent}" if agent else "lifecycle",
        transition=f"{agent or '-'}:{raw}",
        at_ms=to_ms(at),
        value=state,
        previous_field="previous_state",
        endpoint=endpoint,
        payload=InteractionStateChanged(
            interaction_id=guid, agent_id=agent, medium=medium, direction=direction, previous_state=None,
            state=state, reason=reason, since=format_ts(at), raw=raw or None, inferred=inferred, rule=rule,
        ),
    )


def activity_drafts(a: Activity, endpoint: str = "agent-activities") -> list[Draft]:
    """One agent-activities row -> the transition it starts (its ``start`` is the vendor time)."""
    kind = (a.type or "").lower()
    if kind == "presence":
        return [presence_draft(a.agent_id, _presence(a.category, a.name, a.eligible_for_routing, a.reason), a.start, endpoint)]
    if kind == "workload" and a.workload is not None:
        w = Workload(calls=a.workload.calls, semi_live=a.workload.semi_live, non_live=a.workload.non_live)
        return [workload_draft(a.agent_id, w, a.start, endpoint)]
    if kind == "interaction" and a.interaction is not None:
        i = a.interaction
        return [interaction_state_draft(i.guid, a.agent_id, a.category, a.start, endpoint,
                                        medium=i.medium, direction=i.direction, reason=a.reason)]
    return []


def status_drafts(s: AgentStatus, endpoint: str = "agent-status") -> list[Draft]:
    """One agent-status row -> the transitions that put the agent where it is now.

    In the snapshot, ``presence.name`` is the category and ``description`` the
    configured presence name (the FAQ's example); ``since`` equals the history ``start``.
    """
    out: list[Draft] = []
    if s.presence is not None and s.presence.since is not None:
        p = s.presence
        out.append(presence_draft(s.agent_id, _presence(p.name, p.description, p.eligible_for_routing, None), p.since, endpoint))
    if s.workload is not None and s.workload.since is not None:
        w = s.workload
        out.append(workload_draft(s.agent_id, Workload(calls=w.calls, semi_live=w.semi_live, non_live=w.non_live), w.since, endpoint))
    for i in s.interaction:
        if i.since is None:
            continue
        out.append(interaction_state_draft(i.guid, s.agent_id, i.state, i.since, endpoint,
                                           medium=i.medium, direction=i.direction, reason=i.reason))
    return out


def _legs(it: Interaction) -> list[Leg]:
    start = to_ms(it.start)
    legs = []
    for ch in it.channels:
        connected = [e for e in ch.events if (e.type or "") == "Connected"]
        connected_ms = start + connected[0].offset if connected else None
        if connected:
            last = max(connected, key=lambda e: e.offset)
            disc = None if last.duration is None else start + last.offset + last.duration
        else:
            disc = None
        legs.append(
            Leg(
                channel_id=ch.guid or f"{it.guid}#{ch.offset}",
                party_id=ch.party.id if ch.party else None,
                role=ch.party.role if ch.party else None,
                joined_ms=start + ch.offset,
                connected_ms=connected_ms,
                disconnected_ms=disc,
            )
        )
    return legs


def interaction_drafts(it: Interaction, endpoint: str = "interactions") -> list[Draft]:
    """Transfers inferred from channel joins, and the interaction's end."""
    out: list[Draft] = []
    for t in detect_transfers(_legs(it)):
        at = from_ms(t.at_ms)
        out.append(
            Draft(
                type="cc.interaction.transferred",
                entity_id=it.guid,
                stream="transfers",
                transition=f"{t.from_agent_id}>{t.to_agent_id}:{t.kind}",
                at_ms=t.at_ms,
                previous_field=None,
                endpoint=endpoint,
                payload=InteractionTransferred(
                    interaction_id=it.guid, from_agent_id=t.from_agent_id, to_agent_id=t.to_agent_id,
                    kind=t.kind, at=format_ts(at), inferred=True, rule=f"channel-joins-{t.kind}",
                ),
            )
        )
    if (it.status or "") in ("Completed", "InternalError") and it.duration is not None:
        end = from_ms(to_ms(it.start) + it.duration)
        out.append(interaction_state_draft(it.guid, None, "Ended", end, endpoint, medium=it.medium,
                                           direction=it.direction, reason=it.status))
    return out



# --- endpoints (IO) --------------------------------------------------------------------


class _HistoryEndpoint(Endpoint):
    history = True
    short_reads = True
    """Reads between the full lookback re-reads start ``safety_lag`` before the cursor."""

    def __init__(self, name: str, client: VonageClient, cfg: SourceConfig) -> None:
        self.name = name
        self.client = client
        self.interval = endpoint_interval(cfg, name)
        _, self.lag_ms, self.initial_ms = window_settings(cfg)
        self.span_ms = catchup_span_ms(cfg)
        self.schedule = lookback_schedule(cfg, every=None if self.short_reads else 0)
        self.window = WindowState(Cursor(0))
        self.resuming = True
        """Nothing is remembered (a start or a reset): the next poll anchors the window's
        memory at the checkpointed cursor, before which every row is a re-read."""
        self.rows = RawRows()
        """The overlap is served again on every read: rows that come back byte for byte
        are not decoded again (they were admitted when first read)."""

    def reset(self) -> None:
        self.window = WindowState(Cursor(0))
        self.resuming = True
        self.rows.forget()
        self.schedule.forget()

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        cursor = Cursor(cursor_ms if cursor_ms is not None else now_ms - self.initial_ms)
        if self.resuming:
            self.window, self.resuming = WindowState.resumed(cursor, cursor_ms), False
        else:
            self.window = self.window.at(cursor)
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
            timed = [(*_row_times(item), d) for item in good for d in self._drafts(item)]
            timed.sort(key=lambda t: draft_order(t[2]))
            kept, state = self.window.sort_out((_draft_key(d), first, row, d) for first, row, d in timed)
            fresh = [_reread(d) if again else d for d, again in kept]
            end_ms = w.end_ms
            if read.up_to is not None:
                # The vendor vouches for data up to ``upTo`` only; an old or bogus upTo
                # may hold the cursor back, never move it backwards.
                end_ms = max(cursor.ts_ms, min(end_ms, to_ms(read.up_to)))
            self.window = state.close(Cursor(end_ms), lookback_ms=self.schedule.reach_ms)
            self.schedule.done(full, self.window.cursor.ts_ms)
            yield PollResult(fresh, bad, cursor_ms=end_ms, complete_up_to_ms=end_ms)
            if end_ms < w.end_ms:
                return  # the vendor vouched for less: the next window would start past a hole

    def _keep(self, raw: msgspec.Raw) -> bool:
        return self.rows.fresh(raw)

    async def _read(self, start: datetime, end: datetime) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _drafts(self, item: Any) -> list[Draft]:  # pragma: no cover - abstract
        raise NotImplementedError


def _draft_key(d: Draft) -> str:
    return f"{d.type}|{d.entity_id}|{d.transition}|{d.at_ms}"


def _row_times(item: Activity | Interaction) -> tuple[int, int]:
    """(start, end or start) of a row: ``include=Processed`` returns a row in the windows
    that hold its start and in the one that holds its end."""
    start = to_ms(item.start)
    return start, start + max(0, item.duration or 0)


def _reread(d: Draft) -> Draft:
    return msgspec.structs.replace(d, reread=True)


class AgentActivitiesEndpoint(_HistoryEndpoint):
    proves = frozenset({"cc.agent.presence.changed", "cc.agent.workload.changed", _INTERACTION_STATE})

    def __init__(self, client: VonageClient, cfg: SourceConfig) -> None:
        super().__init__("agent-activities", client, cfg)

    async def _read(self, start: datetime, end: datetime) -> Any:
        return await self.client.agent_activities(start, end, include="Processed", keep=self._keep)

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
        return await self.client.interactions(start, end, include="Processed", keep=self._keep)

    def _drafts(self, item: Interaction) -> list[Draft]:
        return interaction_drafts(item, self.name)


class AgentStatusEndpoint(Endpoint):
    """Snapshot: only rows that differ from the previous snapshot are decoded and looked at."""

    history = False

    def __init__(self, client: VonageClient, cfg: SourceConfig) -> None:
        self.name = "agent-status"
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)
        self.rows = RawRows()

    def reset(self) -> None:
        self.rows.forget()

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        self.rows.begin()
        read = await self.client.agent_status(keep=self.rows.fresh)
        for digest, item in zip(self.rows.end(), read.items):
            if isinstance(item, AgentStatus) and item.interaction:
                # an unchanged row is not decoded again: its ongoing interactions are kept alive
                self.rows.attach(digest, tuple(entity_key(_INTERACTION_STATE, i.guid) for i in item.interaction))
        good, bad = split_bad(read.items)
        up_to = to_ms(read.up_to) if read.up_to is not None else now_ms
        # Committed in chunks: a first snapshot of many agents never holds all of their
        # events in memory at once (the ledger drops what a retried chunk already published).
        for i in range(0, max(len(good), 1), SNAPSHOT_CHUNK):
            drafts = [d for s in good[i:i + SNAPSHOT_CHUNK] for d in status_drafts(s, self.name)]
            yield PollResult(drafts, bad if i == 0 else [], complete_up_to_ms=up_to,
                             alive=self.rows.alive if i == 0 else [])


class VonageSource:
    """A configured Vonage tenant: one HttpClient, three endpoints."""

    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(cfg, headers=vonage_headers())
        client = VonageClient(self.http, page_limit=cfg.page_limit)
        all_eps: list[Endpoint] = [
            AgentStatusEndpoint(client, cfg),
            AgentActivitiesEndpoint(client, cfg),
            InteractionsEndpoint(client, cfg),
        ]
        self.endpoints = [e for e in all_eps if (cfg.endpoints.get(e.name) is None or cfg.endpoints[e.name].enabled)]

    async def aclose(self) -> None:
        await self.http.aclose()


def _check(cfg: SourceConfig, path: str) -> None:
    if not isinstance(cfg.auth, (BearerAuthConfig, OAuth2AuthConfig)):
        raise ConfigError(f"{path}.auth.type: vonage takes bearer or oauth2_client_credentials")
    for key in ("api_key", "org_id", "team_ids", "work_type_ids", "contact_lists"):
        if getattr(cfg, key):
            raise ConfigError(f"{path}.{key}: not used by vonage")


SPEC = VONAGE = VendorSpec(
    name=VENDOR,
    endpoints=("agent-status", "agent-activities", "interactions"),
    build=VonageSource,
    check=_check,
)
