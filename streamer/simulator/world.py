"""Ground-truth contact center: agents, presences, calls and transfers.

A discrete-event simulation in virtual time. Events sit in a priority queue and are
processed lazily by :meth:`World.advance` up to the clock's current time, so the
outcome depends only on ``seed``, ``agents``, ``start`` and ``speed``, never on when
or how often it is advanced. Reads return copies taken under a lock, except the
``*_between`` windows and ``agent_status(live=True)``: the live records, for the vendor
renderers, which read them while holding :attr:`World.lock` and never change them.
"""

from __future__ import annotations

import copy
import dataclasses
import heapq
import operator
import random
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from streamer.simulator.truth import (
    AgentSnapshot,
    TruthActivity,
    TruthChannel,
    TruthEvent,
    TruthInteraction,
    TruthTransfer,
)

__all__ = ["World", "PRESENCES"]

T = TypeVar("T", TruthActivity, TruthInteraction)
_longest_idle = operator.attrgetter("idle_since", "id")

#: presence name -> (category, eligible for routing)
PRESENCES: dict[str, tuple[str, bool]] = {
    "Ready": ("Ready", True),
    "Break": ("Away", False),
    "Lunch": ("ExtendedAway", False),
    "Meeting": ("ExtendedAway", False),
    "Logged Out": ("LoggedOut", False),
}

CALLS_PER_AGENT_PER_S = 0.03
ABANDON_AFTER_S = 120.0
P_NO_ANSWER = 0.1
P_HELD = 0.25
P_CCR = 0.2
PLANS = (("simple", 0.62), ("consult", 0.14), ("blind", 0.14), ("conference", 0.10))


@dataclass(slots=True)
class _Agent:
    id: str
    touchpoint: str
    presence: TruthActivity
    workload: TruthActivity
    open: dict[str, TruthActivity] = field(default_factory=dict)  # channel guid -> activity
    idle_since: int = 0


@dataclass(slots=True)
class _Call:
    interaction: TruthInteraction
    external: TruthChannel
    plan: str
    held: bool
    ccr: bool
    deadline: int
    queue_event: TruthEvent | None = None
    hold_event: TruthEvent | None = None
    answered: bool = False
    customer_gone: bool = False
    first: tuple[_Agent, TruthChannel] | None = None
    tried: set[str] = field(default_factory=set)
    index: int = 0
    """Position of the interaction in ``World._interactions``."""


class World:
    """A seeded contact center; ground truth for the vendor simulators.

    ``calls_per_second`` (virtual, before ``speed``) defaults to 0.03 per agent.
    """

    def __init__(
        self,
        seed: int,
        agents: int = 20,
        *,
        clock: Callable[[], float] = time.time,
        start: float | None = None,
        speed: float = 1.0,
        calls_per_second: float | None = None,
    ) -> None:
        if agents < 1 or speed <= 0:
            raise ValueError("agents must be >= 1 and speed > 0")
        self._clock = clock
        self._rng = random.Random(seed)
        self._speed = speed
        self._call_rate = calls_per_second or CALLS_PER_AGENT_PER_S * agents
        self._lock: threading.RLock = threading.RLock()
        self.start_ms = int((clock() if start is None else start) * 1000)
        self._t = self.start_ms
        self._now = self.start_ms
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._activities: list[TruthActivity] = []  # by start (the clock never goes back)
        self._interactions: list[TruthInteraction] = []  # by start
        self._activity_ends: list[tuple[int, int]] = []  # (end, index in _activities), by end
        self._interaction_ends: list[tuple[int, int]] = []  # (end, index in _interactions), by end
        self._open_index: dict[int, int] = {}  # id() of an open activity -> its index
        self._free: dict[str, _Agent] = {}  # Ready agents without an open interaction
        self._transfers: list[TruthTransfer] = []
        self._queue: list[_Call] = []
        self._agents: dict[str, _Agent] = {}
        for i in range(agents):
            self._add_agent(f"{i + 1:02d}")
        self._at(self._t + self._exp(self._call_rate), self._arrive)

    # ------------------------------------------------------------------ public reads
    @property
    def clock(self) -> Callable[[], float]:
        """The clock the world runs on (seconds since the epoch)."""
        return self._clock

    @property
    def lock(self) -> threading.RLock:
        """Re-entrant lock: hold it to advance and read several views consistently."""
        return self._lock

    @property
    def speed(self) -> float:
        """How much faster than the clock the world runs: every duration it draws is divided by it."""
        return self._speed

    @property
    def agent_ids(self) -> list[str]:
        return list(self._agents)

    def advance(self, now: float | None = None) -> int:
        """Process every event up to ``now`` (default: the clock); return now in ms."""
        now_ms = int((self._clock() if now is None else now) * 1000)
        with self._lock:
            while self._heap and self._heap[0][0] <= now_ms:
                t, _, fn = heapq.heappop(self._heap)
                self._t = t
                fn()
            self._now = max(self._now, now_ms)
            return self._now

    def now_ms(self) -> int:
        """The time the world has been advanced to."""
        with self._lock:
            return self._now

    def activities(self, where: Callable[[TruthActivity], bool] | None = None) -> list[TruthActivity]:
        """Copies of the activities started so far (those ``where`` accepts), by start."""
        with self._lock:
            return [dataclasses.replace(a) for a in self._activities if where is None or where(a)]

    def interactions(
        self, where: Callable[[TruthInteraction], bool] | None = None
    ) -> list[TruthInteraction]:
        """Deep copies of the interactions started so far (those ``where`` accepts), by start."""
        with self._lock:
            return [_copy_interaction(i) for i in self._interactions if where is None or where(i)]

    def interaction_statuses(self) -> dict[str, str]:
        """Interaction guid -> status (Ongoing, Completed)."""
        with self._lock:
            return {i.guid: i.status for i in self._interactions}

    def transfers(self) -> list[TruthTransfer]:
        with self._lock:
            return [dataclasses.replace(t) for t in self._transfers]

    def agent_status(self, *, live: bool = False) -> list[AgentSnapshot]:
        """Each agent's open activities, ordered by agent id (``live``: the live activities,
        not copies, to read while holding :attr:`lock`)."""
        dup = _same if live else dataclasses.replace
        with self._lock:
            return [
                AgentSnapshot(
                    agent_id=a.id,
                    presence=dup(a.presence),
                    workload=dup(a.workload),
                    interactions=[dup(x) for x in a.open.values()],
                )
                for a in sorted(self._agents.values(), key=lambda a: a.id)
            ]

    def activities_between(self, lo: int, hi: int, *, ended: bool) -> list[TruthActivity]:
        """The live activities started in ``[lo, hi)`` (``ended``: or ended in it), in the
        order :meth:`activities` gives them; read them while holding :attr:`lock`."""
        with self._lock:
            return _between(self._activities, self._activity_ends, lo, hi, ended)

    def activity_moments(self, starts_from: int, ends_from: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(moment, index) of the activity starts from the ``starts_from``-th on and of the
        activity ends from the ``ends_from``-th on, each in the order they happened: what
        brings an index of the activities by time up to date (see :meth:`activities_at`)."""
        with self._lock:
            starts = [(a.start_ms, i) for i, a in enumerate(self._activities[starts_from:], starts_from)]
            return starts, self._activity_ends[ends_from:]

    def activities_at(self, indices: Iterable[int]) -> list[TruthActivity]:
        """The live activities at ``indices`` (of :meth:`activity_moments`), in that order;
        read them while holding :attr:`lock`."""
        with self._lock:
            activities = self._activities
            return [activities[i] for i in indices]

    def interactions_between(self, lo: int, hi: int, *, ended: bool) -> list[TruthInteraction]:
        """The live interactions started in ``[lo, hi)`` (``ended``: or ended in it), in the
        order :meth:`interactions` gives them; read them while holding :attr:`lock`."""
        with self._lock:
            return _between(self._interactions, self._interaction_ends, lo, hi, ended)

    # ------------------------------------------------------------------ scheduling
    def _at(self, t: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn))

    def _dur(self, lo: float, hi: float) -> int:
        """A uniform duration in ms, scaled by speed, at least 1 ms."""
        return max(1, round(self._rng.uniform(lo, hi) * 1000 / self._speed))

    def _exp(self, rate_per_s: float) -> int:
        return max(1, round(self._rng.expovariate(rate_per_s) * 1000 / self._speed))

    def _guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _phone(self) -> str:
        return f"07{self._rng.randrange(10**9):09d}"

    # ------------------------------------------------------------------ agents
    def _add_agent(self, agent_id: str) -> None:
        presence = self._new_activity(
            agent_id, "Presence", category="LoggedOut", name="Logged Out", eligible=False
        )
        workload = self._new_activity(agent_id, "Workload", workload=(0, 0, 0))
        agent = _Agent(agent_id, self._phone(), presence, workload, idle_since=self._t)
        self._agents[agent_id] = agent
        login = self.start_ms + round(self._rng.uniform(0.2, 3.0) * 1000 / self._speed)
        self._at(login, lambda: self._back_to_ready(agent))

    def _new_activity(self, agent_id: str, type_: str, **kw: object) -> TruthActivity:
        act = TruthActivity(agent_id=agent_id, type=type_, start_ms=self._t, **kw)  # type: ignore[arg-type]
        self._open_index[id(act)] = len(self._activities)
        self._activities.append(act)
        return act

    def _end_activity(self, act: TruthActivity) -> None:
        act.end_ms = self._t
        self._activity_ends.append((self._t, self._open_index.pop(id(act))))

    def _set_presence(self, agent: _Agent, name: str) -> None:
        category, eligible = PRESENCES[name]
        self._end_activity(agent.presence)
        agent.presence = self._new_activity(
            agent.id, "Presence", category=category, name=name, eligible=eligible
        )
        self._refresh_free(agent)

    def _back_to_ready(self, agent: _Agent) -> None:
        self._set_presence(agent, "Ready")
        self._at(self._t + self._dur(15, 60), lambda: self._presence_tick(agent))
        self._dispatch()

    def _presence_tick(self, agent: _Agent) -> None:
        """A Ready agent takes a break, goes to lunch/meeting or logs out, when idle."""
        if agent.open:
            self._at(self._t + self._dur(1, 3), lambda: self._presence_tick(agent))
            return
        r = self._rng.random()
        if r < 0.55:
            name, back = "Break", self._dur(5, 15)
        elif r < 0.8:
            name, back = self._rng.choice(("Lunch", "Meeting")), self._dur(10, 30)
        else:
            name, back = "Logged Out", self._dur(5, 20)
        self._set_presence(agent, name)
        self._at(self._t + back, lambda: self._back_to_ready(agent))

    def _set_calls(self, agent: _Agent, delta: int) -> None:
        """Start a new Workload activity with the agent's changed live-call count."""
        old = agent.workload
        calls = (old.workload or (0, 0, 0))[0] + delta
        if old.start_ms == self._t:  # same instant: amend instead of a 0 ms activity
            old.workload = (calls, 0, 0)
            return
        self._end_activity(old)
        agent.workload = self._new_activity(agent.id, "Workload", workload=(calls, 0, 0))

    def _refresh_free(self, agent: _Agent) -> None:
        """Keep ``_free`` in step after the agent's presence or open activities changed."""
        if agent.presence.category == "Ready" and not agent.open:
            self._free[agent.id] = agent
        else:
            self._free.pop(agent.id, None)

    def _pick_free(self, exclude: set[str]) -> _Agent | None:
        free = list(self._free.values())
        preferred = [a for a in free if a.id not in exclude] or free
        return min(preferred, key=_longest_idle, default=None)

    def _agent_state(
        self, agent: _Agent, call: _Call, ch: TruthChannel, category: str | None,
        direction: str = "Inbound", reason: str | None = None,
    ) -> None:
        """End the agent's current activity on ``ch``; start ``category`` if given."""
        prev = agent.open.pop(ch.guid, None)
        if prev is not None:
            self._end_activity(prev)
            direction = prev.direction or direction
        if category is None:
            if not agent.open:
                agent.idle_since = self._t
            self._refresh_free(agent)
            return
        agent.open[ch.guid] = self._new_activity(
            agent.id, "Interaction", category=category, reason=reason,
            interaction_guid=call.interaction.guid, channel_guid=ch.guid,
            medium=call.interaction.medium, direction=direction,
        )
        self._refresh_free(agent)

    # ------------------------------------------------------------------ calls
    def _arrive(self) -> None:
        self._at(self._t + self._exp(self._call_rate), self._arrive)
        guid = self._guid()
        inter = TruthInteraction(guid, self._guid(), self._t, connect_from=self._phone())
        ext = TruthChannel(guid, None, "External", inter.connect_from, self._t)
        ext.events.append(TruthEvent("Ringing", self._t, self._t))
        ext.events.append(TruthEvent("Connected", self._t))
        queue_event = TruthEvent("Queue", self._t, name="ACD1",
                                 properties={"presentedSkills": ["Billing"], "result": None})
        ext.events.append(queue_event)
        inter.channels.append(ext)
        self._interactions.append(inter)
        plan = self._rng.choices([p for p, _ in PLANS], [w for _, w in PLANS])[0]
        call = _Call(
            inter, ext, plan, held=self._rng.random() < P_HELD, ccr=self._rng.random() < P_CCR,
            deadline=self._t + round(ABANDON_AFTER_S * 1000 / self._speed),
            queue_event=queue_event, index=len(self._interactions) - 1,
        )
        self._queue.append(call)
        self._at(call.deadline, lambda: self._abandon_if_waiting(call))
        self._dispatch()

    def _dispatch(self) -> None:
        """Offer queued calls to free Ready agents, longest idle first."""
        while self._queue:
            call = self._queue[0]
            agent = self._pick_free(call.tried)
            if agent is None:
                return
            self._queue.pop(0)
            if call.queue_event is not None:
                call.queue_event.end_ms = self._t
                call.queue_event.properties = {"presentedSkills": ["Billing"], "result": "Delivered"}
                call.queue_event = None
            self._offer(call, agent, "first")

    def _abandon_if_waiting(self, call: _Call) -> None:
        if call not in self._queue:
            return
        self._queue.remove(call)
        if call.queue_event is not None:
            call.queue_event.end_ms = self._t
            call.queue_event.properties = {"presentedSkills": ["Billing"], "result": "Abandoned"}
        self._end_external(call, "Abandoned")
        self._maybe_complete(call)

    def _offer(self, call: _Call, agent: _Agent, leg: str) -> None:
        ch = TruthChannel(self._guid(), agent.id, "Agent", agent.touchpoint, self._t)
        ch.events.append(TruthEvent("Ringing", self._t))
        call.interaction.channels.append(ch)
        direction = "Internal" if leg in ("consult", "conference") else "Inbound"
        self._agent_state(agent, call, ch, "Ringing", direction)
        self._set_calls(agent, +1)
        ring = self._dur(1, 4)
        if leg == "first" and self._rng.random() < P_NO_ANSWER:
            self._at(self._t + ring, lambda: self._no_answer(call, agent, ch))
        else:
            self._at(self._t + ring, lambda: self._answer(call, agent, ch, leg))

    def _next_event(self, ch: TruthChannel, type_: str) -> None:
        """End the channel's open agent-state event and open ``type_``."""
        for ev in ch.events:
            if ev.end_ms is None and ev.type in ("Ringing", "Connected", "Wrap", "Unexpected"):
                ev.end_ms = self._t
        ch.events.append(TruthEvent(type_, self._t))

    def _no_answer(self, call: _Call, agent: _Agent, ch: TruthChannel) -> None:
        self._next_event(ch, "Unexpected")
        ch.events[-1].properties = {"reason": "NoAnswer"}
        self._agent_state(agent, call, ch, "Unexpected", reason="NoAnswer")
        self._set_calls(agent, -1)

        def give_up() -> None:
            ch.events[-1].end_ms = self._t
            self._end_channel(ch, "NoAnswer")
            self._agent_state(agent, call, ch, None)
            call.tried.add(agent.id)
            self._queue.insert(0, call)
            if self._t >= call.deadline:
                self._abandon_if_waiting(call)
            self._dispatch()

        self._at(self._t + self._dur(0.5, 1.5), give_up)

    def _answer(self, call: _Call, agent: _Agent, ch: TruthChannel, leg: str) -> None:
        self._next_event(ch, "Connected")
        self._agent_state(agent, call, ch, "Connected")
        call.answered = True
        if leg == "first":
            call.first = (agent, ch)
            talk = self._dur(4, 15)
            if call.held:
                self._at(self._t + talk // 3, lambda: self._hold(call, agent.id, talk // 3))
            after = self._hangup if call.plan == "simple" else self._second_leg
            self._at(self._t + talk, lambda: after(call))
        elif leg == "consult":
            self._at(self._t + self._dur(2, 5), lambda: self._complete_consult(call, agent))
        else:
            self._at(self._t + self._dur(4, 12), lambda: self._hangup(call))

    def _hold(self, call: _Call, agent_id: str, length: int) -> None:
        if call.customer_gone or call.hold_event is not None:
            return
        ev = TruthEvent("Held", self._t, properties={"initiatingAgentId": agent_id, "type": "Held"})
        call.external.events.append(ev)
        call.hold_event = ev

        def unhold() -> None:
            if call.hold_event is ev:
                ev.end_ms = self._t
                call.hold_event = None

        self._at(self._t + max(1, length), unhold)

    def _second_leg(self, call: _Call) -> None:
        assert call.first is not None
        first, first_ch = call.first
        second = self._pick_free({first.id})
        if second is None or second is first:
            self._hangup(call)
            return
        if call.plan == "consult":
            if call.hold_event is None:
                ev = TruthEvent("Held", self._t,
                                properties={"initiatingAgentId": first.id, "type": "Held"})
                call.external.events.append(ev)
                call.hold_event = ev
            self._offer(call, second, "consult")
        elif call.plan == "blind":
            self._transfer(call, first, second, "blind")
            self._leave(call, first, first_ch)
            self._offer(call, second, "blind")
        else:
            self._offer(call, second, "conference")

    def _complete_consult(self, call: _Call, second: _Agent) -> None:
        assert call.first is not None
        first, first_ch = call.first
        if call.hold_event is not None:
            call.hold_event.end_ms = self._t
            call.hold_event = None
        self._transfer(call, first, second, "consult")
        self._leave(call, first, first_ch)
        self._at(self._t + self._dur(4, 12), lambda: self._hangup(call))

    def _transfer(self, call: _Call, first: _Agent, second: _Agent, kind: str) -> None:
        self._transfers.append(TruthTransfer(call.interaction.guid, first.id, second.id, kind, self._t))

    def _leave(self, call: _Call, agent: _Agent, ch: TruthChannel) -> None:
        """The agent's Connected ends: Wrap, then the channel closes."""
        self._next_event(ch, "Wrap")
        self._agent_state(agent, call, ch, "Wrap")
        self._set_calls(agent, -1)

        def done() -> None:
            ch.events[-1].end_ms = self._t
            self._end_channel(ch, "Released")
            self._agent_state(agent, call, ch, None)
            self._maybe_complete(call)
            self._dispatch()

        self._at(self._t + self._dur(1, 4), done)

    def _hangup(self, call: _Call) -> None:
        """The customer hangs up: every connected agent goes to Wrap."""
        if call.hold_event is not None:
            call.hold_event.end_ms = self._t
            call.hold_event = None
        self._end_external(call, "Released")
        for ch in call.interaction.channels:
            if ch.role == "Agent" and ch.end_ms is None and ch.events[-1].type == "Connected":
                self._leave(call, self._agents[ch.party_id or ""], ch)
        self._maybe_complete(call)

    def _end_external(self, call: _Call, reason: str) -> None:
        call.customer_gone = True
        for ev in call.external.events:
            if ev.end_ms is None:
                ev.end_ms = self._t
        self._end_channel(call.external, reason)

    def _end_channel(self, ch: TruthChannel, reason: str) -> None:
        ch.end_ms = self._t
        ch.end_reason = reason

    def _maybe_complete(self, call: _Call) -> None:
        inter = call.interaction
        if inter.end_ms is not None or not call.customer_gone:
            return
        if any(ch.end_ms is None for ch in inter.channels):
            return
        inter.end_ms = self._t
        self._interaction_ends.append((self._t, call.index))
        inter.status = "Completed"
        if call.ccr and call.answered:
            begin = min(ch.start_ms for ch in inter.channels if ch.role == "Agent")
            ccr = TruthChannel(self._guid(), "CCRConnect", "System", None, begin, self._t, "Released")
            ccr.events.append(TruthEvent("Connected", begin, self._t))
            inter.channels.append(ccr)


def _same(x: TruthActivity) -> TruthActivity:
    return x


def _between(items: list[T], ends: list[tuple[int, int]], lo: int, hi: int, ended: bool) -> list[T]:
    """``items`` (ordered by start) started in ``[lo, hi)``, after those started before
    ``lo`` that ended in it if ``ended``; in the order of ``items`` either way."""
    first = bisect_left(items, lo, key=_start_of)
    started = items[first : bisect_left(items, hi, lo=first, key=_start_of)]
    if not ended:
        return started
    earlier = sorted(i for _, i in ends[bisect_left(ends, (lo,)) : bisect_left(ends, (hi,))] if i < first)
    return [items[i] for i in earlier] + started


def _start_of(x: TruthActivity | TruthInteraction) -> int:
    return x.start_ms


def _copy_interaction(i: TruthInteraction) -> TruthInteraction:
    """A deep copy, field by field: ``copy.deepcopy`` took most of a poll's time in the
    simulator (every RMI/RAI read copies the whole day's interactions)."""
    return dataclasses.replace(i, channels=[
        dataclasses.replace(ch, events=[
            dataclasses.replace(e, properties=None if e.properties is None else copy.deepcopy(e.properties))
            for e in ch.events
        ])
        for ch in i.channels
    ])
