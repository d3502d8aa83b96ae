"""Auth: bearer, basic, OAuth2 client credentials (cache, refresh, errors, secrecy)."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

from streamer.errors import FatalError, RetriableError
from streamer.http.auth import Auth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from streamer.http.client import HttpClient
from streamer.secrets import Secret

CANARY = "canary-s3cr3t-7f1d"
TOKEN_URL = "https://auth.example/Auth/connect/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TokenServer:
    """Token endpoint stub: hands out tok-1, tok-2, ... and records form bodies."""

    def __init__(self, status: int = 200, expires_in: int = 7200) -> None:
        self.status = status
        self.expires_in = expires_in
        self.forms: list[dict[str, list[str]]] = []
        self.auth_headers: list[str | None] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0)
        self.forms.append(parse_qs(request.content.decode()))
        self.auth_headers.append(request.headers.get("authorization"))
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        n = len(self.forms)
        return httpx.Response(
            200, json={"access_token": f"tok-{n}", "expires_in": self.expires_in, "token_type": "Bearer"}
        )


def client_for(handler: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]


def oauth(clock: Clock | None = None, **kw: object) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(
        TOKEN_URL, "my-client", Secret(CANARY), "stats", clock=clock or Clock(), **kw  # type: ignore[arg-type]
    )


async def test_bearer_and_basic_headers_and_reprs() -> None:
    async with httpx.AsyncClient() as http:
        bearer = BearerAuth(Secret(CANARY))
        assert await bearer.headers(http) == {"authorization": f"Bearer {CANARY}"}
        basic = BasicAuth("sim", Secret(CANARY))
        value = (await basic.headers(http))["authorization"]
        assert base64.b64decode(value.removeprefix("Basic ")).decode() == f"sim:{CANARY}"
    for obj in (bearer, basic, oauth()):
        assert isinstance(obj, Auth)
        assert CANARY not in repr(obj) and CANARY not in str(obj)
    bearer.invalidate()
    basic.invalidate()


async def test_oauth_form_body_and_cache() -> None:
    server = TokenServer()
    auth = oauth()
    async with client_for(server) as http:
        h1 = await auth.headers(http)
        h2 = await auth.headers(http)
    assert h1 == h2 == {"authorization": "Bearer tok-1"}
    assert len(server.forms) == 1 and auth.fetches == 1
    assert server.forms[0] == {
        "grant_type": ["client_credentials"],
        "client_id": ["my-client"],
        "client_secret": [CANARY],
        "scope": ["stats"],
    }
    assert server.auth_headers == [None]
    assert CANARY not in repr(auth)


async def test_oauth_credentials_in_basic() -> None:
    server = TokenServer()
    auth = oauth(credentials_in="basic")
    async with client_for(server) as http:
        await auth.headers(http)
    assert "client_secret" not in server.forms[0]
    assert "client_id" not in server.forms[0]
    assert server.forms[0]["grant_type"] == ["client_credentials"]
    header = server.auth_headers[0]
    assert header is not None
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"my-client:{CANARY}"


async def test_oauth_refreshes_before_expiry() -> None:
    server = TokenServer(expires_in=7200)
    clock = Clock()
    auth = oauth(clock, refresh_margin=60.0)
    async with client_for(server) as http:
        assert await auth.headers(http) == {"authorization": "Bearer tok-1"}
        clock.now += 7200 - 61
        assert await auth.headers(http) == {"authorization": "Bearer tok-1"}
        clock.now += 2  # now inside the margin: renewed before the vendor's expiry
        assert await auth.headers(http) == {"authorization": "Bearer tok-2"}
    assert auth.fetches == 2


async def test_oauth_short_lived_token_still_cached() -> None:
    server = TokenServer(expires_in=30)
    auth = oauth(refresh_margin=60.0)
    async with client_for(server) as http:
        await auth.headers(http)
        await auth.headers(http)
    assert auth.fetches == 1


async def test_oauth_invalidate_fetches_new_token() -> None:
    server = TokenServer()
    auth = oauth()
    async with client_for(server) as http:
        await auth.headers(http)
        auth.invalidate()
        assert await auth.headers(http) == {"authorization": "Bearer tok-2"}


async def test_oauth_one_fetch_at_a_time() -> None:
    server = TokenServer()
    auth = oauth()
    results: list[dict[str, str]] = []
    async with client_for(server) as http:

        async def one() -> None:
            results.append(await auth.headers(http))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
    assert auth.fetches == 1
    assert all(r == {"authorization": "Bearer tok-1"} for r in results)


@pytest.mark.parametrize("status", [400, 401])
async def test_oauth_rejected_is_fatal_without_secret(status: int) -> None:
    auth = oauth()
    async with client_for(TokenServer(status=status)) as http:
        with pytest.raises(FatalError) as info:
            await auth.headers(http)
    message = str(info.value)
    assert "token endpoint rejected the client credentials" in message
    assert CANARY not in message and CANARY not in repr(info.value)
    assert info.value.__cause__ is None


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_oauth_server_errors_are_retriable(status: int) -> None:
    auth = oauth()
    async with client_for(TokenServer(status=status)) as http:
        with pytest.raises(RetriableError) as info:
            await auth.headers(http)
    assert CANARY not in str(info.value)


async def test_oauth_transport_error_is_retriable_and_hides_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"boom {request.content!r}", request=request)

    auth = oauth()
    async with client_for(handler) as http:
        with pytest.raises(RetriableError) as info:
            await auth.headers(http)
    assert CANARY not in str(info.value) and CANARY not in repr(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_oauth_unreadable_token_response_is_retriable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>")

    async with client_for(handler) as http:
        with pytest.raises(RetriableError):
            await oauth().headers(http)


async def test_oauth_renewed_after_401_through_http_client() -> None:
    """An API 401 invalidates the token; the retry carries a freshly fetched one."""
    server = TokenServer()
    seen: list[str | None] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/Auth/connect/token":
            return await server(request)
        seen.append(request.headers.get("authorization"))
        if request.headers.get("authorization") == "Bearer tok-1":
            return httpx.Response(401, json={"message": "token expired"})
        return httpx.Response(200, json={"ok": True})

    async def no_sleep(_: float) -> None:
        raise AssertionError("a 401 retry does not back off")

    auth = oauth()
    async with HttpClient(
        "https://api.example/stats", auth, transport=httpx.MockTransport(handler), sleep=no_sleep
    ) as http:
        response = await http.get("/agent-status")
    assert response.status == 200
    assert seen == ["Bearer tok-1", "Bearer tok-2"]
    assert auth.fetches == 2
