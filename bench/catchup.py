"""Catch-up: the daemon's peak RSS while it publishes an hour of history it missed.

A simulated Vonage tenant of ``AGENTS`` agents whose world began an hour ago (so an hour
of activities and interactions waits on its history endpoints), one embedded broker,
and the daemon as a process with ``initial_lookback: 1h`` (a first run an hour behind,
the same read as after an hour's outage) and ``agent-status`` off, so only the
catch-up is measured. Run twice on identical worlds (same seed, same start):

- ``capped``: ``max_catchup_span: 5m`` (the default): the hour in windows of five
  minutes, each published and checkpointed before the next is read;
- ``uncapped``: ``max_catchup_span: 31d``, the read as it was before issue 13 (windows
  split only at 31 days): the hour in one window, one commit.

The figure is the daemon's ``VmHWM`` (peak RSS) once both history endpoints have
polled successfully (their first poll is the whole catch-up), with the time it took.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from bench.common import Figure, as_builtins

AGENTS = 100
SEED = 41
CATCHUP_TIMEOUT_S = 300.0
HISTORY = ("agent-activities", "interactions")


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def _caught_up(log: Path) -> bool:
    """Both history endpoints logged their first successful poll (after the whole catch-up)."""
    healthy = set()
    for line in log.read_bytes().splitlines():
        if line.startswith(b"{") and b'"health changed"' in line:
            entry = msgspec.json.decode(line)
            if entry.get("status") == "healthy":
                healthy.add(entry.get("endpoint"))
    return healthy >= set(HISTORY)


def catch_up(span: str, tmp: Path) -> dict[str, Any]:
    from streamer.kafka.broker import EmbeddedBroker
    from streamer.simulator.app import SimulatorThread
    from streamer.simulator.world import World
    from tests.integration.harness import DaemonProcess, events, unique_prefix, write_config

    world = World(SEED, AGENTS, start=time.time() - 3600)
    with EmbeddedBroker() as broker, SimulatorThread(world=world) as sim:
        prefix = unique_prefix()
        cfg = write_config(
            tmp / f"{span}.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
            initial_lookback="1h", max_catchup_span=span, lookback="60s", safety_lag="2s", timeout="30s",
            endpoints={"agent-status": {"enabled": False}},
        )
        log = tmp / f"{span}.log"
        daemon = DaemonProcess(cfg, log).start()
        assert daemon.proc is not None
        started = time.monotonic()
        try:
            while not _caught_up(log):
                if not daemon.alive() or time.monotonic() - started > CATCHUP_TIMEOUT_S:
                    raise RuntimeError(f"{span}: no catch-up within {CATCHUP_TIMEOUT_S:g}s; log ends "
                                       f"{log.read_text()[-2000:]}")
                time.sleep(0.2)
            seconds = time.monotonic() - started
            peak_kib = _status_kib(daemon.proc.pid, "VmHWM")
            rss_kib = _status_kib(daemon.proc.pid, "VmRSS")
        finally:
            daemon.terminate()
        published = len(events(broker.bootstrap, prefix, "agent", "interaction"))
    return {"span": span, "seconds": round(seconds, 1), "peak_rss_mib": round(peak_kib / 1024, 1),
            "rss_after_mib": round(rss_kib / 1024, 1), "events": published}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-catchup-") as tmp:
        capped = catch_up("5m", Path(tmp))
        uncapped = catch_up("31d", Path(tmp))
    figures = [
        Figure(name="peak_rss_capped", value=capped["peak_rss_mib"], unit="MiB",
               detail=f"an hour of {AGENTS} agents in 5-minute commits: {capped['events']:,} events in "
                      f"{capped['seconds']:.0f} s"),
        Figure(name="peak_rss_uncapped", value=uncapped["peak_rss_mib"], unit="MiB",
               detail=f"the same hour in one commit (before issue 13): {uncapped['events']:,} events in "
                      f"{uncapped['seconds']:.0f} s"),
        Figure(name="peak_rss_capped_vs_uncapped", value=round(capped["peak_rss_mib"] / uncapped["peak_rss_mib"], 3),
               unit="x", target="<= 0.5", met=capped["peak_rss_mib"] <= 0.5 * uncapped["peak_rss_mib"]),
    ]
    return as_builtins(figures, agents=AGENTS, runs=[capped, uncapped])


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
