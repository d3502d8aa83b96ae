"""One huge unreadable page never stalls the other sources or the daemon's stop (issue 13.1).

A tenant serves a 6 MB agent-status page cut off mid-way. Decoding and repairing it used
to run on the event loop, quadratically: the healthy source beside it published nothing
for minutes and SIGTERM went unanswered. Now such a body is decoded in a worker thread
and is too large to repair, so it is dead-lettered at once, poll after poll.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.timeutil import format_ms, parse_ts
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    events,
    unique_prefix,
    vonage_source,
    wait_for,
    write_config,
)
from tests.stub_http import JsonHandler, serve

pytestmark = pytest.mark.integration

PAGE_BYTES = 6 * 1024 * 1024


def truncated_status_page(size: int) -> bytes:
    """A well-formed ``/agent-status`` page of about ``size`` bytes, cut off at ``size``."""
    row = {"agentId": "0", "presence": {"name": "Ready", "since": "2024-01-01T00:00:00Z", "eligibleForRouting": True},
           "workload": {"since": "2024-01-01T00:00:00Z", "calls": 0, "semiLive": 0, "nonLive": 0}, "interaction": []}
    rows = [{**row, "agentId": f"agent-{i:06d}"} for i in range(size // 200 + 1)]
    page = msgspec.json.encode({"meta": {"page": 1, "count": len(rows), "pageCount": 1, "totalCount": len(rows)},
                                "items": rows, "upTo": "2024-01-01T00:00:00Z"})
    assert len(page) > size
    return page[:size]


@contextmanager
def stub_vonage(status_body: bytes) -> Iterator[str]:
    """A Vonage tenant whose ``/agent-status`` answers ``status_body``; its histories are empty."""

    class Handler(JsonHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.startswith("/agent-status"):
                body = status_body
            else:
                body = json.dumps({"meta": {"page": 1, "count": 0, "pageCount": 1, "totalCount": 0},
                                   "items": [], "upTo": format_ms(int(time.time() * 1000))}).encode()
            self.send_json(200, body)

    with serve(Handler) as url:
        yield url


def skipped_polls(log: Path, source: str) -> int:
    n = 0
    for line in log.read_text().splitlines():
        if '"poll skipped"' in line:
            entry = json.loads(line)
            n += entry.get("source") == source and entry.get("endpoint") == "agent-status"
    return n


def test_a_huge_truncated_page_does_not_stall_the_healthy_source(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with stub_vonage(truncated_status_page(PAGE_BYTES)) as bad_url, SimulatorThread(seed=33, agents=12) as good:
        prefix = unique_prefix()
        healthy = vonage_source("vonage-good", f"{good.base_url}/vonage")
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=bad_url, extra_sources=[healthy], id="vonage-bad")
        log = tmp_path / "daemon.log"
        daemon = DaemonProcess(cfg, log).start()
        try:
            live_from = time.time() + 4  # changes after start-up, seen live by the snapshot

            def live_good() -> list[dict]:
                return [e for e in events(broker.bootstrap, prefix, "agent")
                        if e["source"] == "/vonage/vonage-good/agent-status" and parse_ts(e["time"]).timestamp() > live_from]

            # the bad page read and refused again and again while the healthy source runs
            assert wait_for(lambda: skipped_polls(log, "vonage-bad") >= 5 and len(live_good()) >= 10, timeout=60, interval=1), (
                f"skipped polls of the bad page: {skipped_polls(log, 'vonage-bad')}, healthy live events: {len(live_good())}")
            good_snapshot = live_good()
            bad_polls = skipped_polls(log, "vonage-bad")
            stop_started = time.monotonic()
            assert daemon.terminate(timeout=30) == 0
            stop_s = time.monotonic() - stop_started
        finally:
            if daemon.alive():
                daemon.kill9()

    lags = [parse_ts(e["observedtime"]).timestamp() - parse_ts(e["time"]).timestamp() for e in good_snapshot]
    print(f"\n{PAGE_BYTES} byte truncated page refused {bad_polls} times; healthy source detection lag: "
          f"median {statistics.median(lags):.2f}s, max {max(lags):.2f}s over {len(lags)} events; "
          f"stopped {stop_s:.2f}s after SIGTERM")
    assert max(lags) <= 3.0, sorted(lags)[-5:]
    assert stop_s <= 5.0
    text = log.read_text()
    assert "not repaired" in text and "repair limit" in text  # the reason is given
    assert_clean_log(log, "sim-token")
