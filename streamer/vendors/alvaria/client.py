"""Alvaria Cloud Reporting API v2 reads: OAuth2 client credentials plus ``x-api-key``.

Every API request carries ``Authorization: Bearer <token>`` and ``x-api-key``; the
token comes from ``.../tokenservice/oauth2/access_token?realm={orgId}`` with the client
id and secret in HTTP Basic auth (``grant_type=client_credentials``,
``scope=reportingapi``), is cached, renewed before ``expires_in`` and once after a 401
(:class:`~streamer.http.auth.OAuth2ClientCredentials`, :class:`~streamer.http.client.HttpClient`).
The key and the token stay :class:`~streamer.secrets.Secret` until a header is built.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import httpx

from streamer.config.model import OAuth2AuthConfig, SourceConfig
from streamer.errors import ConfigError, SkippableError
from streamer.http.auth import Auth, OAuth2ClientCredentials
from streamer.http.build import build_http
from streamer.http.client import HttpClient, quote_segment
from streamer.http.offload import decode_off_loop
from streamer.secrets import Secret
from streamer.vendors.alvaria.models import (
    ChannelActivityRow,
    ListActivityRow,
    PresenceUser,
    Rows,
    TeamActivityRow,
    UserActivityRow,
    decode_list_activity,
    decode_rows,
)
from streamer.vendors.alvaria.options import alvaria_options

__all__ = [
    "SCOPE",
    "ACCEPT",
    "ApiKeyAuth",
    "api_root",
    "token_url_with_realm",
    "alvaria_http",
    "AlvariaClient",
]

T = TypeVar("T")

SCOPE = "reportingapi"
ACCEPT = "application/json"


class ApiKeyAuth:
    """An :class:`~streamer.http.auth.Auth` that adds ``x-api-key`` to what ``inner`` gives.

    The key is added per request, so no API request can leave without it; the token
    request (made by ``inner``) does not carry it.
    """

    def __init__(self, inner: Auth, api_key: Secret) -> None:
        if not api_key:
            raise ValueError("an Alvaria API key is required")
        self._inner = inner
        self._key = api_key

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        out = await self._inner.headers(http)
        return {**out, "x-api-key": self._key.reveal()}

    def invalidate(self) -> None:
        self._inner.invalidate()

    @property
    def inner(self) -> Auth:
        return self._inner

    def __repr__(self) -> str:
        return f"ApiKeyAuth(inner={self._inner!r}, api_key=***)"


def api_root(base_url: str) -> str:
    """The host part before ``/via/v2`` (a trailing ``/via/v2`` is accepted and cut)."""
    root = base_url.rstrip("/")
    if root.endswith("/via/v2"):
        root = root[: -len("/via/v2")]
    return root


def token_url_with_realm(url: str, org_id: str) -> str:
    """The token URL with ``realm={orgId}`` added when it has no realm of its own."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(k == "realm" for k, _ in query):
        return url
    query.append(("realm", org_id))
    return urlunsplit(parts._replace(query=urlencode(query)))


def alvaria_http(
    cfg: SourceConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> HttpClient:
    """The source's HttpClient: OAuth2 (credentials in HTTP Basic) and ``x-api-key``."""
    if not isinstance(cfg.auth, OAuth2AuthConfig):
        raise ConfigError("auth.type: alvaria takes oauth2_client_credentials")
    opts = alvaria_options(cfg)
    if opts.org_id is None or opts.api_key is None:
        raise ConfigError("org_id and api_key are required for alvaria")
    a = cfg.auth
    oauth = OAuth2ClientCredentials(
        token_url_with_realm(a.token_url, opts.org_id), a.client_id, a.client_secret, a.scope or SCOPE,
        credentials_in="basic", clock=clock,
    )
    return build_http(cfg, auth=ApiKeyAuth(oauth, opts.api_key), base_url=api_root(cfg.base_url),
                      headers={"accept": ACCEPT}, transport=transport, sleep=sleep)


class AlvariaClient:
    """The reporting queries of one organization; each call is one snapshot request."""

    def __init__(self, http: HttpClient, org_id: str) -> None:
        self._http = http
        self._root = f"/via/v2/organizations/{quote_segment(org_id)}/reporting"

    async def user_activity(self, team_id: str) -> Rows[UserActivityRow]:
        """Each user of the team and its current state."""
        return await self._rows("userActivity", {"teamId": team_id}, UserActivityRow)

    async def team_activity(self, team_id: str) -> Rows[TeamActivityRow]:
        """The team's users counted by state."""
        return await self._rows("teamActivity", {"teamId": team_id}, TeamActivityRow)

    async def channel_activity(self, work_type_id: str) -> Rows[ChannelActivityRow]:
        """The work type's interactions counted by state, per interaction type."""
        return await self._rows("channelActivity", {"workTypeId": work_type_id}, ChannelActivityRow)

    async def list_activity(self, contact_list: str) -> Rows[ListActivityRow]:
        """The contact list's dialing figures."""
        path = f"{self._root}/queries/listActivity/data"
        params = {"contactList": contact_list}
        body = (await self._http.get(path, params)).body
        try:
            return await decode_off_loop(len(body), decode_list_activity, body)
        except SkippableError as exc:
            raise SkippableError(f"listActivity contactList={contact_list}: {exc}", raw=exc.raw) from None

    async def logged_on_users(self, work_type_id: str | None = None) -> Rows[PresenceUser]:
        """Users logged on now (of one work type, or all)."""
        params = {"state": "LoggedOn"}
        if work_type_id:
            params["workTypeId"] = work_type_id
        body = (await self._http.get(f"{self._root}/presence/users/data", params)).body
        try:
            return await decode_off_loop(len(body), functools.partial(decode_rows, body, PresenceUser, key="users"))
        except SkippableError as exc:
            raise SkippableError(f"presence/users: {exc}", raw=exc.raw) from None

    async def _rows(self, query: str, params: Mapping[str, str], model: type[T]) -> Rows[T]:
        body = (await self._http.get(f"{self._root}/queries/{query}/data", params)).body
        try:
            return await decode_off_loop(len(body), decode_rows, body, model)
        except SkippableError as exc:
            what = " ".join(f"{k}={v}" for k, v in params.items())
            raise SkippableError(f"{query} {what}: {exc}", raw=exc.raw) from None
