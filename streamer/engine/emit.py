"""Turn tracker drafts into CloudEvents through the ledger. Pure (time is passed in)."""

from __future__ import annotations

import functools
import sys
import sysconfig
from collections.abc import Callable
from typing import Any

import msgspec

from streamer.contract.events import (
    EVENT_SPECS,
    AgentCurrent,
    CloudEvent,
    Presence,
    Workload,
    WorkState,
    event_id,
)
from streamer.timeutil import format_ms
from streamer.track.cut import cut_strings
from streamer.track.ledger import Admission, Ledger

__all__ = ["Draft", "draft_order", "SourceContext", "OutRecord", "emit", "draft_event_id", "entity_key", "value_changes",
           "agent_current_record", "H_STREAM", "H_ENTITY", "H_SINCE", "H_VALUE"]

H_STREAM = "ccs-stream"
H_ENTITY = "ccs-entity"
H_SINCE = "ccs-since-ms"
H_VALUE = "ccs-value"

_enc = msgspec.json.Encoder()


MAX_FIELD_BYTES = 32768
"""Default longest vendor string in an event: 1/32 of the default ``kafka.max_record_bytes``."""


class SourceContext(msgspec.Struct, frozen=True):
    vendor: str
    source_id: str
    topic_prefix: str
    max_field_bytes: int = MAX_FIELD_BYTES
    """Strings longer than this (UTF-8) are cut, with a marker, before an event is made."""

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}"

    def key(self, entity_id: str) -> bytes:
        return f"{self.source_id}/{entity_id}".encode()


class Draft(msgspec.Struct, kw_only=True, gc=False):
    """A transition a tracker found; ``emit`` decides whether it is new and chains it."""

    type: str
    entity_id: str
    stream: str
    transition: str
    """What the entity entered; with ``at_ms`` it identifies the event."""
    at_ms: int
    value: Any = None
    """The new state as builtins; becomes the next event's ``previous``."""
    payload: msgspec.Struct
    """The event's ``data`` (a payload Struct); ``emit`` fills in ``sequence``, ``previous`` and the
    other chained fields."""
    previous_field: str | None = "previous"
    previous_type: Any = None
    """Type to convert a remembered previous value into (e.g. Presence)."""
    endpoint: str
    ride_along: frozenset[str] | None = None
    """Statistics drafts: ``value`` is a dict of fields; the draft is published only if a
    field outside ``ride_along`` differs from the last published values, and the payload's
    ``changes`` is filled with {field: [before, after]} of the fields that differ. Fields
    that grow with the clock (durations) ride along without triggering."""
    reread: bool = False
    """Read again from a part of a history that may be on Kafka already (see
    :class:`~streamer.track.window.WindowState`): published only if the ledger can tell
    that it is new, never a second time."""


def draft_order(d: Draft) -> tuple[int, str, str, str]:
    """Drafts of many rows ordered by what they say (time, entity, type, stream), not by
    the vendor's row order: rows served out of order or twice give the same events in the
    same order. Sort stably: within one stream, drafts of one row keep their order."""
    return (d.at_ms, d.entity_id, d.type, d.stream)


class OutRecord(msgspec.Struct, frozen=True, gc=False):
    topic: str
    key: bytes
    value: bytes | None
    """None is a tombstone (compacted topics)."""
    headers: list[tuple[str, bytes]]
    event_id: str | None = None
    type: str | None = None


def draft_event_id(draft: Draft, ctx: SourceContext, vendor_time: str | None = None) -> str:
    """The id the event of ``draft`` has (or would have) on Kafka: from the vendor's facts only.
    ``vendor_time``: ``format_ms(draft.at_ms)``, when the caller has it already."""
    at = format_ms(draft.at_ms) if vendor_time is None else vendor_time
    return event_id(ctx.vendor, ctx.source_id, draft.type, draft.entity_id, draft.transition, at)


def mortal_interning(version: tuple[int, ...], free_threaded: bool) -> bool:
    """Whether ``sys.intern`` lets a string go once nothing else holds it. Not on CPython
    3.12.0-3.12.6 (gh-113993: interned strings were immortal, fixed in 3.12.7) nor on
    free-threaded builds: there, interning the key of every interaction would keep each
    one until the process exits."""
    return not free_threaded and not ((3, 12) <= tuple(version[:2]) and tuple(version[:3]) < (3, 12, 7))


def _same(key: str) -> str:
    return key


_canonical: Callable[[str], str] = (
    sys.intern if mortal_interning(sys.version_info[:3], bool(sysconfig.get_config_var("Py_GIL_DISABLED"))) else _same
)


def entity_key(event_type: str, entity_id: str) -> str:
    """The ledger's key of an entity: ``<topic>/<entity id>`` (e.g. ``interaction/<guid>``).

    Interned where that is safe (:func:`mortal_interning`): the ledger files an entity's key
    in several tables (its entry, when it was last seen, the last mark of each stream) and a
    snapshot remembers the keys of its rows' interactions, each from a call of its own; one
    string serves them all (``python -m bench memory``: a busy agent 1,871-1,891 -> 1,692-1,755
    B, first sight 772-774 -> 545-563 B)."""
    return _canonical(f"{EVENT_SPECS[event_type].topic}/{entity_id}")


@functools.cache
def _fields(typ: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(typ.__struct_fields__)


def emit(draft: Draft, ledger: Ledger, ctx: SourceContext, observed_ms: int) -> tuple[OutRecord, Admission] | None:
    """Admit ``draft`` into ``ledger``; return its Kafka record, or ``None`` if already published."""
    entity = entity_key(draft.type, draft.entity_id)
    mark = None if draft.ride_along is not None else (draft.type, draft.transition, draft.at_ms)
    if mark is not None and ledger.presented_before(entity, draft.stream, mark, observed_ms):
        return None
    spec = EVENT_SPECS[draft.type]
    limit = ctx.max_field_bytes
    value_json = _enc.encode(draft.value)
    if len(value_json) > limit:  # it may hold an oversized string: cut it before the ledger keeps it
        draft = msgspec.structs.replace(
            draft, value=cut_strings(draft.value, limit), payload=cut_strings(draft.payload, limit)
        )
        value_json = _enc.encode(draft.value)
    vendor_time = format_ms(draft.at_ms)
    fields = _fields(type(draft.payload))
    changes: dict[str, Any] = {}
    if draft.ride_along is not None:
        diff = value_changes(ledger, entity, draft.stream, draft.value, draft.ride_along)
        if diff is None:
            ledger.touch(entity, observed_ms)  # unchanged, not gone: keep it from being pruned
            return None
        changes["changes"] = diff
    eid = draft_event_id(draft, ctx, vendor_time)
    if draft.reread and ledger.may_have_forgotten(entity, draft.stream, eid, draft.at_ms):
        ledger.touch(entity, observed_ms)
        return None
    adm = ledger.admit(entity, draft.stream, eid, draft.at_ms, draft.value, observed_ms, mark)
    if adm is None:
        return None
    changes["sequence"] = adm.sequence
    if adm.late and "late" in fields:
        changes["late"] = True
    if draft.previous_field is not None:
        prev = adm.previous
        if prev is not None and draft.previous_type is not None:
            prev = msgspec.convert(prev, draft.previous_type)
        changes[draft.previous_field] = prev
        if "previous_duration_ms" in fields:
            changes["previous_duration_ms"] = adm.previous_duration_ms
    data = msgspec.structs.replace(draft.payload, **changes)
    ev = CloudEvent(
        id=eid,
        source=f"/{ctx.vendor}/{ctx.source_id}/{draft.endpoint}",
        type=draft.type,
        subject=draft.entity_id,
        time=vendor_time,
        observedtime=format_ms(observed_ms),
        data=data,
    )
    body = _enc.encode(ev)
    if len(body) > limit:  # a payload field the value does not hold may be oversized
        body = _enc.encode(msgspec.structs.replace(ev, data=cut_strings(data, limit)))
    headers = [
        ("content-type", b"application/cloudevents+json"),
        (H_ENTITY, entity.encode()),
        (H_STREAM, draft.stream.encode()),
        (H_SINCE, str(draft.at_ms).encode()),
        (H_VALUE, value_json),
    ]
    rec = OutRecord(ctx.topic(spec.topic), ctx.key(draft.entity_id), body, headers, eid, draft.type)
    return rec, adm


def value_changes(
    ledger: Ledger, entity: str, stream: str, after: dict[str, Any], ride_along: frozenset[str]
) -> dict[str, list[Any]] | None:
    """{field: [before, after]} of the triggering fields that differ from the stream's
    current value (all of them on first sight); ``None`` when nothing triggering changed."""
    cur = ledger.current(entity, stream)
    before: dict[str, Any] = cur.value if cur is not None and isinstance(cur.value, dict) else {}
    out = {
        k: [before.get(k), v]
        for k, v in after.items()
        if k not in ride_along and (cur is None or before.get(k) != v)
    }
    if cur is not None and not out:
        return None
    return out


def agent_current_record(ledger: Ledger, ctx: SourceContext, agent_id: str, now_ms: int) -> OutRecord:
    """The compacted ``agent.current`` record for one agent, from what the ledger holds."""

    def cur(stream: str, typ: type) -> tuple[Any, str | None]:
        s = ledger.current(f"agent/{agent_id}", stream)
        if s is None or s.value is None:
            return None, None
        return msgspec.convert(s.value, typ), format_ms(s.since_ms)

    presence, since = cur("presence", Presence)
    workload, _ = cur("workload", Workload)
    state, _ = cur("state", WorkState)
    value = AgentCurrent(
        source_id=ctx.source_id,
        agent_id=agent_id,
        presence=presence,
        presence_since=since,
        workload=workload,
        state=state,
        updated=format_ms(now_ms),
    )
    return OutRecord(
        ctx.topic("agent.current"),
        ctx.key(agent_id),
        _enc.encode(value),
        [("content-type", b"application/json")],
    )
