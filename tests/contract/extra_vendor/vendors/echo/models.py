"""Echo's rows."""

import msgspec


class AgentRow(msgspec.Struct, frozen=True):
    id: str
    presence: str


class AgentsPage(msgspec.Struct, frozen=True):
    items: list[AgentRow]
    total: int
