"""Echo's declaration: its name, its one endpoint (a snapshot of agents' presence), and
the mapping of its rows to drafts."""

from collections.abc import AsyncIterator

import msgspec
from streamer.vendors.echo.client import EchoClient
from streamer.vendors.echo.models import AgentRow

from streamer.config.model import SourceConfig
from streamer.contract.events import AgentPresenceChanged, Presence
from streamer.engine.emit import Draft
from streamer.engine.source import Endpoint, PollResult, Source, VendorSpec, endpoint_interval
from streamer.http.build import build_http
from streamer.timeutil import format_ts, from_ms


def presence_draft(row: AgentRow, now_ms: int) -> Draft:
    p = Presence(name=row.presence, category="Ready" if row.presence == "Ready" else "Away")
    return Draft(type="cc.agent.presence.changed", entity_id=row.id, stream="presence", transition=row.presence,
                 at_ms=now_ms, value=msgspec.to_builtins(p), previous_type=Presence, endpoint="agents",
                 payload=AgentPresenceChanged(agent_id=row.id, previous=None, current=p,
                                                 since=format_ts(from_ms(now_ms))))


class AgentsEndpoint(Endpoint):
    name = "agents"

    def __init__(self, client: EchoClient, cfg: SourceConfig) -> None:
        self.client = client
        self.interval = endpoint_interval(cfg, self.name)

    async def poll(self, cursor_ms: int | None, now_ms: int) -> AsyncIterator[PollResult]:
        yield PollResult([presence_draft(row, now_ms) for row in await self.client.agents()])


class EchoSource:
    def __init__(self, cfg: SourceConfig) -> None:
        self.http = build_http(cfg)
        self.endpoints: list[Endpoint] = [AgentsEndpoint(EchoClient(self.http, cfg.page_limit), cfg)]

    async def aclose(self) -> None:
        await self.http.aclose()


def _build(cfg: SourceConfig) -> Source:
    return EchoSource(cfg)


def _check(cfg: SourceConfig, where: str) -> None:
    """Echo needs nothing beyond the common keys."""


SPEC = VendorSpec(name="echo", endpoints=("agents",), build=_build, check=_check)
