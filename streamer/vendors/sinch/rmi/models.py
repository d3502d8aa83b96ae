"""Sinch Contact Center RMI (Restful Monitoring Interface) rows (msgspec), read tolerantly.

Attributes are snake_case and travel as camelCase (the docs' own odd spellings, such as
``reportingGroupid`` and ``changeTimeStamp``, are the wire names where the docs use them
consistently). Every model forbids unknown fields, so drifted spellings leave the fast
path and are folded by :mod:`streamer.http.tolerant` rather than dropped. Nested queue lists
come as ``{"queue": [...]}`` in the examples and as a plain array in the schema: both
are read by :meth:`Agent.queue_list`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from streamer.errors import SkippableError
from streamer.http.tolerant import CamelModel, UtcDateTime, decode_json, decode_record, field_ci

__all__ = [
    "UtcDateTime",
    "AgentQueue",
    "Agent",
    "Contact",
    "ContactDetail",
    "QueueStatus",
    "ContactSummary",
    "UserStatus",
    "PresenceProfile",
    "QueueGroupQueue",
    "QueueGroup",
    "ReadyState",
    "Setting",
    "nested_list",
    "QUEUE_STATUS_COUNTS",
    "QUEUE_STATUS_GROWING",
    "SUMMARY_FIELDS",
]




def nested_list(value: Any, model: type[Any], wrapper: str) -> list[Any]:
    """``[...]`` or ``{wrapper: [...]}`` -> decoded items (unreadable ones skipped)."""
    if value is None:
        return []
    if isinstance(value, dict):
        raw = msgspec.json.encode(value)
        inner = field_ci(decode_json(raw, dict[str, msgspec.Raw]), wrapper)
        value = decode_json(inner) if inner is not None else []
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        try:
            out.append(decode_record(msgspec.json.encode(item), model))
        except SkippableError:
            continue
    return out


class AgentQueue(CamelModel):
    """A queue an agent may serve; ``serving`` is the queue login."""

    id: str
    name: str | None = None
    type: str | None = None
    serving: bool | None = None
    external_serving: bool | None = None
    can_change_queue_login: bool | None = None
    handled_contacts_call_in: int | None = None
    handled_contacts_call_out: int | None = None
    handled_contacts_chat_in: int | None = None
    handled_contacts_email_in: int | None = None
    handling_duration: int | None = None
    wrap_up_duration: int | None = None


class Agent(CamelModel):
    """One row of ``GET /agents``: an agent now. Durations (ms) run to the request time."""

    id: str
    name: str | None = None
    reporting_group_id: str | None = msgspec.field(default=None, name="reportingGroupid")
    reporting_group_name: str | None = None
    reporting_group: str | None = None
    number: str | None = None
    mobile_number: str | None = None
    external_number: str | None = None
    location: str | None = None
    manageable: bool | None = None
    manageable_presence: bool | None = None
    chat_name: str | None = None
    chat: str | None = None
    email: str | None = None
    user_status: str | None = None
    user_status_duration: int | None = None
    user_ready_status: bool | None = None
    contact_handling_status: str | None = None
    contact_handling_status_duration: int | None = None
    profile_id: str | None = None
    profile: str | None = None
    profile_duration: int | None = None
    profile_type: str | None = None
    availability: str | None = None
    daily_pause_duration: int | None = None
    daily_work_duration: int | None = None
    active_phone_contacts: int | None = None
    active_chat_contacts: int | None = None
    active_email_contacts: int | None = None
    active_contact_duration: int | None = None
    chat_capacity: int | None = None
    handled_contacts_call_in: int | None = None
    handled_contacts_chat_in: int | None = None
    handled_contactse_email_in: int | None = None
    handled_contacts_email_in: int | None = None
    handled_contacts_cbr_in: int | None = None
    handled_contacts_total_in: int | None = None
    handled_contacts_call_out: int | None = None
    handled_contacts_chat_out: int | None = None
    handled_contacts_email_out: int | None = None
    handled_contacts_total_out: int | None = None
    handled_contacts_total: int | None = None
    total_handling_duration: int | None = None
    total_wrapup_duration: int | None = None
    ready_time: int | None = None
    not_ready_time: int | None = None
    pause_time: int | None = None
    queues: Any = None

    def queue_list(self) -> list[AgentQueue]:
        return nested_list(self.queues, AgentQueue, "queue")


class Contact(CamelModel):
    """One row of ``GET /contacts`` (or ``/contacts/{id}``): one agent's part of an
    interaction. A transfer gives a new contact id; ``contactGroupId`` stays."""

    id: str
    status: str
    arrival_time: UtcDateTime
    contact_group_id: str | None = None
    channel: str | None = None
    type: str | None = None
    subtype: str | None = None
    source: str | None = None
    destination: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    orig_queue_id: str | None = None
    orig_queue_name: str | None = None
    queue_login_type: str | None = None
    application_id: str | None = None
    application_name: str | None = None
    reporting_group_id: str | None = None
    reporting_group_name: str | None = None
    outbound_campaign_id: str | None = None
    outbound_campaign_name: str | None = None
    arrival_queue_time: UtcDateTime | None = None
    preview_time: UtcDateTime | None = None
    connect_time: UtcDateTime | None = None
    pending_time: UtcDateTime | None = None
    pick_time: UtcDateTime | None = None
    disconnect_time: UtcDateTime | None = None
    wrap_up_begin_time: UtcDateTime | None = None
    wrap_up_end_time: UtcDateTime | None = None
    queuing_duration: int | None = None
    handling_duration: int | None = None
    wrap_up_total_duration: int | None = None
    wrap_up_scripting_duration: int | None = None
    wrap_up_resting_duration: int | None = None
    total_duration: int | None = None
    waiting_duration: int | None = None
    service_closed: bool | None = None
    record: bool | None = None
    answered_on_time_threshold: int | None = None
    false_attempt_time_threshold: int | None = None
    subject: str | None = None


class ContactDetail(CamelModel):
    """One event of ``GET /contacts/{id}/details`` (Queing, DestAllocated, ConnectedToOper, ...)."""

    time: UtcDateTime
    event: str
    id: str | None = None
    value1: str | None = None
    value2: str | None = None


QUEUE_STATUS_COUNTS = (
    "in_queue",
    "in_queue_current",
    "agents_serving",
    "agents_free",
    "agents_busy",
    "agents_wrap_up",
    "agents_not_ready",
    "agents_pause",
)
QUEUE_STATUS_GROWING = ("waiting_duration_max", "waiting_duration_current_max")
"""The longest wait in the queue: grows with the clock while anyone waits."""


class QueueStatus(CamelModel):
    """One row of ``GET /queueStatuses``: a queue now."""

    id: str
    name: str | None = None
    type: str | None = None
    in_queue: int | None = None
    waiting_duration_max: int | None = None
    in_queue_current: int | None = None
    waiting_duration_current_max: int | None = None
    agents_serving: int | None = None
    agents_free: int | None = None
    agents_busy: int | None = None
    agents_wrap_up: int | None = None
    agents_not_ready: int | None = None
    agents_pause: int | None = None


SUMMARY_FIELDS = (
    "in_abandoned",
    "in_answered_on_time",
    "in_arrived_handled",
    "in_arrived_active",
    "in_false_attempt",
    "in_handle_time_max",
    "in_handle_time_total",
    "in_handled",
    "in_queue_time_max",
    "in_answered_queue_time_total",
    "in_abandoned_queue_time_total",
    "in_false_attempt_queue_time_total",
    "in_service_closed",
    "out_handle_time_max",
    "out_handle_time_total",
    "out_handled",
)


class ContactSummary(CamelModel):
    """One row of ``GET /contactSummaries``: a queue's contacts in one quarter hour."""

    queue_id: str
    change_timestamp: UtcDateTime | None = msgspec.field(default=None, name="changeTimeStamp")
    hour_time: UtcDateTime | None = None
    id: str | None = None
    application_id: str | None = None
    application_name: str | None = None
    queue_name: str | None = None
    type: str | None = None
    in_abandoned: int | None = None
    in_answered_on_time: int | None = None
    in_arrived_handled: int | None = None
    in_arrived_active: int | None = None
    in_false_attempt: int | None = None
    in_handle_time_max: int | None = None
    in_handle_time_total: int | None = None
    in_handled: int | None = None
    in_queue_time_max: int | None = None
    in_answered_queue_time_total: int | None = None
    in_abandoned_queue_time_total: int | None = None
    in_false_attempt_queue_time_total: int | None = None
    in_service_closed: int | None = None
    out_handle_time_max: int | None = None
    out_handle_time_total: int | None = None
    out_handled: int | None = None


class UserStatus(CamelModel):
    """One row of ``GET /userStatuses`` (capacity and active contact counts)."""

    id: str
    name: str | None = None
    status: str | None = None
    active_ib_call_cnt: int | None = None
    active_ib_chat_cnt: int | None = None
    active_ib_email_cnt: int | None = None
    active_ib_oper_dir_call_cnt: int | None = None
    active_ib_video_chat_cnt: int | None = None
    active_ob_call_cnt: int | None = None
    active_ob_campaign_call_cnt: int | None = None
    active_ob_cbr_call_cnt: int | None = None
    active_ob_email_cnt: int | None = None
    phone_capacity: int | None = None
    task_capacity: int | None = None
    text_chat_capacity: int | None = None
    video_chat_capacity: int | None = None


class PresenceProfile(CamelModel):
    """One of an agent's presence profiles (``/agents/{id}/presences``)."""

    id: str
    name: str | None = None
    reason: str | None = None
    type: str | None = None
    priority: int | None = None


class QueueGroupQueue(CamelModel):
    id: str
    name: str | None = None
    type: str | None = None
    free_agent_critical_level: int | None = None
    free_agent_warning_level: int | None = None
    interactions_critical_level: int | None = None
    interactions_warning_level: int | None = None
    max_wait_time_critical_level: int | None = None
    max_wait_time_warning_level: int | None = None
    serving_agent_critical_level: int | None = None
    serving_agent_warning_level: int | None = None
    service_level_critical_level: int | None = None
    service_level_warning_level: int | None = None


class QueueGroup(CamelModel):
    id: str
    name: str | None = None
    queues: Any = None

    def queue_list(self) -> list[QueueGroupQueue]:
        return nested_list(self.queues, QueueGroupQueue, "queue")


class ReadyState(CamelModel):
    ready_state: str


class Setting(CamelModel):
    id: str
    ui_language: str | None = None
    value: str | None = None
