"""The Alvaria client over httpx.MockTransport: token flow, x-api-key, retries, secrecy."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from streamer.config.load import parse_config
from streamer.config.model import SourceConfig
from streamer.errors import FatalError, RetriableError, SkippableError
from streamer.vendors.alvaria.client import AlvariaClient, ApiKeyAuth, api_root, token_url_with_realm
from streamer.vendors.alvaria.client import alvaria_http as build_http
from streamer.vendors.alvaria.models import TeamActivityRow, UserActivityRow
from streamer.vendors.alvaria.options import alvaria_options
from tests.unit.vendors.alvaria._fixtures import load

SECRET = "canary-secret-51c0"
API_KEY = "canary-key-77aa"
TOKEN_URL = "https://myaspect.us.id.aspect-cloud.net/tokenservice/oauth2/access_token"
BASE = "https://acme.via.aspect-cloud.net"


def source_cfg(**over: Any) -> SourceConfig:
    src: dict[str, Any] = {
        "id": "alv", "vendor": "alvaria", "base_url": BASE, "org_id": "acme", "api_key": API_KEY,
        "team_ids": ["salesTeam"], "max_attempts": 3,
        "auth": {"type": "oauth2_client_credentials", "token_url": TOKEN_URL, "client_id": "my-client",
                 "client_secret": SECRET, "scope": "reportingapi"},
    }
    src.update(over)
    return parse_config({"sources": [src]}, env={}).sources[0]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Vendor:
    """Token endpoint + reporting API. Tokens are tok-1, tok-2, ...; ``revoke()`` kills them."""

    def __init__(self, *, token_status: int = 200, expires_in: float = 3599) -> None:
        self.token_status = token_status
        self.expires_in = expires_in
        self.valid: set[str] = set()
        self.issued = 0
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []
        self.api_status: list[tuple[int, dict[str, str]]] = []  # queued non-200 answers

    def revoke(self) -> None:
        self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tokenservice/oauth2/access_token"):
            self.token_requests.append(request)
            if self.token_status != 200:
                return httpx.Response(self.token_status, json={"error": "invalid_client"})
            self.issued += 1
            token = f"tok-{self.issued}"
            self.valid.add(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "Bearer",
                                             "expires_in": self.expires_in, "scope": "reportingapi"})
        self.api_requests.append(request)
        if request.headers.get("x-api-key") != API_KEY:
            return httpx.Response(403, json={"error": "Invalid ApiKey"})
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid:
            return httpx.Response(401, json={"error": "Unauthorized"})
        if self.api_status:
            status, headers = self.api_status.pop(0)
            return httpx.Response(status, json={"error": "Throttled"}, headers=headers)
        if "/teamActivity/" in request.url.path:
            return httpx.Response(200, content=load("team_activity.json"))
        return httpx.Response(200, content=load("user_activity.json"))


def make(vendor: Vendor, clock: Clock | None = None, sleeps: list[float] | None = None,
         **over: Any) -> tuple[AlvariaClient, Any]:
    async def sleep(s: float) -> None:
        if sleeps is not None:
            sleeps.append(s)

    cfg = source_cfg(**over)
    http = build_http(cfg, transport=httpx.MockTransport(vendor), clock=clock or Clock(), sleep=sleep)
    org_id = alvaria_options(cfg).org_id
    assert org_id is not None
    return AlvariaClient(http, org_id), http


async def test_token_request_and_api_request_shapes() -> None:
    vendor = Vendor()
    client, http = make(vendor)
    async with http:
        rows = await client.user_activity("salesTeam")
        await client.team_activity("salesTeam")
    assert isinstance(rows.items[0], UserActivityRow)
    (tok,) = vendor.token_requests
    assert tok.method == "POST"
    assert str(tok.url) == TOKEN_URL + "?realm=acme"
    user, _, password = base64.b64decode(tok.headers["authorization"].removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == ("my-client", SECRET)
    assert parse_qs(tok.content.decode()) == {"grant_type": ["client_credentials"], "scope": ["reportingapi"]}
    assert "x-api-key" not in tok.headers  # the key is for the reporting API, not the token service
    first, second = vendor.api_requests
    assert first.url.path == "/via/v2/organizations/acme/reporting/queries/userActivity/data"
    assert dict(first.url.params) == {"teamId": "salesTeam"}
    assert second.url.path == "/via/v2/organizations/acme/reporting/queries/teamActivity/data"
    for r in vendor.api_requests:
        assert r.headers["authorization"] == "Bearer tok-1"
        assert r.headers["x-api-key"] == API_KEY
        assert r.headers["accept"] == "application/json"


async def test_token_refreshed_before_expiry_with_an_injected_clock() -> None:
    vendor = Vendor(expires_in=3599)
    clock = Clock()
    client, http = make(vendor, clock)
    async with http:
        await client.user_activity("salesTeam")
        clock.now += 3599 - 61
        await client.user_activity("salesTeam")
        assert vendor.issued == 1
        clock.now += 2  # inside the 60 s margin: renewed before the vendor's expiry
        await client.user_activity("salesTeam")
    assert vendor.issued == 2
    assert [r.headers["authorization"] for r in vendor.api_requests] == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(vendor.api_requests) == 3  # no request was refused on the way


async def test_token_refreshed_once_after_a_401() -> None:
    vendor = Vendor()
    client, http = make(vendor)
    async with http:
        await client.user_activity("salesTeam")
        vendor.revoke()
        rows = await client.user_activity("salesTeam")
    assert rows.items and vendor.issued == 2
    assert [r.headers["authorization"] for r in vendor.api_requests] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2",
    ]


class _NeverValid(set):  # type: ignore[type-arg]
    """Tokens are issued but never accepted."""

    def __contains__(self, item: object) -> bool:
        return False


async def test_a_token_that_keeps_being_refused_is_fatal_not_a_loop() -> None:
    vendor = Vendor()
    vendor.valid = _NeverValid()
    client, http = make(vendor)
    async with http:
        with pytest.raises(FatalError, match="401") as info:
            await client.user_activity("salesTeam")
    assert vendor.issued == 2 and len(vendor.api_requests) == 2  # one renewal, then it gives up
    assert SECRET not in str(info.value) and API_KEY not in str(info.value)


async def test_no_request_leaves_without_the_api_key() -> None:
    vendor = Vendor()
    client, http = make(vendor)
    async with http:
        for _ in range(3):
            await client.user_activity("salesTeam")
        vendor.revoke()
        await client.team_activity("salesTeam")
        await client.logged_on_users()
        await client.logged_on_users("wt-1")
    assert len(vendor.api_requests) == 7
    assert all(r.headers.get("x-api-key") == API_KEY for r in vendor.api_requests)
    assert dict(vendor.api_requests[-1].url.params) == {"state": "LoggedOn", "workTypeId": "wt-1"}


async def test_bad_credentials_are_fatal_with_a_clear_message_and_no_secret() -> None:
    vendor = Vendor(token_status=401)
    client, http = make(vendor)
    async with http:
        with pytest.raises(FatalError) as info:
            await client.user_activity("salesTeam")
    msg = str(info.value)
    assert "token endpoint rejected the client credentials" in msg and "my-client" in msg and "401" in msg
    assert SECRET not in msg and API_KEY not in msg
    assert vendor.api_requests == []  # nothing is asked without a token
    assert len(vendor.token_requests) == 1  # and the token service is not hammered


async def test_a_wrong_api_key_is_fatal_and_not_echoed() -> None:
    vendor = Vendor()
    client, http = make(vendor, api_key="wrong-key-0000")
    async with http:
        with pytest.raises(FatalError) as info:
            await client.user_activity("salesTeam")
    assert "403" in str(info.value) and "Invalid ApiKey" in str(info.value)
    assert "wrong-key-0000" not in str(info.value) and SECRET not in str(info.value)


async def test_429_and_503_are_retried_honoring_retry_after() -> None:
    vendor = Vendor()
    sleeps: list[float] = []
    client, http = make(vendor, sleeps=sleeps)
    vendor.api_status = [(429, {"retry-after": "7"}), (503, {})]
    async with http:
        rows = await client.team_activity("salesTeam")
    assert isinstance(rows.items[0], TeamActivityRow)
    assert len(vendor.api_requests) == 3
    assert sleeps[0] >= 7  # never before the vendor said we may
    vendor.api_status = [(429, {"retry-after": "1"})] * 3  # max_attempts is 3
    client2, http2 = make(vendor, sleeps=sleeps)
    async with http2:
        with pytest.raises(RetriableError) as info:
            await client2.team_activity("salesTeam")
    assert "429" in str(info.value)


async def test_408_is_retried_not_dead_lettered() -> None:
    # 408 Request Timeout is in the doc's response table of every query (ErrorResponse body)
    vendor = Vendor()
    sleeps: list[float] = []
    client, http = make(vendor, sleeps=sleeps)
    vendor.api_status = [(408, {})]
    async with http:
        rows = await client.user_activity("salesTeam")
    assert isinstance(rows.items[0], UserActivityRow)
    assert len(vendor.api_requests) == 2 and len(sleeps) == 1
    vendor.api_status = [(408, {})] * 3  # max_attempts is 3: the poll is retried later, nothing skipped
    client2, http2 = make(vendor, sleeps=sleeps)
    async with http2:
        with pytest.raises(RetriableError, match="HTTP 408"):
            await client2.team_activity("salesTeam")


async def test_unknown_team_is_skippable_naming_the_query() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("access_token"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 3599})
        if "userActivity" in request.url.path:
            return httpx.Response(404, content=load("error_response_obj.json"))
        return httpx.Response(200, content=b"<html>maintenance</html>")

    cfg = source_cfg()
    http = build_http(cfg, transport=httpx.MockTransport(handler))
    client = AlvariaClient(http, "acme")
    async with http:
        with pytest.raises(SkippableError, match="HTTP 404 .*Not Found"):
            await client.user_activity("nope")
        with pytest.raises(SkippableError, match="teamActivity teamId=x: response body is not valid JSON") as info:
            await client.team_activity("x")
    assert info.value.raw == b"<html>maintenance</html>"


async def test_ids_are_encoded_in_paths_and_queries() -> None:
    vendor = Vendor()
    client, http = make(vendor, org_id="a/b c")
    async with http:
        await client.user_activity("team/1&x=2")
    (req,) = vendor.api_requests
    assert req.url.raw_path.startswith(b"/via/v2/organizations/a%2Fb%20c/reporting/queries/userActivity/data?")
    assert dict(req.url.params) == {"teamId": "team/1&x=2"}
    assert "realm=a%2Fb+c" in str(vendor.token_requests[0].url)


async def test_scope_defaults_to_reportingapi() -> None:
    vendor = Vendor()
    auth = {"type": "oauth2_client_credentials", "token_url": TOKEN_URL + "?realm=eu1", "client_id": "c",
            "client_secret": SECRET}
    client, http = make(vendor, auth=auth)
    async with http:
        await client.user_activity("salesTeam")
    (tok,) = vendor.token_requests
    assert parse_qs(tok.content.decode())["scope"] == ["reportingapi"]
    assert tok.url.params["realm"] == "eu1"  # a realm in the configured URL is kept


def test_helpers_and_reprs() -> None:
    assert api_root("https://x.example/via/v2/") == "https://x.example"
    assert api_root("http://127.0.0.1:1/alvaria") == "http://127.0.0.1:1/alvaria"
    assert token_url_with_realm("https://t/x?realm=eu", "acme") == "https://t/x?realm=eu"
    assert token_url_with_realm("https://t/x?a=1", "acme") == "https://t/x?a=1&realm=acme"
    http = build_http(source_cfg())
    assert SECRET not in repr(http._auth) and API_KEY not in repr(http._auth)  # type: ignore[attr-defined]
    assert isinstance(http._auth, ApiKeyAuth)  # type: ignore[attr-defined]
