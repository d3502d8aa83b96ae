"""The --workers supervisor: restarts a worker that dies, gives up on one that refuses."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from streamer.cluster.workers import Supervisor, worker_port


def test_a_refusing_worker_stops_the_supervisor_with_its_exit_code() -> None:
    sup = Supervisor("c.yaml", 2, command=lambda config, i: [sys.executable, "-c", f"import sys; sys.exit({1 + i})"])
    assert sup.run() in (1, 2)


def test_a_worker_that_dies_is_started_again_and_sigterm_stops_all(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    script = ("import pathlib, signal, sys\n"
              f"p = pathlib.Path({str(starts)!r}); n = len(p.read_text()) if p.exists() else 0\n"
              "p.write_text('x' * (n + 1))\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
              "if n == 0: sys.exit(137)  # the first start dies at once (as after a SIGKILL in a shell)\n"
              "signal.pause()  # until the supervisor's SIGTERM\n")
    sup = Supervisor("c.yaml", 1, command=lambda config, i: [sys.executable, "-c", script])
    stop = threading.Event()

    def stop_when_restarted() -> None:
        while not stop.wait(0.05):
            if starts.exists() and len(starts.read_text()) >= 2:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    watcher = threading.Thread(target=stop_when_restarted, daemon=True)
    watcher.start()
    try:
        assert sup.run() == 0  # the restarted worker stopped cleanly on SIGTERM
    finally:
        stop.set()
    assert len(starts.read_text()) == 2


def test_worker_i_serves_metrics_on_port_plus_i() -> None:
    assert [worker_port(9464, i) for i in (0, 1, 2)] == [9464, 9465, 9466]
    assert worker_port(None, 1) is None  # no metrics server configured: none for the workers either
