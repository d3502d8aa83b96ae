"""Shared helpers for the core unit tests."""

from __future__ import annotations

import json
from typing import Any

from streamer.emit import Draft, OutRecord, SourceContext, emit
from streamer.rules import session_drafts
from streamer.track.ledger import Ledger

CTX = SourceContext("vonage", "seed", "cc")
OBSERVED_MS = 1_700_000_000_000  # 2023-11-14T22:13:20.000Z


def run_drafts(drafts: list[Draft], ledger: Ledger | None = None, ctx: SourceContext = CTX) -> list[OutRecord]:
    """Emit drafts in order through a ledger, with the session rule applied after presence."""
    ledger = Ledger() if ledger is None else ledger
    out: list[OutRecord] = []
    for d in drafts:
        r = emit(d, ledger, ctx, OBSERVED_MS)
        if r is None:
            continue
        rec, adm = r
        out.append(rec)
        if d.type == "cc.agent.presence.changed":
            for s in session_drafts(d, adm):
                r2 = emit(s, ledger, ctx, OBSERVED_MS)
                if r2 is not None:
                    out.append(r2[0])
    return out


def events(records: list[OutRecord]) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if r.value is not None]
