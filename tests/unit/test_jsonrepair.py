import msgspec
import pytest

from streamer.jsonrepair import repair_json


@pytest.mark.parametrize(
    ("broken", "fixed", "repairs"),
    [
        (b'{"guid": null"6a6d"}', {"guid": "6a6d"}, ["literal-glued-to-string"]),
        (b'{"a": 1, "number" 201}', {"a": 1, "number": 201}, ["missing-colon"]),
        (b'{"items": [1, 2,], }', {"items": [1, 2]}, ["trailing-comma"]),
    ],
)
def test_documented_slips_are_repaired(broken: bytes, fixed: object, repairs: list[str]) -> None:
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(broken)
    out, applied = repair_json(broken)
    assert msgspec.json.decode(out) == fixed
    assert applied == repairs


def test_valid_json_is_untouched() -> None:
    body = b'{"name": "null \\"quoted\\" true", "x": [true, false, null]}'
    out, applied = repair_json(body)
    assert applied == [] and out == body


def test_truncated_json_is_not_made_up() -> None:
    out, _ = repair_json(b'{"items": [{"agentId": "01"')
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(out)
