"""Acceptance: the vendor docs' own examples, served verbatim and repeatedly by a plain
HTTP server, come out as exactly the events they describe, each once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from tests.integration.harness import DaemonProcess, assert_clean_log, events, unique_prefix, wait_for, write_config
from tests.stub_http import JsonHandler, serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vonage"
ENVELOPE = b'{"meta": {"page": 1, "count": %d, "pageCount": 1, "totalCount": %d}, "items": [%s], "upTo": "2020-01-10T11:20:00.000Z"}'


def _ccr_variant() -> bytes:
    """The FAQ interaction with a Call Connect Router channel after agent 01 left."""
    it = msgspec.json.decode((FIXTURES / "interaction_faq_transfer.json").read_bytes())
    it["guid"] = "0000ccr0-798f-407c-9925-ef8c2b51e6b0"
    it["channels"] = [c for c in it["channels"] if c["party"]["id"] != "002"]
    it["channels"].append({
        "guid": "ccr-channel", "offset": 60000, "duration": 2000, "endReason": "Released",
        "party": {"id": "CCRConnect", "role": "Agent", "touchpoint": None},
        "events": [{"type": "Connected", "offset": 60000, "name": None, "duration": 2000, "properties": None}],
    })
    return msgspec.json.encode(it)


class SeedHandler(JsonHandler):
    requests: Counter[str] = Counter()
    unauthorized = 0

    def do_GET(self) -> None:  # noqa: N802 - stdlib API
        path = self.path.split("?", 1)[0]
        if self.headers.get("authorization") != "Bearer sim-token":
            type(self).unauthorized += 1
            self.send_json(401, b'{"message": "Authorization has been denied for this request."}')
            return
        type(self).requests[path] += 1
        if path.endswith("/agent-activities"):
            body = (FIXTURES / "agent_activities_seed_verbatim.json").read_bytes()
        elif path.endswith("/agent-status"):
            body = (FIXTURES / "agent_status_faq.json").read_bytes()
        elif path.endswith("/interactions"):
            faq = (FIXTURES / "interaction_faq_transfer.json").read_bytes()
            body = ENVELOPE % (2, 2, faq + b"," + _ccr_variant())
        else:
            self.send_json(404, b'{"message": "not found"}')
            return
        self.send_json(200, body)



@pytest.fixture
def seed_server() -> Iterator[str]:
    SeedHandler.requests = Counter()
    with serve(SeedHandler) as url:
        yield f"{url}/stats"


def test_seed_examples_come_out_as_exactly_the_events_they_describe(
    broker: EmbeddedBroker, seed_server: str, tmp_path: Path
) -> None:
    prefix = unique_prefix()
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=seed_server)
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    # served repeatedly: every example is read at least three times, so re-reads are proven harmless
    served = wait_for(lambda: len(SeedHandler.requests) >= 3 and min(SeedHandler.requests.values()) >= 3, timeout=60)
    assert daemon.terminate() == 0
    assert served, SeedHandler.requests

    evs = events(broker.bootstrap, prefix, "agent", "interaction")
    got = Counter()
    for e in evs:
        d = e["data"]
        what: tuple[Any, ...]
        if e["type"] == "cc.agent.presence.changed":
            prev = d["previous"]["category"] if d["previous"] else None
            what = (d["agent_id"], prev, d["current"]["category"], d["previous_duration_ms"])
        elif e["type"] == "cc.agent.workload.changed":
            what = (d["agent_id"], d["current"]["calls"])
        elif e["type"] == "cc.interaction.state.changed":
            what = (d["interaction_id"][:8], d["agent_id"], d["state"])
        elif e["type"] == "cc.interaction.transferred":
            what = (d["interaction_id"][:8], d["from_agent_id"], d["to_agent_id"], d["kind"])
        else:
            what = (d["agent_id"],)
        got[(e["type"], e["time"], *what)] += 1

    expected = Counter({
        # agent-activities example: agent 01 logs in, gets a call, wraps
        ("cc.agent.presence.changed", "2019-12-19T15:47:07.077Z", "01", None, "LoggedOut", None): 1,
        ("cc.agent.presence.changed", "2019-12-19T15:47:16.600Z", "01", "LoggedOut", "Ready", 9523): 1,
        ("cc.agent.session.started", "2019-12-19T15:47:16.600Z", "01"): 1,
        ("cc.agent.workload.changed", "2019-12-19T15:47:30.246Z", "01", 1): 1,
        ("cc.interaction.state.changed", "2019-12-19T15:47:31.289Z", "016f1c6b", "01", "Ringing"): 1,
        ("cc.interaction.state.changed", "2019-12-19T15:47:35.836Z", "016f1c6b", "01", "Connected"): 1,
        ("cc.interaction.state.changed", "2019-12-19T15:48:56.600Z", "016f1c6b", "01", "Wrap"): 1,
        # ... and agent 01's part ends with the Wrap: 15:48:56.600 + 3912 ms (issue 15, V1)
        ("cc.interaction.state.changed", "2019-12-19T15:49:00.512Z", "016f1c6b", "01", "Ended"): 1,
        # FAQ agent-status example: 002 busy on an outbound call, 003 idle
        ("cc.agent.presence.changed", "2019-12-19T16:00:23.249Z", "002", None, "Ready", None): 1,
        ("cc.agent.workload.changed", "2019-12-19T16:05:30.212Z", "002", 1): 1,
        ("cc.interaction.state.changed", "2019-12-19T16:05:30.212Z", "b6c01065", "002", "Connected"): 1,
        ("cc.agent.presence.changed", "2019-12-19T16:00:30.145Z", "003", None, "Ready", None): 1,
        ("cc.agent.workload.changed", "2019-12-19T15:49:00.512Z", "003", 0): 1,
        # FAQ interaction: queued (result Delivered), agent 01 holds the customer (issue 15, V4) ...
        ("cc.interaction.state.changed", "2020-01-10T11:13:11.561Z", "016f8db7", None, "Queued"): 1,
        ("cc.interaction.state.changed", "2020-01-10T11:13:36.069Z", "016f8db7", "01", "Held"): 1,
        # ... consult transfer 01 -> 002 at 01's hand-over, then the end
        ("cc.interaction.transferred", "2020-01-10T11:13:59.237Z", "016f8db7", "01", "002", "consult"): 1,
        ("cc.interaction.state.changed", "2020-01-10T11:14:32.864Z", "016f8db7", None, "Ended"): 1,
        # the CCR variant: agent 01 alone, then a Call Connect Router channel: no transfer
        ("cc.interaction.state.changed", "2020-01-10T11:13:11.561Z", "0000ccr0", None, "Queued"): 1,
        ("cc.interaction.state.changed", "2020-01-10T11:13:36.069Z", "0000ccr0", "01", "Held"): 1,
        ("cc.interaction.state.changed", "2020-01-10T11:14:32.864Z", "0000ccr0", None, "Ended"): 1,
    })
    assert sorted(got.items(), key=str) == sorted(expected.items(), key=str)
    assert not any("CCRConnect" in msgspec.json.encode(e["data"]).decode() for e in evs)
    assert_clean_log(tmp_path / "daemon.log", "sim-token")
