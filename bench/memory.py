"""Memory: RSS per tracked agent with 100,000 agents tracked.

A child process (so nothing else of the benchmark run is counted) imports the daemon,
notes its RSS, then tracks 10 sources x 10,000 agents through the daemon's own pieces:
each source's agent-status snapshot is decoded with ``RawRows`` skipping unchanged rows,
turned into drafts, emitted through the source's ``Ledger`` and committed
(``take_dirty`` + the state records, which are then dropped as Kafka would take them).
Two states are measured:

- first sight: every agent seen once, plus 20 polls with 1% of the agents changing;
- busy day: every agent has since changed presence and workload 10 more times, so each
  stream holds its full list of recent transitions (the most a tracked agent costs).

The figure is (RSS - RSS after imports) / agents; the whole RSS per agent is reported too.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from typing import Any

from bench.common import Figure, as_builtins, rss_bytes

SOURCES, AGENTS = 10, 10_000
TARGET = 1024


def _child() -> None:
    from bench.poll_cost import snapshots
    from streamer.emit import SourceContext
    from streamer.kafka.checkpoint import StateStore
    from streamer.config import KafkaConfig
    from streamer.rules import emit_with_rules
    from streamer.source import split_bad
    from streamer.track.ledger import Ledger
    from streamer.track.snapshot import RawRows
    from streamer.vendors.vonage.models import AgentStatus, decode_page
    from streamer.vendors.vonage.source import SNAPSHOT_CHUNK, status_drafts

    store = StateStore(KafkaConfig())
    first_bodies = snapshots(AGENTS, polls=20)  # the same bodies for every source; made before
    busy_bodies = _everyone_changes(AGENTS, rounds=10)  # the base RSS is noted, kept until the end
    gc.collect()
    base = rss_bytes()
    sources = [(RawRows(), Ledger(), SourceContext("vonage", f"src-{i:02d}", "cc")) for i in range(SOURCES)]
    observed = [1_795_251_600_000]

    def poll(body: bytes, rows: RawRows, ledger: Ledger, ctx: SourceContext) -> None:
        rows.begin()
        good, _ = split_bad(decode_page(body, AgentStatus, keep=rows.fresh).items)
        rows.end()
        observed[0] += 1000
        for i in range(0, len(good), SNAPSHOT_CHUNK):  # one commit per chunk, as the endpoint yields them
            drafts = [d for s in good[i:i + SNAPSHOT_CHUNK] for d in status_drafts(s)]
            records = [rec for rec, _ in emit_with_rules(drafts, ledger, ctx, observed[0])]
            records += store.state_records(ctx.source_id, ledger.take_dirty())

    def measure() -> dict[str, float]:
        gc.collect()
        rss = rss_bytes()
        return {"rss": rss, "per_agent": (rss - base) / (SOURCES * AGENTS), "whole_per_agent": rss / (SOURCES * AGENTS),
                "entities": sum(len(led) for _, led, _ in sources)}

    for rows, ledger, ctx in sources:
        for body in first_bodies:
            poll(body, rows, ledger, ctx)
    first = measure()
    for rows, ledger, ctx in sources:
        for body in busy_bodies:
            poll(body, rows, ledger, ctx)
    busy = measure()
    print(json.dumps({"base_rss": base, "first_sight": first, "busy_day": busy}))


def _everyone_changes(n: int, rounds: int) -> list[bytes]:
    from bench.poll_cost import BASE_MS, _iso, _row

    return [
        json.dumps({"meta": {"page": 1, "count": n, "pageCount": 1, "totalCount": n},
                    "items": [_row(i, BASE_MS + 100_000 + r * 60_000, r + 7) for i in range(n)],
                    "upTo": _iso(BASE_MS + 100_000 + r * 60_000)}).encode()
        for r in range(rounds)
    ]


def run() -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", "from bench.memory import _child; _child()"],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    figures = []
    for phase in ("first_sight", "busy_day"):
        m = r[phase]
        label = phase.replace("_", " ")
        figures += [
            Figure(name=f"{label}: RSS per tracked agent (100,000 agents)", value=round(m["per_agent"]), unit="B",
                   target="<= 1,024", met=m["per_agent"] <= TARGET, detail=f"{m['entities']} ledger entities"),
            Figure(name=f"{label}: whole process RSS per agent", value=round(m["whole_per_agent"]), unit="B"),
        ]
    return as_builtins(figures, raw=r)
