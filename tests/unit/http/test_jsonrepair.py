import time
from collections.abc import Callable

import msgspec
import pytest

from streamer.errors import SkippableError
from streamer.http.jsonrepair import MAX_REPAIR_BYTES, repair_json
from streamer.http.tolerant import decode_body
from streamer.vendors.sinch.common import decode_rows, repair_sinch


@pytest.mark.parametrize(
    ("broken", "fixed", "repairs"),
    [
        (b'{"guid": null"6a6d"}', {"guid": "6a6d"}, ["literal-glued-to-string"]),
        (b'{"a": 1, "number" 201}', {"a": 1, "number": 201}, ["missing-colon"]),
        (b'{"items": [1, 2,], }', {"items": [1, 2]}, ["trailing-comma"]),
        # Sinch RMI /contacts: a comment after a value; /agents and /queueStatuses: the comma
        # missing at a line end (after a string, after a number)
        (b'{"channel": "PHONE", // PHONE, CHAT, EMAIL\n"record": true, //true or false\n"n": 1}',
         {"channel": "PHONE", "record": True, "n": 1}, ["comments"]),
        (b'{"availability": "LoggedOut"\n"dailyPauseDuration": 1800000,\n"agentsFree" : 1\n"agentsBusy": 0}',
         {"availability": "LoggedOut", "dailyPauseDuration": 1800000, "agentsFree": 1, "agentsBusy": 0},
         ["missing-comma"]),
    ],
)
def test_documented_slips_are_repaired(broken: bytes, fixed: object, repairs: list[str]) -> None:
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(broken)
    out, applied = repair_json(broken)
    assert msgspec.json.decode(out) == fixed
    assert applied == repairs


@pytest.mark.parametrize("body", [
    b'{"items": [{"channel": "PHONE", // PHONE, CHAT, EMAIL\n"agentId": "01"}]}',
    b'{"items": [{"availability": "LoggedOut"\n"agentId": "01"}]}',
])
def test_every_vendor_body_decoder_repairs_comments_and_missing_commas(body: bytes) -> None:
    # Vonage and Alvaria read bodies through decode_body: the Sinch docs' slips are repaired there too
    top = decode_body(body)
    assert msgspec.json.decode(top["items"])[0]["agentId"] == "01"


def test_valid_json_is_untouched() -> None:
    body = b'{"name": "null \\"quoted\\" true", "x": [true, false, null]}'
    out, applied = repair_json(body)
    assert applied == [] and out == body


def test_truncated_json_is_not_made_up() -> None:
    out, _ = repair_json(b'{"items": [{"agentId": "01"')
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(out)


def _page_with_slips(size: int) -> bytes:
    """A page of about ``size`` bytes with every slip both repairers know, many small
    strings (the per-string work is what a quadratic join multiplied)."""
    row = b'{"agentId": "a", "state": "Ready", "guid": null"6a6d", "number" 201, // note\n"n": 1\n"x": [1,],}'
    rows = size // (len(row) + 1)
    return b"[" + b",".join([row] * rows) + b"]"


@pytest.mark.parametrize("repair", [repair_json, repair_sinch])
def test_repair_of_a_body_at_the_size_limit_is_linear_and_fast(repair: Callable[[bytes], tuple[bytes, list[str]]]) -> None:
    body = _page_with_slips(MAX_REPAIR_BYTES)
    started = time.process_time()  # CPU time: other processes on a busy machine do not count
    out, applied = repair(body)
    took = time.process_time() - started
    print(f"\n{repair.__name__}: {len(body)} bytes repaired in {took:.3f}s of CPU")
    assert "missing-colon" in applied and "trailing-comma" in applied
    assert len(out) > len(body) // 2
    # Generous: linear repair takes about a second here at most; the quadratic join took
    # 7 s (repair_json) and 15 s (repair_sinch) of CPU for this body.
    assert took < 5.0


def test_a_body_over_the_size_limit_is_not_repaired_and_says_why() -> None:
    body = b'{"items": [{"a": 1,},' + b" " * MAX_REPAIR_BYTES
    with pytest.raises(SkippableError, match="repair limit"):
        repair_json(body)
    with pytest.raises(SkippableError, match="repair limit"):
        repair_sinch(body)
    with pytest.raises(SkippableError) as err:
        decode_body(body)
    assert "not valid JSON" in str(err.value) and f"over the {MAX_REPAIR_BYTES}-byte repair limit" in str(err.value)
    with pytest.raises(SkippableError) as err:
        decode_rows(body, dict)
    assert "not valid JSON" in str(err.value) and "repair limit" in str(err.value) and err.value.raw == body


def test_a_string_cut_off_by_the_end_is_one_string() -> None:
    # a comment-like text inside the cut-off string is kept, not stripped
    body = b'[{"a": "x" // c\n, "b": "http://y'
    out, applied = repair_sinch(body)
    assert out == b'[{"a": "x" \n, "b": "http://y' and applied == ["comments"]
