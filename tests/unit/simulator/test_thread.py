"""The simulator over real HTTP in a background thread."""

from __future__ import annotations

import httpx

from streamer.simulator.app import SimulatorThread
from streamer.simulator.vonage import ACCEPT
from streamer.simulator.vonage_render import iso


def test_simulator_thread_serves_and_stops() -> None:
    with SimulatorThread(seed=1, agents=5, speed=20.0) as sim:
        assert sim.base_url == f"http://127.0.0.1:{sim.port}"
        headers = {"authorization": "Bearer sim-token", "accept": ACCEPT}
        with httpx.Client(base_url=sim.base_url, headers=headers) as client:
            start = iso(sim.world.start_ms)
            r = client.get("/vonage/agent-activities", params={"start": start})
            assert r.status_code == 200 and r.json()["meta"]["totalCount"] >= 10
            assert client.get("/vonage/agent-status").json()["meta"]["totalCount"] == 5
            sim.faults.update(server_errors=1)
            assert client.get("/vonage/agent-status").status_code == 503
            assert client.get("/_sim/truth").status_code == 200
        assert sim.faults.requests_served == 3
    assert not sim._thread.is_alive()
