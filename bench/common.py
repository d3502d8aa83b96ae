"""Shared pieces of the benchmarks: figures with targets, process CPU/RSS from /proc, child
processes, and the simulated Vonage farm's config."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from aiokafka import TopicPartition

from bench.sim_farm import world_path
from streamer.config.model import KafkaConfig, dump_config
from streamer.errors import KafkaUnavailableError
from streamer.kafka.checkpoint import partitions

__all__ = ["Figure", "cpu_seconds", "cpu_wait", "rss_bytes", "percentiles", "spawn", "wait_listening", "tail",
           "farm_config", "topic_partitions", "ROOT"]

ROOT = Path(__file__).resolve().parents[1]

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


class Figure(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One measured figure. ``met`` is None when the figure has no target."""

    name: str
    value: float
    unit: str
    target: str | None = None
    met: bool | None = None
    detail: str | None = None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid`` (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_wait(pid: int) -> float:
    """Seconds the threads of ``pid`` have been runnable but not running (Linux schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (default: this process), from /proc/<pid>/statm."""
    with open(f"/proc/{pid or os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``values`` (which must not be empty)."""
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {"p50": q[49], "p99": q[98], "max": ordered[-1], "count": len(ordered)}


def as_builtins(figures: list[Figure], **extra: Any) -> dict[str, Any]:
    return {"figures": msgspec.to_builtins(figures), **extra}


# --- child processes -------------------------------------------------------------------


def spawn(stack: contextlib.ExitStack, args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A Python child process whose output goes to ``log``; stopped when ``stack`` closes."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**os.environ, **(env or {})},
                                stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    stack.callback(stop, proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)  # a --workers supervisor gives its workers up to 20 s
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120.0) -> None:
    """Wait until ``proc`` (the simulator) accepts connections on ``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited with {proc.returncode}: {tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"simulator did not listen on port {port} within {timeout:.0f}s")


def tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


# --- the simulated Vonage farm (bench/sim_farm.py) -----------------------------------------


def farm_config(path: Path, *, bootstrap: str, prefix: str, sim_url: str, sources: int, status_interval_s: float,
                history: dict[str, str], token_env: str, metrics_port: int | None = None) -> Path:
    """A daemon config polling the farm's ``sources`` worlds: agent-status every
    ``status_interval_s``, the history endpoints with ``history``; its metrics served on
    ``metrics_port`` (loopback) when given."""
    rows = [{
        "id": f"vonage-{i:02d}",
        "vendor": "vonage",
        "base_url": sim_url + world_path(i),
        "auth": {"type": "bearer", "token": f"${{{token_env}}}"},
        **history,
        "endpoints": {"agent-status": {"poll_interval": f"{status_interval_s:g}s"}},
    } for i in range(1, sources + 1)]
    # idempotence off: the embedded broker rejects InitProducerId
    cfg = {"kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "idempotence": False}, "sources": rows,
           "log_level": "info", "log_format": "json"}
    if metrics_port is not None:
        cfg["metrics"] = {"host": "127.0.0.1", "port": metrics_port}
    path.write_text(dump_config(cfg))
    return path


async def topic_partitions(bootstrap: str, topics: list[str], timeout: float = 60.0) -> list[TopicPartition]:
    """Every partition of ``topics``, once the daemon has created them."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await partitions(KafkaConfig(bootstrap_servers=bootstrap), topics)
        except KafkaUnavailableError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
