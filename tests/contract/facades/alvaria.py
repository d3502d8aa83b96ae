"""Alvaria against the simulator (streamer/simulator/alvaria.py): OAuth2 tokens always."""

from streamer.simulator.alvaria import API_KEY, CLIENT_ID, CLIENT_SECRET, ORG, SCOPE, TOKEN_PATH
from tests.contract.facades import Facade


def _source(base: str) -> dict[str, object]:
    return {
        "vendor": "alvaria", "base_url": f"{base}/alvaria", "org_id": ORG, "api_key": API_KEY,
        "team_ids": ["salesTeam", "supportTeam"], "work_type_ids": ["billingVoice"], "contact_lists": ["callbackList"],
        "auth": {"type": "oauth2_client_credentials", "token_url": f"{base}/alvaria{TOKEN_PATH}?realm=sim",
                 "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": SCOPE},
    }


FACADE = Facade(
    name="alvaria",
    source=_source,
    produces=frozenset({"cc.agent.presence.changed"}),
    bad_record=lambda faults: faults.update(truncate=1),
    small_pages=None,  # Alvaria's reporting queries return whole result sets: no pages to follow
    expiring_tokens=lambda base: {},  # its tokens come from the token endpoint already
    token_path=f"/alvaria{TOKEN_PATH}",
)
