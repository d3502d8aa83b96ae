"""Alvaria Cloud Reporting API v2, declared: snapshot queries (IO) -> the pure trackers
of :mod:`.mapping` -> drafts.

- ``userActivity`` (per team): each user's state (``cc.agent.state.changed``, since
  ``stateStartTime``), the presence it implies (``cc.agent.presence.changed`` when it
  changes: notready/park/loggedon are Away, loggedoff LoggedOut, the working states
  Ready), and so sessions (the shared rule: leaving or entering LoggedOut; a login is
  dated by ``signOnTime``); ``interactionCount`` as ``cc.agent.workload.changed``
  (``total``: Alvaria does not split it by medium). A user missing from a team's
  answer (and from every other team's) is logged out.
- ``teamActivity`` / ``channelActivity`` / ``listActivity`` (per team, work type,
  contact list): ``cc.stats.changed`` scopes ``team``, ``channel``, ``list``. Durations
  (``*Dur``) and ``longestWaitingQueueTime`` ride along without triggering.
- ``presenceUsers`` (``presence/users/data?state=LoggedOn``): sessions of users that no
  configured team covers (appearing / disappearing between two polls).

Teams, work types and contact lists are read as configured; nothing is discovered. The
doc points to provisioning endpoints for the ids (``provisioning/teams``,
``provisioning/workTypes``, ``campaign/lists``) but documents neither their responses
nor their scope, so a discovery could only guess. An empty list turns its endpoints off.

Requests of one endpoint for several teams, work types or lists are spread evenly over
its interval, not fired at once; 408, 429 and 5xx are retried by the HTTP client (Retry-After
honored), and a team that keeps failing does not starve the ones after it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from streamer.config.model import OAuth2AuthConfig, SourceConfig
from streamer.engine.source import PollResult, VendorSpec
from streamer.errors import ConfigError
from streamer.vendors.alvaria.client import SCOPE, AlvariaClient, alvaria_http
from streamer.vendors.alvaria.mapping import (
    CHANNEL_ACTIVITY,
    LIST_ACTIVITY,
    PRESENCE_USERS,
    TEAM_ACTIVITY,
    USER_ACTIVITY,
    LoggedOnState,
    UsersState,
    channel_drafts,
    list_drafts,
    team_drafts,
    track_logged_on,
    track_users,
)
from streamer.vendors.alvaria.options import AlvariaOptions, alvaria_options
from streamer.vendors.kit.endpoints import PerKeyEndpoint, PerKeyStats, Sleep, VendorEndpoint, enabled_only
from streamer.vendors.kit.helpers import split_bad

__all__ = [
    "SPEC", "ALVARIA", "AlvariaSource", "Roster", "UserActivityEndpoint", "PresenceUsersEndpoint",
]

VENDOR = "alvaria"
ENDPOINTS = (USER_ACTIVITY, TEAM_ACTIVITY, CHANNEL_ACTIVITY, LIST_ACTIVITY, PRESENCE_USERS)

# --- endpoints (IO) ----------------------------------------------------------------------


@dataclass(slots=True)
class Roster:
    """Users whose presence and sessions userActivity reports (shared by the endpoints)."""

    covered: set[str] = field(default_factory=set)
    ready: bool = True
    """False while userActivity has not read every team once since (re)start."""


class UserActivityEndpoint(PerKeyEndpoint):
    def __init__(self, client: AlvariaClient, cfg: SourceConfig, roster: Roster, *, sleep: Sleep,
                 clock: Callable[[], float]) -> None:
        super().__init__(USER_ACTIVITY, alvaria_options(cfg).team_ids, cfg, sleep=sleep, clock=clock)
        self.client = client
        self.roster = roster
        self.state = UsersState()

    def reset(self) -> None:
        self.state = UsersState()

    async def poll_one(self, team: str, at_ms: int) -> PollResult:
        rows = await self.client.user_activity(team)
        good, bad = split_bad(rows.items)
        drafts, self.state = track_users(team, good, self.state, at_ms, endpoint=self.name, complete=not bad)
        self.roster.covered.update(r.user_id for r in good)
        return PollResult(drafts, bad)

    def round_done(self) -> None:
        self.roster.ready = True


class PresenceUsersEndpoint(VendorEndpoint):
    """``presence/users/data?state=LoggedOn`` (all work types): sessions of users that
    userActivity does not cover.

    Sent without ``workTypeId`` on purpose: the doc says the query without it lists the
    logged-in users "regardless of workType", the whole set sessions need; one request
    per configured work type would only return subsets of it."""

    history = False

    def __init__(self, client: AlvariaClient, cfg: SourceConfig, roster: Roster) -> None:
        super().__init__(PRESENCE_USERS, cfg)
        self.client = client
        self.roster = roster
        self.state = LoggedOnState()

    def reset(self) -> None:
        self.state = LoggedOnState()

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        rows = await self.client.logged_on_users()
        good, bad = split_bad(rows.items)
        if not self.roster.ready:  # who userActivity covers is not known yet: only seed
            self.state = LoggedOnState(None)
        drafts, self.state = track_logged_on(good, self.state, now_ms, skip=self.roster.covered,
                                             endpoint=self.name, complete=not bad)
        yield PollResult(drafts, bad, complete_up_to_ms=now_ms)


class AlvariaSource:
    """A configured Alvaria organization: one HttpClient, one endpoint per query that has
    something to ask for (teams, work types, contact lists; logged-on users always)."""

    def __init__(
        self, cfg: SourceConfig, *, transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic, sleep: Sleep = anyio.sleep,
    ) -> None:
        opts = alvaria_options(cfg)
        assert opts.org_id is not None  # checked by _check
        self.http = alvaria_http(cfg, transport=transport, clock=clock, sleep=sleep)
        client = AlvariaClient(self.http, opts.org_id)
        self.roster = Roster()
        kw: dict[str, Any] = {"sleep": sleep, "clock": clock}
        eps: list[VendorEndpoint] = []
        if opts.team_ids:
            eps.append(UserActivityEndpoint(client, cfg, self.roster, **kw))
            eps.append(PerKeyStats(TEAM_ACTIVITY, opts.team_ids, cfg, client.team_activity, team_drafts, **kw))
        if opts.work_type_ids:
            eps.append(PerKeyStats(CHANNEL_ACTIVITY, opts.work_type_ids, cfg, client.channel_activity, channel_drafts,
                                   **kw))
        if opts.contact_lists:
            eps.append(PerKeyStats(LIST_ACTIVITY, opts.contact_lists, cfg, client.list_activity, list_drafts, **kw))
        eps.append(PresenceUsersEndpoint(client, cfg, self.roster))
        self.endpoints = enabled_only(eps)
        self.roster.ready = not any(e.name == USER_ACTIVITY for e in self.endpoints)

    async def aclose(self) -> None:
        await self.http.aclose()


_NEEDS = {USER_ACTIVITY: "team_ids", TEAM_ACTIVITY: "team_ids", CHANNEL_ACTIVITY: "work_type_ids",
          LIST_ACTIVITY: "contact_lists"}


def _check(cfg: SourceConfig, path: str) -> None:
    if not isinstance(cfg.auth, OAuth2AuthConfig):
        raise ConfigError(f"{path}.auth.type: alvaria takes oauth2_client_credentials (client id and secret)")
    if cfg.auth.scope is not None and SCOPE not in cfg.auth.scope.split():
        raise ConfigError(f"{path}.auth.scope: alvaria needs the {SCOPE} scope (scopes are space-separated)")
    opts = alvaria_options(cfg)
    if not opts.org_id or not opts.org_id.strip():
        raise ConfigError(f"{path}.org_id: required for alvaria")
    if opts.api_key is None or not opts.api_key.reveal().strip():
        raise ConfigError(f"{path}.api_key: required for alvaria (sent as x-api-key)")
    for key in ("team_ids", "work_type_ids", "contact_lists"):
        seen: set[str] = set()
        for i, value in enumerate(getattr(opts, key)):
            if not value.strip():
                raise ConfigError(f"{path}.{key}[{i}]: must not be empty")
            if value in seen:
                raise ConfigError(f"{path}.{key}[{i}]: {value!r} is listed twice")
            seen.add(value)
    for name, key in _NEEDS.items():
        ep = cfg.endpoints.get(name)
        if ep is not None and ep.enabled and not getattr(opts, key):
            raise ConfigError(f"{path}.endpoints.{name}: needs {path}.{key} (it is empty)")


SPEC = ALVARIA = VendorSpec(
    name=VENDOR, endpoints=ENDPOINTS, build=AlvariaSource, check=_check, options=AlvariaOptions,
)
