"""An hour behind: the history is caught up in commits of at most ``max_catchup_span``
each, a bounded share of the hour per commit, and nothing is lost or duplicated."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from streamer.errors import KafkaUnavailableError
from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from streamer.simulator.world import World
from tests.integration.check import check_against_truth
from tests.integration.harness import DaemonProcess, read_topic, unique_prefix, wait_for, write_config

pytestmark = pytest.mark.integration
SPAN_MS = 5 * 60_000


def _commits(bootstrap: str, prefix: str, source_id: str) -> list[dict[str, object]]:
    """The source's checkpoints in the order written (the embedded broker never compacts)."""
    try:
        records = read_topic(bootstrap, f"{prefix}.streamer.checkpoints")
    except KafkaUnavailableError:  # the daemon has not created its topics yet
        return []
    return [msgspec.json.decode(r.value) for r in records if r.key == source_id.encode() and r.value]


def _cursor(cp: dict[str, object]) -> int:
    cursors = cp["cursors"]
    assert isinstance(cursors, dict)
    return int(cursors.get("agent-activities", 0))


def test_an_hour_of_history_is_published_in_bounded_commits(broker: EmbeddedBroker, tmp_path: Path) -> None:
    world = World(37, 8, start=time.time() - 3600)
    with SimulatorThread(world=world) as sim:
        prefix = unique_prefix()
        cfg = write_config(
            tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{sim.base_url}/vonage",
            initial_lookback="2h", max_catchup_span="5m", page_limit=20,
            endpoints={"agent-status": {"enabled": False}, "interactions": {"enabled": False}},
        )
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
        try:
            caught_up = wait_for(
                lambda: any(_cursor(c) >= (time.time() - 10) * 1000 for c in _commits(broker.bootstrap, prefix, "vonage-it")),
                90,
            )
            assert caught_up, (tmp_path / "daemon.log").read_text()[-3000:]
        finally:
            assert daemon.terminate() == 0
        figures = check_against_truth(broker.bootstrap, prefix, world)

    commits = _commits(broker.bootstrap, prefix, "vonage-it")
    tailed = (f"{prefix}.agent/", f"{prefix}.interaction/")
    moves: list[tuple[int | None, int]] = []  # (cursor step, events published) of each commit moving it
    for before, cp in zip(commits, commits[1:]):
        offsets, covered = cp["offsets"], before["offsets"]
        assert isinstance(offsets, dict) and isinstance(covered, dict)
        published = sum(v - covered.get(k, 0) for k, v in offsets.items() if k.startswith(tailed))
        if _cursor(cp) != _cursor(before):  # the first step starts from initial_lookback, not checkpointed
            moves.append((_cursor(cp) - _cursor(before) if _cursor(before) else None, published))
    catchup = [m for m in moves if m[0] is None or m[0] > 60_000]
    largest = max(n for _, n in moves)
    print(f"\ncatch-up of two hours (one of history): {len(catchup)} commits of up to 5 min; events per commit: "
          f"{[n for _, n in catchup]}; largest {largest} of {figures['events']}")
    assert len(catchup) >= 23, moves  # two hours behind (initial_lookback), in steps of 5 minutes
    assert all(step is None or step <= SPAN_MS for step, _ in moves), moves
    assert largest <= figures["events"] // 4, moves
