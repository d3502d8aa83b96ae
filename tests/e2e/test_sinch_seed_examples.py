"""Acceptance for Sinch: the docs' own examples, served verbatim and repeatedly by a plain
HTTP server, come out as the events they describe (issue 15, S1-S3).

- S1/S2: RAI ``agentStatusHistory`` and ``agentStatus`` verbatim: the log's changes in
  the order they happened (``statusTimestamp``), the ``Waiting`` written just before each
  ``Wrap`` folded into it, each change once.
- S3: RMI ``/agents`` verbatim, then the same example as the call ends (``Waiting`` with
  the contact still active) and as the wrap-up ends (no active contact): wrap-up is
  derived from documented values; the docs list no wrap value for the status.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.timeutil import parse_ts, to_ms
from tests.integration.harness import DaemonProcess, assert_clean_log, events, unique_prefix, wait_for
from tests.integration.test_sinch import SECRET, sinch_config
from tests.stub_http import JsonHandler, serve
from tests.unit.vendors.sinch._fixtures import SEED_EVENTS, verbatim

FOX = "E936C474B22311D38FBE0090279A922E"
BASIC = "Basic c2ltOnNpbQ=="  # sim:sim
WRAP_STAGE, IDLE_STAGE = 2, 4
"""``/agents`` reads (first pages) served the example as is before the call ends, and
before the wrap-up ends."""


def _rows(name: str) -> list[bytes]:
    text = verbatim(name)
    return [bytes(r) for r in msgspec.json.decode(b"[" + text + b"]", type=list[msgspec.Raw])]


def _agents(stage: int) -> bytes:
    """The RMI /agents example, byte for byte (its slips included), as the call ends and
    then as the wrap-up ends: only Fox's handling status and active contacts change."""
    text = verbatim("rmi/agents")
    if stage >= WRAP_STAGE:
        text = text.replace(b'"contactHandlingStatus": "Talking_Inbound"', b'"contactHandlingStatus": "Waiting"')
    if stage >= IDLE_STAGE:
        text = text.replace(b'"activePhoneContacts": 1', b'"activePhoneContacts": 0')
        text = text.replace(b'"availability": "Busy"', b'"availability": "Free"')
    return b"[" + text + b"]"


class SeedHandler(JsonHandler):
    requests: Counter[str] = Counter()

    def do_GET(self) -> None:  # noqa: N802 - stdlib API
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.headers.get("authorization") != BASIC:
            self.send_json(401, b"HTTP 401 Unauthorized")
            return
        first_page = q.get("offset", "0") == "0"
        if first_page:
            type(self).requests[url.path] += 1
        if not first_page:
            body = b"[]"
        elif url.path.endswith("/RI/rai/agentStatusHistory"):
            body = b"[" + b",\n".join(_rows("rai/agent_status_history")) + b"]"
        elif url.path.endswith("/RI/rai/agentStatus"):
            body = b"[" + verbatim("rai/agent_status") + b"]"
        elif url.path.endswith("/RI/rmi/agents"):
            body = _agents(type(self).requests[url.path] - 1)
        else:
            self.send_json(404, b"HTTP 404 Not Found")
            return
        self.send_json(200, body)


@pytest.fixture
def seed_server() -> Iterator[str]:
    SeedHandler.requests = Counter()
    with serve(SeedHandler) as url:
        yield url


def test_sinch_seed_examples_are_the_changes_they_describe_once_each(
    broker: EmbeddedBroker, seed_server: str, tmp_path: Path
) -> None:
    days = (time.time() - to_ms(parse_ts("2019-12-01T00:00:00Z")) / 1000) // 86400 + 2
    prefix = unique_prefix()
    log = tmp_path / "daemon.log"
    rai_off = {n: {"enabled": False} for n in ("contactStatistic", "agentStatistic", "contactHistory", "agentHistory")}
    rmi_off = {n: {"enabled": False} for n in ("contacts", "queueStatuses", "contactSummaries")}
    cfg = sinch_config(tmp_path / "c.yaml", broker.bootstrap, prefix, [
        {"id": "rai-seed", "vendor": "sinch_rai", "base_url": f"{seed_server}/RI/rai", "page_limit": 4,
         # back to the example's 2019 log in the vendor's longest windows
         "initial_lookback": f"{int(days)}d", "max_catchup_span": "31d", "endpoints": rai_off},
        {"id": "rmi-seed", "vendor": "sinch_rmi", "base_url": f"{seed_server}/RI/rmi", "endpoints": rmi_off},
    ])
    daemon = DaemonProcess(cfg, log, env={"IT_SECRET": SECRET}).start()
    served = wait_for(lambda: SeedHandler.requests["/RI/rai/agentStatus"] >= 3
                      and SeedHandler.requests["/RI/rmi/agents"] >= IDLE_STAGE + 3, timeout=60)
    assert daemon.terminate() == 0, log.read_text()[-3000:]
    assert served, SeedHandler.requests

    evs = sorted(events(broker.bootstrap, prefix, "agent"), key=lambda e: (e["_partition"], e["_offset"]))
    assert len({e["id"] for e in evs}) == len(evs)

    # --- S1, S2: the RAI status log --------------------------------------------------------
    rai = [e for e in evs if e["source"].startswith("/sinch_rai/")]
    got = [(e["type"].removeprefix("cc.agent."), e["time"],
            (e["data"].get("current") or {}).get("raw") or (e["data"].get("current") or {}).get("category"))
           for e in rai]
    assert got == SEED_EVENTS
    states = [e["data"] for e in rai if e["type"] == "cc.agent.state.changed"]
    assert not [s for s in states if s.get("late")]
    for before, after in zip(states, states[1:]):  # each change names the one it left
        assert after["previous"] == before["current"] and after["since"] >= before["since"]
    wraps = [(s["since"], s["previous"]["raw"], s["previous_duration_ms"]) for s in states
             if s["current"]["state"] == "Wrap"]
    assert wraps == [("2019-12-03T07:20:37.390Z", "Talking_Outbound_Campaign", 15_483),  # S1: never Idle for 3 ms
                     ("2019-12-03T07:21:27.600Z", "Waiting", 19_377)]
    dialing = [s for s in states if s["current"]["raw"] == "Dialing_Outbound_Campaign"]
    assert [(s["since"], s["previous"]["raw"]) for s in dialing] == [  # S2: before the Waiting written first
        ("2019-12-03T07:20:16.027Z", "Preview"), ("2019-12-03T07:20:45.053Z", "Preview")]

    # --- S3: RMI /agents: Busy, then wrap-up derived from Waiting + an active contact, then Idle
    fox: list[Any] = [e["data"] for e in evs if e["source"].startswith("/sinch_rmi/")
                      and e["type"] == "cc.agent.state.changed" and e["subject"] == FOX]
    assert [(s["current"]["state"], s["current"]["raw"], s["inferred"]) for s in fox] == [
        ("Busy", "Talking_Inbound", False), ("Wrap", "Waiting", True), ("Idle", "Waiting", False)]
    assert fox[1]["rule"] == "sinch-waiting-with-active-contact"
    assert_clean_log(log, BASIC.split()[1])
