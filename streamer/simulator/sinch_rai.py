"""The world as Sinch Contact Center's RAI (Restful Analytics Interface), at ``/sinch/RI/rai``.

``/agentStatusHistory`` (the status log, by ``changeTimeStamp``), ``/agentStatus`` (the
status table now), and the quarter-hour statistics ``/contactStatistic``,
``/agentStatistic`` (today, with in-progress figures) and ``/contactHistory``,
``/agentHistory`` (closed quarter hours only, as a reporting database has them).
Basic ``sim:sim``; ``offset``/``limit`` paging with the 10,000-row limit; ``text/plain``
400s (``Invalid GUID: '...'``); the faults' JSON quirks.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from streamer.simulator.faults import Faults
from streamer.simulator.sinch_http import guarded, guid_list, page, parse_time, quirks
from streamer.simulator.sinch_render import (
    QUARTER_MS,
    agent_guid,
    agent_name,
    agent_stats,
    agents_now,
    bucket_start,
    ceil_quarter,
    contact_stats,
    contacts_of,
    iso,
    status_rows,
    time_category,
)
from streamer.simulator.world import World

__all__ = ["rai_app", "mount"]

REPORTING_GROUP = ("1381038F462C4E4684D997B5924F83DE", "Sales")


def _status_row(s: Any, now: int) -> dict[str, Any]:
    out: dict[str, Any] = {"userId": agent_guid(s.agent_id), "userName": agent_name(s.agent_id),
                           "reportingGroupid": REPORTING_GROUP[0], "reportingGroupName": REPORTING_GROUP[1]}
    if s.logged_in:
        out.update({
            "profile": s.profile, "profileReason": s.profile_reason, "profileType": s.profile_type,
            "profileDuration": now - s.user_status_ms,
        })
    out["userStatus"] = s.user_status
    out["userStatusDuration"] = now - s.user_status_ms
    out["availability"] = s.availability
    if s.logged_in and s.handling_status is not None:
        # RAI /agentStatus contactHandlingStatus: documented values only (no wrap value)
        out["contactHandlingStatus"] = s.handling_status
        out["contactHandlingStatusDuration"] = now - s.status_ms
    if s.active_calls:  # RAI /agentStatus: "Shown only when value greater than 0"
        out["phoneActiveInboundContacts"] = s.active_calls
        out["phoneActiveInboundDuration"] = now - (s.active_since_ms or now)
    out["changeTimestamp"] = iso(s.change_ms)
    return out


def _buckets(lo: int, hi: int) -> list[int]:
    return list(range(bucket_start(lo), hi, QUARTER_MS))


def rai_app(world: World, faults: Faults) -> Starlette:
    def history(request: Request, now: int) -> Any:
        q = request.query_params
        start = parse_time(q.get("startTime"), "startTime", required=True)
        end = parse_time(q.get("endTime"), "endTime", required=False)
        users = guid_list(q.get("userId"))
        rows = [r for r in status_rows(world.activities(), late_status=faults.sinch_late_status)
                if start <= r.change_ms <= now and (end is None or r.change_ms < end)
                and (users is None or agent_guid(r.agent_id) in users)]
        return quirks([r.render() for r in page(q, rows, row_limit=True)], faults)

    def status(request: Request, now: int) -> Any:
        q = request.query_params
        start = parse_time(q.get("startTime"), "startTime", required=True)
        end = parse_time(q.get("endTime"), "endTime", required=False)  # "before given UTC time"
        users = guid_list(q.get("userId"))
        states = agents_now(world.agent_ids, status_rows(world.activities(), late_status=faults.sinch_late_status),
                            {s.agent_id: s.interactions for s in world.agent_status()}, {}, now, world.start_ms)
        rows = [s for s in states if s.change_ms >= (start or 0) and (end is None or s.change_ms < end)
                and (users is None or agent_guid(s.agent_id) in users)]
        return quirks([_status_row(s, now) for s in page(q, rows, row_limit=True)], faults)

    def contacts_stats(closed_only: bool) -> Any:
        def handler(request: Request, now: int) -> Any:
            q = request.query_params
            start = parse_time(q.get("startTime"), "startTime", required=True) or 0
            end = parse_time(q.get("endTime"), "endTime", required=closed_only) or now
            queues = guid_list(q.get("queueId"))
            contacts = (c for i in world.interactions() for c in contacts_of(i))
            if closed_only:
                # contactHistory: "Start time is rounded up to beginning of the next quarter
                # hour ... End time is rounded up to end of the quarter hour"
                lo, hi = ceil_quarter(start), ceil_quarter(end)
            else:
                # contactStatistic: no rounding; "Time criteria points disconnect time for
                # completed contact statistics and arrival time for active contact statistics"
                lo, hi = 0, 1 << 62
                contacts = (c for c in contacts
                            if start <= (c.disconnect_ms if c.disconnect_ms is not None else c.arrival_ms) < end)
            stats = contact_stats(contacts, now, active=not closed_only)
            rows = []
            for (queue_id, b0), s in sorted(stats.items(), key=lambda kv: (kv[1]["max_change_ms"], kv[0])):
                if not lo <= b0 < hi or (closed_only and b0 + QUARTER_MS > now):
                    continue
                if queues is not None and queue_id not in queues:
                    continue
                row = {"timeCategory": time_category(b0), "applicationId": "8904FC834D01423291AEA278E226CE1B",
                       "applicationName": "ContactCenter", "queueId": queue_id, "queueName": s["queue"].name}
                row.update({_camel(k): v for k, v in s.items() if k not in ("queue", "max_change_ms")})
                row["maxChangeTimestamp"] = iso(s["max_change_ms"])
                rows.append(row)
            return quirks(list(page(q, rows, row_limit=True)), faults)

        return handler

    def agents_stats(closed_only: bool) -> Any:
        def handler(request: Request, now: int) -> Any:
            q = request.query_params
            start = parse_time(q.get("startTime"), "startTime", required=True) or 0
            end = parse_time(q.get("endTime"), "endTime", required=closed_only) or now
            lo, hi = ceil_quarter(start), min(ceil_quarter(end), ceil_quarter(now + 1))
            users = guid_list(q.get("userId"))
            buckets = [b for b in _buckets(lo, hi) if not (closed_only and b + QUARTER_MS > now)]
            stats = agent_stats(world.activities(), now, buckets)
            rows = []
            for (agent, b0), s in sorted(stats.items(), key=lambda kv: (kv[1]["max_change_ms"], kv[0])):
                if users is not None and agent_guid(agent) not in users:
                    continue
                row = {"timeCategory": time_category(b0), "userId": agent_guid(agent), "userName": agent_name(agent)}
                row.update({_camel(k): v for k, v in s.items() if k != "max_change_ms"})
                row["maxChangeTimestamp"] = iso(s["max_change_ms"] or b0)
                rows.append(row)
            return quirks(list(page(q, rows, row_limit=True)), faults)

        return handler

    routes = [
        Route("/agentStatusHistory", guarded(world, history)),
        Route("/agentStatus", guarded(world, status)),
        Route("/contactStatistic", guarded(world, contacts_stats(False))),
        Route("/contactHistory", guarded(world, contacts_stats(True))),
        Route("/agentStatistic", guarded(world, agents_stats(False))),
        Route("/agentHistory", guarded(world, agents_stats(True))),
    ]
    return Starlette(routes=routes)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def mount(world: World, faults: Faults) -> dict[str, Starlette]:
    """Where the simulator serves this interface."""
    return {"/sinch/RI/rai": rai_app(world, faults)}
