"""``make run``: embedded broker + simulator + daemon, with a live view of the events.

Stopping: Ctrl-C, SIGTERM or SIGHUP (a closed terminal, a supervisor, a CI job) all stop
the same way, in order: the live view, then the daemon (SIGTERM: it commits and exits),
then the simulator and the broker. The broker and the daemon run in sessions of their own,
so a signal sent to the terminal's process group reaches only this process, which then
stops them after their users: nothing is left behind, and no client is cut off from a
broker that died first.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio

from streamer.cli.tail import tail
from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.world import World
from streamer.timeutil import format_ts, from_ms

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
DAEMON_GRACE_S = 15.0
"""How long the daemon gets to commit and exit after SIGTERM before it is killed."""


async def _view_until_signal(view: argparse.Namespace) -> str:
    """Show events until a stop signal arrives; returns the signal's name."""
    stopped_by = "end of view"
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal stopped_by
            with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
                async for sig in signals:
                    stopped_by = signal.Signals(sig).name
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        await tail(view)
        tg.cancel_scope.cancel()
    return stopped_by


def _stop_daemon(daemon: subprocess.Popen[bytes]) -> int:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(DAEMON_GRACE_S)
    except subprocess.TimeoutExpired:
        daemon.kill()
        return daemon.wait()


def main() -> int:
    p = argparse.ArgumentParser(description="ccstream demo")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--agents", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--history", type=float, default=3600.0, help="seconds of simulated past to backfill")
    args = p.parse_args()
    run_dir = Path(".run")
    run_dir.mkdir(exist_ok=True)
    # Until the view takes over, a stop signal only ends the start-up; `with` cleans up.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    world = World(args.seed, args.agents, start=time.time() - args.history)
    try:
        with EmbeddedBroker(log_file=run_dir / "broker.log") as broker, SimulatorThread(world=world) as sim:
            env = {**os.environ, "KAFKA_BOOTSTRAP": broker.bootstrap, "SIM_URL": sim.base_url}
            daemon: subprocess.Popen[bytes] | None = None
            stopped_by = "start-up interrupted"
            try:
                with open(run_dir / "daemon.log", "ab") as log:
                    daemon = subprocess.Popen(
                        [sys.executable, "-m", "streamer.cli", "run", "--config", args.config],
                        env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                        start_new_session=True,  # terminal signals reach us; we stop it after the view
                    )
                _banner(args, broker, sim.base_url, daemon.pid, run_dir)
                view = argparse.Namespace(
                    bootstrap=broker.bootstrap, config=None, prefix="cc", type=[], source=[], entity=[],
                    json=False, from_beginning=True, max=0,
                )
                stopped_by = anyio.run(_view_until_signal, view)
            finally:
                # From here on a second signal must not cut the clean-up short.
                for sig in STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
                # The view's consumer is closed: nothing of ours talks to the broker but the daemon.
                logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
                if daemon is not None:
                    started = time.monotonic()
                    code = _stop_daemon(daemon)
                    print(
                        f"\n{stopped_by}: daemon exited with {code} in {time.monotonic() - started:.1f}s; "
                        "stopping simulator and broker",
                        flush=True,
                    )
    except KeyboardInterrupt:
        print("\nstopped during start-up", flush=True)
    return 0


def _banner(args: argparse.Namespace, broker: EmbeddedBroker, sim_url: str, daemon_pid: int, run_dir: Path) -> None:
    env_prefix = f"KAFKA_BOOTSTRAP={broker.bootstrap} SIM_URL={sim_url}"
    past = format_ts(from_ms(int((time.time() - args.history + 60) * 1000)))
    recent = format_ts(from_ms(int((time.time() - 120) * 1000)))
    broker_pid = broker.proc.pid if broker.proc is not None else "-"
    print(
        f"broker {broker.bootstrap} (pid {broker_pid}) | simulator {sim_url} | daemon pid {daemon_pid} "
        f"(logs in {run_dir}/)\n"
        f"  metrics:  curl -s http://127.0.0.1:{os.environ.get('METRICS_PORT', '9464')}/metrics | grep lag\n"
        f"  tail:     .venv/bin/streamer tail --bootstrap {broker.bootstrap} --type cc.interaction --json\n"
        f"  backfill: {env_prefix} .venv/bin/streamer backfill --config {args.config} "
        f"--source vonage-main --from {past} --to {recent}\n"
        f"Ctrl-C stops everything.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
