"""Dead letters keep the unreadable bytes, capped so the record itself stays publishable."""

import base64

import msgspec

from streamer.config.load import parse_config
from streamer.engine.records import MAX_DEAD_LETTER_RAW
from streamer.engine.runner import SourceRunner
from streamer.engine.source import BadInput


class _Ep:
    name = "agent-activities"


def _runner() -> SourceRunner:
    cfg = parse_config(
        {"sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}]},
        env={},
    )
    return SourceRunner(cfg.sources[0], cfg, publisher=None, store=None, source=object())  # type: ignore[arg-type]


def test_dead_letter_keeps_raw_bytes_and_reason() -> None:
    rec = _runner()._dead_letter(_Ep(), BadInput("response body is not valid JSON", b'{"meta": {"pa'), 0)  # type: ignore[arg-type]
    value = msgspec.json.decode(rec.value)
    assert rec.topic == "cc.deadletter" and rec.key == b"s1"
    assert value["reason"] == "response body is not valid JSON" and value["endpoint"] == "agent-activities"
    assert value["raw_size"] == 13 and base64.b64decode(value["raw"]) == b'{"meta": {"pa'


def test_oversized_raw_is_capped_but_its_size_is_kept() -> None:
    big = b"x" * (MAX_DEAD_LETTER_RAW * 3)
    rec = _runner()._dead_letter(_Ep(), BadInput("too big", big), 0)  # type: ignore[arg-type]
    value = msgspec.json.decode(rec.value)
    assert value["raw_size"] == len(big)
    assert len(rec.value) < 2 * MAX_DEAD_LETTER_RAW
