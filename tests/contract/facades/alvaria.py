"""Alvaria against the simulator (streamer/simulator/alvaria.py): OAuth2 tokens always."""

from streamer.simulator.alvaria import API_KEY, CLIENT_ID, CLIENT_SECRET, ORG, SCOPE, TOKEN_PATH
from tests.contract.facades import Facade, Verbatim, fixture

QUERIES = f"/alvaria/via/v2/organizations/{ORG}/reporting/queries"
EXAMPLE_KEYS = {"team_ids": ["salesTeam"], "work_type_ids": ["worktype30_id"], "contact_lists": ["ContactList1"]}
"""One team, work type and list, as the examples name them (one key each: a second would
have its request spread over the interval, on the wall clock)."""


def _example(name: str, query: str, endpoint: str) -> Verbatim:
    return Verbatim(name, at="2018-02-07T11:30:00Z", polls=(endpoint,), config=EXAMPLE_KEYS,
                    bodies={f"{QUERIES}/{query}/data": fixture(f"alvaria/{name}.json")})


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
    # presence/users is left out: its first answer only seeds (who was logged on before
    # is unknown), so one poll of the example gives no event
    verbatim=tuple(_example(name, query, query) for name, query in (
        ("user_activity", "userActivity"), ("team_activity", "teamActivity"),
        ("channel_activity", "channelActivity"), ("list_activity", "listActivity"))),
)
