"""Sinch RAI against the simulator (streamer/simulator/sinch_rai.py): HTTP Basic, no tokens."""

from tests.contract.facades import Facade, Verbatim, fixture

RAI = "/sinch/RI/rai"


def _list(name: str) -> bytes:
    """A list example of the RAI doc, which prints its rows without the brackets."""
    return fixture(f"sinch/rai/{name}.verbatim.txt", b"[%s]")


FACADE = Facade(
    name="sinch_rai",
    source=lambda base: {"vendor": "sinch_rai", "base_url": f"{base}{RAI}",
                         "auth": {"type": "basic", "username": "sim", "password": "sim"}},
    produces=frozenset({"cc.agent.presence.changed", "cc.agent.state.changed"}),
    small_pages={"page_limit": 20},
    verbatim=(
        # the status log of 2019-12-03, then the snapshot (whose changes are looked up in
        # the same log: the stub serves the whole log to every history request)
        Verbatim("status_log", at="2019-12-03T08:00:00Z", polls=("agentStatusHistory", "agentStatus"),
                 bodies={f"{RAI}/agentStatusHistory": _list("agent_status_history"),
                         f"{RAI}/agentStatus": _list("agent_status")}, later_pages=b"[]"),
        # just after the examples' maxChangeTimestamp
        Verbatim("statistics", at="2019-12-25T10:12:00Z",
                 polls=("contactStatistic", "agentStatistic", "contactHistory", "agentHistory"),
                 bodies={f"{RAI}/{n}": _list(f)
                         for n, f in (("contactStatistic", "contact_statistic"), ("agentStatistic", "agent_statistic"),
                                      ("contactHistory", "contact_history"), ("agentHistory", "agent_history"))},
                 later_pages=b"[]"),
    ),
)
