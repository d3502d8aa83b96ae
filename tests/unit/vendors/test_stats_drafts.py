"""Statistics drafts: published when a triggering field changes; durations ride along."""

from __future__ import annotations

from typing import Any

import msgspec

from streamer.contract.events import StatsChanged
from streamer.engine.emit import Draft, SourceContext, emit
from streamer.track.ledger import Ledger

CTX = SourceContext("alvaria", "s", "cc")
RIDE = frozenset({"longest_wait_s"})


def draft(values: dict[str, Any], at_ms: int) -> Draft:
    return Draft(
        type="cc.stats.changed", entity_id="team/sales", stream="values", transition=str(sorted(values.items())),
        at_ms=at_ms, value=values, previous_field=None, endpoint="teamActivity", ride_along=RIDE,
        payload=StatsChanged(scope="team", entity_id="sales", name="Sales", changes={}, values=values),
    )


def data(out: Any) -> dict[str, Any]:
    return msgspec.json.decode(out[0].value)["data"]


def test_first_sight_publishes_every_triggering_field() -> None:
    out = emit(draft({"idle": 3, "longest_wait_s": 40}, 1000), Ledger(), CTX, 1)
    assert out is not None and data(out)["changes"] == {"idle": [None, 3]}


def test_a_change_is_one_event_with_before_and_after() -> None:
    ledger = Ledger()
    emit(draft({"idle": 3, "longest_wait_s": 40}, 1000), ledger, CTX, 1)
    out = emit(draft({"idle": 2, "longest_wait_s": 41}, 2000), ledger, CTX, 2)
    assert out is not None
    d = data(out)
    assert d["changes"] == {"idle": [3, 2]} and d["values"]["longest_wait_s"] == 41 and d["sequence"] == 2


def test_only_ride_along_fields_changing_makes_no_noise() -> None:
    ledger = Ledger()
    emit(draft({"idle": 3, "longest_wait_s": 40}, 1000), ledger, CTX, 1)
    assert emit(draft({"idle": 3, "longest_wait_s": 99}, 2000), ledger, CTX, 2) is None
    assert emit(draft({"idle": 3, "longest_wait_s": 120}, 3000), ledger, CTX, 3) is None


def test_unchanged_stats_are_not_forgotten_by_retention() -> None:
    ledger = Ledger(seen_refresh_ms=1000)
    emit(draft({"idle": 3, "longest_wait_s": 40}, 1000), ledger, CTX, 1_000)
    for t in range(2_000, 3_700_000, 60_000):  # polled every minute for an hour, no change
        assert emit(draft({"idle": 3, "longest_wait_s": t}, t), ledger, CTX, t) is None
    assert ledger.prune(3_700_000, 3_600_000, ("stats/",)) == []
    out = emit(draft({"idle": 4, "longest_wait_s": 1}, 3_700_000), ledger, CTX, 3_700_000)
    assert out is not None and data(out)["changes"] == {"idle": [3, 4]} and data(out)["sequence"] == 2
