"""Sinch RMI against the simulator (streamer/simulator/sinch_rmi.py): HTTP Basic, no tokens."""

from tests.contract.facades import Facade

FACADE = Facade(
    name="sinch_rmi",
    source=lambda base: {"vendor": "sinch_rmi", "base_url": f"{base}/sinch/RI/rmi",
                         "auth": {"type": "basic", "username": "sim", "password": "sim"}},
    produces=frozenset({"cc.agent.presence.changed", "cc.interaction.state.changed"}),
    small_pages={"page_limit": 50},
)
