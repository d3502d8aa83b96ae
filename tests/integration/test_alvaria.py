"""Alvaria against the real daemon and broker: the simulator's world, the seed examples served
verbatim behind client credentials and x-api-key (with a token revoked mid-run), bad credentials."""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import msgspec
import pytest

import streamer.simulator.tokens as sim_tokens
from streamer.errors import StreamerError
from streamer.kafka.broker import EmbeddedBroker
from streamer.kafka.publisher import topic_names
from streamer.simulator.alvaria_render import Rules
from streamer.simulator.app import SimulatorThread
from streamer.simulator.truth import TruthActivity, TruthInteraction
from streamer.timeutil import parse_ts, to_ms
from tests.integration.harness import (
    DaemonProcess,
    assert_clean_log,
    events,
    events_so_far,
    read_topic,
    unique_prefix,
    wait_for,
    write_config,
)
from tests.stub_http import JsonHandler, serve
from tests.unit.vendors.alvaria._fixtures import load, team_activity_changed, user_activity_changed

pytestmark = pytest.mark.integration

SOURCE_ID = "alvaria-it"
ENV = {"IT_ALVARIA_SECRET": "sim", "IT_ALVARIA_KEY": "sim-key"}


def alvaria_source(base: str, token_url: str, **over: Any) -> dict[str, Any]:
    src: dict[str, Any] = {
        "id": SOURCE_ID, "vendor": "alvaria", "base_url": base, "org_id": "sim",
        "api_key": "${IT_ALVARIA_KEY}", "team_ids": ["salesTeam", "supportTeam"],
        "work_type_ids": ["billingVoice"], "contact_lists": ["callbackList"],
        "auth": {"type": "oauth2_client_credentials", "token_url": token_url, "client_id": "sim",
                 "client_secret": "${IT_ALVARIA_SECRET}", "scope": "reportingapi"},
    }
    src.update(over)
    return src


def in_order(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(evs, key=lambda e: (e["_key"], e["_partition"], e["_offset"]))


def chains(evs: list[dict[str, Any]], type_: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in in_order(evs):
        if e["type"] == type_:
            out.setdefault(e["subject"], []).append(e)
    return out


def health(evs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["data"] for e in in_order(evs) if e["type"] == "cc.source.health.changed"]


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """Daemons a test started; any still running when it ends (a failed assertion) is killed."""
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        if d.alive():
            d.kill9()


@pytest.fixture
def issued_tokens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tokens: list[str] = []
    lock = threading.Lock()
    issue = sim_tokens.TokenStore.issue

    def recording(self: sim_tokens.TokenStore, ttl: float) -> str:
        token = issue(self, ttl)
        with lock:
            tokens.append(token)
        return token

    monkeypatch.setattr(sim_tokens.TokenStore, "issue", recording)
    return tokens


def _floor_s(ms: int) -> int:
    return ms // 1000 * 1000


def hold_times(interactions: list[TruthInteraction]) -> dict[tuple[str, str], set[int]]:
    """(agent, interaction guid) -> starts and ends of the holds the agent initiated on it."""
    out: dict[tuple[str, str], set[int]] = {}
    for i in interactions:
        for ch in i.channels:
            for e in ch.events:
                if ch.role == "External" and e.type == "Held":
                    times = out.setdefault(((e.properties or {})["initiatingAgentId"], i.guid), set())
                    times.update(t for t in (e.start_ms, e.end_ms) if t is not None)
    return out


def rule_times(truth: list[TruthActivity], holds: dict[tuple[str, str], set[int]], speed: float) -> dict[str, set[int]]:
    """Agent -> the times the simulator's Alvaria rules (``alvaria_render.Rules``) add to the
    world's activity boundaries: holds, the warnings, the ends of loggedon, reserved, preview."""
    rules = Rules(speed=speed)
    logins = {(a.agent_id, a.end_ms) for a in truth if a.type == "Presence" and a.category == "LoggedOut"}
    out: dict[str, set[int]] = {}
    for (agent, _), times in holds.items():
        out.setdefault(agent, set()).update(times)
    for a in truth:
        times = out.setdefault(a.agent_id, set())
        free: list[int] = []
        if a.type == "Interaction" and a.category == "Wrap":
            times.add(a.start_ms + rules.ms(rules.wrap_warning_s))
        elif a.type == "Presence" and a.name == "Break":
            times.add(a.start_ms + rules.ms(rules.park_warning_s))
        elif a.type == "Presence" and a.category == "Ready":
            login = (a.agent_id, a.start_ms) in logins
            free.append(a.start_ms + (rules.ms(rules.logged_on_s) if login else 0))
            times.update(free)
        if a.type == "Interaction" and a.end_ms is not None:
            free.append(a.end_ms)
        if rules.previews(a.agent_id):
            reserved, preview = rules.ms(rules.reserved_s), rules.ms(rules.preview_s)
            for f in free:
                times.update((f + reserved, f + reserved + preview))
    return out


def long_wraps_of(truth: list[TruthActivity], world_start: int, world_end: int) -> list[TruthActivity]:
    """The wraps every run must publish: from 3 s on, 2.5 s long, over 0.5 s before the end."""
    return [a for a in truth if a.type == "Interaction" and a.category == "Wrap"
            and a.start_ms >= world_start + 3000 and (a.end_ms or world_end) - a.start_ms >= 2500
            and (a.end_ms or world_end) <= world_end - 500]


def long_wraps_published(bootstrap: str, prefix: str, sim: SimulatorThread, checked: list[int]) -> bool:
    """The run has gone on long enough: two long wraps in the world, and every long wrap so
    far an active -> wrap change on the topic (the run's other figures come with them).
    On success, ``checked`` gets the world time the wraps were counted up to."""
    now = sim.world.now_ms()
    wraps = long_wraps_of(sim.world.activities(), sim.world.start_ms, now)
    if len(wraps) < 2:
        return False
    published = {(e["subject"], _floor_s(to_ms(parse_ts(e["data"]["since"]))))
                 for e in events_so_far(bootstrap, prefix, "agent")
                 if e["type"] == "cc.agent.state.changed" and e["data"]["current"]["raw"] == "wrap"}
    if not all((a.agent_id, _floor_s(a.start_ms)) in published for a in wraps):
        return False
    checked.append(now)
    return True


def test_world_state_changes_and_team_counts(
    broker: EmbeddedBroker, tmp_path: Path, issued_tokens: list[str], daemons: list[DaemonProcess]
) -> None:
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=275, agents=16) as sim:  # wraps of 3-4 s from 8.5 s on
        sim.faults.update(short_token_ttl=4)  # renewed again and again during the run
        prefix = unique_prefix()
        src = alvaria_source(f"{sim.base_url}/alvaria",
                             f"{sim.base_url}/alvaria/tokenservice/oauth2/access_token?realm=sim")
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, **src)
        daemon = DaemonProcess(cfg, log, env=ENV).start()
        daemons.append(daemon)
        checked: list[int] = []
        daemon.wait_until(lambda: long_wraps_published(broker.bootstrap, prefix, sim, checked),
                          "two wraps long enough for a 1 s poll, and every such wrap, published", timeout=90)
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()
        truth = sim.world.activities()
        holds = hold_times(sim.world.interactions())
        derived = rule_times(truth, holds, sim.world.speed)
        world_start = sim.world.start_ms

    evs = events(broker.bootstrap, prefix, "agent", "stats", "source")
    assert len({e["id"] for e in evs}) == len(evs)
    by_key: dict[str, list[int]] = {}
    for e in in_order(evs):
        if "sequence" in e["data"] and not e["type"].startswith("cc.source."):
            by_key.setdefault(e["_key"], []).append(e["data"]["sequence"])
    assert all(s == list(range(1, len(s) + 1)) for s in by_key.values()), by_key

    # --- user states: chained, backed by the world, active -> wrap exactly once each ---------
    interactions: dict[tuple[str, str, int], list[Any]] = {}
    boundaries: dict[str, set[int]] = {}
    for agent, times in derived.items():  # the states the simulator's rules add (issue 15 A4)
        boundaries.setdefault(agent, set()).update(_floor_s(t) for t in times)
    for a in truth:
        b = boundaries.setdefault(a.agent_id, set())
        b.add(_floor_s(a.start_ms))
        if a.end_ms is not None:
            b.add(_floor_s(a.end_ms))
        if a.type == "Interaction":
            interactions.setdefault((a.agent_id, a.category or "", _floor_s(a.start_ms)), []).append(a)
    states = chains(evs, "cc.agent.state.changed")
    assert len(states) == 16, sorted(states)
    active_to_wrap = []
    for agent, chain in states.items():
        assert chain[0]["data"]["previous"] is None
        for before, after in zip(chain, chain[1:]):
            assert after["data"]["previous"] == before["data"]["current"], (agent, before, after)
        for e in chain:
            since = to_ms(parse_ts(e["data"]["since"]))
            assert since in boundaries[agent], (agent, e["data"])  # nothing invented
            d = e["data"]
            if d["previous"] and d["previous"]["raw"] in ("active", "held") and d["current"]["raw"] == "wrap":
                active_to_wrap.append((agent, since, d))  # held: a consult ends on hold
    assert active_to_wrap, "no active -> wrap change seen in 15 s"
    raws = Counter(e["data"]["current"]["raw"] for chain in states.values() for e in chain)
    print("states published:", dict(raws))
    # some of the states only the simulator's rules give were published, and checked above
    assert raws.keys() & {"held", "park", "parkwarning", "preview", "reserved", "loggedon", "wrapwarning"}, raws
    # every wrap long enough for a 1 s poll (the world's own, seeded) is there, exactly once
    long_wraps = long_wraps_of(truth, world_start, checked[-1])  # those the daemon had time to poll
    assert len(long_wraps) >= 2, long_wraps
    seen = Counter((agent, since) for agent, since, _ in active_to_wrap)
    for a in long_wraps:
        assert seen[(a.agent_id, _floor_s(a.start_ms))] == 1, (a, sorted(seen))
    for agent, since, d in active_to_wrap:
        (wrap,) = interactions[(agent, "Wrap", since)]
        started = since - d["previous_duration_ms"]
        (connected,) = [a for a in truth if a.agent_id == agent and a.category == "Connected"
                        and a.interaction_guid == wrap.interaction_guid and a.end_ms == wrap.start_ms]
        # the right previous state: the Connected that ended into this Wrap, since its start or a hold's
        began = {connected.start_ms} | holds.get((agent, wrap.interaction_guid or ""), set())
        assert started in {_floor_s(t) for t in began}, (agent, d)
        same = [e for e in states[agent] if e["data"]["current"]["raw"] == "wrap" and e["data"]["since"] == d["since"]]
        assert len(same) == 1
        assert d["current"] == {"state": "Wrap", "raw": "wrap", "reason": None}
        assert d["previous"] in ({"state": "Busy", "raw": "active", "reason": None},
                                 {"state": "Busy", "raw": "held", "reason": None})
    presence = chains(evs, "cc.agent.presence.changed")
    for chain in presence.values():
        assert all(e["data"]["current"] != e["data"]["previous"] for e in chain)

    # --- team counts: one event per change, changes = {field: [before, after]} --------------
    teams = chains(evs, "cc.stats.changed")
    idle_changes = 0
    for entity in ("team/salesTeam", "team/supportTeam"):
        chain = teams[entity]
        assert len(chain) >= 2, (entity, chain)
        first = chain[0]["data"]
        assert all(before is None for before, _ in first["changes"].values())
        for before, after in zip(chain, chain[1:]):
            b, a = before["data"]["values"], after["data"]["values"]
            expected = {k: [b[k], a[k]] for k in a if b.get(k) != a[k]}
            assert expected and after["data"]["changes"] == expected, (entity, after["data"])
            idle_changes += "idle_count" in expected
    assert idle_changes > 0
    for e in teams["channel/billingVoice/inboundacd"]:
        assert not any(k.endswith("_dur") or k == "longest_waiting_queue_time" for k in e["data"]["changes"])
    assert teams["list/callbackList"]

    # --- health, tokens, secrets ----------------------------------------------------------
    statuses = {(h["endpoint"], h["status"]) for h in health(evs)}
    assert statuses == {(ep, "healthy") for ep in
                        ("userActivity", "teamActivity", "channelActivity", "listActivity", "presenceUsers")}, statuses
    token_posts = served["requests_by_path"].get("/alvaria/tokenservice/oauth2/access_token", 0)
    assert token_posts == len(issued_tokens) >= 3, (token_posts, issued_tokens)
    assert served["requests_served"] - token_posts > 4 * token_posts  # shared by the endpoints, not per request
    assert '"http.reauth"' not in log.read_text()  # renewed before expiry, not after a 401
    assert_clean_log(log, *issued_tokens, "sim-key", "client_secret=sim")


# --- the seed's own examples, verbatim, behind credentials and a key ---------------------------

SEED_ORG, SEED_CLIENT, SEED_SECRET, SEED_KEY = "seedorg", "seed-client", "seed-secret-5e1d", "seed-key-93b0"
REVOKE_AFTER = 5  # userActivity requests; the changed examples start at the 4th


class SeedVendor(JsonHandler):
    lock = threading.Lock()
    tokens: set[str] = set()
    issued: list[str] = []
    requests: Counter[str] = Counter()
    refused: Counter[str] = Counter()

    @classmethod
    def reset(cls) -> None:
        cls.tokens, cls.issued, cls.requests, cls.refused = set(), [], Counter(), Counter()

    def do_POST(self) -> None:  # noqa: N802 - stdlib API
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("content-length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        basic = "Basic " + base64.b64encode(f"{SEED_CLIENT}:{SEED_SECRET}".encode()).decode()
        if path != "/tokenservice/oauth2/access_token" or parse_qs(query).get("realm") != [SEED_ORG]:
            return self.send_json(404, b'{"error": "Not Found"}')
        if self.headers.get("authorization") != basic:
            return self.send_json(401, b'{"error": "invalid_client"}')
        if form.get("grant_type") != ["client_credentials"] or form.get("scope") != ["reportingapi"]:
            return self.send_json(400, b'{"error": "invalid_request"}')
        token = f"seed-tok-{uuid.uuid4().hex}"
        with self.lock:
            self.tokens.add(token)
            self.issued.append(token)
        body = msgspec.json.encode({"access_token": token, "token_type": "Bearer", "expires_in": 3599})
        self.send_json(200, body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib API
        path = self.path.split("?", 1)[0]
        if self.headers.get("x-api-key") != SEED_KEY:
            type(self).refused["no-key"] += 1
            return self.send_json(403, b'{"error": "Invalid ApiKey"}')
        token = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        with self.lock:
            if token not in self.tokens:
                type(self).refused["token"] += 1
                return self.send_json(401, b'{"error": "Unauthorized"}')
            prefix = f"/via/v2/organizations/{SEED_ORG}/reporting/"
            query = path.removeprefix(prefix).removesuffix("/data").removeprefix("queries/")
            self.requests[query] += 1
            n = self.requests[query]
            if query == "userActivity" and n == REVOKE_AFTER:
                self.tokens.clear()  # revoked by the vendor; this answer still goes out
        if query == "userActivity":
            body = load("user_activity.json") if n <= 3 else user_activity_changed(state_dur=n)
        elif query == "teamActivity":
            body = load("team_activity.json") if n <= 3 else team_activity_changed()
        elif query == "channelActivity":
            body = load("channel_activity.json")
        elif query == "listActivity":
            body = load("list_activity.json")
        elif query == "presence/users":
            body = load("presence_users.json")
        else:
            return self.send_json(404, b'{"error": "Not Found"}')
        self.send_json(200, body)



@pytest.fixture
def seed_vendor() -> Iterator[str]:
    SeedVendor.reset()
    with serve(SeedVendor) as url:
        yield f"{url}"


def test_seed_examples_behind_credentials_and_key_survive_a_revoked_token(
    broker: EmbeddedBroker, seed_vendor: str, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    log = tmp_path / "daemon.log"
    prefix = unique_prefix()
    src = alvaria_source(
        seed_vendor, f"{seed_vendor}/tokenservice/oauth2/access_token", org_id=SEED_ORG,
        team_ids=["salesTeam"], work_type_ids=["worktype30_id"], contact_lists=["ContactList1"],
        auth={"type": "oauth2_client_credentials", "token_url": f"{seed_vendor}/tokenservice/oauth2/access_token",
              "client_id": SEED_CLIENT, "client_secret": "${IT_ALVARIA_SECRET}", "scope": "reportingapi"},
    )
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, **src)
    daemon = DaemonProcess(cfg, log, env={"IT_ALVARIA_SECRET": SEED_SECRET, "IT_ALVARIA_KEY": SEED_KEY}).start()
    daemons.append(daemon)
    served = wait_for(lambda: SeedVendor.requests["userActivity"] >= REVOKE_AFTER + 3
                      and SeedVendor.requests["teamActivity"] >= 6, timeout=40)
    assert daemon.terminate() == 0, log.read_text()[-3000:]
    assert served, (SeedVendor.requests, SeedVendor.refused, log.read_text()[-2000:])

    # the revocation happened and was recovered from by renewing the token, with the key every time
    assert SeedVendor.refused["token"] >= 1 and SeedVendor.refused["no-key"] == 0, SeedVendor.refused
    assert len(SeedVendor.issued) >= 2, SeedVendor.issued
    assert min(SeedVendor.requests[q] for q in ("channelActivity", "listActivity", "presence/users")) >= 3

    evs = events(broker.bootstrap, prefix, "agent", "stats")
    got = Counter()
    for e in evs:
        d = e["data"]
        if e["type"] == "cc.stats.changed":
            what: tuple[Any, ...] = (e["subject"], tuple(sorted((k, tuple(v)) for k, v in d["changes"].items()))
                                     if d["sequence"] > 1 else "first sight")
        elif e["type"] == "cc.agent.state.changed":
            what = (e["subject"], (d["previous"] or {}).get("raw"), d["current"]["raw"], e["time"])
        elif e["type"] == "cc.agent.presence.changed":
            what = (e["subject"], (d["previous"] or {}).get("category"), d["current"]["category"], e["time"])
        elif e["type"] == "cc.agent.workload.changed":
            what = (e["subject"], (d["previous"] or {}).get("total"), d["current"]["total"], e["time"])
        else:
            what = (e["subject"],)
        got[(e["type"], *what)] += 1
    assert got == Counter({
        # userActivity: first sight (Ready, active), then active -> wrap, each once
        ("cc.agent.presence.changed", "Keran123", None, "Ready", "2018-02-07T11:29:46.000Z"): 1,
        ("cc.agent.state.changed", "Keran123", None, "active", "2018-02-07T11:29:46.000Z"): 1,
        ("cc.agent.state.changed", "Keran123", "active", "wrap", "2018-02-07T11:31:02.000Z"): 1,
        # interactionCount: 1, then 0 with the wrap
        ("cc.agent.workload.changed", "Keran123", None, 1, "2018-02-07T11:29:46.000Z"): 1,
        ("cc.agent.workload.changed", "Keran123", 1, 0, "2018-02-07T11:31:02.000Z"): 1,
        # teamActivity: first sight, then its idle user went to wrap
        ("cc.stats.changed", "team/salesTeam", "first sight"): 1,
        ("cc.stats.changed", "team/salesTeam", (("idle_count", (1, 0)), ("wrap_count", (0, 1)))): 1,
        # the other examples, unchanged: first sight only
        ("cc.stats.changed", "channel/worktype30_id/InboundEmail", "first sight"): 1,
        ("cc.stats.changed", "list/ContactList1", "first sight"): 1,
    }), got
    statuses = [(h["endpoint"], h["status"]) for h in health(events(broker.bootstrap, prefix, "source"))]
    assert all(s == "healthy" for _, s in statuses) and len(statuses) == 5, statuses
    assert_clean_log(log, SEED_SECRET, SEED_KEY, *SeedVendor.issued)


def endpoints_reported(bootstrap: str, prefix: str) -> set[str]:
    """Endpoints with a health event so far (none while the topic does not exist yet)."""
    try:
        return {h["endpoint"] for h in health(events(bootstrap, prefix, "source"))}
    except StreamerError:
        return set()


def test_bad_credentials_give_a_clear_health_event_not_a_crash_loop(
    broker: EmbeddedBroker, tmp_path: Path, issued_tokens: list[str], daemons: list[DaemonProcess]
) -> None:
    canary = "canary-alvaria-secret-4d2e"
    log = tmp_path / "daemon.log"
    with SimulatorThread(seed=44, agents=4) as sim:
        prefix = unique_prefix()
        src = alvaria_source(f"{sim.base_url}/alvaria", f"{sim.base_url}/alvaria/tokenservice/oauth2/access_token")
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, **src)
        daemon = DaemonProcess(cfg, log, env={**ENV, "IT_ALVARIA_SECRET": canary}).start()
        daemons.append(daemon)
        assert wait_for(lambda: len(endpoints_reported(broker.bootstrap, prefix)) == 5, timeout=30), \
            log.read_text()[-3000:]
        assert daemon.alive(), log.read_text()[-3000:]
        assert daemon.terminate() == 0, log.read_text()[-3000:]
        served = sim.faults.settings()

    assert issued_tokens == []
    token_path = "/alvaria/tokenservice/oauth2/access_token"
    assert set(served["requests_by_path"]) == {token_path}, served  # no API call without a token
    assert 1 <= served["requests_by_path"][token_path] <= 10, served  # one try per endpoint, then a long wait:
    retries = [msgspec.json.decode(line)["retry_in"] for line in log.read_text().splitlines()
               if '"event": "poll failed and needs attention"' in line]
    assert retries and min(retries) >= 60, retries
    hs = health(events(broker.bootstrap, prefix, "source"))
    assert {h["endpoint"] for h in hs} == {"userActivity", "teamActivity", "channelActivity", "listActivity",
                                           "presenceUsers"}
    for h in hs:
        assert h["status"] == "failing", h
        assert "token endpoint rejected the client credentials" in (h["reason"] or ""), h
    text = log.read_text()
    assert canary not in text and "credentials" in text
    plain, compacted = topic_names(prefix)
    for topic in plain + compacted:
        for r in read_topic(broker.bootstrap, topic):
            blob = b"".join([r.key or b"", r.value or b"", *(v or b"" for _, v in r.headers or ())])
            assert canary.encode() not in blob and b"sim-key" not in blob, topic
