"""Echo's typed reads: ``GET /agents?offset&limit``, paged until ``total``."""

import msgspec
from streamer.vendors.echo.models import AgentRow, AgentsPage

from streamer.errors import SkippableError
from streamer.http.client import HttpClient


class EchoClient:
    def __init__(self, http: HttpClient, page_limit: int) -> None:
        self.http = http
        self.page_limit = page_limit

    async def agents(self) -> list[AgentRow]:
        rows: list[AgentRow] = []
        while True:
            r = await self.http.get("/agents", {"offset": len(rows), "limit": self.page_limit})
            try:
                page = msgspec.json.decode(r.body, type=AgentsPage)
            except msgspec.DecodeError as e:
                raise SkippableError(f"GET /agents: {e}", raw=r.body) from None
            rows += page.items
            if not page.items or len(rows) >= page.total:
                return rows
