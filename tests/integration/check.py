"""The comparison every end-to-end test makes: Kafka output vs the simulator's ground truth."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from streamer.config.model import KafkaConfig
from streamer.simulator.vonage import processing_lag_ms
from streamer.simulator.world import World
from tests.integration.harness import event_key, events, last_checkpoint, latest_checkpoints, truth_key, verify


def derived_truth(world: World, cursor_ms: int, lookback_ms: int) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The agents' interaction states the daemon derives rather than reads off one row:
    (allowed, expected). An agent's part ends (Ended) at the end of one of its activities
    on the interaction, surely at the last one once the cursor is a lookback past it;
    Held at a channel's Held event (its initiatingAgentId), Connected again when it ends."""
    allowed: set[tuple[Any, ...]] = set()
    last: dict[tuple[str, str], tuple[int, int | None]] = {}  # (start, end) of the latest activity
    for a in world.activities(lambda a: a.type == "Interaction"):
        key = (a.interaction_guid or "", a.agent_id)
        if a.end_ms is not None:
            allowed.add(("interaction", *key, "Ended", a.end_ms))
        if key not in last or a.start_ms >= last[key][0]:
            last[key] = (a.start_ms, a.end_ms)
    expected = {("interaction", *k, "Ended", end) for k, (_, end) in last.items()
                if end is not None and end <= cursor_ms - lookback_ms}
    for i in world.interactions():
        for ch in i.channels:
            for ev in ch.events:
                agent = (ev.properties or {}).get("initiatingAgentId")
                if ev.type == "Held" and agent:
                    allowed.add(("interaction", i.guid, agent, "Held", ev.start_ms))
                    allowed.add(("interaction", i.guid, agent, "Connected", ev.end_ms))
    return allowed, expected


def check_against_truth(
    bootstrap: str, prefix: str, world: World, source_id: str = "vonage-it", kafka: KafkaConfig | None = None,
    lookback_ms: int = 20_000,
) -> dict[str, int]:
    """Every history activity before the checkpointed cursor is on Kafka exactly once,
    nothing is invented, ids are unique, and per-key sequences are 1..n in offset order.
    Only ``source_id``'s events count (several sources may poll one simulated world).
    ``kafka``: the client settings to read with (TLS), when not plain ``bootstrap``;
    ``lookback_ms``: the source's lookback (an agent's part end is published a lookback
    after it)."""
    evs = events(bootstrap, prefix, "agent", "interaction", kafka=kafka)
    cursor = last_checkpoint(bootstrap, prefix, source_id, kafka)["cursors"]["agent-activities"]
    return check_events(evs, cursor, world, source_id, lookback_ms)


def check_sources(
    bootstrap: str, prefix: str, world: World, source_ids: list[str], lookback_ms: int = 20_000,
) -> dict[str, int]:
    """:func:`check_against_truth` for several sources polling one world (topics read once)."""
    evs = events(bootstrap, prefix, "agent", "interaction")
    cps = latest_checkpoints(bootstrap, prefix)
    total: Counter[str] = Counter()
    for sid in source_ids:
        assert sid in cps, f"{sid}: no checkpoint written"
        total.update(check_events(evs, cps[sid]["cursors"]["agent-activities"], world, sid, lookback_ms))
    return dict(total)


def check_events(
    all_evs: list[dict[str, Any]], cursor: int, world: World, source_id: str, lookback_ms: int,
) -> dict[str, int]:
    """The comparison itself, for ``source_id``'s events among ``all_evs``."""
    evs = [e for e in all_evs if e["_key"].startswith(f"{source_id}/")]
    ids = Counter(e["id"] for e in evs)
    dup_ids = {i: n for i, n in ids.items() if n > 1}
    assert not dup_ids, f"duplicate event ids: {list(dup_ids.items())[:5]}"

    truth = world.activities()
    derived, derived_expected = derived_truth(world, cursor, lookback_ms)
    all_truth = {truth_key(a) for a in truth} | derived
    # The cursor is processing time (include=Processed): a row the vendor writes late is
    # due once it is written, not once it started.
    expected = {truth_key(a) for a in truth if a.start_ms + processing_lag_ms(a.start_ms) < cursor} | derived_expected
    actual = Counter(k for k in (event_key(e) for e in evs) if k is not None)
    missing = expected - set(actual)
    assert not missing, f"{len(missing)} history activities never published, e.g. {sorted(missing, key=str)[:5]}"
    twice = {k: n for k, n in actual.items() if n > 1}
    assert not twice, f"transitions published more than once: {list(twice.items())[:5]}"
    phantom = set(actual) - all_truth
    assert not phantom, f"events with no ground truth: {sorted(phantom, key=str)[:5]}"

    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in evs:
        by_key[e["_key"]].append(e)
    late = 0
    for key, chain in by_key.items():
        chain.sort(key=lambda e: e["_offset"])
        seqs = [e["data"]["sequence"] for e in chain]
        assert seqs == list(range(1, len(seqs) + 1)), f"{key}: sequence {seqs}"  # none reused, none skipped
        newest = ""
        for e in chain:
            if e["data"].get("late"):
                late += 1
                continue
            assert e["time"] >= newest, f"{key}: {e['type']} at {e['time']} after {newest}"
            newest = e["time"]
    return {"events": len(evs), "expected": len(expected), "late": late, "keys": len(by_key)}


def check_with_verify(
    config: Path, bootstrap: str, prefix: str, world: World, source_id: str = "vonage-it", lookback_ms: int = 20_000,
) -> dict[str, int]:
    """The oracle users have: ``streamer verify`` from the simulator's start exits 0 (nothing
    missing, nothing twice) up to where the daemon has surely read the history: a lookback
    before the cursors. Before its cursor an endpoint may still owe rows the vendor writes
    late (the next re-read of the lookback brings them), and a transfer is known only once
    the legs after it are in. Every endpoint to the ``interactions`` cursor, and
    ``agent-activities`` alone to its own."""
    cursors = last_checkpoint(bootstrap, prefix, source_id)["cursors"]
    out: dict[str, int] = {}
    for endpoints, end in (((), cursors["interactions"] - lookback_ms),
                           (("agent-activities",), cursors["agent-activities"] - lookback_ms)):
        code, report, err = verify(config, world.start_ms, end, source_id, endpoints=endpoints)
        assert code == 0 and report is not None, (endpoints, code, err[-2000:], report)
        assert report["expected"] == report["found"] > 0, report
        out[f"verified {'+'.join(endpoints) or 'all'}"] = report["expected"]
    return out
