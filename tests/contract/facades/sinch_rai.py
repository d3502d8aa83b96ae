"""Sinch RAI against the simulator (streamer/simulator/sinch_rai.py): HTTP Basic, no tokens."""

from tests.contract.facades import Facade

FACADE = Facade(
    name="sinch_rai",
    source=lambda base: {"vendor": "sinch_rai", "base_url": f"{base}/sinch/RI/rai",
                         "auth": {"type": "basic", "username": "sim", "password": "sim"}},
    produces=frozenset({"cc.agent.presence.changed", "cc.agent.state.changed"}),
    small_pages={"page_limit": 20},
)
