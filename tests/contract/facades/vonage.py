"""Vonage against the simulator (streamer/simulator/vonage.py)."""

from streamer.simulator.vonage import CLIENT_ID, CLIENT_SECRET
from tests.contract.facades import Facade, Verbatim, fixture

INTERACTIONS_PAGE = (b'{"meta": {"page": 1, "count": 1, "pageCount": 1, "totalCount": 1}, "items": [%s], '
                     b'"upTo": "2020-01-10T11:20:00.000Z"}')
"""The FAQ prints one interaction, not the page it comes in: this is that page."""

FACADE = Facade(
    name="vonage",
    source=lambda base: {"vendor": "vonage", "base_url": f"{base}/vonage",
                         "auth": {"type": "bearer", "token": "sim-token"}},
    produces=frozenset({"cc.agent.presence.changed", "cc.agent.session.started", "cc.agent.workload.changed",
                        "cc.interaction.state.changed", "cc.interaction.transferred"}),
    small_pages={"page_limit": 20},
    expiring_tokens=lambda base: {"auth": {
        "type": "oauth2_client_credentials", "token_url": f"{base}/vonage/Auth/connect/token",
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": "stats"}},
    token_path="/vonage/Auth/connect/token",
    verbatim=(
        # the agent-activities doc's page, its three `"guid": null"..."` slips included
        Verbatim("agent_activities", at="2019-12-19T15:50:00Z", polls=("agent-activities",),
                 bodies={"/vonage/agent-activities": fixture("vonage/agent_activities_seed_verbatim.json")}),
        Verbatim("agent_status", at="2019-12-23T09:40:00Z", polls=("agent-status",),
                 bodies={"/vonage/agent-status": fixture("vonage/agent_status_faq.json")}),
        Verbatim("interactions", at="2020-01-10T11:20:00Z", polls=("interactions",),
                 bodies={"/vonage/interactions": fixture("vonage/interaction_faq_transfer.json", INTERACTIONS_PAGE)}),
    ),
)
