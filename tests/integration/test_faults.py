"""Vendor faults against the real daemon: it keeps running, dead-letters, reports health, loses nothing."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.vonage import processing_lag_ms
from streamer.simulator.world import World
from tests.integration.check import check_against_truth
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    cursor_past,
    event_key,
    events,
    read_topic,
    truth_key,
    unique_prefix,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.integration

SOURCE_ID = "vonage-it"
ENDPOINTS = {"agent-status", "agent-activities", "interactions"}


def dead_letters(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    out = []
    for r in read_topic(bootstrap, f"{prefix}.deadletter"):
        value = msgspec.json.decode(r.value)
        value["_key"] = r.key.decode()
        out.append(value)
    return out


def health_by_endpoint(bootstrap: str, prefix: str) -> dict[str, list[dict[str, Any]]]:
    """Health events per endpoint, in publish order (one key per source: one partition)."""
    evs = [e for e in events(bootstrap, prefix, "source") if e["type"] == "cc.source.health.changed"]
    evs.sort(key=lambda e: (e["_partition"], e["_offset"]))
    out: dict[str, list[dict[str, Any]]] = {}
    for e in evs:
        out.setdefault(e["data"]["endpoint"], []).append(e["data"])
    return out


def recovered(statuses: list[str]) -> bool:
    """healthy, then something else, then healthy again."""
    for i, s in enumerate(statuses):
        if s == "healthy":
            rest = statuses[i + 1:]
            for j, t in enumerate(rest):
                if t != "healthy" and "healthy" in rest[j + 1:]:
                    return True
    return False


COVERED = 50
"""The fault storm's comparison with the truth covers more activities than this."""


def due_after(world: World, n: int) -> int | None:
    """The simulator time by which more than ``n`` of the world's activities are due on the
    history endpoints (started, and written: their processing lag passed); None before."""
    due = sorted(a.start_ms + processing_lag_ms(a.start_ms) for a in world.activities())
    return due[n] + 1 if len(due) > n else None


def test_vendor_fault_storm_keeps_running_and_loses_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    burst = {"rate_limit": 3, "server_errors": 3, "truncate": 2, "html_200": 1}
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=31, agents=16) as sim:
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage")
        daemon = DaemonProcess(cfg, log).start()
        # The storm starts once every endpoint is polling (healthy): it is to break a running daemon.
        daemon.wait_restored()  # the topics exist from here on
        assert wait_for(lambda: set(health_by_endpoint(broker.bootstrap, prefix)) == ENDPOINTS, 60)
        before = dict(sim.faults.faults_served)
        sim.faults.update(retry_after=1, **burst)
        # the storm blown over: every fault served, every endpoint healthy again, and the
        # history checkpointed past it (so the comparison below covers it)
        daemon.wait_until(lambda: all(sim.faults.settings()[k] == 0 for k in burst), "every fault served", timeout=60)
        over_at = sim.world.now_ms()
        # ... and past more than COVERED activities of the world, whatever the storm's length
        # (a daemon through it sooner leaves less history before its cursor)
        daemon.wait_until(lambda: due_after(sim.world, COVERED) is not None, f"{COVERED + 1} activities", timeout=60)
        covered_at = max(over_at, due_after(sim.world, COVERED) or 0)
        for endpoint in ("agent-activities", "interactions"):
            daemon.wait_until(cursor_past(broker.bootstrap, prefix, SOURCE_ID, endpoint, covered_at),
                              f"the {endpoint} checkpoint past the storm", timeout=60)
        daemon.wait_until(lambda: all(hs[-1]["status"] == "healthy"
                                      for hs in health_by_endpoint(broker.bootstrap, prefix).values()),
                          "every endpoint healthy again", timeout=60)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)

    # The faults were really served, every one of them (one-shot counts all used up).
    assert before == {}, before
    assert served["faults_served"] == {
        "rate_limit": 3, "server_error": 3, "truncate": 2, "html_200": 1,
    }, served
    assert all(served[k] == 0 for k in burst), served
    assert figures["expected"] > COVERED, figures

    # Health went away from healthy and came back, for at least one endpoint.
    health = health_by_endpoint(broker.bootstrap, prefix)
    assert set(health) <= ENDPOINTS, health
    statuses = {ep: [h["status"] for h in hs] for ep, hs in health.items()}
    assert any(recovered(s) for s in statuses.values()), statuses
    for ep, s in statuses.items():
        assert s[-1] == "healthy", f"{ep} did not recover: {s}"
    unhealthy = [h for hs in health.values() for h in hs if h["status"] != "healthy"]
    assert all(h["reason"] for h in unhealthy), unhealthy

    # The unreadable bodies (2 truncated, 1 HTML page) are dead-lettered, with endpoint and reason.
    dls = dead_letters(broker.bootstrap, prefix)
    assert len(dls) >= 1, "no dead letter for the truncated/HTML bodies"
    assert len(dls) <= burst["truncate"] + burst["html_200"], dls
    for dl in dls:
        assert set(dl) >= {"id", "source_id", "endpoint", "reason", "raw", "raw_size", "observedtime"}, dl
        assert dl["_key"] == SOURCE_ID and dl["source_id"] == SOURCE_ID, dl
        assert dl["endpoint"] in ENDPOINTS, dl
        assert "json" in dl["reason"].lower(), dl
        raw = base64.b64decode(dl["raw"], validate=True)
        # DESIGN rule 6: the raw bytes travel with the reason, so the body can be replayed
        assert raw, f"dead letter without its raw bytes: {dl}"
        assert len(raw) == dl["raw_size"], dl
        assert raw.startswith((b"<!DOCTYPE html>", b'{"meta":')), raw[:80]
        assert dl["observedtime"].endswith("Z"), dl
    assert len({dl["id"] for dl in dls}) == len(dls), dls
    kinds = {"html" if dl["raw"] and base64.b64decode(dl["raw"]).startswith(b"<!DOCTYPE") else "truncated"
             for dl in dls}
    assert kinds == {"html", "truncated"}, [dl["reason"] for dl in dls]
    assert any("<!DOCTYPE html>" in dl["reason"] for dl in dls), [dl["reason"] for dl in dls]
    assert_clean_log(log, "sim-token")


def test_drifted_field_case_zoneless_timestamps_and_string_numbers_are_read(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=32, agents=16) as sim:
        sim.faults.update(field_case_drift=True, zoneless_timestamps=True, numbers_as_strings=True)
        prefix = unique_prefix()
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                           base_url=f"{sim.base_url}/vonage")
        daemon = DaemonProcess(cfg, log).start()
        daemon.wait_until(cursor_past(broker.bootstrap, prefix, SOURCE_ID, "agent-activities",
                                      sim.world.start_ms + 12_000), "the checkpoint past 12 s of the world", timeout=60)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()
        figures = check_against_truth(broker.bootstrap, prefix, sim.world)

    assert served["faults_served"] == {}, served
    assert served["requests_served"] > 10, served
    assert figures["expected"] > 30, figures
    assert dead_letters(broker.bootstrap, prefix) == []

    # The quirky fields were read, not dropped: routing flags and workload counts match the truth.
    truth = {truth_key(a): a for a in sim.world.activities()}
    agent = events(broker.bootstrap, prefix, "agent")
    checked = 0
    for e in agent:
        a = truth.get(event_key(e))
        if a is None:
            continue
        current = e["data"]["current"]
        if a.type == "Presence":
            assert current["eligible_for_routing"] == a.eligible, (e, a)
            checked += 1
        elif a.type == "Workload" and a.workload is not None:
            # counts a source does not report are absent (agent-status has only calls)
            got = (current["calls"], current.get("semi_live", a.workload[1]), current.get("non_live", a.workload[2]))
            assert got == tuple(a.workload), (e, a)
            checked += 1
    assert checked > 20, checked
    assert all(e["time"].endswith("Z") for e in agent), [e["time"] for e in agent[:3]]
    health = health_by_endpoint(broker.bootstrap, prefix)
    assert all(h["status"] == "healthy" for hs in health.values() for h in hs), health
    assert_clean_log(log, "sim-token")
