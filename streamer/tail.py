"""``streamer tail``: follow the public topics and print one readable line per event."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import msgspec
from aiokafka import AIOKafkaConsumer

__all__ = ["tail", "describe"]


def describe(ev: dict[str, Any]) -> str:
    """A one-line summary of an event's change."""
    d = ev.get("data") or {}
    t = ev.get("type", "")
    if t.endswith("presence.changed"):
        prev = (d.get("previous") or {}).get("category", "-")
        return f"{prev} -> {d['current'].get('category')} ({d['current'].get('name')})"
    if t.endswith("queues.changed"):
        return f"serving {', '.join(d.get('current') or []) or 'no queue'}"
    if t.endswith("workload.changed"):
        c = d.get("current") or {}
        return f"calls={c.get('calls')} semi_live={c.get('semi_live')} non_live={c.get('non_live')}"
    if t.endswith("state.changed") and "interaction_id" in d:
        return f"agent {d.get('agent_id') or '-'}: {d.get('previous_state') or '-'} -> {d.get('state')}"
    if t.endswith("state.changed"):
        return f"{(d.get('previous') or {}).get('state', '-')} -> {d['current'].get('state')}"
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


async def tail(args: argparse.Namespace) -> None:
    if getattr(args, "config", None):
        from .config import load_config
        from .kafka.connection import client_kwargs

        kafka = load_config(args.config).kafka
        args.prefix = kafka.topic_prefix
        connection = client_kwargs(kafka, suffix="-tail")
    else:
        connection = {"bootstrap_servers": args.bootstrap}
    topics = [f"{args.prefix}.{t}" for t in ("agent", "interaction", "stats", "source")]
    consumer = AIOKafkaConsumer(
        *topics,
        **connection,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
    )
    await consumer.start()
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
                sys.stdout.write(
                    f"{ev.get('time', '')[11:23]}  {source_id:<12} {ev.get('type', ''):<30} "
                    f"{ev.get('subject', ''):<38} {describe(ev)}\n"
                )
            sys.stdout.flush()
            seen += 1
            if args.max and seen >= args.max:
                return
    finally:
        await consumer.stop()
