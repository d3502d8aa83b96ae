"""Facts -> drafts, once for every vendor. Pure.

A vendor's mapping reads its rows into facts (a :class:`Presence`, a :class:`WorkState`,
a :class:`Workload`, an interaction leg's state, a transfer, statistics) and names each
change as the vendor identifies it: ``transition`` (with ``at_ms`` it makes the event
id, so its spelling is the vendor's and never changes). These functions assemble the
draft around that: type, entity, stream, value, payload. ``rule`` marks an inferred fact.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from streamer.contract.events import (
    AgentPresenceChanged,
    AgentQueuesChanged,
    AgentSessionEnded,
    AgentSessionStarted,
    AgentStateChanged,
    AgentWorkloadChanged,
    InteractionStateChanged,
    InteractionTransferred,
    Presence,
    StatsChanged,
    Workload,
    WorkState,
)
from streamer.engine.emit import Draft
from streamer.timeutil import format_ms
from streamer.track.transfer import Transfer

__all__ = [
    "presence_draft", "state_draft", "workload_draft", "queues_draft", "session_draft", "interaction_state_draft",
    "transfer_draft", "stats_draft",
]

_enc = msgspec.json.Encoder()


def _since(at_ms: int) -> str:
    return format_ms(at_ms)


def presence_draft(
    *, agent: str, presence: Presence, at_ms: int, endpoint: str, transition: str, rule: str | None = None,
) -> Draft:
    """The agent's presence is ``presence`` since ``at_ms`` (``cc.agent.presence.changed``)."""
    return Draft(
        type="cc.agent.presence.changed", entity_id=agent, stream="presence", transition=transition, at_ms=at_ms,
        value=msgspec.to_builtins(presence), previous_type=Presence, endpoint=endpoint,
        payload=AgentPresenceChanged(agent_id=agent, previous=None, current=presence, since=_since(at_ms),
                                     inferred=rule is not None, rule=rule),
    )


def state_draft(
    *, agent: str, state: WorkState, at_ms: int, endpoint: str, transition: str, rule: str | None = None,
) -> Draft:
    """The agent's work state is ``state`` since ``at_ms`` (``cc.agent.state.changed``)."""
    return Draft(
        type="cc.agent.state.changed", entity_id=agent, stream="state", transition=transition, at_ms=at_ms,
        value=msgspec.to_builtins(state), previous_type=WorkState, endpoint=endpoint,
        payload=AgentStateChanged(agent_id=agent, previous=None, current=state, since=_since(at_ms),
                                  inferred=rule is not None, rule=rule),
    )


def workload_draft(
    *, agent: str, workload: Workload, at_ms: int, endpoint: str, transition: str, rule: str | None = None,
) -> Draft:
    """The agent handles ``workload`` since ``at_ms`` (``cc.agent.workload.changed``)."""
    return Draft(
        type="cc.agent.workload.changed", entity_id=agent, stream="workload", transition=transition, at_ms=at_ms,
        value=msgspec.to_builtins(workload), previous_type=Workload, endpoint=endpoint,
        payload=AgentWorkloadChanged(agent_id=agent, previous=None, current=workload, since=_since(at_ms),
                                     inferred=rule is not None, rule=rule),
    )


def queues_draft(*, agent: str, serving: list[str], at_ms: int, endpoint: str, transition: str) -> Draft:
    """The queues the agent is logged in to since ``at_ms`` (``cc.agent.queues.changed``)."""
    return Draft(
        type="cc.agent.queues.changed", entity_id=agent, stream="queues", transition=transition, at_ms=at_ms,
        value=serving, previous_type=list[str], endpoint=endpoint,
        payload=AgentQueuesChanged(agent_id=agent, previous=None, current=serving, since=_since(at_ms)),
    )


def session_draft(
    *, agent: str, started: bool, at_ms: int, endpoint: str, transition: str, rule: str | None = None,
) -> Draft:
    """The agent's session started (or ended) at ``at_ms`` (``cc.agent.session.started/ended``)."""
    at = _since(at_ms)
    inferred = rule is not None
    if started:
        return Draft(
            type="cc.agent.session.started", entity_id=agent, stream="session", transition=transition,
            at_ms=at_ms, value="in", previous_field=None, endpoint=endpoint,
            payload=AgentSessionStarted(agent_id=agent, at=at, inferred=inferred, rule=rule),
        )
    return Draft(
        type="cc.agent.session.ended", entity_id=agent, stream="session", transition=transition,
        at_ms=at_ms, value="out", previous_field=None, endpoint=endpoint,
        payload=AgentSessionEnded(agent_id=agent, at=at, inferred=inferred, rule=rule),
    )


def interaction_state_draft(
    *, interaction: str, agent: str | None, state: str, at_ms: int, endpoint: str, transition: str,
    raw: str | None, medium: str | None = None, direction: str | None = None, reason: str | None = None,
    rule: str | None = None,
) -> Draft:
    """One leg of an interaction: ``agent``'s part (or the interaction itself, no agent)
    entered the normalized ``state`` at ``at_ms`` (``cc.interaction.state.changed``)."""
    return Draft(
        type="cc.interaction.state.changed", entity_id=interaction, stream=f"agent/{agent}" if agent else "lifecycle",
        transition=transition, at_ms=at_ms, value=state, previous_field="previous_state", endpoint=endpoint,
        payload=InteractionStateChanged(
            interaction_id=interaction, agent_id=agent, medium=medium, direction=direction, previous_state=None,
            state=state, reason=reason, since=_since(at_ms), raw=raw, inferred=rule is not None, rule=rule,
        ),
    )


def transfer_draft(*, interaction: str, transfer: Transfer, endpoint: str, rule: str) -> Draft:
    """The interaction went from one agent to another (inferred: no vendor reports a
    transfer, :mod:`streamer.track.transfer` reads it off the legs)."""
    t = transfer
    return Draft(
        type="cc.interaction.transferred", entity_id=interaction, stream="transfers",
        transition=f"{t.from_agent_id}>{t.to_agent_id}:{t.kind}", at_ms=t.at_ms, previous_field=None,
        endpoint=endpoint,
        payload=InteractionTransferred(
            interaction_id=interaction, from_agent_id=t.from_agent_id, to_agent_id=t.to_agent_id, kind=t.kind,
            at=_since(t.at_ms), inferred=True, rule=rule,
        ),
    )


def stats_draft(
    *, scope: str, entity: str, name: str | None, values: dict[str, Any], ride_along: frozenset[str], at_ms: int,
    endpoint: str, stream: str,
) -> Draft:
    """One view of statistics (``cc.stats.changed``); ``emit`` publishes it only when a
    value outside ``ride_along`` changed. The transition is ``stream`` and a digest of
    the triggering values (two streams reporting one entity give two ids)."""
    triggering = sorted((k, v) for k, v in values.items() if k not in ride_along)
    digest = hashlib.blake2b(_enc.encode(triggering), digest_size=8).hexdigest()
    return Draft(
        type="cc.stats.changed", entity_id=f"{scope}/{entity}", stream=stream, transition=f"{stream}:{digest}",
        at_ms=at_ms, value=values, previous_field=None, endpoint=endpoint, ride_along=ride_along,
        payload=StatsChanged(scope=scope, entity_id=entity, name=name, changes={}, values=values),
    )
