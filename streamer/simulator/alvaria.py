"""The world as the Alvaria Cloud Reporting API v2 (a Starlette app), mounted at ``/alvaria``.

- ``POST /alvaria/tokenservice/oauth2/access_token?realm=sim``: OAuth2 client credentials,
  client ``sim``/``sim`` in HTTP Basic auth, form ``grant_type=client_credentials`` and
  ``scope=reportingapi``; tokens last 3599 s (``faults.short_token_ttl`` shortens them).
- ``GET /alvaria/via/v2/organizations/sim/reporting/queries/{userActivity|teamActivity}/data?teamId=``,
  ``.../channelActivity/data?workTypeId=``, ``.../listActivity/data?contactList=``,
  ``.../presence/users/data?state=LoggedOn[&workTypeId=]``: each wants ``x-api-key: sim-key``
  (else 403) and a bearer token from the token endpoint (else 401).

Teams ``salesTeam`` (every agent) and ``supportTeam`` (odd-numbered agents), work type
``billingVoice``, contact list ``callbackList``; unknown ids answer 404. The JSON quirks
of :class:`~streamer.simulator.faults.Faults` apply to rows (zone-less timestamps,
numbers as strings, and field-case drift with Alvaria's own names).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamer.simulator.alvaria_render import (
    CONTACT_LISTS,
    TEAMS,
    WORK_TYPES,
    Rules,
    UserView,
    channel_rows,
    holds_by_interaction,
    list_body,
    parse_tz_offset,
    presence_user,
    team_members,
    team_row,
    user_row,
    user_views,
)
from streamer.simulator.faults import Faults
from streamer.simulator.tokens import TokenStore
from streamer.simulator.truth import TruthActivity
from streamer.simulator.world import World

__all__ = ["alvaria_app", "mount", "current_views", "ORG", "API_KEY", "CLIENT_ID", "CLIENT_SECRET", "SCOPE",
           "TOKEN_PATH", "TOKEN_TTL_S", "ALVARIA_DRIFT"]

ORG = "sim"
API_KEY = "sim-key"
CLIENT_ID = CLIENT_SECRET = "sim"
SCOPE = "reportingapi"
TOKEN_PATH = "/tokenservice/oauth2/access_token"
TOKEN_TTL_S = 3599.0
ALVARIA_DRIFT: dict[str, str] = {
    "userId": "userid",
    "stateId": "StateId",
    "stateStartTime": "statestarttime",
    "signOnTime": "signontime",
    "teamId": "teamID",
    "idleCount": "IdleCount",
    "workTypeId": "worktypeId",
    "queueCount": "queuecount",
}
"""Field name -> drifted spelling, used when ``field_case_drift`` is on."""


class ApiError(Exception):
    """Answered as ``{"error": message}`` (the doc's ErrorResponse) with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status_code=status, media_type="application/json")


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _drift(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{ALVARIA_DRIFT.get(k, k): v for k, v in r.items()} for r in rows]


Handler = Callable[[Request], Awaitable[Response]]


def current_views(world: World, now_ms: int) -> dict[str, UserView]:
    """Every user's state at ``now_ms`` (the world advanced to it, under its lock)."""
    snaps = world.agent_status()
    cutoff = min((s.presence.start_ms for s in snaps), default=0)

    def ended(a: TruthActivity) -> bool:
        if a.end_ms is None:
            return False
        if a.type == "Presence":
            return a.category == "LoggedOut"
        return a.type == "Interaction" and a.end_ms >= cutoff

    holds = holds_by_interaction(world.interactions(lambda i: i.end_ms is None))
    return user_views(snaps, world.activities(ended), holds, now_ms, Rules(speed=world.speed))


def alvaria_app(world: World, faults: Faults) -> Starlette:
    """The Reporting API v2 of organization ``sim`` over ``world``."""
    tokens = TokenStore(world.clock)

    def quirks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = faults.transform({"items": rows})["items"]
        return _drift(out) if faults.field_case_drift else out

    def guarded(fn: Callable[[Request, int], Response]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                if request.headers.get("x-api-key") != API_KEY:
                    raise ApiError(403, "Invalid ApiKey")
                scheme, _, token = request.headers.get("authorization", "").partition(" ")
                if scheme.lower() != "bearer" or not tokens.valid(token.strip()):
                    raise ApiError(401, "Unauthorized")
                if request.path_params.get("org") != ORG:
                    raise ApiError(404, "Not Found")
                with world.lock:  # one consistent instant per response
                    return fn(request, world.advance())
            except ApiError as err:
                return _json({"error": err.message}, err.status)

        return endpoint

    def required(request: Request, name: str, known: Any) -> str:
        value = request.query_params.get(name)
        if not value:
            raise ApiError(400, f"Bad Request: {name} is required")
        if value not in known:
            raise ApiError(404, "Not Found")
        return value

    def envelope(rows: list[dict[str, Any]]) -> Response:
        rows = quirks(rows)
        return _json({"kind": "via#queryDataList", "totalItems": len(rows), "rows": rows})

    def user_activity(request: Request, now: int) -> Response:
        team = required(request, "teamId", TEAMS)
        tz = parse_tz_offset(request.query_params.get("tzOffset"))
        if tz is None:
            raise ApiError(400, "Bad Request: invalid tzOffset")
        vs = current_views(world, now)
        members = team_members(team, vs)
        return envelope([user_row(vs[m], team, now, tz) for m in members])

    def team_activity(request: Request, now: int) -> Response:
        team = required(request, "teamId", TEAMS)
        vs = current_views(world, now)
        return envelope([team_row(team, (vs[m] for m in team_members(team, vs)))])

    def channel_activity(request: Request, now: int) -> Response:
        work_type = required(request, "workTypeId", WORK_TYPES)
        ongoing = world.interactions(lambda i: i.end_ms is None)
        return envelope(channel_rows(work_type, world.agent_status(), ongoing, now))

    def list_activity(request: Request, now: int) -> Response:
        contact_list = required(request, "contactList", CONTACT_LISTS)
        body = list_body(contact_list, world.interaction_statuses())
        return _json(quirks([body])[0])

    def presence_users(request: Request, now: int) -> Response:
        if request.query_params.get("state") != "LoggedOn":
            raise ApiError(400, "Bad Request: state must be LoggedOn")
        work_type = request.query_params.get("workTypeId")
        if work_type and work_type not in WORK_TYPES:
            raise ApiError(404, "Not Found")
        vs = current_views(world, now)
        users = [presence_user(v) for _, v in sorted(vs.items()) if v.state_id != "loggedoff"]
        return _json({"kind": "via#presenceDataList", "users": quirks(users), "totalItems": len(users)})

    async def token(request: Request) -> Response:
        if request.query_params.get("realm") != ORG:
            return _json({"error": "invalid_request", "error_description": "unknown realm"}, 400)
        if _basic(request.headers.get("authorization", "")) != (CLIENT_ID, CLIENT_SECRET):
            return _json({"error": "invalid_client"}, 401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return _json({"error": "unsupported_grant_type"}, 400)
        if SCOPE not in form.get("scope", "").split():
            return _json({"error": "invalid_scope"}, 400)
        ttl = faults.short_token_ttl if faults.short_token_ttl is not None else TOKEN_TTL_S
        expires_in = int(ttl) if float(ttl).is_integer() else ttl
        return _json({"access_token": tokens.issue(ttl), "token_type": "Bearer", "expires_in": expires_in,
                      "scope": SCOPE})

    base = "/via/v2/organizations/{org}/reporting"
    routes = [
        Route(TOKEN_PATH, token, methods=["POST"]),
        Route(f"{base}/queries/userActivity/data", guarded(user_activity)),
        Route(f"{base}/queries/teamActivity/data", guarded(team_activity)),
        Route(f"{base}/queries/channelActivity/data", guarded(channel_activity)),
        Route(f"{base}/queries/listActivity/data", guarded(list_activity)),
        Route(f"{base}/presence/users/data", guarded(presence_users)),
    ]
    app = Starlette(routes=routes)
    app.state.tokens = tokens
    return app


def mount(world: World, faults: Faults) -> dict[str, Starlette]:
    """Where the simulator serves this vendor."""
    return {"/alvaria": alvaria_app(world, faults)}
