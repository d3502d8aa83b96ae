"""The live view's lines: what changed, including the vendor's values, cut to the terminal."""

from __future__ import annotations

from typing import Any

import pytest

from streamer.cli.tail import describe, fit


def _ev(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


@pytest.mark.parametrize(
    ("event", "line"),
    [
        # Alvaria active -> held: Busy both times, so the vendor's values are shown
        (_ev("cc.agent.state.changed", previous={"state": "Busy", "raw": "active"},
             current={"state": "Busy", "raw": "held"}), "Busy (active) -> Busy (held)"),
        (_ev("cc.agent.state.changed", previous={"state": "Idle", "raw": "avail"},
             current={"state": "Busy", "raw": "active"}), "Idle -> Busy"),
        (_ev("cc.agent.state.changed", previous=None, current={"state": "Busy", "raw": "active"}), "- -> Busy"),
        (_ev("cc.agent.presence.changed", previous={"category": "Away", "name": "Lunch"},
             current={"category": "Away", "name": "Break"}), "Away (Lunch) -> Away (Break)"),
        (_ev("cc.agent.presence.changed", previous={"category": "Ready", "name": "Ready"},
             current={"category": "Away", "name": "Lunch"}), "Ready -> Away (Lunch)"),
        (_ev("cc.agent.presence.changed", previous={"category": "Away", "name": "Away", "raw": {"reason": "a"}},
             current={"category": "Away", "name": "Away", "raw": {"reason": "b"}}), "Away (Away): reason: a->b"),
        (_ev("cc.interaction.state.changed", interaction_id="i", agent_id="7", previous_state="Connected",
             state="Held", raw="OnHold"), "agent 7: Connected -> Held (OnHold)"),
        (_ev("cc.interaction.state.changed", interaction_id="i", agent_id="7", previous_state=None,
             state="Ringing", raw="Ringing"), "agent 7: - -> Ringing"),
    ],
)
def test_describe_shows_what_changed(event: dict[str, Any], line: str) -> None:
    assert describe(event) == line


def test_lines_are_cut_to_the_width_with_a_marker() -> None:
    assert fit("x" * 100, 40) == "x" * 39 + "\u2026"
    assert len(fit("x" * 100, 40)) == 40
    assert fit("short", 40) == "short"
    assert fit("y" * 500, None) == "y" * 500  # a pipe or a file gets whole lines
