"""HttpClient's ``max_body_bytes`` caps the body as inflated, while it is read: a gzip bomb
is refused without inflating it (issue 13.3)."""

from __future__ import annotations

import random
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from streamer.errors import SkippableError
from streamer.http.auth import BearerAuth
from streamer.http.client import ERROR_BODY_BYTES, HttpClient
from streamer.http.inflate import ACCEPT_ENCODING, STEP, Inflater
from streamer.secrets import Secret


def client(**kw: object) -> HttpClient:
    return HttpClient("https://api.example", BearerAuth(Secret("t")), rng=random.Random(1), **kw)  # type: ignore[arg-type]


def gzip_of_zeros(size: int, *, chunk: int = 64 * 1024) -> list[bytes]:
    """``size`` zero bytes gzipped, cut into network-sized ``chunk``s (never all inflated here)."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1024 * 1024)
    body = b"".join([z.compress(zeros) for _ in range(size // len(zeros))]) + z.flush()
    return [body[i:i + chunk] for i in range(0, len(body), chunk)]


def streamed(chunks: list[bytes], pulled: list[int], **headers: str) -> httpx.MockTransport:
    """Serves ``chunks`` as a streamed body, counting the chunks the client pulls."""

    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            pulled[0] += 1
            yield c

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={k.replace("_", "-"): v for k, v in headers.items()}, content=body())

    return httpx.MockTransport(handler)


async def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    chunks = gzip_of_zeros(200 * 1024 * 1024)
    cap = 1024 * 1024
    pulled = [0]
    tracemalloc.start()
    try:
        async with client(transport=streamed(chunks, pulled, content_encoding="gzip"), max_body_bytes=cap) as http:
            with pytest.raises(SkippableError) as info:
                await http.get("/agent-status")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\ngzip bomb: {sum(map(len, chunks))} bytes inflating to 200 MiB; {pulled[0]} of {len(chunks)} chunks read, "
          f"peak traced memory {peak / 2**20:.1f} MiB")
    assert peak < 4 * cap  # the cap plus a step or so, not the 64 MB one chunk inflates to
    assert pulled[0] == 1  # stopped inside the first 64 KiB of the wire
    assert f"response body over {cap} bytes (inflated from gzip)" in str(info.value)


async def test_a_gzipped_body_within_the_cap_is_read_whole() -> None:
    payload = b'{"items": [' + b",".join(b'{"agentId": "%d"}' % i for i in range(20_000)) + b"]}"
    compressed = zlib.compress(payload, wbits=zlib.MAX_WBITS | 16)
    pulled = [0]
    chunks = [compressed[i:i + 1000] for i in range(0, len(compressed), 1000)]
    async with client(transport=streamed(chunks, pulled, content_encoding="gzip"), max_body_bytes=len(payload)) as http:
        assert (await http.get("/x")).body == payload


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_is_read_zlib_wrapped_or_raw(wbits: int) -> None:
    payload = b"[" + b"1," * 100_000 + b"1]"
    z = zlib.compressobj(6, zlib.DEFLATED, wbits)
    compressed = z.compress(payload) + z.flush()
    async with client(transport=streamed([compressed], [0], content_encoding="deflate")) as http:
        assert (await http.get("/x")).body == payload


async def test_an_unknown_or_broken_encoding_is_a_clear_skippable_error() -> None:
    async with client(transport=streamed([b"\x00\x01"], [0], content_encoding="br")) as http:
        with pytest.raises(SkippableError, match="content-encoding 'br' is not supported"):
            await http.get("/x")
    async with client(transport=streamed([b"not gzip at all"], [0], content_encoding="gzip")) as http:
        with pytest.raises(SkippableError, match="not valid gzip"):
            await http.get("/x")


async def test_the_client_asks_only_for_encodings_it_decodes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    async with client(transport=httpx.MockTransport(handler)) as http:
        await http.get("/x")
    assert seen[0].headers["accept-encoding"] == ACCEPT_ENCODING == "gzip, deflate"


async def test_only_the_start_of_an_error_body_is_read() -> None:
    pulled = [0]
    chunks = [b'{"message": "no such agent"}' + b" " * 4000] + [b" " * 4096] * 255  # 1 MiB

    async def body() -> AsyncIterator[bytes]:
        for c in chunks:
            pulled[0] += 1
            yield c

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, content=body())

    async with client(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(SkippableError, match="HTTP 404 from /x: no such agent"):
            await http.get("/x")
    assert pulled[0] <= ERROR_BODY_BYTES // 4096 + 1


def test_inflated_pieces_never_exceed_a_step() -> None:
    data = bytes(10 * STEP) + random.Random(3).randbytes(3 * STEP) + bytes(5 * STEP)
    inflater = Inflater("gzip")
    pieces = list(inflater.feed(zlib.compress(data, wbits=zlib.MAX_WBITS | 16))) + [inflater.finish()]
    assert b"".join(pieces) == data
    assert max(map(len, pieces)) <= STEP
