"""Transfers inferred from channel joins (pure: no IO, no clocks, no vendor types).

No vendor publishes a transfer event. What it publishes (Vonage's ``/interactions``
channels, for example) is, per interaction, one channel ("leg") per party with the
moments it connected and disconnected. A transfer is read off those legs, as the
Vonage Insights Stats FAQ describes:

* **consult**: agent B connects while agent A is connected (A consults B), then A
  disconnects while B and the customer stay connected: A handed the call over to B.
* **blind**: A disconnects with no other agent on the call, and B is the next agent
  to connect, while the customer stays connected throughout.
* **conference**: A stays until the customer leaves: no transfer.

Everything is decided at the first agent's hand-over moment ``A.disconnected_ms``.
While A is still connected nothing is decided yet, so an open interaction yields no
transfer for A until a later view shows A gone. :func:`detect_transfers` is a pure,
deterministic function of the *set* of legs; the caller re-runs it on every new view
of the interaction and de-duplicates by the facts (a transfer, once visible, is
reported identically in every later view, as long as the customer's leg was already
visible: before an External leg appears, the customer counts as present while an agent
is, which a later External leg can contradict).

Time is half-open: a leg is connected at ``t`` when
``connected_ms <= t < disconnected_ms`` (or ``disconnected_ms is None``). So an agent
leaving at the very moment the customer leaves is a conference, not a transfer.
"""

from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

__all__ = [
    "CCR_PARTY_ID",
    "Leg",
    "Transfer",
    "TransferKind",
    "detect_transfers",
    "is_agent_leg",
    "is_customer_leg",
    "leg_from_channel_events",
    "legs_from_channel_events",
]

#: party id of Call Connect Router channels (Vonage): never an agent.
CCR_PARTY_ID = "CCRConnect"

TransferKind = Literal["consult", "blind"]


class Leg(msgspec.Struct, frozen=True, gc=False):
    """One party's channel in one interaction, in absolute epoch milliseconds."""

    channel_id: str
    party_id: str | None
    role: str | None  # "Agent", "External", "System", ...
    joined_ms: int  # when the channel appeared
    connected_ms: int | None  # first Connected; None = never connected (an offer)
    disconnected_ms: int | None  # end of the last Connected period; None = still connected


class Transfer(msgspec.Struct, frozen=True, gc=False):
    from_agent_id: str
    to_agent_id: str
    kind: TransferKind
    at_ms: int  # the first agent's hand-over moment (its disconnect)
    from_channel_id: str
    to_channel_id: str


def is_agent_leg(leg: Leg) -> bool:
    """An agent's leg: role Agent (any case) with a party id that is not a CCR channel."""
    return (
        leg.role is not None
        and leg.role.casefold() == "agent"
        and leg.party_id is not None
        and leg.party_id != CCR_PARTY_ID
    )


def is_customer_leg(leg: Leg) -> bool:
    """The customer's leg: role External (any case), never a CCR channel."""
    return leg.role is not None and leg.role.casefold() == "external" and leg.party_id != CCR_PARTY_ID


# --------------------------------------------------------------------------- helpers

_Interval = tuple[int, int | None]  # [start, end), end None = open


def _opt_key(value: int | str | None) -> tuple[bool, int | str]:
    return (value is None, value if value is not None else 0)


def _leg_key(leg: Leg) -> tuple[object, ...]:
    """A total order on legs, so that nothing depends on the input order."""
    return (
        leg.channel_id,
        _opt_key(leg.party_id),
        _opt_key(leg.role),
        leg.joined_ms,
        _opt_key(leg.connected_ms),
        _opt_key(leg.disconnected_ms),
    )


def _interval(leg: Leg) -> _Interval:
    assert leg.connected_ms is not None
    end = leg.disconnected_ms
    # A disconnect before the connect is bad data: treat it as a zero-length connection.
    if end is not None and end < leg.connected_ms:
        end = leg.connected_ms
    return (leg.connected_ms, end)


def _connected_at(iv: _Interval, t: int) -> bool:
    start, end = iv
    return start <= t and (end is None or end > t)


def _covers(intervals: Iterable[_Interval], start: int, end: int) -> bool:
    """Whether the union of half-open ``intervals`` contains every ms in ``[start, end]``."""
    need = start  # first ms not yet known to be covered
    for lo, hi in sorted(intervals, key=lambda iv: (iv[0], _opt_key(iv[1]))):
        if lo > need:
            return False
        if hi is None:
            return True
        if hi > need:
            need = hi
        if need > end:
            return True
    return False


def _pick_per_party(candidates: Iterable[Leg], exclude_party: str) -> list[Leg]:
    """One leg per agent (earliest connection, then channel id), never the excluded agent."""
    best: dict[str, Leg] = {}
    for leg in candidates:
        party = leg.party_id
        assert party is not None
        if party == exclude_party:
            continue
        current = best.get(party)
        if current is None or (leg.connected_ms, _leg_key(leg)) < (current.connected_ms, _leg_key(current)):
            best[party] = leg
    return [best[p] for p in sorted(best)]


# --------------------------------------------------------------------------- detection


def detect_transfers(legs: Sequence[Leg]) -> list[Transfer]:
    """All transfers the legs of one interaction show, sorted by ``at_ms``, then ``to_agent_id``.

    Only agent legs (:func:`is_agent_leg`) that connected take part; a leg that only
    rang was an offer. The customer is the External leg(s); without any External leg
    the customer counts as connected exactly while some agent is connected (so a blind
    transfer cannot be told apart from a dropped call and is not reported).

    For each agent leg A that has disconnected, at ``t = A.disconnected_ms``:

    * consult: agents B (not A's agent) with ``A.connected_ms <= B.connected_ms < t``
      that are still connected at ``t``, and the customer connected at ``t``: one
      transfer to each such agent (usually one). An agent that was on the call before
      A was the one who consulted A: A leaving ends the consultation, no transfer.
    * blind: no other agent connected at ``t``, and the next agent connection at or
      after ``t`` is B's (not A's agent again), with the customer connected from ``t``
      through that connection.
    """
    unique = sorted(set(legs), key=_leg_key)
    agents = [leg for leg in unique if is_agent_leg(leg) and leg.connected_ms is not None]
    if len({leg.party_id for leg in agents}) < 2:
        return []
    agent_ivs = {leg: _interval(leg) for leg in agents}

    customers = [leg for leg in unique if is_customer_leg(leg)]
    if customers:
        customer_ivs = [_interval(leg) for leg in customers if leg.connected_ms is not None]
    else:
        customer_ivs = list(agent_ivs.values())

    found: set[Transfer] = set()
    for a in agents:
        a_start, t = agent_ivs[a]
        if t is None:
            continue  # still connected: undecided (consult or conference later)
        assert a.party_id is not None
        others = [leg for leg in agents if leg is not a]

        consulted = [
            b for b in others if a_start <= agent_ivs[b][0] < t and _connected_at(agent_ivs[b], t)
        ]
        if consulted:
            if _covers(customer_ivs, t, t):
                for b in _pick_per_party(consulted, a.party_id):
                    found.add(_transfer(a, b, "consult", t))
            continue

        if any(agent_ivs[b][0] < t and _connected_at(agent_ivs[b], t) for b in others):
            continue  # A was consulted by an agent who stays: the consultation ended
        later = [b for b in others if agent_ivs[b][0] >= t]
        if not later:
            continue  # nobody took over (yet)
        first = min(agent_ivs[b][0] for b in later)
        if not _covers(customer_ivs, t, first):
            continue  # the customer left before anyone took over
        for b in _pick_per_party((b for b in later if agent_ivs[b][0] == first), a.party_id):
            found.add(_transfer(a, b, "blind", t))

    return sorted(
        found,
        key=lambda x: (x.at_ms, x.to_agent_id, x.from_agent_id, x.from_channel_id, x.to_channel_id, x.kind),
    )


def _transfer(a: Leg, b: Leg, kind: TransferKind, at_ms: int) -> Transfer:
    assert a.party_id is not None and b.party_id is not None
    return Transfer(
        from_agent_id=a.party_id,
        to_agent_id=b.party_id,
        kind=kind,
        at_ms=at_ms,
        from_channel_id=a.channel_id,
        to_channel_id=b.channel_id,
    )


# --------------------------------------------------------------------------- input helper


def leg_from_channel_events(
    channel_id: str,
    party_id: str | None,
    role: str | None,
    interaction_start_ms: int,
    channel_offset: int,
    channel_duration: int | None,
    events: Iterable[tuple[str | None, int | None, int | None]],
) -> Leg:
    """Build a :class:`Leg` from a channel whose event offsets are relative to the interaction start.

    ``events`` are ``(type, offset, duration)``; only ``Connected`` (any case) matters.
    ``connected_ms`` is the first Connected event, ``disconnected_ms`` the end
    (offset + duration) of the last one; Wrap, Held etc. do not count. An open last
    Connected event (duration None) means still connected, unless the channel itself
    has ended (``channel_duration`` set), in which case the channel's end is used.
    """
    # Sorted by offset; at equal offsets an open event sorts last (it wins as "last").
    connected = sorted(
        (
            (offset, duration)
            for kind, offset, duration in events
            if kind is not None and kind.casefold() == "connected" and offset is not None
        ),
        key=lambda od: (od[0], od[1] is None, od[1] or 0),
    )
    joined_ms = interaction_start_ms + channel_offset
    if not connected:
        return Leg(channel_id, party_id, role, joined_ms, None, None)
    first_offset = connected[0][0]
    last_offset, last_duration = connected[-1]
    if last_duration is not None:
        disconnected: int | None = interaction_start_ms + last_offset + last_duration
    elif channel_duration is not None:
        disconnected = joined_ms + channel_duration
    else:
        disconnected = None
    return Leg(channel_id, party_id, role, joined_ms, interaction_start_ms + first_offset, disconnected)


#: the name used in the design brief; builds one leg.
legs_from_channel_events = leg_from_channel_events
