"""``make run`` stops everything it started, whatever stop signal its terminal sends."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.harness import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid``, read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier} - out
        out |= frontier
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_to_the_process_group_leaves_no_process_behind(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "METRICS_PORT": str(_free_port()), "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "demo.out"
    with open(out, "wb") as sink:
        demo = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli.demo", "--config", str(ROOT / "config.yaml"), "--history", "120"],
            cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a terminal's job is
        )
    try:
        # Running for real: the daemon has published, and the live view shows it.
        shown = wait_for(lambda: out.read_bytes().count(b"cc.agent.") >= 3, timeout=90)
        assert shown, f"no events in the live view: {out.read_text()[-2000:]}"
        banner = out.read_text()
        pids = _children(demo.pid)
        daemon_pid = int(re.search(r"daemon pid (\d+)", banner).group(1))  # type: ignore[union-attr]
        broker_pid = int(re.search(r"\(pid (\d+)\)", banner).group(1))  # type: ignore[union-attr]
        assert {daemon_pid, broker_pid} <= pids

        sent = time.monotonic()
        os.killpg(demo.pid, sig)
        code = demo.wait(timeout=30)
        took = time.monotonic() - sent
        print(f"\n{sig.name}: the demo and everything it started stopped in {took:.1f}s")
        left = sorted(p for p in pids if _alive(p))
        assert left == [], f"processes left behind after {sig.name}: {left}"
        assert code == 0
        text = out.read_text()
        assert f"{sig.name}: daemon exited with 0" in text
        tail = text[text.index(f"{sig.name}: daemon exited"):]
        assert "Traceback" not in text and "Unable connect" not in text and "Failed fetch" not in tail
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
