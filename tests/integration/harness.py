"""Shared pieces of the integration tests: daemon processes, configs, reading topics back."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec

from streamer.config.model import KafkaConfig, dump_config
from streamer.errors import StreamerError
from streamer.kafka.checkpoint import partitions, read_to_end
from streamer.timeutil import parse_ts, to_ms

ROOT = Path(__file__).resolve().parents[2]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


EMBEDDED_KAFKA = {"idempotence": False}
"""Settings every config against the embedded broker needs: Tansu rejects InitProducerId,
so the idempotent producer (the default for real clusters) cannot start against it."""


def embedded_kafka(bootstrap: str, **settings: Any) -> KafkaConfig:
    """A KafkaConfig for the embedded broker."""
    return KafkaConfig(bootstrap_servers=bootstrap, **{**EMBEDDED_KAFKA, **settings})


def vonage_source(source_id: str, base_url: str, **overrides: Any) -> dict[str, Any]:
    """A Vonage source as the tests configure it (1 s polls, a short lookback)."""
    return {
        "id": source_id,
        "vendor": "vonage",
        "base_url": base_url,
        "auth": {"type": "bearer", "token": "${IT_VONAGE_TOKEN}"},
        "poll_interval": "1s",
        "lookback": "20s",
        "safety_lag": "500ms",
        "initial_lookback": "1h",
        "timeout": "5s",
        **overrides,
    }


def write_config(
    path: Path, *, bootstrap: str, prefix: str, base_url: str, extra_sources: list[dict[str, Any]] | None = None,
    kafka: dict[str, Any] | None = None, cluster: dict[str, Any] | None = None, **source: Any,
) -> Path:
    src = vonage_source(str(source.pop("id", "vonage-it")), base_url, **source)
    cfg = {
        "kafka": {"bootstrap_servers": bootstrap, "topic_prefix": prefix, "partitions": 3, "linger_ms": 5, **EMBEDDED_KAFKA,
                  **(kafka or {})},
        "sources": [src, *(extra_sources or [])],
        "log_level": "info",
        "log_format": "json",
        "watermark_interval": "2s",
        # A daemon SIGKILLed by a test stays a member of its group until its session times
        # out, and the next start waits that long for its sources: shorter than the
        # defaults (6 s, 1 s), which test_cluster.py keeps to show the default takeover.
        "cluster": {"session_timeout": "4s", "heartbeat_interval": "500ms", "lease_margin": "1s", **(cluster or {})},
    }
    path.write_text(dump_config(cfg))
    return path


STARTED: list[DaemonProcess] = []
"""Every daemon a test started; :func:`kill_leftovers` ends those a failed test left running."""


def kill_leftovers() -> None:
    """SIGKILL and reap the daemons still running: one test's failure must not leak a
    process (and its ResourceWarning) into the next test."""
    while STARTED:
        d = STARTED.pop()
        if d.alive():
            d.kill9()


class DaemonProcess:
    """``streamer run`` in a child process, as an operator would run it."""

    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.config, self.log = config, log
        self.args = args or []
        self.env = {**os.environ, "IT_VONAGE_TOKEN": "sim-token", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        self.log_from = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamer.cli", "run", "--config", str(self.config), *self.args],
                cwd=ROOT, env=self.env, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
            )
        STARTED.append(self)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def logged(self, event: str) -> int:
        """How many log lines with this ``event`` this run (not an earlier one) has written."""
        with open(self.log, "rb") as f:
            f.seek(self.log_from)
            needle = f'"event": "{event}"'.encode()
            return sum(1 for line in f if needle in line)

    def wait_restored(self, sources: int = 1, timeout: float = 60.0) -> None:
        """Until ``sources`` sources have restored: the group gave them to this daemon (after
        a SIGKILL that takes the session timeout: the dead daemon is still a member until then)."""
        assert wait_for(lambda: self.logged("state restored") >= sources or not self.alive(), timeout), \
            f"no source restored within {timeout:g}s"
        assert self.alive(), self.log.read_text()[-3000:]

    def wait_until(self, predicate: Any, what: str, timeout: float = 60.0) -> None:
        """Until ``predicate()`` holds, while this daemon runs: the test fails saying ``what``
        did not happen within ``timeout`` (or that the daemon died, with its log's tail)."""
        ok = wait_for(lambda: not self.alive() or predicate(), timeout)
        assert self.alive(), f"the daemon died while waiting for {what}:\n{self.log.read_text()[-3000:]}"
        assert ok, f"{what}: not within {timeout:g}s"


def read_topic(bootstrap: str, topic: str, kafka: KafkaConfig | None = None) -> list[Any]:
    """Every record of a topic, read to its end (with ``kafka``'s settings, e.g. TLS, when given)."""
    cfg = kafka or KafkaConfig(bootstrap_servers=bootstrap)

    async def go() -> list[Any]:
        tps = await partitions(cfg, [topic])
        records, _ = await read_to_end(cfg, {tp: 0 for tp in tps})
        return records

    return asyncio.run(go())


def events(bootstrap: str, prefix: str, *names: str, kafka: KafkaConfig | None = None) -> list[dict[str, Any]]:
    out = []
    for name in names:
        for r in read_topic(bootstrap, f"{prefix}.{name}", kafka):
            ev = msgspec.json.decode(r.value)
            ev["_key"] = r.key.decode()
            ev["_partition"] = r.partition
            ev["_offset"] = r.offset
            out.append(ev)
    return out


def last_checkpoint(bootstrap: str, prefix: str, source_id: str, kafka: KafkaConfig | None = None) -> dict[str, Any]:
    cps = [msgspec.json.decode(r.value) for r in read_topic(bootstrap, f"{prefix}.streamer.checkpoints", kafka)
           if r.key == source_id.encode() and r.value]
    assert cps, "no checkpoint written"
    return cps[-1]


def latest_checkpoints(bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """source (or backfill key) -> its latest checkpoint."""
    return {r.key.decode(): msgspec.json.decode(r.value)
            for r in read_topic(bootstrap, f"{prefix}.streamer.checkpoints") if r.value}


def checkpoint_of(bootstrap: str, prefix: str, source_id: str) -> dict[str, Any] | None:
    """The source's latest checkpoint, or None: none written yet, or no topics yet."""
    try:
        return latest_checkpoints(bootstrap, prefix).get(source_id)
    except StreamerError:
        return None


def cursor_of(bootstrap: str, prefix: str, source_id: str, endpoint: str) -> int:
    """The source's checkpointed cursor (ms) for ``endpoint``; 0 while there is none."""
    cp = checkpoint_of(bootstrap, prefix, source_id) or {}
    return int(cp.get("cursors", {}).get(endpoint) or 0)


def cursor_past(bootstrap: str, prefix: str, source_id: str, endpoint: str, ms: int) -> Any:
    """A predicate for :meth:`DaemonProcess.wait_until`: the source's checkpoint for
    ``endpoint`` has passed ``ms`` (simulator time): everything before it is published."""
    return lambda: cursor_of(bootstrap, prefix, source_id, endpoint) >= ms


def events_so_far(bootstrap: str, prefix: str, *names: str) -> list[dict[str, Any]]:
    """:func:`events`, or none while the daemon has not created its topics yet."""
    try:
        return events(bootstrap, prefix, *names)
    except StreamerError:
        return []


def health_events(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    """The data of every health event published so far, in publish order per source."""
    evs = [e for e in events_so_far(bootstrap, prefix, "source") if e["type"] == "cc.source.health.changed"]
    return [e["data"] for e in sorted(evs, key=lambda e: (e["_partition"], e["_offset"]))]


def truth_key(a: Any) -> tuple[Any, ...] | None:
    """A simulator activity as the event key it must produce."""
    if a.type == "Presence":
        return ("presence", a.agent_id, a.category, a.start_ms)
    if a.type == "Workload":
        return ("workload", a.agent_id, a.start_ms)
    if a.type == "Interaction":
        return ("interaction", a.interaction_guid, a.agent_id, a.category, a.start_ms)
    return None


def event_key(ev: dict[str, Any]) -> tuple[Any, ...] | None:
    d, t = ev["data"], ev["type"]
    if t == "cc.agent.presence.changed":
        return ("presence", d["agent_id"], d["current"]["category"], to_ms(parse_ts(d["since"])))
    if t == "cc.agent.workload.changed":
        return ("workload", d["agent_id"], to_ms(parse_ts(d["since"])))
    if t == "cc.interaction.state.changed" and d["agent_id"] is not None:
        return ("interaction", d["interaction_id"], d["agent_id"], d["state"], to_ms(parse_ts(d["since"])))
    return None


def metric_sample(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples with these labels in a /metrics text (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def assert_clean_log(log: Path, *secrets: str) -> None:
    """No error-level line (a bug or an unhandled failure) and no secret in the daemon's log."""
    text = log.read_text()
    errors = [line for line in text.splitlines() if '"level": "error"' in line]
    assert not errors, errors[:3]
    for s in secrets:
        assert s not in text, "a secret leaked into the log"


def produce(bootstrap: str, prefix: str, topic: str, key: bytes, value: bytes | None) -> None:
    """Create the contract's topics under ``prefix`` and write one raw record (to stage trouble)."""
    from streamer.engine.emit import OutRecord
    from streamer.kafka.publisher import Publisher

    async def go() -> None:
        pub = Publisher(embedded_kafka(bootstrap, topic_prefix=prefix))
        await pub.start()
        try:
            await pub.ensure_topics()
            await pub.send([OutRecord(f"{prefix}.{topic}", key, value, [])])
        finally:
            await pub.stop()

    asyncio.run(go())


def verify(config: Path, start_ms: int, end_ms: int, source_id: str = "vonage-it",
           env: dict[str, str] | None = None, endpoints: tuple[str, ...] = ()) -> tuple[int, dict[str, Any] | None, str]:
    """``streamer verify --json`` over ``[start_ms, end_ms)``, as an auditor runs it:
    (exit status, the report or None, stderr)."""
    from streamer.timeutil import format_ms

    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "verify", "--config", str(config), "--source", source_id,
         "--from", format_ms(start_ms), "--to", format_ms(end_ms), "--json",
         *(arg for ep in endpoints for arg in ("--endpoint", ep))],
        cwd=ROOT, env={**os.environ, "IT_VONAGE_TOKEN": "sim-token", **(env or {})},
        capture_output=True, text=True, timeout=100,
    )
    report = msgspec.json.decode(done.stdout) if done.stdout.strip() else None
    return done.returncode, report, done.stderr
