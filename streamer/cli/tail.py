"""``streamer tail``: follow the public topics and print one readable line per event."""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from streamer.config.load import load_config
from streamer.config.model import KafkaConfig
from streamer.kafka.connection import client_kwargs, connect_failure

__all__ = ["tail", "describe", "fit"]


def _change(prev: Any, cur: Any, prev_raw: Any = None, cur_raw: Any = None) -> str:
    """``prev -> cur``; when the normalized value did not change, the vendor's values too."""
    prev_text = "-" if prev is None else str(prev)
    if prev is not None and prev == cur and prev_raw != cur_raw:
        return f"{prev_text} ({prev_raw if prev_raw is not None else '-'}) -> {cur} ({cur_raw if cur_raw is not None else '-'})"
    return f"{prev_text} -> {cur}"


def _raw_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    before, after = before or {}, after or {}
    return ", ".join(f"{k}: {before.get(k)}->{after.get(k)}" for k in after if before.get(k) != after.get(k))


def _presence(d: dict[str, Any]) -> str:
    prev, cur = d.get("previous") or {}, d.get("current") or {}
    if prev and prev.get("category") == cur.get("category"):
        if prev.get("name") != cur.get("name"):
            return _change(prev.get("category"), cur.get("category"), prev.get("name"), cur.get("name"))
        changed = _raw_diff(prev.get("raw"), cur.get("raw"))
        return f"{cur.get('category')} ({cur.get('name')})" + (f": {changed}" if changed else "")
    return f"{prev.get('category', '-')} -> {cur.get('category')} ({cur.get('name')})"


def _work_state(d: dict[str, Any]) -> str:
    prev, cur = d.get("previous") or {}, d.get("current") or {}
    return _change(prev.get("state"), cur.get("state"), prev.get("raw"), cur.get("raw"))


def describe(ev: dict[str, Any]) -> str:
    """A one-line summary of an event's change, with the vendor's raw values where the
    normalized ones did not change (Alvaria ``active`` -> ``held`` is ``Busy`` both times)."""
    d = ev.get("data") or {}
    t = ev.get("type", "")
    if t.endswith("presence.changed"):
        return _presence(d)
    if t.endswith("queues.changed"):
        return f"serving {', '.join(d.get('current') or []) or 'no queue'}"
    if t.endswith("workload.changed"):
        c = d.get("current") or {}
        if "total" in c:
            return f"interactions={c.get('total')}"
        return f"calls={c.get('calls')} semi_live={c.get('semi_live')} non_live={c.get('non_live')}"
    if t.endswith("state.changed") and "interaction_id" in d:
        raw = d.get("raw")
        state = d.get("state") if raw in (None, d.get("state")) else f"{d.get('state')} ({raw})"
        return f"agent {d.get('agent_id') or '-'}: {d.get('previous_state') or '-'} -> {state}"
    if t.endswith("state.changed"):
        return _work_state(d)
    if t.endswith("transferred"):
        return f"{d.get('from_agent_id')} -> {d.get('to_agent_id')} ({d.get('kind')})"
    if t.endswith("stats.changed"):
        return ", ".join(f"{k}: {a}->{b}" for k, (a, b) in (d.get("changes") or {}).items())
    if t.endswith("health.changed"):
        return f"{d.get('endpoint')}: {d.get('previous_status')} -> {d.get('status')} {d.get('reason') or ''}".rstrip()
    if t.endswith("watermark"):
        return f"{d.get('endpoint')} complete up to {d.get('complete_up_to')}"
    if t.endswith("session.started") or t.endswith("session.ended"):
        return f"at {d.get('at')}"
    return ""


def fit(line: str, width: int | None) -> str:
    """``line`` cut to ``width`` columns with a marker (None: no limit)."""
    if width is None or len(line) <= width:
        return line
    return line[: max(width - 1, 0)] + "\u2026"


def _width() -> int | None:
    """The terminal's width when printing to one; a pipe or file gets whole lines."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


async def tail(args: argparse.Namespace) -> None:
    kafka = KafkaConfig(bootstrap_servers=args.bootstrap)
    if getattr(args, "config", None):
        kafka = load_config(args.config).kafka
        args.prefix = kafka.topic_prefix
    connection = client_kwargs(kafka, suffix="-tail")
    topics = [f"{args.prefix}.{t}" for t in ("agent", "interaction", "stats", "source")]
    consumer = AIOKafkaConsumer(
        *topics,
        **connection,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
    )
    try:
        await consumer.start()
    except (KafkaError, OSError) as e:
        await consumer.stop()
        raise await connect_failure(kafka, e) from None
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")  # vendor names (and the cut marker) on any terminal
    seen = 0
    try:
        async for msg in consumer:
            try:
                ev = msgspec.json.decode(msg.value)
            except msgspec.DecodeError:
                continue
            source = ev.get("source", "").split("/")
            source_id = source[2] if len(source) > 2 else "?"
            if args.type and not any(ev.get("type", "").startswith(t) for t in args.type):
                continue
            if args.source and source_id not in args.source:
                continue
            if args.entity and ev.get("subject") not in args.entity:
                continue
            if args.json:
                sys.stdout.write(msg.value.decode() + "\n")
            else:
                line = (
                    f"{ev.get('time', '')[11:23]}  {source_id:<12} {ev.get('type', ''):<30} "
                    f"{ev.get('subject', ''):<38} {describe(ev)}"
                )
                sys.stdout.write(fit(line, _width()) + "\n")
            sys.stdout.flush()
            seen += 1
            if args.max and seen >= args.max:
                return
    finally:
        await consumer.stop()
