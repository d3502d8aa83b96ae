"""Pure rendering of ground truth in the Alvaria Cloud Reporting API v2 JSON shapes.

The world knows presences, per-agent interaction activities and the interactions' Held
events; Alvaria reports one *state* per user. The mapping, applied to one instant:

| world | Alvaria ``stateId`` (``stateStartTime``) |
|---|---|
| presence Logged Out | ``loggedoff`` (the presence's start) |
| presence Break | ``park``, reason ``break`` (its start); ``parkwarning`` after ``park_warning_s`` |
| presence Lunch / Meeting | ``notready``, reason = the presence name (its start) |
| Ready, an interaction Ringing | ``pendingactive`` (the activity's start) |
| Ready, an interaction Connected | ``active`` (its start, or the end of the agent's last hold on it) |
| Ready, Connected, a Held the agent initiated | ``held`` (the Held event's start) |
| Ready, an interaction in Wrap | ``wrap`` (its start); ``wrapwarning`` after ``wrap_warning_s`` |
| Ready, a ring that went unanswered | ``notready``, reason ``rona`` (its start) |
| Ready, two or more interactions | ``multiline`` (the newest one's start) |
| Ready, nothing open | ``idle`` (the later of the presence start and the last interaction's end), |
| | preceded by ``loggedon`` just after a login, and by ``reserved`` then ``preview`` |
| | for preview agents (see :class:`Rules`) |

The state names are the doc's userActivityRow ``stateId`` / ``stateName`` enumeration
(``alvaria-cloud-reporting-api.txt``, "userActivityRow", Enumerated Values). The doc
gives no trigger for park, the two warnings, loggedon, reserved or preview: the rules in
:class:`Rules` are the simulator's own choice, deterministic (no randomness), and add
state changes only, never other field values.

``signOnTime`` is the end of the agent's last Logged Out presence. Times are rendered
like the doc's examples: UTC, whole seconds, ``Z``.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from streamer.simulator.truth import AgentSnapshot, TruthActivity, TruthEvent, TruthInteraction

__all__ = [
    "TEAMS",
    "WORK_TYPES",
    "CONTACT_LISTS",
    "STATE_NAMES",
    "Rules",
    "UserView",
    "holds_by_interaction",
    "iso_s",
    "parse_tz_offset",
    "team_members",
    "user_views",
    "user_row",
    "team_row",
    "channel_rows",
    "list_body",
    "presence_user",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TEAMS: dict[str, str] = {"salesTeam": "Sales Team", "supportTeam": "Support Team"}
"""Team id -> name. ``salesTeam`` has every agent, ``supportTeam`` the odd-numbered ones."""
WORK_TYPES: dict[str, str] = {"billingVoice": "Billing Voice"}
CONTACT_LISTS: dict[str, int] = {"callbackList": 500}
"""Contact list -> records in it."""

STATE_NAMES: dict[str, str] = {
    # the doc's userActivityRow enumeration: stateId -> stateName
    "idle": "Idle", "active": "Active", "wrap": "Wrap", "pendingactive": "Pending Active",
    "notready": "Not Ready", "loggedoff": "Logged Off", "multiline": "Multiline",
    "held": "Held", "park": "Park", "parkwarning": "Park Warning", "wrapwarning": "Wrap Warning",
    "loggedon": "Logged On", "reserved": "Reserved", "preview": "Preview",
}
_BY_CATEGORY = {"Ringing": "pendingactive", "Connected": "active", "Wrap": "wrap", "Unexpected": "notready"}


def iso_s(ms: int) -> str:
    """``2018-02-07T11:29:46Z`` (whole seconds, as in the doc's examples)."""
    return (_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%SZ")


_TZ = re.compile(r"^([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?$")


def parse_tz_offset(value: str | None) -> timezone | None:
    """``tzOffset`` as the doc lists it (``Z``, ``+h``, ``+hh:mm``, ``-hhmm``, ...); None if invalid."""
    if value is None or value == "":
        return UTC
    if value in ("Z", "z"):
        return UTC
    m = _TZ.match(value.strip())
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    hours, minutes, seconds = int(m.group(2)), int(m.group(3) or 0), int(m.group(4) or 0)
    if hours > 18 or minutes > 59 or seconds > 59:
        return None
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def _local(ms: int | None, tz: timezone) -> str | None:
    if ms is None:
        return None
    return (_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).isoformat(timespec="seconds")


def team_members(team_id: str, agent_ids: Iterable[str]) -> list[str]:
    ids = sorted(agent_ids)
    if team_id == "supportTeam":
        return [a for a in ids if a.isdigit() and int(a) % 2 == 1]
    return ids


@dataclass(frozen=True, slots=True)
class Rules:
    """The simulator's triggers for the states whose trigger the doc does not give.

    Lengths are in the world's virtual seconds (divided by ``speed`` like every duration
    the world draws). The doc only says what the states are: teamActivity's
    ``parkWarningCount`` / ``wrapWarningCount`` count users in 'park warning' and
    'wrapwarning', channelActivity's ``previewCount`` users "previewing information
    before initiating a call to the customer".

    - ``wrap_warning_s``: a wrap open that long becomes ``wrapwarning`` (from then on).
    - ``park_warning_s``: a park (a Break) open that long becomes ``parkwarning``.
    - ``logged_on_s``: after a login the user is ``loggedon`` that long, or until the
      first interaction is offered.
    - ``reserved_s``, ``preview_s``: every ``preview_every``-th agent (by number) works
      a preview list: each time it becomes free it is ``reserved`` for a record, then
      ``preview``-s it, then skips it (the world has no outbound calls) and is ``idle``.
      An inbound interaction offered meanwhile ends this.
    """

    wrap_warning_s: float = 3.0
    park_warning_s: float = 10.0
    logged_on_s: float = 1.0
    reserved_s: float = 1.0
    preview_s: float = 3.0
    preview_every: int = 4
    speed: float = 1.0

    def ms(self, seconds: float) -> int:
        """``seconds`` of virtual time in clock milliseconds."""
        return max(1, round(seconds * 1000 / self.speed))

    def previews(self, agent_id: str) -> bool:
        """Whether the agent works the preview list."""
        return agent_id.isdigit() and int(agent_id) % self.preview_every == 0


def holds_by_interaction(interactions: Iterable[TruthInteraction]) -> dict[str, list[TruthEvent]]:
    """Interaction guid -> the Held events of its External (customer) channel; each names
    the agent who put the customer on hold in ``properties.initiatingAgentId``."""
    out: dict[str, list[TruthEvent]] = {}
    for i in interactions:
        for ch in i.channels:
            if ch.role == "External":
                out.setdefault(i.guid, []).extend(e for e in ch.events if e.type == "Held")
    return out


def _connected(agent_id: str, x: TruthActivity, holds: Sequence[TruthEvent]) -> tuple[str, int]:
    """``held`` while a hold the agent initiated during this Connected is open, else
    ``active`` since the Connected start or the end of that agent's last hold."""
    start = x.start_ms
    for ev in holds:
        if (ev.properties or {}).get("initiatingAgentId") != agent_id or ev.start_ms < x.start_ms:
            continue
        if ev.end_ms is None:
            return "held", ev.start_ms
        start = max(start, ev.end_ms)
    return "active", start


def _free(agent_id: str, since: int, logged_on: bool, now_ms: int, rules: Rules) -> tuple[str, int]:
    """A Ready user with nothing open: the rule phases of :class:`Rules` from ``since``, then idle."""
    phases: list[tuple[str, int]] = []
    if logged_on:
        phases.append(("loggedon", rules.ms(rules.logged_on_s)))
    if rules.previews(agent_id):
        phases += [("reserved", rules.ms(rules.reserved_s)), ("preview", rules.ms(rules.preview_s))]
    for state, length in phases:
        if now_ms < since + length:
            return state, since
        since += length
    return "idle", since


@dataclass(frozen=True, slots=True)
class UserView:
    """One user's Alvaria state at one instant."""

    user_id: str
    state_id: str
    state_start_ms: int
    reason_id: str
    reason_name: str
    interaction_count: int
    sign_on_ms: int | None


def user_views(
    snapshots: Sequence[AgentSnapshot], ended: Iterable[TruthActivity],
    holds: Mapping[str, Sequence[TruthEvent]], now_ms: int, rules: Rules = Rules(),
) -> dict[str, UserView]:
    """Each agent's Alvaria state at ``now_ms``. ``ended`` are closed activities: the
    interactions that ended during the current presence (idle since) and the Logged Out
    presences (sign-on); ``holds`` the Held events of the ongoing interactions
    (:func:`holds_by_interaction`)."""
    last_end: dict[str, int] = {}
    sign_on: dict[str, int] = {}
    for a in ended:
        if a.end_ms is None:
            continue
        if a.type == "Interaction":
            last_end[a.agent_id] = max(last_end.get(a.agent_id, 0), a.end_ms)
        elif a.type == "Presence" and a.category == "LoggedOut":
            sign_on[a.agent_id] = max(sign_on.get(a.agent_id, 0), a.end_ms)
    out: dict[str, UserView] = {}
    for s in snapshots:
        p = s.presence
        reason_id = reason_name = ""
        count = len(s.interactions)
        signed_on: int | None = sign_on.get(s.agent_id)
        if p.category == "LoggedOut":
            state, start, signed_on, count = "loggedoff", p.start_ms, None, 0
        elif p.name == "Break":
            # park / parkwarning: userActivityRow stateId enumeration; teamActivityRows
            # parkCount, parkWarningCount; "Reason codes are supported for the 'notready',
            # 'park' and 'loggedout' states" (userActivityRow reasonId). Trigger: Rules.
            state, start = "park", p.start_ms
            warn = p.start_ms + rules.ms(rules.park_warning_s)
            if now_ms >= warn:
                state, start = "parkwarning", warn
            reason_id, reason_name = "break", p.name
        elif p.category != "Ready":
            state, start = "notready", p.start_ms
            reason_id, reason_name = (p.name or "").lower(), p.name or ""
        elif count >= 2:
            state, start = "multiline", max(x.start_ms for x in s.interactions)
        elif count == 1:
            x = s.interactions[0]
            state, start = _BY_CATEGORY.get(x.category or "", "active"), x.start_ms
            if x.category == "Unexpected":
                reason_id, reason_name = "rona", "Ring No Answer"
            elif x.category == "Connected":
                # held: userActivityRow stateId enumeration; teamActivityRows holdCount
                # ("users ... currently in the 'hold' state"); from the world's Held events
                state, start = _connected(s.agent_id, x, holds.get(x.interaction_guid or "", ()))
            elif x.category == "Wrap" and now_ms >= x.start_ms + rules.ms(rules.wrap_warning_s):
                # wrapwarning: userActivityRow stateId enumeration; teamActivityRows
                # wrapWarningCount. Trigger: Rules.wrap_warning_s
                state, start = "wrapwarning", x.start_ms + rules.ms(rules.wrap_warning_s)
        else:
            # loggedon, reserved, preview: userActivityRow stateId enumeration (preview
            # also teamActivityRows previewCount, channelActivityRow previewCount:
            # "previewing information before initiating a call"). Triggers: Rules.
            done = last_end.get(s.agent_id, 0)
            just_logged_on = signed_on == p.start_ms and done < p.start_ms
            state, start = _free(s.agent_id, max(p.start_ms, done), just_logged_on, now_ms, rules)
        out[s.agent_id] = UserView(s.agent_id, state, start, reason_id, reason_name, count, signed_on)
    return out


def user_row(v: UserView, team_id: str, now_ms: int, tz: timezone) -> dict[str, Any]:
    """One ``userActivity`` row (field order as in the doc)."""
    return {
        "userId": v.user_id,
        "teamId": team_id,
        "preferredName": f"Agent {v.user_id}",
        "teamName": TEAMS.get(team_id, team_id),
        "signOnTime": iso_s(v.sign_on_ms) if v.sign_on_ms is not None else None,
        "stateId": v.state_id,
        "stateName": STATE_NAMES.get(v.state_id, v.state_id),
        "stateStartTime": iso_s(v.state_start_ms),
        "reasonId": v.reason_id,
        "reasonName": v.reason_name,
        "interactionCount": v.interaction_count,
        "signOnTimeLocal": _local(v.sign_on_ms, tz),
        "stateStartTimeLocal": _local(v.state_start_ms, tz),
        "stateDur": max(0, (now_ms - v.state_start_ms) // 1000),
        "signOnDur": max(0, (now_ms - v.sign_on_ms) // 1000) if v.sign_on_ms is not None else 0,
    }


def team_row(team_id: str, views: Iterable[UserView]) -> dict[str, Any]:
    """One ``teamActivity`` row: the team's users counted by state."""
    counts: dict[str, int] = {}
    for v in views:
        counts[v.state_id] = counts.get(v.state_id, 0) + 1
    return {
        "teamId": team_id,
        "teamName": TEAMS.get(team_id, team_id),
        "notReadyCount": counts.get("notready", 0),
        "parkCount": counts.get("park", 0),
        "parkWarningCount": counts.get("parkwarning", 0),
        "idleCount": counts.get("idle", 0),
        "pendingActiveCount": counts.get("pendingactive", 0),
        "activeCount": counts.get("active", 0),
        "wrapCount": counts.get("wrap", 0),
        "wrapWarningCount": counts.get("wrapwarning", 0),
        "multiLineCount": counts.get("multiline", 0),
        "holdCount": counts.get("held", 0),
        "previewCount": counts.get("preview", 0),
    }


def channel_rows(work_type_id: str, snapshots: Sequence[AgentSnapshot],
                 ongoing: Sequence[TruthInteraction], now_ms: int) -> list[dict[str, Any]]:
    """``channelActivity`` of the (only) work type: inbound ACD voice calls by state."""
    ringing: set[str] = set()
    active: dict[str, int] = {}
    wrap: set[str] = set()
    for s in snapshots:
        for x in s.interactions:
            guid = x.interaction_guid or ""
            if x.category == "Ringing":
                ringing.add(guid)
            elif x.category == "Connected":
                active[guid] = min(active.get(guid, x.start_ms), x.start_ms)
            elif x.category == "Wrap":
                wrap.add(guid)
    queued: list[int] = []
    held = 0
    for i in ongoing:
        for ch in i.channels:
            if ch.role != "External":
                continue
            for ev in ch.events:
                if ev.end_ms is None and ev.type == "Queue":
                    queued.append(ev.start_ms)
                elif ev.end_ms is None and ev.type == "Held":
                    held += 1
    queue_durs = [max(0, (now_ms - t) // 1000) for t in queued]
    return [{
        "interactionTypeId": "inboundacd",
        "channelTypeId": "voice",
        "workTypeId": work_type_id,
        "interactionTypeName": "Inbound Acd",
        "channelTypeName": "Voice",
        "workTypeName": WORK_TYPES.get(work_type_id, work_type_id),
        "dialCount": 0,
        "activeCount": len(active),
        "queueCount": len(queued),
        "selfServiceCount": 0,
        "previewCount": 0,
        "holdCount": held,
        "inactiveCount": 0,
        "wrapCount": len(wrap - set(active)),
        "ringCount": len(ringing),
        "longestWaitingQueueTime": iso_s(min(queued)) if queued else None,
        "selfServiceDur": 0,
        "queueDur": sum(queue_durs),
        "activeDur": sum(max(0, (now_ms - t) // 1000) for t in active.values()),
        "previewDur": 0,
        "maxQueueDur": max(queue_durs, default=0),
    }]


def list_body(contact_list: str, statuses: dict[str, str]) -> dict[str, Any]:
    """``listActivity`` of a contact list worked through by the calls the world has seen."""
    records = CONTACT_LISTS.get(contact_list, 0)
    total = len(statuses)
    attempted = min(records, total)
    ongoing = sum(1 for s in statuses.values() if s == "Ongoing")
    pct = (attempted * 100 // records) if records else 0
    saturation = min(100, total * 100 // max(1, records))
    return {
        "kind": "via#listActivity",
        "contactList": contact_list,
        "recordsAvailable": records - attempted,
        "recordsAttempted": attempted,
        "recordsInActive": ongoing,
        "callsBusy": total // 10,
        "passcountPenetration": pct,
        "passcountSaturation": saturation,
        "listPenetration": pct,
        "listSaturation": saturation,
    }


def presence_user(v: UserView) -> dict[str, Any]:
    """One ``presence/users`` entry; ``ehubSessionId`` (one per login) is a number, as in
    the doc's example (the schema says string)."""
    return {
        "userId": v.user_id,
        "firstName": "Agent",
        "lastName": v.user_id,
        "ehubSessionId": zlib.crc32(f"{v.user_id}:{v.sign_on_ms}".encode()) % 1_000_000,
        "emailAddress": f"agent{v.user_id}@sim.example",
    }
