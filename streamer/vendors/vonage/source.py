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

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec

from streamer.config.model import BearerAuthConfig, OAuth2AuthConfig, SourceConfig
from streamer.contract.events import (
    AgentPresenceChanged,
    AgentWorkloadChanged,
    InteractionStateChanged,
    InteractionTransferred,
    Presence,
    Workload,
)
from streamer.engine.emit import Draft, draft_order, entity_key
from streamer.engine.source import (
    Endpoint,
    PollResult,
    VendorSpec,
    catchup_span_ms,
    endpoint_interval,
    lookback_schedule,
    split_bad,
    window_settings,
)
from streamer.errors import ConfigError
from streamer.http.build import build_http
from streamer.http.tolerant import fold_key
from streamer.timeutil import format_ts, from_ms, to_ms
from streamer.track.snapshot import RawRows
from streamer.track.transfer import Leg, detect_transfers, leg_from_channel_events
from streamer.track.window import Cursor, WindowState, plan_windows
from streamer.vendors.vonage.client import VonageClient, vonage_headers
from streamer.vendors.vonage.models import Activity, AgentStatus, Channel, ChannelEvent, Interaction
from streamer.vendors.vonage.parts import PartEnd, PartEnds, is_monitoring

__all__ = [
    "VONAGE", "VonageSource", "activity_drafts", "status_drafts", "interaction_drafts", "channel_state_drafts",
    "part_end_draft", "snapshot_presence", "interaction_state",
]

VENDOR = "vonage"
SCOPE = "stats"
"""OAuth2 scope when the config gives none (seeds/README.md, Vonage: ``scope=stats``)."""
PRESENCE_CATEGORIES = frozenset({"Ready", "Away", "ExtendedAway", "LoggedOut"})
_INTERACTION_STATE = "cc.interaction.state.changed"
SNAPSHOT_CHUNK = 500
"""Agents per commit when a snapshot has many changed agents (the first poll)."""
INTERACTION_STATES = frozenset({"Queued", "Ringing", "Connected", "Held", "Wrap", "Unexpected", "Failed", "Ended"})
_STATE_SPELLINGS = {fold_key(s): s for s in INTERACTION_STATES} | {
    "wrapup": "Wrap",  # the FAQ's prose: "an interaction state of Wrap Up"
    "queue": "Queued",  # an interaction channel's Queue event (the FAQ's /interactions example)
}


# --- pure mapping: vendor models -> drafts ---------------------------------------------


def interaction_state(raw: str | None) -> str:
    """The normalized state of a vendor spelling (any case; ``Wrap Up`` is Wrap), else Unknown."""
    return _STATE_SPELLINGS.get(fold_key(raw or ""), "Unknown")


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


def snapshot_presence(name: str | None, description: str | None) -> tuple[str, str | None] | None:
    """(category, label) of an ``agent-status`` presence, or None when it has no category.

    The FAQ's only example has ``name`` and ``description`` both ``Ready``, so which one is
    the category is ambiguous. Reading chosen: ``name`` is the category and
    ``description`` the configured label (as the example reads best). Also accepted: the
    agent-activities reading, where ``name`` is the label ("Lunch") -- then a category in
    ``description`` is used, and a presence with no category in either field is left to
    the history (which has ``category``), so that both endpoints give one event per change.
    """
    if name in PRESENCE_CATEGORIES:
        return name, description
    if description in PRESENCE_CATEGORIES:
        return description, name
    return None


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


def workload(calls: int | None, semi_live: int | None = None, non_live: int | None = None) -> Workload:
    """A workload with only the counts the source reports: a count it does not have is
    absent from the event, never a null or zero fact (the FAQ's ``agent-status`` workload
    has only ``calls``; agent-activities has ``calls``, ``semiLive``, ``nonLive``)."""
    return Workload(
        calls=calls,
        semi_live=msgspec.UNSET if semi_live is None else semi_live,
        non_live=msgspec.UNSET if non_live is None else non_live,
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
    state = interaction_state(raw)
    return Draft(
        type="cc.interaction.state.changed",
        entity_id=guid,
        stream=f"agent/{agent}" if agent else "lifecycle",
        # the normalized state when known: "Wrap Up" (snapshot) and "Wrap" (history) are one change
        transition=f"{agent or '-'}:{raw if state == 'Unknown' else state}",
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
    """One agent-activities row -> the transition it starts (its ``start`` is the vendor time).

    A supervisor monitoring an interaction (``reason: Monitor``) is not an agent's state.
    """
    kind = (a.type or "").lower()
    if kind == "presence":
        return [presence_draft(a.agent_id, _presence(a.category, a.name, a.eligible_for_routing, a.reason), a.start, endpoint)]
    if kind == "workload" and a.workload is not None:
        w = workload(a.workload.calls, a.workload.semi_live, a.workload.non_live)
        return [workload_draft(a.agent_id, w, a.start, endpoint)]
    if kind == "interaction" and a.interaction is not None and not is_monitoring(a.reason):
        i = a.interaction
        return [interaction_state_draft(i.guid, a.agent_id, a.category, a.start, endpoint,
                                        medium=i.medium, direction=i.direction, reason=a.reason)]
    return []


def part_end_draft(p: PartEnd, endpoint: str = "agent-activities") -> Draft:
    """An agent's part in an interaction ended: its last activity's start plus duration
    (inferred: no row says it was the last; ``raw`` null: no vendor value says Ended)."""
    d = interaction_state_draft(
        p.interaction_id, p.agent_id, "Ended", from_ms(p.end_ms), endpoint, medium=p.medium, direction=p.direction,
        inferred=True, rule="last-activity-ended",
    )
    return msgspec.structs.replace(d, payload=msgspec.structs.replace(d.payload, raw=None))


def status_drafts(s: AgentStatus, endpoint: str = "agent-status") -> list[Draft]:
    """One agent-status row -> the transitions that put the agent where it is now.

    ``since`` equals the history ``start``, so the same change from both endpoints has
    one id. An interaction that is gone from the row gives nothing here: its end is the
    history's (see :mod:`.parts`).
    """
    out: list[Draft] = []
    if s.presence is not None and s.presence.since is not None:
        p = s.presence
        read = snapshot_presence(p.name, p.description)
        if read is not None:
            out.append(presence_draft(s.agent_id, _presence(read[0], read[1], p.eligible_for_routing, None), p.since, endpoint))
    w = s.workload
    if w is not None and w.since is not None:
        out.append(workload_draft(s.agent_id, workload(w.calls, w.semi_live, w.non_live), w.since, endpoint))
    for i in s.interaction:
        if i.since is None or is_monitoring(i.reason):
            continue
        out.append(interaction_state_draft(i.guid, s.agent_id, i.state, i.since, endpoint,
                                           medium=i.medium, direction=i.direction, reason=i.reason))
    return out


def channel_legs(it: Interaction) -> list[Leg]:
    """One leg per channel, by the tested builder; monitoring channels are no party."""
    start = to_ms(it.start)
    return [
        leg_from_channel_events(
            ch.guid or f"{it.guid}#{ch.offset}",
            ch.party.id if ch.party else None,
            ch.party.role if ch.party else None,
            start, ch.offset, ch.duration,
            ((e.type, e.offset, e.duration) for e in ch.events),
        )
        for ch in it.channels
        if not _monitoring_channel(ch)
    ]


def _monitoring_channel(ch: Channel) -> bool:
    """A supervisor's monitoring channel. The documents name ``Monitor`` only as an
    activity ``reason``; read here: an event of the channel whose ``name`` or
    ``properties.reason`` is Monitor, or a party role Supervisor/Monitor."""
    role = fold_key(ch.party.role or "") if ch.party else ""
    if role in ("supervisor", "monitor"):
        return True
    return any(is_monitoring(e.name) or is_monitoring(_prop(e, "reason")) for e in ch.events)


def _prop(e: ChannelEvent, name: str) -> str | None:
    """A channel event property by name in any case (``initiatingAgentId`` drifts)."""
    want = fold_key(name)
    for k, v in (e.properties or {}).items():
        if fold_key(k) == want:
            return v if isinstance(v, str) else None if v is None else str(v)
    return None


def channel_state_drafts(it: Interaction, endpoint: str = "interactions") -> list[Draft]:
    """Queue and Held events of the interaction's channels (the FAQ's /interactions example).

    ``Queue`` (in the customer's channel, ``result`` Delivered/...): the interaction is
    Queued at its offset, reason the ``result``. ``Held`` (``initiatingAgentId``): that
    agent's part is Held at its offset; when the hold ends while the agent is still
    connected, the part is Connected again (inferred).
    """
    start = to_ms(it.start)
    out: list[Draft] = []
    connected: dict[str, list[tuple[int, int | None]]] = {}
    for ch in it.channels:
        if ch.party is None or ch.party.id is None or _monitoring_channel(ch):
            continue
        for e in ch.events:
            if fold_key(e.type or "") == "connected":
                connected.setdefault(ch.party.id, []).append((e.offset, e.duration))
    for ch in it.channels:
        if _monitoring_channel(ch):
            continue
        for e in ch.events:
            kind = fold_key(e.type or "")
            if kind == "queue":
                out.append(interaction_state_draft(it.guid, None, e.type, from_ms(start + e.offset), endpoint,
                                                   medium=it.medium, direction=it.direction, reason=_prop(e, "result")))
            elif kind == "held":
                agent = _prop(e, "initiatingAgentId")
                out.append(interaction_state_draft(it.guid, agent, e.type, from_ms(start + e.offset), endpoint,
                                                   medium=it.medium, direction=it.direction))
                if agent is None or e.duration is None:
                    continue
                back = e.offset + e.duration
                if any(o <= back and (d is None or back < o + d) for o, d in connected.get(agent, ())):
                    out.append(interaction_state_draft(it.guid, agent, "Connected", from_ms(start + back), endpoint,
                                                       medium=it.medium, direction=it.direction,
                                                       inferred=True, rule="hold-ended"))
    return out


def interaction_drafts(it: Interaction, endpoint: str = "interactions") -> list[Draft]:
    """Transfers inferred from channel joins, queue and hold events, and the interaction's end."""
    out: list[Draft] = []
    for t in detect_transfers(channel_legs(it)):
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
    out.extend(channel_state_drafts(it, endpoint))
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
            end_ms = w.end_ms
            if read.up_to is not None:
                # The vendor vouches for data up to ``upTo`` only; an old or bogus upTo
                # may hold the cursor back, never move it backwards.
                end_ms = max(cursor.ts_ms, min(end_ms, to_ms(read.up_to)))
            timed = [(*_row_times(item), d) for item in good for d in self._drafts(item)]
            timed += self._settled(good, end_ms)
            timed.sort(key=lambda t: draft_order(t[2]))
            kept, state = self.window.sort_out((_draft_key(d), first, row, d) for first, row, d in timed)
            fresh = [_reread(d) if again else d for d, again in kept]
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

    def _settled(self, good: list[Any], vouched_ms: int) -> list[tuple[int, int, Draft]]:
        """Drafts that follow from the rows read so far rather than from one row, with
        (first, row) times for :meth:`WindowState.sort_out`."""
        return []


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
        self.http = build_http(with_default_scope(cfg), headers=vonage_headers())
        client = VonageClient(self.http, page_limit=cfg.page_limit)
        all_eps: list[Endpoint] = [
            AgentStatusEndpoint(client, cfg),
            AgentActivitiesEndpoint(client, cfg),
            InteractionsEndpoint(client, cfg),
        ]
        self.endpoints = [e for e in all_eps if (cfg.endpoints.get(e.name) is None or cfg.endpoints[e.name].enabled)]

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
    for key in ("api_key", "org_id", "team_ids", "work_type_ids", "contact_lists"):
        if getattr(cfg, key):
            raise ConfigError(f"{path}.{key}: not used by vonage")


SPEC = VONAGE = VendorSpec(
    name=VENDOR,
    endpoints=("agent-status", "agent-activities", "interactions"),
    build=VonageSource,
    check=_check,
)
