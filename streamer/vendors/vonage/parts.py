"""When an agent's part in an interaction ends, from ``agent-activities`` rows. Pure.

An agent works an interaction as a run of activities (Ringing, Connected, Wrap, ...;
seeds/vonage-insights-stats-agent-activities.txt, "An agent activity of Interaction
type"), each with a ``start`` and a ``duration`` that is null while it is open. No row
says "this was the last one": the part has ended when the agent's latest activity on the
interaction is closed and no later one has turned up. The history vouches for rows up to
its cursor, and a row the vendor writes late is still read within the lookback (that is
what the lookback re-reads are for), so an end is *settled* once the cursor is a
lookback past it; the caller passes ``settled_up_to`` = cursor - lookback.

The end is the start plus the duration of the agent's last activity (for the seed
example's interaction 016f1c6b, Wrap 15:48:56.600 + 3912 ms = 15:49:00.512). A row of
the same agent and interaction that starts at or after a published end is a new part
(the agent was consulted again) and ends on its own. Monitoring rows (``reason:
Monitor``) are not parts (seed: "Monitor. The user is monitoring the interaction.").
"""

from __future__ import annotations

import msgspec

from streamer.http.tolerant import fold_key
from streamer.timeutil import to_ms
from streamer.vendors.vonage.models import Activity

__all__ = ["PartEnd", "PartEnds", "is_monitoring"]


def is_monitoring(reason: str | None) -> bool:
    """A supervisor's monitoring activity (``reason: Monitor``, any case)."""
    return reason is not None and reason.strip().casefold() == "monitor"


class PartEnd(msgspec.Struct, frozen=True):
    """A settled end of one agent's part in one interaction."""

    interaction_id: str
    agent_id: str
    start_ms: int
    """Start of the last activity (the earliest a read could have returned it)."""
    end_ms: int
    medium: str | None = None
    direction: str | None = None


class _Last(msgspec.Struct):
    start_ms: int
    end_ms: int | None
    category: str
    medium: str | None
    direction: str | None


def _later(end: int | None) -> float:
    return float("inf") if end is None else end


class PartEnds:
    """Per (interaction, agent): the latest activity seen, until its end is settled.

    Settled ends are remembered (``done``) for ``keep_ms`` past their end so that rows
    served again in a later overlap do not open the part again.
    """

    def __init__(self, keep_ms: int) -> None:
        self.keep_ms = keep_ms
        self.open: dict[tuple[str, str], _Last] = {}
        self.done: dict[tuple[str, str], int] = {}

    def forget(self) -> None:
        self.open.clear()
        self.done.clear()

    def see(self, a: Activity) -> None:
        """Note an Interaction activity row (others are ignored)."""
        if (a.type or "").casefold() != "interaction" or a.interaction is None or is_monitoring(a.reason):
            return
        key = (a.interaction.guid, a.agent_id)
        start = to_ms(a.start)
        end = None if a.duration is None else start + max(0, a.duration)
        ended = self.done.get(key)
        if ended is not None:
            if start < ended:
                return  # a row of the part already ended, served again
            del self.done[key]  # the agent joined again: a new part
        last = self.open.get(key)
        category = fold_key(a.category or "")
        if last is not None and (start, category) == (last.start_ms, last.category):
            if end is not None:
                last.end_ms = end  # the same row, now closed (a row never reopens)
            return
        # the latest start wins; at equal starts the one that ends later (an open one)
        if last is None or (start, _later(end)) > (last.start_ms, _later(last.end_ms)):
            self.open[key] = _Last(start, end, category, a.interaction.medium, a.interaction.direction)

    def settled(self, settled_up_to_ms: int) -> list[PartEnd]:
        """The parts whose last activity closed at or before ``settled_up_to_ms``, once
        each, by end time; forgets settled ends older than ``keep_ms``."""
        out = []
        for key, last in list(self.open.items()):
            if last.end_ms is not None and last.end_ms <= settled_up_to_ms:
                del self.open[key]
                self.done[key] = last.end_ms
                out.append(PartEnd(key[0], key[1], last.start_ms, last.end_ms, last.medium, last.direction))
        horizon = settled_up_to_ms - self.keep_ms
        for key in [k for k, end in self.done.items() if end < horizon]:
            del self.done[key]
        return sorted(out, key=lambda p: (p.end_ms, p.interaction_id, p.agent_id))
