"""The world as Sinch Contact Center's RMI (Restful Monitoring Interface), at ``/sinch/RI/rmi``.

``/agents`` (every agent now, with queue logins), ``/contacts`` (``startTime`` and
``showAllInProcess``), ``/contacts/{id}``, ``/contacts/{id}/details``, ``/queueStatuses``
(each queue now) and ``/contactSummaries`` (per queue and quarter hour). Basic
``sim:sim``; ``offset``/``limit`` paging with the 10,000-row limit; ``text/plain``
400/404 (``Invalid GUID: '...'``, ``HTTP 404 Not Found``); the faults' JSON quirks.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from streamer.simulator.faults import Faults
from streamer.simulator.sinch_http import (
    SinchApiError,
    check_guid,
    guarded,
    guid_list,
    page,
    parse_time,
    quirks,
    sort_rows,
)
from streamer.simulator.sinch_render import (
    QUARTER_MS,
    QUEUES,
    AgentNow,
    SimContact,
    agent_guid,
    agent_name,
    agents_now,
    bucket_start,
    contacts_of,
    iso,
    sguid,
    status_rows,
)
from streamer.simulator.world import World

__all__ = ["rmi_app", "mount"]

NOT_FOUND = "HTTP 404 Not Found"
REPORTING_GROUP = ("1381038F462C4E4684D997B5924F83DE", "Sales")
_QUEUE_NAMES = {q.id: q for q in QUEUES}


def _agent_row(s: AgentNow, now: int, show_queue_info: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": agent_guid(s.agent_id), "name": agent_name(s.agent_id),
        "reportingGroupid": REPORTING_GROUP[0], "reportingGroupName": REPORTING_GROUP[1],
        "number": str(200 + int(s.agent_id)) if s.agent_id.isdigit() else "200",
        "location": "Espoo", "manageable": True, "manageablePresence": True,
        "userStatus": s.user_status, "userStatusDuration": now - s.user_status_ms,
        "userReadyStatus": s.user_status == "Ready", "availability": s.availability,
    }
    if s.logged_in:
        out.update({
            "profileId": sguid("profile", s.profile or ""), "profile": s.profile,
            "profileDuration": now - s.user_status_ms, "profileType": (s.profile_type or "").upper(),
        })
        if s.handling_status is not None:  # RMI /agents: documented values only (no wrap value)
            out["contactHandlingStatus"] = s.handling_status
            out["contactHandlingStatusDuration"] = now - s.status_ms
        out.update({
            "activePhoneContacts": s.active_calls, "activeChatContacts": 0, "activeEmailContacts": 0,
            "activeContactDuration": 0 if s.active_since_ms is None else now - s.active_since_ms,
        })
    out.update({"handledContactsCallIn": s.handled, "handledContactsTotalIn": s.handled,
                "handledContactsTotal": s.handled})
    if show_queue_info > 0:
        queues = []
        for q in QUEUES:
            item: dict[str, Any] = {"id": q.id, "name": q.name, "type": q.type}
            if show_queue_info in (2, 3, 5, 6):
                item.update({"serving": q.id in s.serving, "externalServing": False, "canChangeQueueLogin": True})
            queues.append(item)
        out["queues"] = {"queue": queues}
    return out


def _served(c: SimContact, start: int | None, show_all: bool) -> bool:
    if show_all and not c.final:
        return True
    if start is None:
        return True
    return any(t is not None and t >= start for t in (c.arrival_ms, c.disconnect_ms, c.wrap_end_ms))


def rmi_app(world: World, faults: Faults) -> Starlette:
    def states(now: int) -> list[AgentNow]:
        handled: Counter[str] = Counter(a.agent_id for a in world.activities(
            lambda a: a.type == "Interaction" and a.category == "Wrap" and a.end_ms is not None))
        return agents_now(world.agent_ids, status_rows(world.activities(), late_status=faults.sinch_late_status),
                          {s.agent_id: s.interactions for s in world.agent_status()}, dict(handled), now,
                          world.start_ms)

    def all_contacts() -> list[SimContact]:
        return [c for i in world.interactions() for c in contacts_of(i)]

    def agents(request: Request, now: int) -> Any:
        q = request.query_params
        parse_time(q.get("startTime"), "startTime", required=True)
        ids = guid_list(q.get("id"))
        info = int(q.get("showQueueInfo") or 1)
        rows = [s for s in states(now) if ids is None or agent_guid(s.agent_id) in ids]
        return quirks([_agent_row(s, now, info) for s in page(q, rows)], faults)

    def one_agent(request: Request, now: int) -> Any:
        wanted = check_guid(request.path_params["agent_id"])
        for s in states(now):
            if agent_guid(s.agent_id) == wanted:
                return quirks([_agent_row(s, now, int(request.query_params.get("showQueueInfo") or 1))], faults)[0]
        raise SinchApiError(404, NOT_FOUND)

    def contacts(request: Request, now: int) -> Any:
        q = request.query_params
        start = parse_time(q.get("startTime"), "startTime", required=False)
        end = parse_time(q.get("endTime"), "endTime", required=False)
        show_all = (q.get("showAllInProcess") or "") in ("1", "true")
        agents_filter = guid_list(q.get("agentId"))
        queues = guid_list(q.get("queueId"))
        rows = [c for c in all_contacts() if _served(c, start, show_all) and (end is None or c.arrival_ms < end)
                and (agents_filter is None or (c.agent_id and agent_guid(c.agent_id) in agents_filter))
                and (queues is None or c.queue.id in queues)]
        rows.sort(key=lambda c: (c.arrival_ms, c.id))
        # "Default sort is name": contacts have none, so without ``sort`` no order holds
        rendered = sort_rows(q, [c.render(now) for c in rows], "name", seed=faults.requests_served)
        return quirks(list(page(q, rendered)), faults)

    def find(contact_id: str) -> SimContact:
        wanted = check_guid(contact_id)
        for c in all_contacts():
            if c.id == wanted:
                return c
        raise SinchApiError(404, NOT_FOUND)

    def one_contact(request: Request, now: int) -> Any:
        return quirks([find(request.path_params["contact_id"]).render(now)], faults)[0]

    def details(request: Request, now: int) -> Any:
        return quirks(find(request.path_params["contact_id"]).render_details(), faults)

    def queue_statuses(request: Request, now: int) -> Any:
        q = request.query_params
        ids = guid_list(q.get("id"))
        waiting: dict[str, list[int]] = {x.id: [] for x in QUEUES}
        for c in all_contacts():
            if c.status == "InQueue":
                waiting[c.queue.id].append(now - c.arrival_ms)
        rows = []
        for queue in QUEUES:
            if ids is not None and queue.id not in ids:
                continue
            serving = [s for s in states(now) if s.logged_in and queue.id in s.serving]
            busy = [s for s in serving if s.active_calls and s.status != "Wrap"]
            rows.append({
                "id": queue.id, "name": queue.name, "type": queue.type,
                "inQueue": len(waiting[queue.id]), "waitingDurationMax": max(waiting[queue.id], default=0),
                "inQueueCurrent": len(waiting[queue.id]),
                "waitingDurationCurrentMax": max(waiting[queue.id], default=0),
                "agentsServing": len(serving),
                "agentsFree": sum(1 for s in serving if s.availability == "Free"),
                "agentsBusy": len(busy),
                "agentsWrapUp": sum(1 for s in serving if s.status == "Wrap"),
                "agentsNotReady": sum(1 for s in serving if s.user_status == "NotReady"),
                "agentsPause": sum(1 for s in serving if s.user_status == "Pause"),
            })
        return quirks(list(page(q, rows)), faults)

    def contact_summaries(request: Request, now: int) -> Any:
        q = request.query_params
        start = parse_time(q.get("startTime"), "startTime", required=False) or bucket_start(now)
        queues = guid_list(q.get("queueId"))
        buckets: dict[tuple[str, int], dict[str, Any]] = {}
        for c in all_contacts():
            if c.arrival_queue_ms is None:
                continue
            b0 = bucket_start(c.arrival_ms)
            if b0 + QUARTER_MS <= start or (queues is not None and c.queue.id not in queues):
                continue
            s = buckets.setdefault((c.queue.id, b0), dict.fromkeys(
                ("inAbandoned", "inAnsweredOnTime", "inArrivedHandled", "inArrivedActive", "inFalseAttempt",
                 "inHandleTimeMax", "inHandleTimeTotal", "inHandled", "inQueueTimeMax",
                 "inAnsweredQueueTimeTotal", "inAbandonedQueueTimeTotal", "inFalseAttemptQueueTimeTotal",
                 "inServiceClosed", "outHandleTimeMax", "outHandleTimeTotal", "outHandled"), 0) | {"_change": 0})
            s["_change"] = max(s["_change"], c.last_change_ms())
            if not c.final:
                s["inArrivedActive"] += 1
            if c.connect_ms is not None:
                wait = c.connect_ms - c.arrival_ms
                s["inAnsweredQueueTimeTotal"] += wait
                s["inQueueTimeMax"] = max(s["inQueueTimeMax"], wait)
                if wait <= 15_000:
                    s["inAnsweredOnTime"] += 1
            if c.final and c.connect_ms is not None and c.disconnect_ms is not None:
                s["inHandled"] += 1
                s["inArrivedHandled"] += 1
                handle = c.disconnect_ms - c.connect_ms
                s["inHandleTimeTotal"] += handle
                s["inHandleTimeMax"] = max(s["inHandleTimeMax"], handle)
            if c.status == "NotHandled_Ab":
                s["inAbandoned"] += 1
                s["inAbandonedQueueTimeTotal"] += (c.disconnect_ms or now) - c.arrival_ms
            if c.status == "NotHandled_FA":
                s["inFalseAttempt"] += 1
                s["inFalseAttemptQueueTimeTotal"] += (c.disconnect_ms or now) - c.arrival_ms
        rows = []
        for (queue_id, b0), s in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            queue = _QUEUE_NAMES[queue_id]
            change = s.pop("_change")
            rows.append({
                "applicationId": "8904FC834D01423291AEA278E226CE1B", "applicationName": "ContactCenter",
                "changeTimeStamp": iso(change), "hourTime": iso(b0),
                "id": queue_id + iso(b0).replace("-", "").replace(":", "")[:15] + "Z",
                **s, "queueId": queue_id, "queueName": queue.name, "type": queue.type,
            })
        return quirks(list(page(q, rows)), faults)

    routes = [
        Route("/agents", guarded(world, agents)),
        Route("/agents/{agent_id}", guarded(world, one_agent)),
        Route("/contacts", guarded(world, contacts)),
        Route("/contacts/{contact_id}", guarded(world, one_contact)),
        Route("/contacts/{contact_id}/details", guarded(world, details)),
        Route("/queueStatuses", guarded(world, queue_statuses)),
        Route("/contactSummaries", guarded(world, contact_summaries)),
    ]
    return Starlette(routes=routes)


def mount(world: World, faults: Faults) -> dict[str, Starlette]:
    """Where the simulator serves this interface."""
    return {"/sinch/RI/rmi": rmi_app(world, faults)}
