"""HttpClient: status table, retries with jitter, Retry-After, 401 re-auth, body cap."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import unquote

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from streamer.errors import FatalError, RetriableError, SkippableError, StreamerError
from streamer.http.auth import BearerAuth
from streamer.http.client import (
    STATUS_ACTIONS,
    Action,
    HttpClient,
    Response,
    classify,
    parse_retry_after,
    quote_segment,
)
from streamer.secrets import Secret

CANARY = "canary-t0ken-91ab"
NOW = 1_700_000_000.0  # a whole second, so HTTP-dates are exact


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)


class CountingAuth(BearerAuth):
    def __init__(self) -> None:
        super().__init__(Secret(CANARY))
        self.invalidations = 0

    def invalidate(self) -> None:
        self.invalidations += 1


Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with the given responses in turn (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        item = responses[min(len(seen), len(responses) - 1)]
        seen.append(request)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def make(handler: Handler, sleep: FakeSleep | None = None, **kw: object) -> HttpClient:
    return HttpClient(
        "https://api.example/stats",
        kw.pop("auth", None) or BearerAuth(Secret(CANARY)),  # type: ignore[arg-type]
        headers={"accept": "application/vnd.newvoicemedia.v3+json"},
        transport=httpx.MockTransport(handler),
        sleep=sleep or FakeSleep(),
        rng=random.Random(7),
        wall_clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )


def assert_no_canary(exc: BaseException) -> None:
    assert CANARY not in str(exc) and CANARY not in repr(exc)


async def test_get_ok_returns_response() -> None:
    handler, seen = scripted(httpx.Response(200, headers={"X-Thing": "1"}, json={"a": 1}))
    async with make(handler) as http:
        response = await http.get("/agent-status", {"page": 2, "start": "2019-12-19T15:47:07.077Z"})
    assert isinstance(response, Response)
    assert response.status == 200 and msgspec.json.decode(response.body) == {"a": 1}
    assert response.headers["x-thing"] == "1"
    assert response.url.startswith("https://api.example/stats/agent-status?")
    request = seen[0]
    assert request.headers["authorization"] == f"Bearer {CANARY}"
    assert request.headers["accept"] == "application/vnd.newvoicemedia.v3+json"
    assert request.url.params["start"] == "2019-12-19T15:47:07.077Z"
    with pytest.raises(AttributeError):
        response.status = 500  # type: ignore[misc]
    assert CANARY not in repr(http)


@pytest.mark.parametrize(
    ("status", "action"),
    [(200, Action.OK), (204, Action.OK), (401, Action.REAUTH), (403, Action.FATAL),
     (408, Action.RETRY), (429, Action.RETRY), (500, Action.RETRY), (502, Action.RETRY), (503, Action.RETRY),
     (504, Action.RETRY), (400, Action.SKIP), (404, Action.SKIP), (422, Action.SKIP),
     (301, Action.SKIP), (501, Action.SKIP)],
)
def test_classification_table(status: int, action: Action) -> None:
    assert classify(status) is action
    if status in STATUS_ACTIONS:
        assert STATUS_ACTIONS[status] is action


async def test_429_retry_after_seconds_is_honoured() -> None:
    sleep = FakeSleep()
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(200, json={})
    )
    async with make(handler, sleep) as http:
        assert (await http.get("/x")).status == 200
    assert len(seen) == 2
    assert len(sleep.calls) == 1 and sleep.calls[0] >= 2


async def test_retry_after_http_date_is_honoured() -> None:
    sleep = FakeSleep()
    when = format_datetime(datetime.fromtimestamp(NOW + 7, tz=UTC), usegmt=True)
    handler, _ = scripted(
        httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json={})
    )
    async with make(handler, sleep) as http:
        await http.get("/x")
    assert sleep.calls and sleep.calls[0] >= 7


async def test_retry_after_beyond_cap_gives_up_at_once() -> None:
    sleep = FakeSleep()
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    async with make(handler, sleep, backoff_max=30.0) as http:
        with pytest.raises(RetriableError) as info:
            await http.get("/x")
    assert info.value.retry_after == 3600
    assert sleep.calls == [] and len(seen) == 1


def test_base_url_with_credentials_is_refused() -> None:
    with pytest.raises(ValueError) as info:
        HttpClient("https://user:pw@api.example/", BearerAuth(Secret(CANARY)))
    assert "pw" not in str(info.value)


def test_parse_retry_after() -> None:
    assert parse_retry_after("2", NOW) == 2
    assert parse_retry_after("-5", NOW) == 0
    assert parse_retry_after(None, NOW) is None
    assert parse_retry_after("soon", NOW) is None
    past = format_datetime(datetime.fromtimestamp(NOW - 60, tz=UTC), usegmt=True)
    assert parse_retry_after(past, NOW) == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_retriable_statuses_exhaust_attempts(status: int) -> None:
    sleep = FakeSleep()
    handler, seen = scripted(httpx.Response(status, text="busy"))
    async with make(handler, sleep, max_attempts=4, backoff_base=0.5, backoff_max=3.0) as http:
        with pytest.raises(RetriableError) as info:
            await http.get("/x")
    assert len(seen) == 4 and len(sleep.calls) == 3
    ceilings = [0.5, 1.0, 2.0]
    assert all(0 <= d <= c for d, c in zip(sleep.calls, ceilings, strict=True))
    assert info.value.retry_after is not None
    assert str(status) in str(info.value)


async def test_5xx_then_success() -> None:
    handler, seen = scripted(httpx.Response(502), httpx.Response(500), httpx.Response(200, json=[]))
    async with make(handler) as http:
        assert (await http.get("/x")).status == 200
    assert len(seen) == 3


async def test_each_response_read_to_its_end_reports_how_long_it_took() -> None:
    """The vendor's part of a poll, for the metrics: from sending a request to the last byte
    of its response, for every response (a retried one too); a request that got no
    response reports nothing."""
    ticks = iter([10.0, 10.25, 20.0, 30.0, 30.125])
    statuses: list[int] = []
    durations: list[float] = []
    handler, seen = scripted(httpx.Response(503), httpx.ReadTimeout("slow"), httpx.Response(200, json=[]))
    async with make(handler, on_response=statuses.append, on_duration=durations.append,
                    timer=lambda: next(ticks)) as http:
        assert (await http.get("/x")).status == 200
    assert len(seen) == 3 and statuses == [503, 200]
    assert durations == [0.25, 0.125]  # the request that timed out (sent at 20.0) is not reported


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("eof")],
)
async def test_transport_errors_retried_and_translated(error: Exception) -> None:
    sleep = FakeSleep()
    handler, seen = scripted(error)
    async with make(handler, sleep, max_attempts=3) as http:
        with pytest.raises(RetriableError) as info:
            await http.get("/x")
    assert len(seen) == 3 and len(sleep.calls) == 2
    assert not isinstance(info.value, httpx.HTTPError)
    assert info.value.__cause__ is None


async def test_transport_error_then_success() -> None:
    handler, _ = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={}))
    async with make(handler) as http:
        assert (await http.get("/x")).status == 200


async def test_401_invalidates_and_retries_once() -> None:
    auth = CountingAuth()
    handler, seen = scripted(httpx.Response(401), httpx.Response(200, json={}))
    async with make(handler, auth=auth) as http:
        assert (await http.get("/x")).status == 200
    assert auth.invalidations == 1 and len(seen) == 2


async def test_second_401_is_fatal() -> None:
    auth = CountingAuth()
    sleep = FakeSleep()
    handler, seen = scripted(httpx.Response(401, json={"message": "Unauthorized"}))
    async with make(handler, sleep, auth=auth) as http:
        with pytest.raises(FatalError) as info:
            await http.get("/x")
    assert "401" in str(info.value) and "credentials rejected" in str(info.value)
    assert auth.invalidations == 1 and len(seen) == 2 and sleep.calls == []
    assert_no_canary(info.value)


async def test_403_is_fatal() -> None:
    handler, seen = scripted(httpx.Response(403, json={"message": "Forbidden scope"}))
    async with make(handler) as http:
        with pytest.raises(FatalError, match="403.*Forbidden scope"):
            await http.get("/x")
    assert len(seen) == 1


@pytest.mark.parametrize("status", [400, 404, 422, 409])
async def test_client_errors_are_skippable_with_json_message(status: int) -> None:
    handler, seen = scripted(
        httpx.Response(status, json={"message": "Request window size limit exceeded 31 days"})
    )
    async with make(handler) as http:
        with pytest.raises(SkippableError) as info:
            await http.get("/agent-activities")
    assert str(status) in str(info.value)
    assert "Request window size limit exceeded 31 days" in str(info.value)
    assert len(seen) == 1


async def test_client_error_text_body_truncated_to_200_chars() -> None:
    handler, _ = scripted(httpx.Response(404, text="not found " + "x" * 500))
    async with make(handler) as http:
        with pytest.raises(SkippableError) as info:
            await http.get("/x")
    message = str(info.value)
    assert "404" in message and "not found" in message
    assert "x" * 190 in message and "x" * 191 not in message


async def test_body_over_cap_with_content_length() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"x" * 2000))
    async with make(handler, max_body_bytes=1000) as http:
        with pytest.raises(SkippableError, match="response body over 1000 bytes"):
            await http.get("/x")


async def test_body_over_cap_when_streamed_without_length() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b"y" * 100

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=chunks())

    async with make(handler, max_body_bytes=1000) as http:
        with pytest.raises(SkippableError, match="response body over 1000 bytes"):
            await http.get("/x")


async def test_body_at_cap_is_fine() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"z" * 1000))
    async with make(handler, max_body_bytes=1000) as http:
        assert len((await http.get("/x")).body) == 1000


async def test_retry_logs_status_and_delay_but_no_secrets() -> None:
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json={})
    )
    with capture_logs() as logs:
        async with make(handler) as http:
            await http.get("/x")
    retries = [e for e in logs if e["event"] == "http.retry"]
    assert len(retries) == 1
    assert retries[0]["status"] == 429 and retries[0]["delay"] >= 1
    assert CANARY not in repr(logs)


async def test_no_secret_in_any_error() -> None:
    cases: list[httpx.Response | Exception] = [
        httpx.Response(401), httpx.Response(403), httpx.Response(400), httpx.Response(500),
        httpx.ConnectError("x"),
    ]
    for case in cases:
        handler, _ = scripted(case)
        async with make(handler, max_attempts=2) as http:
            with pytest.raises(StreamerError) as info:
                await http.get("/x")
        assert_no_canary(info.value)


def test_quote_segment_examples() -> None:
    assert quote_segment("abc-123") == "abc-123"
    assert quote_segment("a/b") == "a%2Fb"
    assert quote_segment("x?y=1#z") == "x%3Fy%3D1%23z"
    assert quote_segment("..") == "%2E%2E"
    assert quote_segment(".") == "%2E"
    with pytest.raises(ValueError):
        quote_segment("")


@given(st.text(min_size=1))
def test_quote_segment_never_changes_the_path(segment: str) -> None:
    encoded = quote_segment(segment)
    assert not set("/?#") & set(encoded)
    assert encoded not in (".", "..")
    assert unquote(encoded) == segment


async def test_quoted_segment_stays_one_segment_on_the_wire() -> None:
    handler, seen = scripted(httpx.Response(200, json={}))
    async with make(handler) as http:
        for evil in ("..", "../../admin", "a?b", "%2F"):
            await http.get(f"/interactions/{quote_segment(evil)}")
    for request in seen:
        parts = request.url.raw_path.split(b"?")[0].split(b"/")
        assert parts[:3] == [b"", b"stats", b"interactions"] and len(parts) == 4


class FlakyTokenAuth(BearerAuth):
    """Fails like an unreachable token endpoint ``failures`` times, then works."""

    def __init__(self, failures: int, error: type[StreamerError] = RetriableError) -> None:
        super().__init__(Secret(CANARY))
        self.failures = failures
        self.error = error

    async def headers(self, http: httpx.AsyncClient) -> dict[str, str]:
        if self.failures:
            self.failures -= 1
            raise self.error("token endpoint returned HTTP 503")
        return await super().headers(http)


async def test_retriable_auth_failure_is_retried_with_backoff() -> None:
    sleep = FakeSleep()
    handler, seen = scripted(httpx.Response(200, json={}))
    async with make(handler, sleep, auth=FlakyTokenAuth(2)) as http:
        assert (await http.get("/x")).status == 200
    assert len(sleep.calls) == 2 and len(seen) == 1


async def test_fatal_auth_failure_propagates() -> None:
    handler, seen = scripted(httpx.Response(200, json={}))
    async with make(handler, auth=FlakyTokenAuth(1, FatalError)) as http:
        with pytest.raises(FatalError, match="token endpoint"):
            await http.get("/x")
    assert seen == []
