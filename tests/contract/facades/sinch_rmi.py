"""Sinch RMI against the simulator (streamer/simulator/sinch_rmi.py): HTTP Basic, no tokens."""

from tests.contract.facades import Facade, Verbatim, fixture

RMI = "/sinch/RI/rmi"
CONTACTS = ("E936C400B22311D38FBE0090279A922E", "F82E87B84DD6E5118C58463500000031")
"""The ids of the doc's two example contacts: each has its details read."""


def _list(name: str) -> bytes:
    """A list example of the RMI doc, which prints its rows without the brackets."""
    return fixture(f"sinch/rmi/{name}.verbatim.txt", b"[%s]")


FACADE = Facade(
    name="sinch_rmi",
    source=lambda base: {"vendor": "sinch_rmi", "base_url": f"{base}{RMI}",
                         "auth": {"type": "basic", "username": "sim", "password": "sim"}},
    produces=frozenset({"cc.agent.presence.changed", "cc.interaction.state.changed"}),
    small_pages={"page_limit": 50},
    verbatim=(
        Verbatim("agents", at="2016-02-01T10:00:00Z", polls=("agents",),
                 bodies={f"{RMI}/agents": _list("agents")}, later_pages=b"[]"),
        # the details example (the only one the doc has) is served for both contacts
        Verbatim("contacts", at="2016-02-01T10:30:00Z", polls=("contacts",),
                 bodies={f"{RMI}/contacts": _list("contacts"),
                         **{f"{RMI}/contacts/{c}/details": _list("contact_details") for c in CONTACTS}},
                 later_pages=b"[]"),
        Verbatim("queue_statistics", at="2019-08-30T08:47:00Z", polls=("queueStatuses", "contactSummaries"),
                 bodies={f"{RMI}/queueStatuses": _list("queue_statuses"),
                         f"{RMI}/contactSummaries": _list("contact_summaries")}, later_pages=b"[]"),
    ),
)
