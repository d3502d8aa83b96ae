"""Request authentication: bearer, basic and OAuth2 client credentials.

Credentials are held as :class:`~streamer.secrets.Secret` and revealed only while
building a header or a token request; they never appear in exceptions, reprs or logs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import anyio
import httpx
import msgspec

from streamer.errors import FatalError, RetriableError, SkippableError
from streamer.http.tolerant import decode_json
from streamer.secrets import Secret

__all__ = ["Auth", "BearerAuth", "BasicAuth", "OAuth2ClientCredentials"]


@runtime_checkable
class Auth(Protocol):
    """What :class:`streamer.http.client.HttpClient` needs from an authenticator."""

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        """Headers to add to the next request (may fetch a token through ``http``)."""
        ...

    def invalidate(self) -> None:
        """Forget cached credentials after a 401 so the next ``headers()`` renews them."""
        ...


class BearerAuth:
    """A static bearer token."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token.reveal()}"}

    def invalidate(self) -> None:
        """A static token cannot be renewed; nothing to forget."""

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"


def _basic(username: str, password: str) -> str:
    raw = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class BasicAuth:
    """HTTP Basic credentials."""

    def __init__(self, username: str, password: Secret) -> None:
        self._username = username
        self._password = password

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        return {"authorization": _basic(self._username, self._password.reveal())}

    def invalidate(self) -> None:
        """Static credentials; nothing to forget."""

    def __repr__(self) -> str:
        return f"BasicAuth(username={self._username!r}, password=***)"


class _TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: float | None = None
    token_type: str | None = None


class OAuth2ClientCredentials:
    """OAuth2 client-credentials grant with a cached token renewed before expiry.

    One fetch at a time: concurrent callers wait on a lock and share the new token.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: Secret,
        scope: str | None = None,
        *,
        credentials_in: Literal["body", "basic"] = "body",
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if credentials_in not in ("body", "basic"):
            raise ValueError("credentials_in must be 'body' or 'basic'")
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._credentials_in = credentials_in
        self._margin = refresh_margin
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = anyio.Lock()
        self.fetches = 0  # number of token requests made; handy for health and tests

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(token_url={self._token_url!r}, "
            f"client_id={self._client_id!r}, client_secret=***)"
        )

    def invalidate(self) -> None:
        self._token = None
        self._expires_at = 0.0

    def _valid(self) -> bool:
        return self._token is not None and self._clock() < self._expires_at

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        if not self._valid():
            async with self._lock:
                if not self._valid():
                    await self._fetch(http)
        assert self._token is not None
        return {"authorization": f"Bearer {self._token.reveal()}"}

    def _rejected(self, status: int, body: bytes) -> str:
        """What the token endpoint rejected, from its OAuth2 ``error`` code (RFC 6749,
        5.2): the client credentials, the scope or the grant. Never the secret."""
        error, description = _oauth_error(body)
        secret = self._client_secret.reveal()
        if secret and description and secret in description:
            description = description.replace(secret, "***")
        if error in ("invalid_scope",):
            what = f"the scope {self._scope!r}" if self._scope else "the request without a scope"
        elif error in ("unsupported_grant_type", "invalid_grant", "unauthorized_client"):
            what = "the client_credentials grant"
        else:
            what = "the client credentials"
        detail = f": {error}" if error else ""
        if description:
            detail += f" ({description[:200]})"
        return f"token endpoint rejected {what} for client_id {self._client_id!r} (HTTP {status}){detail}"

    async def _fetch(self, http: httpx.AsyncClient) -> None:
        form: dict[str, str] = {"grant_type": "client_credentials"}
        headers = {"accept": "application/json"}
        if self._credentials_in == "basic":
            headers["authorization"] = _basic(self._client_id, self._client_secret.reveal())
        else:
            form["client_id"] = self._client_id
            form["client_secret"] = self._client_secret.reveal()
        if self._scope:
            form["scope"] = self._scope
        self.fetches += 1
        try:
            resp = await http.post(self._token_url, data=form, headers=headers)
        except httpx.TransportError as exc:
            raise RetriableError(
                f"token endpoint unreachable: {type(exc).__name__}"
            ) from None
        except httpx.HTTPError as exc:
            raise RetriableError(f"token request failed: {type(exc).__name__}") from None
        status = resp.status_code
        if status in (400, 401):
            raise FatalError(self._rejected(status, resp.content))
        if status == 429 or status >= 500:
            raise RetriableError(f"token endpoint returned HTTP {status}")
        if status >= 300:
            raise FatalError(f"token endpoint returned HTTP {status}")
        try:
            tok = decode_json(resp.content, _TokenResponse)
        except (SkippableError, msgspec.ValidationError):
            raise RetriableError("token endpoint returned an unreadable token response") from None
        if not tok.access_token:
            raise RetriableError("token endpoint returned an empty access_token")
        lifetime = tok.expires_in if tok.expires_in is not None else 3600.0
        self._token = Secret(tok.access_token)
        margin = min(self._margin, lifetime / 2)  # a short-lived token is still usable
        self._expires_at = self._clock() + max(0.0, lifetime - margin)


class _OAuthError(msgspec.Struct):
    error: str | None = None
    error_description: str | None = None


def _oauth_error(body: bytes) -> tuple[str | None, str | None]:
    """``error`` and ``error_description`` of an OAuth2 error body, when it has them."""
    try:
        e = msgspec.json.decode(body, type=_OAuthError)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None, None
    error = e.error if isinstance(e.error, str) and e.error.isprintable() else None
    desc = e.error_description if isinstance(e.error_description, str) and e.error_description.isprintable() else None
    return (error[:80] if error else None), desc
