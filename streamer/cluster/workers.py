"""``streamer run --workers N``: N daemon processes on one host, one group, one config.

Each worker is a plain ``streamer run`` (a member of the config's group like any other
daemon), so the group spreads the sources over them as it would over hosts. The parent
only supervises:

- a worker that dies (a crash, SIGKILL, OOM) is started again after a backoff (1 s,
  doubling to 30 s; back to 1 s once a worker has run for a minute); its sources move to
  the others meanwhile, as for any daemon that dies;
- a worker that refuses to start (exit 1: the topics are wrong; exit 2: the config) would
  refuse again: the parent stops the others and exits with that code;
- SIGTERM/SIGINT go to every worker, each finishes its last commit and leaves the group;
  the parent exits 0 when they all did.

Worker ``i`` serves its metrics on ``metrics.port + i``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import structlog

__all__ = ["Supervisor", "worker_command", "worker_port", "exit_with_parent"]

RESTART_BASE_S = 1.0
RESTART_CAP_S = 30.0
HEALTHY_RUN_S = 60.0
"""A worker that ran this long before dying is restarted after the base backoff again."""
REFUSED = (1, 2)
"""Exit codes of a daemon that refused to start (topics, config): every worker would."""
STOP_GRACE_S = 20.0
"""How long a stop waits for the workers (each has its own 10 s deadline) before SIGKILL."""


def worker_command(config: str, index: int) -> list[str]:
    return [sys.executable, "-m", "streamer.cli", "run", "--config", config, "--worker-index", str(index)]


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Starts, watches and restarts the workers; stops them on a signal."""

    def __init__(
        self, config: str, workers: int, *,
        command: Callable[[str, int], Sequence[str]] = worker_command,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.count = config, workers
        self._command, self._clock = command, clock
        self.workers = [_Worker(i) for i in range(workers)]
        self._stop_signal: int | None = None
        self.log = structlog.get_logger("streamer.workers")

    def _start(self, w: _Worker) -> None:
        w.proc = subprocess.Popen(list(self._command(self.config, w.index)), stdin=subprocess.DEVNULL)
        w.started, w.restart_at = self._clock(), None
        self.log.info("worker started", worker=w.index, pid=w.proc.pid)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum

    def run(self) -> int:
        """Supervise until a stop signal (exit 0 when every worker stopped cleanly) or a
        refusal (that worker's exit code)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.log.info("starting workers", workers=self.count, config=self.config)
            for w in self.workers:
                self._start(w)
            code = 0
            while self._stop_signal is None:
                refused = self._watch()
                if refused is not None:
                    code = refused
                    break
                time.sleep(0.2)
            if self._stop_signal is not None:
                self.log.info("stopping workers", signal=signal.Signals(self._stop_signal).name)
            return self._stop_all() or code
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _watch(self) -> int | None:
        now = self._clock()
        for w in self.workers:
            if w.proc is None:
                if w.restart_at is not None and now >= w.restart_at:
                    self._start(w)
                continue
            rc = w.proc.poll()
            if rc is None:
                continue
            ran = now - w.started
            w.proc = None
            if rc in REFUSED and ran < HEALTHY_RUN_S:
                self.log.error("worker refused to start; stopping", worker=w.index, exit_code=rc)
                return rc
            w.failures = 1 if ran >= HEALTHY_RUN_S else w.failures + 1
            delay = min(RESTART_CAP_S, RESTART_BASE_S * 2 ** (w.failures - 1))
            w.restart_at = now + delay
            self.log.warning("worker died; restarting", worker=w.index, exit_code=rc, ran_s=round(ran, 1),
                             restart_in=delay)
        return None

    def _stop_all(self) -> int:
        """SIGTERM every worker and wait; 0 when all stopped cleanly."""
        running = [w for w in self.workers if w.proc is not None]
        for w in running:
            assert w.proc is not None
            w.proc.send_signal(signal.SIGTERM)
        deadline = self._clock() + STOP_GRACE_S
        code = 0
        for w in running:
            assert w.proc is not None
            try:
                rc = w.proc.wait(max(0.1, deadline - self._clock()))
            except subprocess.TimeoutExpired:
                self.log.error("worker did not stop in time; killing it", worker=w.index, pid=w.proc.pid)
                w.proc.kill()
                rc = w.proc.wait()
            if rc != 0:
                code = 1
        self.log.info("workers stopped", clean=code == 0)
        return code


def worker_port(port: int | None, index: int | None) -> int | None:
    """Worker ``index`` serves metrics on ``port + index``."""
    return None if port is None or index is None else port + index


def exit_with_parent() -> None:  # pragma: no cover - Linux only, best effort
    """A worker whose supervisor was SIGKILLed must not run on unsupervised."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:
            os.kill(os.getpid(), signal.SIGTERM)
    except (OSError, AttributeError):
        pass
