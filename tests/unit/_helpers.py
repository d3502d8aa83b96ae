"""Shared helpers for the core unit tests."""

from __future__ import annotations

import json
from typing import Any

from streamer.engine.emit import Draft, OutRecord, SourceContext
from streamer.engine.rules import emit_with_rules
from streamer.track.ledger import Ledger

CTX = SourceContext("vonage", "seed", "cc")
OBSERVED_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z


def run_drafts(drafts: list[Draft], ledger: Ledger | None = None, ctx: SourceContext = CTX) -> list[OutRecord]:
    """Emit drafts in order through a ledger, with the session rule applied after presence."""
    ledger = Ledger() if ledger is None else ledger
    return [rec for rec, _ in emit_with_rules(drafts, ledger, ctx, OBSERVED_MS)]


def events(records: list[OutRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if r.value is not None]
