"""How the contract suite runs echo against its simulator."""

from tests.contract.facades import Facade

FACADE = Facade(
    name="echo",
    source=lambda base: {"vendor": "echo", "base_url": f"{base}/echo", "auth": {"type": "bearer", "token": "echo-token"}},
    produces=frozenset({"cc.agent.presence.changed"}),
    small_pages={"page_limit": 4},
)
