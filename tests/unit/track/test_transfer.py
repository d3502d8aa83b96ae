"""Transfer detection from channel joins (streamer.track.transfer)."""

from datetime import datetime

from hypothesis import assume, given
from hypothesis import strategies as st

from streamer.track.transfer import (
    Leg,
    Transfer,
    detect_transfers,
    is_agent_leg,
    is_customer_leg,
    leg_from_channel_events,
    legs_from_channel_events,
)

# --------------------------------------------------------------------------- the FAQ example

FAQ_START_MS = int(datetime.fromisoformat("2020-01-10T11:13:05.836+00:00").timestamp() * 1000)

# (guid, party id, role, channel offset, channel duration, [(type, offset, duration)]),
# copied from the Vonage Insights Stats FAQ, "How do I know when a call was transferred?"
FAQ_CHANNELS = [
    (
        "016f8db7-798f-407c-9925-ef8c2b51e6b0",
        None,
        "External",
        0,
        84646,
        [
            ("Ringing", 0, 0),
            ("Connected", 0, 84646),
            ("InteractionPlan", 268, 84378),
            ("Applet", 326, 0),
            ("Applet", 372, 0),
            ("Applet", 3122, 0),
            ("Applet", 5195, 0),
            ("Applet", 5605, 0),
            ("Queue", 5725, 6787),
            ("CallRecording", 12531, 72115),
            ("Held", 30233, 23169),
        ],
    ),
    (
        "45f4ee27-a4ae-4530-ba04-3fdb2cab2cc2",
        "01",
        "Agent",
        6721,
        51897,
        [
            ("Ringing", 6721, 5791),
            ("Connected", 12512, 40889),
            ("CallRecording", 12531, 40870),
            ("Wrap", 53401, 5217),
        ],
    ),
    (
        "b805b718-569e-447c-8252-15678e855cd8",
        "002",
        "Agent",
        30239,
        56789,
        [
            ("Ringing", 30239, 4906),
            ("CallRecording", 30239, 52571),
            ("Connected", 35145, 47665),
            ("Wrap", 82810, 4218),
        ],
    ),
]


def faq_legs() -> list[Leg]:
    return [
        leg_from_channel_events(guid, party, role, FAQ_START_MS, offset, duration, events)
        for guid, party, role, offset, duration, events in FAQ_CHANNELS
    ]


def test_faq_start_is_the_documented_instant() -> None:
    assert FAQ_START_MS == 1578654785836


def test_faq_legs_are_built_from_connected_events_only() -> None:
    customer, agent01, agent002 = faq_legs()
    assert customer == Leg(
        "016f8db7-798f-407c-9925-ef8c2b51e6b0", None, "External", FAQ_START_MS, FAQ_START_MS, FAQ_START_MS + 84646
    )
    assert agent01 == Leg(
        "45f4ee27-a4ae-4530-ba04-3fdb2cab2cc2",
        "01",
        "Agent",
        FAQ_START_MS + 6721,
        FAQ_START_MS + 12512,
        FAQ_START_MS + 53401,  # Connected end; the Wrap after it does not count
    )
    assert agent002.connected_ms == FAQ_START_MS + 35145
    assert agent002.disconnected_ms == FAQ_START_MS + 82810
    assert is_customer_leg(customer) and not is_agent_leg(customer)
    assert is_agent_leg(agent01) and is_agent_leg(agent002)


def test_faq_example_is_one_consult_transfer_from_01_to_002() -> None:
    assert detect_transfers(faq_legs()) == [
        Transfer(
            from_agent_id="01",
            to_agent_id="002",
            kind="consult",
            at_ms=FAQ_START_MS + 53401,
            from_channel_id="45f4ee27-a4ae-4530-ba04-3fdb2cab2cc2",
            to_channel_id="b805b718-569e-447c-8252-15678e855cd8",
        )
    ]


def test_faq_example_without_the_external_leg_is_still_a_consult() -> None:
    """Without the customer's leg, the customer counts as present while an agent is."""
    legs = [leg for leg in faq_legs() if leg.role != "External"]
    [transfer] = detect_transfers(legs)
    assert (transfer.from_agent_id, transfer.to_agent_id, transfer.kind) == ("01", "002", "consult")


def test_helper_alias_and_open_channels() -> None:
    assert legs_from_channel_events is leg_from_channel_events
    # still connected: no durations yet
    leg = leg_from_channel_events("c", "7", "Agent", 1000, 10, None, [("Ringing", 10, 5), ("Connected", 15, None)])
    assert (leg.joined_ms, leg.connected_ms, leg.disconnected_ms) == (1010, 1015, None)
    # only rang
    leg = leg_from_channel_events("c", "7", "Agent", 1000, 10, 5, [("Ringing", 10, 5)])
    assert (leg.connected_ms, leg.disconnected_ms) == (None, None)
    # two Connected periods: first start, last end; case-insensitive type
    leg = leg_from_channel_events(
        "c", "7", "Agent", 0, 0, 100, [("connected", 50, 10), ("Held", 20, 30), ("CONNECTED", 10, 10)]
    )
    assert (leg.connected_ms, leg.disconnected_ms) == (10, 60)
    # the channel has ended but its last Connected event is open: the channel's end bounds it
    leg = leg_from_channel_events("c", "7", "Agent", 0, 5, 100, [("Connected", 10, None)])
    assert leg.disconnected_ms == 105


# --------------------------------------------------------------------------- hand-written scenarios


def agent(channel: str, party: str, connected: int | None, disconnected: int | None, joined: int | None = None) -> Leg:
    if joined is None:
        joined = connected if connected is not None else 0
    return Leg(channel, party, "Agent", joined, connected, disconnected)


def customer(connected: int | None, disconnected: int | None, channel: str = "cust") -> Leg:
    return Leg(channel, None, "External", 0, connected, disconnected)


def summary(legs: list[Leg]) -> list[tuple[str, str, str, int]]:
    return [(t.from_agent_id, t.to_agent_id, t.kind, t.at_ms) for t in detect_transfers(legs)]


def test_consult_transfer() -> None:
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", 300, 900)]
    assert detect_transfers(legs) == [Transfer("A", "B", "consult", 500, "ca", "cb")]


def test_blind_transfer() -> None:
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", 600, 900, joined=520)]
    assert detect_transfers(legs) == [Transfer("A", "B", "blind", 500, "ca", "cb")]


def test_blind_transfer_when_b_connects_at_the_hand_over_instant() -> None:
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", 500, 900)]
    assert summary(legs) == [("A", "B", "blind", 500)]


def test_blind_needs_the_customer_through_the_gap() -> None:
    # the customer hung up while nobody was on the call; B's connection is something else
    legs = [customer(0, 550), agent("ca", "A", 100, 500), agent("cb", "B", 600, 900)]
    assert summary(legs) == []


def test_blind_not_reported_without_a_customer_leg() -> None:
    legs = [agent("ca", "A", 100, 500), agent("cb", "B", 600, 900)]
    assert summary(legs) == []


def test_conference_is_not_a_transfer() -> None:
    # both stay until the customer leaves (A leaves at the same instant, B after)
    legs = [customer(0, 1000), agent("ca", "A", 100, 1000), agent("cb", "B", 300, 1200)]
    assert summary(legs) == []
    # both still connected while the customer is
    legs = [customer(0, None), agent("ca", "A", 100, None), agent("cb", "B", 300, None)]
    assert summary(legs) == []


def test_cancelled_consult_is_not_a_transfer() -> None:
    # A consults B, B leaves, A carries on and finishes the call
    legs = [customer(0, 1000), agent("ca", "A", 100, 1000), agent("cb", "B", 300, 600)]
    assert summary(legs) == []


def test_consultee_leaving_first_is_not_a_transfer_back() -> None:
    # B joined after A; B leaving while A stays is the end of a consultation
    legs = [customer(0, 2000), agent("ca", "A", 100, 1500), agent("cb", "B", 300, 600)]
    assert summary(legs) == []


def test_ccr_channel_after_the_agent_left_is_not_a_blind_transfer() -> None:
    ccr = Leg("ccr", "CCRConnect", "Agent", 520, 600, 900)
    assert not is_agent_leg(ccr)
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), ccr]
    assert summary(legs) == []
    # same with the CCR channel overlapping the agent (would look like a consult)
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), Leg("ccr", "CCRConnect", "Agent", 200, 300, 900)]
    assert summary(legs) == []


def test_non_agent_roles_are_never_agents() -> None:
    for leg in (
        Leg("x", "B", "External", 0, 300, 900),
        Leg("x", "B", "System", 0, 300, 900),
        Leg("x", "B", None, 0, 300, 900),
        Leg("x", None, "Agent", 0, 300, 900),
    ):
        assert not is_agent_leg(leg)
    assert is_agent_leg(Leg("x", "B", "AGENT", 0, 300, 900))


def test_ringing_only_second_agent_is_not_a_transfer() -> None:
    # B was offered the call (rang) but never connected
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", None, None, joined=300)]
    assert summary(legs) == []
    # ... and when B rang but C answered after A left, the transfer goes to C
    legs.append(agent("cc", "C", 700, 900))
    assert summary(legs) == [("A", "C", "blind", 500)]


def test_chain_a_to_b_to_c() -> None:
    legs = [
        customer(0, 3000),
        agent("cc", "C", 1500, 2800),  # input order does not matter
        agent("ca", "A", 100, 500),
        agent("cb", "B", 300, 1800),  # consulted by A, then consults C
    ]
    assert summary(legs) == [("A", "B", "consult", 500), ("B", "C", "consult", 1800)]
    # mixed kinds: blind to B, then consult to C
    legs = [customer(0, 3000), agent("ca", "A", 100, 500), agent("cb", "B", 700, 1800), agent("cc", "C", 1500, 2800)]
    assert summary(legs) == [("A", "B", "blind", 500), ("B", "C", "consult", 1800)]


def test_same_agent_rejoining() -> None:
    # A -> B (consult), then B -> A again (blind, on a new channel of A)
    legs = [
        customer(0, 3000),
        agent("ca1", "A", 100, 500),
        agent("cb", "B", 300, 1000),
        agent("ca2", "A", 1200, 2500),
    ]
    assert detect_transfers(legs) == [
        Transfer("A", "B", "consult", 500, "ca1", "cb"),
        Transfer("B", "A", "blind", 1000, "cb", "ca2"),
    ]


def test_never_a_transfer_to_oneself() -> None:
    # A drops and reconnects on a new channel: not a transfer
    legs = [customer(0, 3000), agent("ca1", "A", 100, 500), agent("ca2", "A", 600, 2500)]
    assert summary(legs) == []
    # A reconnects on a second channel while the first is still up, then the first ends
    legs = [customer(0, 3000), agent("ca1", "A", 100, 500), agent("ca2", "A", 300, 2500)]
    assert summary(legs) == []


def test_consult_to_two_agents_is_reported_to_each_in_order() -> None:
    legs = [customer(0, 3000), agent("ca", "A", 100, 500), agent("cz", "Z", 200, 900), agent("cb", "B", 300, 900)]
    assert summary(legs) == [("A", "B", "consult", 500), ("A", "Z", "consult", 500)]


def test_open_interaction_undecided_then_decided_when_a_leaves() -> None:
    # view 1: A connected, B consulted and connected, customer connected: undecided
    view1 = [customer(0, None), agent("ca", "A", 100, None), agent("cb", "B", 300, None)]
    assert detect_transfers(view1) == []
    # view 2: A left, B and the customer remain: now it is a consult transfer
    view2 = [customer(0, None), agent("ca", "A", 100, 500), agent("cb", "B", 300, None)]
    assert detect_transfers(view2) == [Transfer("A", "B", "consult", 500, "ca", "cb")]
    # view 3: everything ended: the same transfer, identically
    view3 = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", 300, 900)]
    assert detect_transfers(view3) == detect_transfers(view2)


def test_open_interaction_blind_waits_for_the_next_agent() -> None:
    view1 = [customer(0, None), agent("ca", "A", 100, 500)]
    assert detect_transfers(view1) == []
    view2 = [*view1, agent("cb", "B", None, None, joined=550)]  # B is ringing
    assert detect_transfers(view2) == []
    view3 = [*view1, agent("cb", "B", 600, None, joined=550)]
    assert detect_transfers(view3) == [Transfer("A", "B", "blind", 500, "ca", "cb")]


def test_duplicate_legs_do_not_duplicate_transfers() -> None:
    legs = [customer(0, 1000), agent("ca", "A", 100, 500), agent("cb", "B", 300, 900)]
    assert detect_transfers(legs + legs) == detect_transfers(legs)


def test_bad_data_does_not_crash() -> None:
    legs = [
        customer(0, 1000),
        agent("ca", "A", 100, 50),  # disconnect before connect
        agent("cb", "B", 300, 900),
        Leg("x", None, None, 0, None, 5),
    ]
    assert isinstance(detect_transfers(legs), list)


# --------------------------------------------------------------------------- properties

PARTIES = ["A", "B", "C", "01", "002"]
T = st.integers(min_value=0, max_value=60)


@st.composite
def connection(draw: st.DrawFn) -> tuple[int, int | None, int | None]:
    """(joined, connected, disconnected), consistent, on a small time grid so things overlap."""
    joined = draw(T)
    connected = draw(st.one_of(st.none(), st.integers(min_value=joined, max_value=joined + 20)))
    if connected is None:
        return joined, None, None
    disconnected = draw(st.one_of(st.none(), st.integers(min_value=connected, max_value=connected + 40)))
    return joined, connected, disconnected


@st.composite
def agent_legs(draw: st.DrawFn, max_size: int = 5) -> list[Leg]:
    n = draw(st.integers(min_value=0, max_value=max_size))
    legs = []
    for i in range(n):
        joined, connected, disconnected = draw(connection())
        role = draw(st.sampled_from(["Agent", "agent", "AGENT"]))
        legs.append(Leg(f"ag{i}", draw(st.sampled_from(PARTIES)), role, joined, connected, disconnected))
    return legs


@st.composite
def customer_legs(draw: st.DrawFn) -> list[Leg]:
    n = draw(st.integers(min_value=0, max_value=2))
    legs = []
    for i in range(n):
        joined, connected, disconnected = draw(connection())
        legs.append(Leg(f"cu{i}", None, draw(st.sampled_from(["External", "external"])), joined, connected, disconnected))
    return legs


@st.composite
def noise_legs(draw: st.DrawFn) -> list[Leg]:
    """Legs that are neither agents nor the customer."""
    n = draw(st.integers(min_value=1, max_value=3))
    legs = []
    for i in range(n):
        joined, connected, disconnected = draw(connection())
        party, role = draw(
            st.sampled_from(
                [
                    ("CCRConnect", "Agent"),
                    ("CCRConnect", None),
                    ("CCRConnect", "External"),
                    (None, "Agent"),
                    ("A", "System"),
                    ("B", None),
                    ("sys", "Queue"),
                ]
            )
        )
        legs.append(Leg(f"nz{i}", party, role, joined, connected, disconnected))
    return legs


@st.composite
def interactions(draw: st.DrawFn) -> list[Leg]:
    return draw(agent_legs()) + draw(customer_legs())


@given(interactions(), st.randoms(use_true_random=False))
def test_deterministic_and_order_invariant(legs: list[Leg], rnd) -> None:  # type: ignore[no-untyped-def]
    first = detect_transfers(legs)
    assert detect_transfers(list(legs)) == first
    shuffled = list(legs)
    rnd.shuffle(shuffled)
    assert detect_transfers(shuffled) == first
    assert detect_transfers(tuple(reversed(legs))) == first


@given(interactions(), noise_legs(), st.randoms(use_true_random=False))
def test_adding_non_agent_legs_never_changes_the_result(legs: list[Leg], noise: list[Leg], rnd) -> None:  # type: ignore[no-untyped-def]
    mixed = legs + noise
    rnd.shuffle(mixed)
    assert detect_transfers(mixed) == detect_transfers(legs)


@given(interactions())
def test_transfers_are_between_distinct_connected_agents_and_sorted(legs: list[Leg]) -> None:
    by_channel = {leg.channel_id: leg for leg in legs}
    transfers = detect_transfers(legs)
    for t in transfers:
        src, dst = by_channel[t.from_channel_id], by_channel[t.to_channel_id]
        for leg, agent_id in ((src, t.from_agent_id), (dst, t.to_agent_id)):
            assert is_agent_leg(leg)
            assert leg.connected_ms is not None
            assert leg.party_id == agent_id
        assert t.from_agent_id != t.to_agent_id
        assert t.at_ms == src.disconnected_ms
        assert t.kind in ("consult", "blind")
        assert src.connected_ms is not None and dst.connected_ms is not None
        if t.kind == "consult":
            assert src.connected_ms <= dst.connected_ms < t.at_ms
        else:
            assert dst.connected_ms >= t.at_ms
    keys = [(t.at_ms, t.to_agent_id) for t in transfers]
    assert keys == sorted(keys)
    assert len(set(transfers)) == len(transfers)


@given(agent_legs(max_size=1), customer_legs(), noise_legs())
def test_no_transfer_with_a_single_agent_leg(agents: list[Leg], customers: list[Leg], noise: list[Leg]) -> None:
    assert detect_transfers(agents + customers + noise) == []


@given(st.lists(connection(), min_size=1, max_size=4), customer_legs())
def test_no_transfer_with_a_single_agent_on_many_legs(conns, customers: list[Leg]) -> None:  # type: ignore[no-untyped-def]
    legs = [Leg(f"a{i}", "A", "Agent", j, c, d) for i, (j, c, d) in enumerate(conns)]
    assert detect_transfers(legs + customers) == []


def view_at(legs: list[Leg], now: int) -> list[Leg]:
    """What a poll at ``now`` shows of legs whose full history is known."""
    out = []
    for leg in legs:
        if leg.joined_ms > now:
            continue
        connected = leg.connected_ms if leg.connected_ms is not None and leg.connected_ms <= now else None
        disconnected = leg.disconnected_ms if leg.disconnected_ms is not None and leg.disconnected_ms <= now else None
        if connected is None:
            disconnected = None
        out.append(Leg(leg.channel_id, leg.party_id, leg.role, leg.joined_ms, connected, disconnected))
    return out


@given(interactions(), st.integers(min_value=0, max_value=130))
def test_a_transfer_once_reported_is_reported_identically_in_later_views(legs: list[Leg], now: int) -> None:
    """Re-running on every new view is safe: views only add transfers, never change or drop them.

    Holds once the customer's leg is visible: before it appears, the customer counts as
    present exactly while an agent is (see detect_transfers).
    """
    assume(all(leg.joined_ms <= now for leg in legs if is_customer_leg(leg)))
    by_channel = {leg.channel_id: leg for leg in legs}
    final = detect_transfers(legs)

    def decided_at(t: Transfer) -> int:
        dst = by_channel[t.to_channel_id]
        assert dst.connected_ms is not None
        return t.at_ms if t.kind == "consult" else dst.connected_ms

    assert detect_transfers(view_at(legs, now)) == [t for t in final if decided_at(t) <= now]
