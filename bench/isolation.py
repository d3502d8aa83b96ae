"""Isolation: the change-to-publish lag of a healthy Vonage source beside one that fails.

Two runs of the daemon, each ``RUN_S`` long, against one broker: the healthy source alone,
then the same source beside a second one whose vendor answers every request after 3 s with
a 500 (``max_attempts: 3``, so it backs off and is declared failing within the run). The
lag of each agent-status snapshot event is its ``observedtime`` minus its ``time`` (the
vendor's change), for changes after the first ``WARMUP_S``. Reported: the distribution
beside the failing source, and its ratio to the healthy source alone in the same bench run.
The targets are the thresholds test_isolation.py once asserted (median < 1.5 s, max < 3 s).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Figure, as_builtins, percentiles
from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.timeutil import parse_ts
from tests.integration.harness import DaemonProcess, events, unique_prefix, vonage_source, write_config

RUN_S = 20.0
WARMUP_S = 4.0
AGENTS = 12


def lags(bootstrap: str, prefix: str, live_from: float) -> list[float]:
    """Seconds from each live change to its snapshot event, for the healthy source."""
    out = []
    for e in events(bootstrap, prefix, "agent"):
        at = parse_ts(e["time"]).timestamp()
        if e["source"] == "/vonage/vonage-good/agent-status" and at > live_from:
            out.append(parse_ts(e["observedtime"]).timestamp() - at)
    return out


def one_run(broker: EmbeddedBroker, tmp: Path, *, beside_failing: bool) -> dict[str, Any]:
    """The daemon for ``RUN_S`` with the healthy source (and the failing one when asked)."""
    with SimulatorThread(seed=31, agents=AGENTS) as bad, SimulatorThread(seed=32, agents=AGENTS) as good:
        bad.faults.update(latency_ms=3000, server_errors=10_000)
        prefix = unique_prefix()
        healthy = vonage_source("vonage-good", f"{good.base_url}/vonage")
        name = "beside" if beside_failing else "alone"
        if beside_failing:
            cfg = write_config(tmp / f"{name}.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                               base_url=f"{bad.base_url}/vonage", extra_sources=[healthy], max_attempts=3)
        else:
            cfg = write_config(tmp / f"{name}.yaml", bootstrap=broker.bootstrap, prefix=prefix,
                               base_url=f"{good.base_url}/vonage", id="vonage-good")
        daemon = DaemonProcess(cfg, tmp / f"{name}.log").start()
        live_from = time.time() + WARMUP_S
        try:
            time.sleep(RUN_S)  # a bench measures over a fixed window
        finally:
            daemon.terminate()
    values = lags(broker.bootstrap, prefix, live_from)
    if not values:
        raise RuntimeError(f"no live agent-status events from the healthy source ({name})")
    return {"lags": values, **percentiles(values), "median": statistics.median(values)}


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp, EmbeddedBroker() as broker:
        alone = one_run(broker, Path(tmp), beside_failing=False)
        beside = one_run(broker, Path(tmp), beside_failing=True)

    def spread(r: dict[str, Any]) -> str:
        return f"p50 {r['p50']:.2f} s, p99 {r['p99']:.2f} s, max {r['max']:.2f} s over {r['count']} changes"

    figures = [
        Figure(name="lag_beside_failing_median", value=round(beside["median"], 3), unit="s", target="< 1.5 s",
               met=beside["median"] < 1.5, detail=spread(beside)),
        Figure(name="lag_beside_failing_max", value=round(beside["max"], 3), unit="s", target="< 3 s",
               met=beside["max"] < 3.0, detail=spread(beside)),
        Figure(name="lag_alone_median", value=round(alone["median"], 3), unit="s", detail=spread(alone)),
        Figure(name="median_ratio_beside_to_alone", value=round(beside["median"] / alone["median"], 3), unit="x",
               detail="the healthy source's median lag beside a failing source over its median alone"),
        Figure(name="p99_ratio_beside_to_alone", value=round(beside["p99"] / alone["p99"], 3), unit="x",
               detail="the same for p99"),
    ]
    return as_builtins(figures, run_s=RUN_S, warmup_s=WARMUP_S, agents=AGENTS,
                       alone={k: v for k, v in alone.items() if k != "lags"},
                       beside_failing={k: v for k, v in beside.items() if k != "lags"},
                       lags_beside_failing=sorted(round(v, 3) for v in beside["lags"]),
                       lags_alone=sorted(round(v, 3) for v in alone["lags"]))


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
