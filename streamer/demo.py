"""``make run``: embedded broker + simulator + daemon, with a live view of the events."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from .broker import EmbeddedBroker
from .simulator.app import SimulatorThread
from .simulator.world import World
from .timeutil import format_ts, from_ms
from .tail import tail


def main() -> int:
    p = argparse.ArgumentParser(description="ccstream demo")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history", type=float, default=3600.0, help="seconds of simulated past to backfill")
    args = p.parse_args()
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    world = World(args.seed, args.agents, start=time.time() - args.history)
    with EmbeddedBroker(log_file=run_dir / "broker.log") as broker, SimulatorThread(world=world) as sim:
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "SIM_URL": sim.base_url}
        log = open(run_dir / "daemon.log", "ab")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "run", "--config", args.config],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the daemon with one SIGTERM
        )
        env_prefix = f"KAFKA_BOOTSTRAP={broker.bootstrap} SIM_URL={sim.base_url}"
        past = format_ts(from_ms(int((time.time() - args.history + 60) * 1000)))
        recent = format_ts(from_ms(int((time.time() - 120) * 1000)))
        print(
            f"broker {broker.bootstrap} | simulator {sim.base_url} | daemon pid {daemon.pid} (logs in {run_dir}/)\n"
            f"  metrics:  curl -s http://127.0.0.1:{os.environ.get('METRICS_PORT', '9464')}/metrics | grep lag\n"
            f"  tail:     .venv/bin/streamer tail --bootstrap {broker.bootstrap} --type cc.interaction --json\n"
            f"  backfill: {env_prefix} .venv/bin/streamer backfill --config {args.config} "
            f"--source vonage-main --from {past} --to {recent}\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        view = argparse.Namespace(
            bootstrap=broker.bootstrap, config=None, prefix="cc", type=[], source=[], entity=[], json=False,
            from_beginning=True, max=0,
        )
        try:
            anyio.run(tail, view)
        except KeyboardInterrupt:
            pass
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
            print(f"\ndaemon exited with {code}; stopping simulator and broker", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
