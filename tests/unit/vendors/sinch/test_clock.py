"""History cursors follow the vendor's clock, not the host's (issue 13, item 12).

Each test runs two daemons over two identical simulated worlds, polling at the same
vendor instants. One host clock is right; the other jumps an hour ahead for a few polls
and comes back. Both must publish the same events: a cursor taken from the host clock
jumped with it and left a permanent hole.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from streamer.engine.source import Endpoint
from streamer.simulator.faults import Faults
from streamer.simulator.world import World
from streamer.vendors.kit.endpoints import StatsEndpoint
from streamer.vendors.sinch.common import change_ms_of
from streamer.vendors.sinch.rai.client import RaiClient
from streamer.vendors.sinch.rai.mapping import agent_stats_draft, contact_stats_draft
from streamer.vendors.sinch.rai.source import AgentStatusHistoryEndpoint
from streamer.vendors.sinch.rmi.client import RmiClient
from streamer.vendors.sinch.rmi.source import ContactsEndpoint
from tests.unit.vendors.sinch._fixtures import FakeClock, Harness, sim_http, source_cfg

HOUR_MS = 3_600_000


def rai_history(world: World) -> Endpoint:
    return AgentStatusHistoryEndpoint(RaiClient(sim_http(world, Faults(1), "/sinch/RI/rai"), page_limit=500),
                                      source_cfg("sinch_rai", page_limit=500))


def rmi_contacts(world: World) -> Endpoint:
    return ContactsEndpoint(RmiClient(sim_http(world, Faults(1), "/sinch/RI/rmi"), page_limit=500),
                            source_cfg("sinch_rmi", page_limit=500))


def rai_agent_statistic(world: World) -> Endpoint:
    client = RaiClient(sim_http(world, Faults(1), "/sinch/RI/rai"), page_limit=500)
    return StatsEndpoint("agentStatistic", source_cfg("sinch_rai", page_limit=500), client.agent_statistic,
                         to_draft=lambda r, at: agent_stats_draft(r, at, "agentStatistic"),
                         change_ms=lambda r: change_ms_of(r.max_change_timestamp))


def rai_contact_statistic(world: World) -> Endpoint:
    client = RaiClient(sim_http(world, Faults(1), "/sinch/RI/rai"), page_limit=500)
    return StatsEndpoint("contactStatistic", source_cfg("sinch_rai", page_limit=500), client.contact_statistic,
                         to_draft=lambda r, at: contact_stats_draft(r, at, "contactStatistic"),
                         change_ms=lambda r: change_ms_of(r.max_change_timestamp))


async def run(make: Callable[[World], Endpoint], jump_ms: int) -> tuple[set[str], Harness, int]:
    """Polls every 2 s of vendor time for 2 minutes, then once more 10 minutes later (a
    catch-up read); polls 10 to 14 see the host clock ``jump_ms`` ahead."""
    clock = FakeClock()
    world = World(seed=5, agents=8, clock=clock, calls_per_second=0.2)
    ep = make(world)
    h = Harness("sinch_rai")
    clock.t += 60
    for i in range(61):
        clock.t += 2
        host = int(clock.t * 1000) + (jump_ms if 10 <= i < 15 else 0)
        await h.poll(ep, host)
    clock.t += 600
    await h.poll(ep, int(clock.t * 1000))
    return {msgspec.json.decode(r.value)["id"] for r in h.records if r.value is not None}, h, int(clock.t * 1000)


@pytest.mark.parametrize("make", [rai_history, rmi_contacts])
async def test_a_forward_jump_of_the_host_clock_leaves_no_hole(make: Callable[[World], Endpoint]) -> None:
    right, _, _ = await run(make, 0)
    jumped, h, vendor_now = await run(make, HOUR_MS)
    assert len(right) > 20
    assert jumped == right, f"{len(right - jumped)} of {len(right)} events missing after the jump"
    assert max(h.cursors.values()) <= vendor_now  # never the host's future


@pytest.mark.parametrize("make", [rai_agent_statistic, rai_contact_statistic])
async def test_statistics_cursors_already_follow_the_vendor_time(make: Callable[[World], Endpoint]) -> None:
    """The quarter-hour statistics take their cursor from ``maxChangeTimestamp``: a guard."""
    right, _, _ = await run(make, 0)
    jumped, _, _ = await run(make, HOUR_MS)
    assert right and jumped == right
