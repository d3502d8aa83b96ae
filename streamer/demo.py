"""``make run``: embedded broker + simulator + daemon, with a live view of the events."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio

from .broker import EmbeddedBroker
from .simulator.app import SimulatorThread
from .tail import tail


def main() -> int:
    p = argparse.ArgumentParser(description="ccstream demo")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    with EmbeddedBroker(log_file=run_dir / "broker.log") as broker, SimulatorThread(seed=args.seed, agents=args.agents) as sim:
        env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "SIM_URL": sim.base_url}
        log = open(run_dir / "daemon.log", "ab")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "run", "--config", args.config],
            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the daemon with one SIGTERM
        )
        print(f"broker {broker.bootstrap} | simulator {sim.base_url} | daemon pid {daemon.pid} "
              f"(logs in {run_dir}/) | metrics http://127.0.0.1:{os.environ.get('METRICS_PORT', '9464')}/metrics "
              f"| Ctrl-C stops everything", flush=True)
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
