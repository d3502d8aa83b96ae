"""A vendor that drips its answer a byte at a time is reported, not waited on (issue 13.2).

``timeout`` is a deadline for the whole exchange: each poll of the dripping tenant ends
within it, and the endpoint's health goes ``degraded`` with the reason.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker
from streamer.timeutil import parse_ts
from tests.integration.harness import DaemonProcess, assert_clean_log, events, unique_prefix, wait_for, write_config
from tests.stub_http import serve

pytestmark = pytest.mark.integration

DRIP_INTERVAL = 0.5


@contextmanager
def dripping_vendor() -> Iterator[str]:
    """Every request gets 200 with a large Content-Length, then one byte per DRIP_INTERVAL."""
    stop = threading.Event()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            request = b""
            try:
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n")
                while not stop.wait(DRIP_INTERVAL):  # the fault itself: a byte per interval
                    conn.sendall(b" ")
            except OSError:
                return  # the client hung up

    with serve(Handler, socketserver.ThreadingTCPServer) as url:
        try:
            yield url
        finally:
            stop.set()  # let the dripping handlers end before the server waits for them


def test_a_dripping_vendor_degrades_within_the_timeout(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_prefix()
    log = tmp_path / "daemon.log"
    with dripping_vendor() as url:
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=url,
                           timeout="2s", max_attempts=2)
        started = time.time()
        daemon = DaemonProcess(cfg, log).start()
        try:
            def degraded() -> list[dict]:
                try:
                    evs = events(broker.bootstrap, prefix, "source")
                except KafkaUnavailableError:
                    return []  # the daemon has not created its topics yet
                return [e for e in evs
                        if e["type"] == "cc.source.health.changed" and e["data"]["status"] in ("degraded", "failing")]

            # 2 attempts of 2 s plus a backoff: well within 30 s (before: never, the reads never timed out)
            assert wait_for(lambda: len(degraded()) >= 3, timeout=30, interval=1), degraded()
            found = degraded()
            assert daemon.terminate() == 0
        finally:
            if daemon.alive():
                daemon.kill9()
    first = min(parse_ts(e["observedtime"]).timestamp() for e in found)
    print(f"\ndripping vendor (a byte every {DRIP_INTERVAL}s, timeout 2s, 2 attempts): first endpoint degraded "
          f"{first - started:.1f}s after start; {len(found)} endpoints degraded")
    assert {e["data"]["endpoint"] for e in found} == {"agent-status", "agent-activities", "interactions"}
    for e in found:
        assert e["data"]["status"] == "degraded"
        assert "no complete response within the 2s timeout" in e["data"]["reason"], e["data"]
    assert_clean_log(log, "sim-token")
