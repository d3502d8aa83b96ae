"""A vendor row with a 4.5 MB reason (an event holds it twice, in ``current`` and in the
ccs-value header: over the client's former 8 MiB limit, and over any broker's default
1 MiB): the event goes out with the reason cut, the cursor moves past it and the source
keeps publishing, instead of restoring and retrying the same batch for ever."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import msgspec
import pytest

from streamer.engine.emit import OutRecord
from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.publisher import record_size
from streamer.timeutil import format_ms, parse_ts, to_ms
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    events,
    last_checkpoint,
    read_topic,
    unique_prefix,
    wait_for,
    write_config,
)
from tests.stub_http import JsonHandler, serve

pytestmark = pytest.mark.integration

BIG_ROW = 3
REASON_BYTES = 4_500_000


class Activities(JsonHandler):
    """``/agent-activities`` of one agent changing presence every second from ``t0_ms``;
    row BIG_ROW carries a 4.5 MB reason."""

    t0_ms = 0

    def do_GET(self) -> None:  # noqa: N802 - stdlib API
        url = urlparse(self.path)
        if not url.path.endswith("/agent-activities"):
            self.send_json(404, b'{"message": "not found"}')
            return
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        now_ms = int(time.time() * 1000)
        start, end = to_ms(parse_ts(q["start"])), min(to_ms(parse_ts(q["end"])), now_ms)
        first = max(0, -(-(start - self.t0_ms) // 1000))
        rows = []
        k = first
        while self.t0_ms + k * 1000 <= end:
            away = k % 2 == 1
            rows.append({
                "agentId": "01", "type": "Presence", "category": "Away" if away else "Ready",
                "name": "Break" if away else "Ready", "eligibleForRouting": not away,
                "start": format_ms(self.t0_ms + k * 1000), "duration": 1000,
                "reason": "r" * REASON_BYTES if k == BIG_ROW else ("Lunch" if away else None),
            })
            k += 1
        body = msgspec.json.encode({
            "meta": {"page": 1, "count": len(rows), "pageCount": 1, "totalCount": len(rows)},
            "items": rows, "upTo": format_ms(now_ms),
        })
        self.send_json(200, body)



@pytest.fixture
def vendor() -> Iterator[str]:
    Activities.t0_ms = (int(time.time()) + 2) * 1000
    with serve(Activities) as url:
        yield f"{url}/stats"


def test_an_event_over_the_size_limit_does_not_stop_its_source(
    broker: EmbeddedBroker, vendor: str, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=vendor,
                       lookback="5s", initial_lookback="10s",
                       endpoints={"agent-status": {"enabled": False}, "interactions": {"enabled": False}})
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    big_ms = Activities.t0_ms + BIG_ROW * 1000

    def presences() -> list[dict[str, Any]]:
        return [e for e in events(broker.bootstrap, prefix, "agent") if e["type"] == "cc.agent.presence.changed"]

    def moved_on() -> bool:
        try:
            after = [e for e in presences() if to_ms(parse_ts(e["time"])) > big_ms + 3000]
            cursor = last_checkpoint(broker.bootstrap, prefix, "vonage-it")["cursors"].get("agent-activities", 0)
        except (KafkaUnavailableError, AssertionError):  # topics or first checkpoint not there yet
            return False
        return len(after) >= 3 and cursor > big_ms + 3000

    try:
        assert wait_for(moved_on, timeout=60), "the source did not move past the oversized row"
    finally:
        assert daemon.terminate() == 0
    evs = presences()
    big = [e for e in evs if to_ms(parse_ts(e["time"])) == big_ms]
    assert len(big) == 1, "the oversized row's event was not published once"
    reason = big[0]["data"]["current"]["reason"]
    assert reason.startswith("rrr") and reason.endswith("bytes]") and len(reason) < 64 * 1024
    times = sorted(to_ms(parse_ts(e["time"])) for e in evs)
    assert times == sorted(set(times)), "an event was published twice"
    records = [r for t in ("agent", "streamer.state", "deadletter") for r in read_topic(broker.bootstrap, f"{prefix}.{t}")]
    largest = max(record_size(OutRecord(r.topic, r.key, r.value, list(r.headers))) for r in records)
    print(f"\nlargest record: {largest} bytes; presence events: {len(evs)}")
    assert largest <= 1_048_576
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
