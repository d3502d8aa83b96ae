"""Sinch Contact Center RAI (Restful Analytics Interface) rows (msgspec), read tolerantly.

Attributes are snake_case and travel as camelCase. Where the docs' schema and example
disagree on a spelling (``changeTimestamp`` vs ``changeTimeStamp``, ``UserId`` vs
``userId``), the wire name is the example's: that is what the server sends. Every model
forbids unknown fields, so a drifted spelling (``agentid``, ``userStatusTimestamp``)
leaves the fast path and is folded by :mod:`streamer.http.tolerant` instead of being dropped
silently. Zone-less timestamps (``2019-12-03 07:19:59.127``) are UTC.
"""

from __future__ import annotations

import msgspec

from streamer.http.tolerant import CamelModel, UtcDateTime

__all__ = [
    "UtcDateTime",
    "AgentStatusHistoryRow",
    "AgentStatusRow",
    "ContactStatRow",
    "AgentStatRow",
    "CONTACT_COUNTS",
    "CONTACT_DURATIONS",
    "CONTACT_ACTIVE",
    "AGENT_COUNTS",
    "AGENT_DURATIONS",
]




class AgentStatusHistoryRow(CamelModel):
    """One row of ``GET /agentStatusHistory`` (TAMOperatorStatusChangeLog).

    A row carries a handling ``status`` change (``statusTimestamp``), a ``userStatus``
    and presence profile change (``userStatusTimestamp``), a sign-on (``signOn``), or
    several at once. ``changeTimestamp`` is when the row was written; many rows share it.
    """

    user_id: str
    change_timestamp: UtcDateTime = msgspec.field(name="changeTimeStamp")
    session_id: str | None = None
    user_name: str | None = None
    sign_on: UtcDateTime | None = None
    profile: str | None = None
    profile_reason: str | None = None
    profile_type: str | None = None
    user_status: str | None = None
    user_status_timestamp: UtcDateTime | None = msgspec.field(default=None, name="userStatusTimeStamp")
    status: str | None = None
    status_timestamp: UtcDateTime | None = None
    outbound_serving: str | None = msgspec.field(default=None, name="OutboundServing")


class AgentStatusRow(CamelModel):
    """One row of ``GET /agentStatus`` (TAMOperatorStats): an agent now. Durations (ms)
    are measured to the time of the request; ``changeTimestamp`` is the latest change."""

    user_id: str
    change_timestamp: UtcDateTime | None = None
    user_name: str | None = None
    reporting_group_id: str | None = msgspec.field(default=None, name="reportingGroupid")
    reporting_group_name: str | None = None
    profile: str | None = None
    profile_reason: str | None = None
    profile_type: str | None = None
    profile_duration: int | None = None
    user_status: str | None = None
    user_status_duration: int | None = None
    availability: str | None = None
    contact_handling_status: str | None = None
    contact_handling_status_duration: int | None = None
    phone_active_inbound_contacts: int | None = None
    phone_active_inbound_duration: int | None = None
    phone_active_outbound_contacts: int | None = None
    phone_active_outbound_duration: int | None = None
    chat_active_inbound_contacts: int | None = None
    chat_active_inbound_duration: int | None = None
    chat_active_outbound_contacts: int | None = None
    chat_active_outbound_duration: int | None = None
    email_active_inbound_contacts: int | None = None
    email_active_inbound_duration: int | None = None
    email_active_outbound_contacts: int | None = None
    email_active_outbound_duration: int | None = None
    active_phone_contacts: int | None = None
    active_chat_contacts: int | None = None
    active_email_contacts: int | None = None
    active_contact_duration: int | None = None
    number: str | None = None
    mobile_number: str | None = None
    external_number: str | None = None
    email: str | None = None
    chat_name: str | None = None
    chat: str | None = None
    chat_capacity: int | None = None
    location: str | None = None


CONTACT_COUNTS = (
    "count_of_arrived_contacts",
    "count_of_queuing_contacts",
    "count_of_in_process_contacts",
    "count_of_completed_contacts",
    "count_of_handled_contacts",
    "count_of_false_attempt_contacts",
    "count_of_abandoned_contacts",
    "count_of_service_closed_contacts",
    "count_of_answered_on_time_contacts",
    "count_of_overflowed_contacts",
    "count_of_diverted_contacts",
    "count_of_agent_transferred_contacts",
    "count_of_transferred_in_contacts",
)
CONTACT_DURATIONS = (
    "waiting_duration",
    "max_waiting_duration",
    "waiting_duration_for_handled",
    "max_waiting_duration_for_handled",
    "waiting_duration_for_not_handled",
    "max_waiting_duration_for_not_handled",
    "queuing_duration",
    "max_queuing_duration",
    "queuing_duration_for_handled",
    "max_queuing_duration_for_handled",
    "queuing_duration_for_not_handled",
    "max_queuing_duration_for_not_handled",
    "handling_duration",
    "max_handling_duration",
    "handling_duration_user",
    "max_handling_duration_user",
    "afterwork_duration",
    "max_afterwork_duration",
    "hold_duration",
    "max_hold_duration",
)
"""Totals and maxima over completed contacts: they change when contacts complete."""
CONTACT_ACTIVE = (
    "active_queuing_duration",
    "active_max_queuing_duration",
    "active_handling_duration",
    "active_max_handling_duration",
)
"""Durations of contacts still queuing or in progress: they grow with the clock."""


class ContactStatRow(CamelModel):
    """One row of ``/contactStatistic`` (today, monitoring DB) or ``/contactHistory``
    (reporting DB): the contacts of one queue in one time bucket."""

    max_change_timestamp: UtcDateTime | None = None
    contact_id: str | None = None
    time_category: str | None = None
    channel: str | None = None
    type: str | None = None
    application_id: str | None = None
    application_name: str | None = None
    queue_id: str | None = None
    queue_name: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    count_of_arrived_contacts: float | None = None
    count_of_queuing_contacts: float | None = None
    count_of_in_process_contacts: float | None = None
    count_of_completed_contacts: float | None = None
    count_of_handled_contacts: float | None = None
    count_of_false_attempt_contacts: float | None = None
    count_of_abandoned_contacts: float | None = None
    count_of_service_closed_contacts: float | None = None
    count_of_answered_on_time_contacts: float | None = None
    count_of_overflowed_contacts: float | None = None
    count_of_diverted_contacts: float | None = None
    count_of_agent_transferred_contacts: float | None = None
    count_of_transferred_in_contacts: float | None = None
    active_queuing_duration: float | None = None
    active_max_queuing_duration: float | None = None
    active_handling_duration: float | None = None
    active_max_handling_duration: float | None = None
    waiting_duration: float | None = None
    max_waiting_duration: float | None = None
    waiting_duration_for_handled: float | None = None
    max_waiting_duration_for_handled: float | None = None
    waiting_duration_for_not_handled: float | None = None
    max_waiting_duration_for_not_handled: float | None = None
    queuing_duration: float | None = None
    max_queuing_duration: float | None = None
    queuing_duration_for_handled: float | None = None
    max_queuing_duration_for_handled: float | None = None
    queuing_duration_for_not_handled: float | None = None
    max_queuing_duration_for_not_handled: float | None = None
    handling_duration: float | None = None
    max_handling_duration: float | None = None
    handling_duration_user: float | None = None
    max_handling_duration_user: float | None = None
    afterwork_duration: float | None = None
    max_afterwork_duration: float | None = None
    hold_duration: float | None = None
    max_hold_duration: float | None = None


AGENT_COUNTS = (
    "count_of_handled_call_in",
    "count_of_handled_call_in_direct",
    "count_of_handled_call_out",
    "count_of_handled_call_out_direct",
    "count_of_handled_email_in",
    "count_of_handled_email_out",
    "count_of_handled_chat_in",
    "count_of_handled_chat_out",
)
AGENT_DURATIONS = (
    "serving_duration",
    "ready_duration",
    "not_ready_duration",
    "pause_duration",
    "free_duration",
    "waiting_duration",
    "contact_handling_duration",
    "afterwork_duration",
    "resting_duration",
    "preview_duration",
    "call_in_duration",
    "afterwork_call_in_duration",
    "call_in_direct_duration",
    "call_out_duration",
    "afterwork_call_out_duration",
    "call_out_direct_duration",
    "email_in_duration",
    "email_out_duration",
    "afterwork_email_in_duration",
    "chat_duration",
    "afterwork_chat_in_duration",
)
"""An agent's time in each state: grows with the clock while the bucket is open."""


class AgentStatRow(CamelModel):
    """One row of ``/agentStatistic`` (today) or ``/agentHistory`` (reporting DB): one
    agent in one time bucket."""

    max_change_timestamp: UtcDateTime | None = None
    time_category: str | None = None
    user_id: str | None = None
    user_name: str | None = None
    profile_id: str | None = None
    profile_name: str | None = None
    profile_reason: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    serving_duration: float | None = None
    ready_duration: float | None = None
    not_ready_duration: float | None = None
    pause_duration: float | None = None
    free_duration: float | None = None
    waiting_duration: float | None = None
    contact_handling_duration: float | None = None
    afterwork_duration: float | None = None
    resting_duration: float | None = None
    preview_duration: float | None = None
    count_of_handled_call_in: float | None = None
    call_in_duration: float | None = None
    afterwork_call_in_duration: float | None = None
    count_of_handled_call_in_direct: float | None = None
    call_in_direct_duration: float | None = None
    count_of_handled_call_out: float | None = None
    call_out_duration: float | None = None
    afterwork_call_out_duration: float | None = None
    count_of_handled_call_out_direct: float | None = None
    call_out_direct_duration: float | None = None
    count_of_handled_email_in: float | None = None
    email_in_duration: float | None = None
    count_of_handled_email_out: float | None = None
    email_out_duration: float | None = None
    afterwork_email_in_duration: float | None = None
    count_of_handled_chat_in: float | None = None
    count_of_handled_chat_out: float | None = None
    chat_duration: float | None = None
    afterwork_chat_in_duration: float | None = None
