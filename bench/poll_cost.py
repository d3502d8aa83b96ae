"""`make bench`: per-poll cost of the Vonage agent-status path, against a stdlib baseline.

Decode + diff + draft of a snapshot of N agents with 1% changed, measured as
agent-records per second on one core, and as a ratio against plain ``json`` +
dict comparison of the same bodies in the same run (so it holds on a noisy machine).
Writes bench/results.json. Issue 7 extends this (DeepDiff, publish path, latency).
"""

from __future__ import annotations

import json
import platform
import random
import time
from pathlib import Path
from typing import Any, Callable

import msgspec

from streamer.track.snapshot import diff
from streamer.vendors.vonage.models import AgentStatus, decode_page
from streamer.vendors.vonage.source import status_drafts

OUT = Path(__file__).with_name("results.json")


def snapshot(n: int, rng: random.Random, changed: set[int], t0: int) -> bytes:
    items = []
    for i in range(n):
        bump = 1000 if i in changed else 0
        items.append({
            "agentId": f"{i:05d}",
            "presence": {"since": f"2026-11-21T09:{(t0 + bump) % 60:02d}:00.000Z", "name": "Ready",
                         "description": "Ready", "eligibleForRouting": True},
            "workload": {"since": "2026-11-21T09:00:00.000Z", "calls": 1 if i % 3 else 0},
            "interaction": [] if i % 3 == 0 else [{
                "guid": f"00000000-0000-0000-0000-{i:012d}", "channelGuid": None,
                "since": "2026-11-21T09:00:00.000Z", "medium": "Phone", "mediumManager": "CC",
                "direction": "Inbound", "state": "Connected", "reason": None}],
        })
    return json.dumps({"meta": {"page": 1, "count": n, "pageCount": 1, "totalCount": n},
                       "items": items, "upTo": "2026-11-21T09:59:00.000Z"}).encode()


def ours(prev_body: bytes, body: bytes) -> int:
    enc = msgspec.json.Encoder()
    before = {s.agent_id: enc.encode(s) for s in decode_page(prev_body, AgentStatus).items if isinstance(s, AgentStatus)}
    rows = {s.agent_id: s for s in decode_page(body, AgentStatus).items if isinstance(s, AgentStatus)}
    after = {k: enc.encode(v) for k, v in rows.items()}
    drafts = [d for c in diff(before, after) for d in status_drafts(rows[c.key])]
    return len(drafts)


def baseline(prev_body: bytes, body: bytes) -> int:
    before = {r["agentId"]: r for r in json.loads(prev_body)["items"]}
    after = {r["agentId"]: r for r in json.loads(body)["items"]}
    return sum(1 for k, v in after.items() if before.get(k) != v)


def rate(fn: Callable[[bytes, bytes], int], a: bytes, b: bytes, n: int, seconds: float = 2.0) -> float:
    fn(a, b)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(a, b)
        runs += 1
    return runs * n / (time.perf_counter() - start)


def main() -> None:
    results: dict[str, Any] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version()}
    rng = random.Random(1)
    for n in (1000, 10000):
        changed = set(rng.sample(range(n), n // 100))
        a, b = snapshot(n, rng, set(), 0), snapshot(n, rng, changed, 0)
        r_ours, r_base = rate(ours, a, b, n), rate(baseline, a, b, n)
        results[f"agent_status_{n}"] = {
            "records_per_s": round(r_ours), "stdlib_baseline_records_per_s": round(r_base),
            "ratio_vs_stdlib": round(r_ours / r_base, 2), "target_records_per_s": 200000,
            "note": "ours also builds the event drafts; the baseline only finds changed rows",
        }
        print(f"agent-status {n:>6} agents, 1% changed: {r_ours:>10,.0f} records/s "
              f"(stdlib json+dict {r_base:,.0f}/s, ratio {r_ours / r_base:.2f}; target 200,000/s)")
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
