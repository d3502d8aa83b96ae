"""Sinch RMI and RAI against the simulator over HTTP, the real broker and the daemon as a
process; and the RAI docs' status-log example served verbatim, again and again."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from streamer.config.model import dump_config
from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.sinch_render import agent_guid, group_guid, status_rows
from streamer.timeutil import parse_ts, to_ms
from streamer.vendors.sinch.common import decode_rows
from streamer.vendors.sinch.rai.models import AgentStatusHistoryRow
from streamer.vendors.sinch.rai.source import log_steps
from tests.integration.harness import (
    EMBEDDED_KAFKA,
    DaemonProcess,
    assert_clean_log,
    cursor_past,
    events,
    last_checkpoint,
    unique_prefix,
)
from tests.unit.vendors.sinch._fixtures import SEED_EVENTS

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sinch" / "rai"
SECRET = "sim"


def sinch_config(path: Path, bootstrap: str, prefix: str, sources: list[dict[str, Any]]) -> Path:
    common = {"auth": {"type": "basic", "username": "sim", "password": "${IT_SECRET}"}, "poll_interval": "1s",
              "lookback": "20s", "safety_lag": "500ms", "initial_lookback": "1h", "timeout": "5s"}
    cfg = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 3, "linger_ms": 5,
                  **EMBEDDED_KAFKA},
        "sources": [{**common, **s} for s in sources],
        "log_level": "info",
        "log_format": "json",
        "watermark_interval": "2s",
    }
    path.write_text(dump_config(cfg))
    return path


def key_of(type_: str, d: dict[str, Any]) -> tuple[Any, ...]:
    """A published agent event as the fact it states."""
    if type_ == "cc.agent.presence.changed":
        return ("presence", d["agent_id"], d["current"]["category"], d["current"]["name"], to_ms(parse_ts(d["since"])))
    if type_ == "cc.agent.state.changed":
        return ("state", d["agent_id"], d["current"]["raw"], to_ms(parse_ts(d["since"])))
    return (type_.rsplit(".", 1)[-1], d["agent_id"], to_ms(parse_ts(d["at"])))


def test_sinch_rmi_and_rai_against_the_simulator(broker: EmbeddedBroker, tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=19, agents=16) as sim:  # a consult and two blind transfers by 22 s
        prefix = unique_prefix()
        cfg = sinch_config(tmp_path / "c.yaml", broker.bootstrap, prefix, [
            {"id": "rai-it", "vendor": "sinch_rai", "base_url": f"{sim.base_url}/sinch/RI/rai", "page_limit": 40,
             "endpoints": {"contactHistory": {"enabled": False}, "agentHistory": {"enabled": False},
                           "agentStatistic": {"poll_interval": "3s"}, "contactStatistic": {"poll_interval": "3s"}}},
            {"id": "rmi-it", "vendor": "sinch_rmi", "base_url": f"{sim.base_url}/sinch/RI/rmi", "page_limit": 25},
        ])
        daemon = DaemonProcess(cfg, log, env={"IT_SECRET": SECRET}).start()
        # 30 s of the world checkpointed by both: the transfers (by 22 s) a lookback behind the cursor
        for sid, endpoint in (("rai-it", "agentStatusHistory"), ("rmi-it", "contacts")):
            daemon.wait_until(cursor_past(broker.bootstrap, prefix, sid, endpoint, sim.world.start_ms + 30_000),
                              f"{sid}'s {endpoint} checkpoint past 30 s of the world", timeout=120)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        world = sim.world
        truth_rows = status_rows(world.activities())
        transfers = world.transfers()
        served = sim.faults.settings()["requests_by_path"]

    evs = events(broker.bootstrap, prefix, "agent", "interaction", "stats")
    ids = Counter(e["id"] for e in evs)
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1][:3]
    rai = [e for e in evs if e["source"].startswith("/sinch_rai/")]
    rmi = [e for e in evs if e["source"].startswith("/sinch_rmi/")]

    # --- RAI: the status log before the checkpointed cursor, exactly once, in order -----
    cursor = last_checkpoint(broker.bootstrap, prefix, "rai-it")["cursors"]["agentStatusHistory"]
    decoded = decode_rows(msgspec.json.encode([r.render() for r in truth_rows]), AgentStatusHistoryRow)
    assert all(isinstance(row, AgentStatusHistoryRow) for row in decoded)
    every, expected = set(), Counter()
    for step in log_steps(decoded)[0]:  # the whole log: status-time order, Waiting-before-Wrap folded
        k = key_of(step.draft.type, msgspec.to_builtins(step.draft.payload))
        every.add(k)
        if step.change_ms < cursor:
            expected[k] += 1
    agent_events = [e for e in rai if e["type"].startswith("cc.agent.")]
    got = Counter(key_of(e["type"], e["data"]) for e in agent_events)
    assert len(expected) > 60, len(expected)
    assert not set(expected) - set(got), sorted(set(expected) - set(got), key=str)[:5]
    assert max(got.values()) == 1, [k for k, n in got.items() if n > 1][:5]
    assert set(got) <= every, sorted(set(got) - every, key=str)[:5]  # nothing invented
    # each change names the state it left: per agent and stream, in publication order
    chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(agent_events, key=lambda e: (e["_partition"], e["_offset"])):
        if e["type"] in ("cc.agent.presence.changed", "cc.agent.state.changed"):
            chains[(e["subject"], e["type"])].append(e["data"])
    assert not [e for e in agent_events if e["data"].get("late")]
    for chain in chains.values():
        assert chain[0]["previous"] is None
        for before, after in zip(chain, chain[1:]):
            assert after["previous"] == before["current"], (before, after)
            assert after["since"] >= before["since"]
    sessions = Counter(e["type"] for e in agent_events if "session" in e["type"])
    assert sessions["cc.agent.session.started"] >= 16, sessions

    # --- RMI: every transfer in the world, once, with the right agents and kind ----------
    contacts_cursor = last_checkpoint(broker.bootstrap, prefix, "rmi-it")["cursors"]["contacts"]
    published = Counter((e["subject"], e["data"]["from_agent_id"], e["data"]["to_agent_id"], e["data"]["kind"],
                         to_ms(parse_ts(e["data"]["at"]))) for e in rmi if e["type"] == "cc.interaction.transferred")
    truth = {(group_guid(t.interaction_guid), agent_guid(t.from_agent), agent_guid(t.to_agent), t.kind, t.at_ms)
             for t in transfers}
    due = {t for t in truth if t[4] < contacts_cursor - 8_000}
    assert len(due) >= 2, (len(truth), transfers)
    assert due <= set(published) and set(published) <= truth, (due - set(published), set(published) - truth)
    assert max(published.values()) == 1
    legs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in sorted((e for e in rmi if e["type"] == "cc.interaction.state.changed"),
                    key=lambda e: (e["_partition"], e["_offset"])):
        if e["data"]["agent_id"]:
            legs[(e["subject"], e["data"]["agent_id"])].append(e["data"]["state"])
    assert any(states[-3:] == ["Connected", "Wrap", "Ended"] for states in legs.values())
    for states in legs.values():
        assert states == sorted(states, key=["Ringing", "Connected", "Wrap", "Ended"].index), states

    # --- statistics: each change of a queue is one event with before and after ------------
    queue = defaultdict(list)
    for e in sorted((e for e in rmi if e["type"] == "cc.stats.changed" and "/queueStatuses" in e["source"]),
                    key=lambda e: (e["_partition"], e["_offset"])):
        queue[e["subject"]].append(e["data"])
    assert len(queue) == 2 and all(len(v) >= 3 for v in queue.values()), {k: len(v) for k, v in queue.items()}
    for chain in queue.values():
        for before, after in zip(chain, chain[1:]):
            assert after["changes"], after  # never a durations-only event
            for field, (old, new) in after["changes"].items():
                assert old == before["values"][field] and new == after["values"][field] and old != new
    assert any(e["type"] == "cc.stats.changed" and "/contactStatistic" in e["source"] for e in rai)
    assert any(e["type"] == "cc.agent.queues.changed" for e in rmi)
    assert served.get("/sinch/RI/rmi/contacts", 0) >= 20
    assert any(p.endswith("/details") for p in served)
    assert_clean_log(log, "c2ltOnNpbQ==")  # base64 of sim:sim never logged


# --- the docs' example, served verbatim ------------------------------------------------


class SeedHandler(BaseHTTPRequestHandler):
    """The RAI example rows on every poll (whatever the window), offset/limit honored."""

    rows: list[bytes] = []
    status: list[bytes] = []
    requests: Counter[str] = Counter()

    def do_GET(self) -> None:  # noqa: N802 - stdlib API
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.headers.get("authorization") != "Basic c2ltOnNpbQ==":
            self._send(401, b"HTTP 401 Unauthorized", "text/plain")
            return
        type(self).requests[url.path] += 1
        if url.path.endswith("/agentStatusHistory"):
            rows = self.rows
        elif url.path.endswith("/agentStatus"):
            rows = self.status
        else:
            self._send(404, b"HTTP 404 Not Found", "text/plain")
            return
        offset, limit = int(q.get("offset", 0)), int(q.get("limit", 100))
        self._send(200, b"[" + b",\n".join(rows[offset: offset + limit]) + b"]", "application/json")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _raw_rows(name: str) -> list[bytes]:
    text = (FIXTURES / f"{name}.verbatim.txt").read_bytes()
    return [bytes(r) for r in msgspec.json.decode(b"[" + text + b"]", type=list[msgspec.Raw])]


@pytest.fixture
def seed_server() -> Iterator[str]:
    SeedHandler.rows = _raw_rows("agent_status_history")
    SeedHandler.status = _raw_rows("agent_status")
    SeedHandler.requests = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), SeedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/RI/rai"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_docs_status_log_served_verbatim_is_each_change_once_in_order(
    broker: EmbeddedBroker, seed_server: str, tmp_path: Path
) -> None:
    days = (time.time() - to_ms(parse_ts("2019-12-01T00:00:00Z")) / 1000) // 86400 + 2
    prefix = unique_prefix()
    log = tmp_path / "daemon.log"
    only = {n: {"enabled": False} for n in ("contactStatistic", "agentStatistic", "contactHistory", "agentHistory")}
    cfg = sinch_config(tmp_path / "c.yaml", broker.bootstrap, prefix, [
        {"id": "rai-seed", "vendor": "sinch_rai", "base_url": seed_server, "page_limit": 4,
         # years back to the seed's 2019 log: read in the vendor's longest windows, not 5-minute commits
         "initial_lookback": f"{int(days)}d", "max_catchup_span": "31d", "endpoints": only},
    ])
    started = time.time()
    daemon = DaemonProcess(cfg, log, env={"IT_SECRET": SECRET}).start()
    # caught up from 2019 to the present (the example published), and then polled on: a
    # log served again and again must add nothing
    daemon.wait_until(cursor_past(broker.bootstrap, prefix, "rai-seed", "agentStatusHistory", int(started * 1000)),
                      "the status log's checkpoint past the daemon's start", timeout=60)
    polls = SeedHandler.requests["/RI/rai/agentStatusHistory"]
    daemon.wait_until(lambda: SeedHandler.requests["/RI/rai/agentStatusHistory"] > polls
                      and SeedHandler.requests["/RI/rai/agentStatus"] >= 3, "more polls of the log", timeout=60)
    assert daemon.terminate() == 0, log.read_text()[-3000:]
    assert SeedHandler.requests["/RI/rai/agentStatus"] >= 3, SeedHandler.requests

    evs = sorted(events(broker.bootstrap, prefix, "agent"), key=lambda e: (e["_partition"], e["_offset"]))
    got = [(e["type"].removeprefix("cc.agent."), e["time"],
            (e["data"].get("current") or {}).get("raw") or (e["data"].get("current") or {}).get("category"))
           for e in evs]
    assert got == SEED_EVENTS
    assert [e["data"]["sequence"] for e in evs] == list(range(1, len(SEED_EVENTS) + 1))
    assert [e["data"]["at"] for e in evs if e["type"] == "cc.agent.session.ended"] == ["2019-12-03T07:40:58.870Z"]
    assert_clean_log(log, "c2ltOnNpbQ==")
