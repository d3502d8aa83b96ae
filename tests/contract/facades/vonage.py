"""Vonage against the simulator (streamer/simulator/vonage.py)."""

from streamer.simulator.vonage import CLIENT_ID, CLIENT_SECRET
from tests.contract.facades import Facade

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
)
