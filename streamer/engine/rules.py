"""Inference rules shared by every vendor: sessions from presence. Pure."""

from __future__ import annotations

from typing import Any

import msgspec

from streamer.contract.events import AgentSessionEnded, AgentSessionStarted
from streamer.engine.emit import Draft, OutRecord, SourceContext, emit
from streamer.timeutil import format_ms
from streamer.track.ledger import Admission, Ledger

__all__ = ["LOGGED_OUT", "session_drafts", "emit_with_rules"]

LOGGED_OUT = "LoggedOut"


def _category(value: Any) -> str | None:
    return value.get("category") if isinstance(value, dict) else None


def session_drafts(presence: Draft, adm: Admission) -> list[Draft]:
    """Login = leaving LoggedOut, logout = entering it (the vendors' own definition).

    First sight says nothing about a session: the previous presence is unknown.
    """
    before, after = _category(adm.previous), _category(presence.value)
    if before is None or after is None or (before == LOGGED_OUT) == (after == LOGGED_OUT):
        return []
    at = format_ms(presence.at_ms)
    agent = presence.entity_id
    if before == LOGGED_OUT:
        return [
            Draft(
                type="cc.agent.session.started", entity_id=agent, stream="session", transition="started",
                at_ms=presence.at_ms, value="in", previous_field=None, endpoint=presence.endpoint,
                payload=AgentSessionStarted(agent_id=agent, at=at, inferred=True, rule="presence-left-LoggedOut"),
            )
        ]
    return [
        Draft(
            type="cc.agent.session.ended", entity_id=agent, stream="session", transition="ended",
            at_ms=presence.at_ms, value="out", previous_field=None, endpoint=presence.endpoint,
            payload=AgentSessionEnded(agent_id=agent, at=at, inferred=True, rule="presence-entered-LoggedOut"),
        )
    ]


def emit_with_rules(
    drafts: list[Draft], ledger: Ledger, ctx: SourceContext, observed_ms: int
) -> list[tuple[OutRecord, Draft]]:
    """Emit drafts in order, each followed by the events it implies (sessions); skips
    what the ledger has already admitted."""
    out: list[tuple[OutRecord, Draft]] = []
    for d in drafts:
        r = emit(d, ledger, ctx, observed_ms)
        if r is None:
            continue
        rec, adm = r
        out.append((rec, d))
        if d.type == "cc.agent.presence.changed":
            for s in _inherit_marks(d, session_drafts(d, adm)):
                more = emit(s, ledger, ctx, observed_ms)
                if more is not None:
                    out.append((more[0], s))
    return out


_MARKS = ("fill", "backfill")


def _inherit_marks(parent: Draft, derived: list[Draft]) -> list[Draft]:
    """Events inferred from a fill or backfill event say so too."""
    marks = {m: True for m in _MARKS if getattr(parent.payload, m, False)}
    if not marks:
        return derived
    return [msgspec.structs.replace(d, payload=msgspec.structs.replace(d.payload, **marks)) for d in derived]
