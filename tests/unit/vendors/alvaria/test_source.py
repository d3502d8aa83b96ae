"""Alvaria endpoints over httpx.MockTransport: spreading, failures per key, sessions, config."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from streamer.config.load import parse_config
from streamer.engine.source import Endpoint, PollResult
from streamer.errors import ConfigError, RetriableError, SkippableError
from streamer.vendors import registry
from streamer.vendors.alvaria.options import alvaria_options
from streamer.vendors.alvaria.source import AlvariaSource
from tests.unit.vendors.alvaria._fixtures import load
from tests.unit.vendors.alvaria.test_client import API_KEY, source_cfg

NOW = 1_700_000_000_000


class FakeTime:
    """A clock that only the (injected) sleep moves."""

    def __init__(self) -> None:
        self.t = 500.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds


class Server:
    def __init__(self, time: FakeTime) -> None:
        self.time = time
        self.calls: list[tuple[float, str, dict[str, str]]] = []
        self.fail: dict[str, tuple[int, bytes]] = {}
        self.users: list[dict[str, Any]] = []
        self.latency = 0.0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("access_token"):
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 3599})
        self.time.t += self.latency
        assert request.headers["x-api-key"] == API_KEY
        query = request.url.path.split("/")[-2]
        params = dict(request.url.params)
        self.calls.append((self.time.t, query, params))
        key = next(iter(params.values()))
        if key in self.fail:
            status, body = self.fail[key]
            return httpx.Response(status, content=body)
        if query == "users":
            return httpx.Response(200, json={"kind": "via#presenceDataList", "users": self.users,
                                             "totalItems": len(self.users)})
        if query == "teamActivity":
            body = load("team_activity.json").replace(b'"salesTeam"', b'"%s"' % key.encode())
            return httpx.Response(200, content=body)
        if query == "userActivity":
            return httpx.Response(200, content=load("user_activity.json"))
        if query == "channelActivity":
            return httpx.Response(200, content=load("channel_activity.json"))
        return httpx.Response(200, content=load("list_activity.json"))


def build(**over: Any) -> tuple[AlvariaSource, Server, FakeTime]:
    time = FakeTime()
    server = Server(time)
    src = AlvariaSource(source_cfg(**over), transport=httpx.MockTransport(server), clock=time.clock, sleep=time.sleep)
    return src, server, time


def endpoint(src: AlvariaSource, name: str) -> Endpoint:
    return next(e for e in src.endpoints if e.name == name)


async def collect(ep: Endpoint, now_ms: int = NOW) -> list[PollResult]:
    return [r async for r in ep.poll(None, now_ms)]


async def test_requests_for_several_teams_are_spread_over_the_interval() -> None:
    src, server, time = build(team_ids=["t1", "t2", "t3", "t4"], poll_interval="2s")
    ep = endpoint(src, "teamActivity")
    results = await collect(ep)
    await src.aclose()
    assert [c[2]["teamId"] for c in server.calls] == ["t1", "t2", "t3", "t4"]
    starts = [c[0] - 500.0 for c in server.calls]
    assert starts == [0.0, 0.5, 1.0, 1.5]  # spread evenly, not fired at once
    assert time.sleeps == [0.5, 0.5, 0.5]
    # one result per team, published as soon as read; stats stamped with their request time
    assert [r.drafts[0].entity_id for r in results] == ["team/t1", "team/t2", "team/t3", "team/t4"]
    assert [r.drafts[0].at_ms - NOW for r in results] == [0, 500, 1000, 1500]
    # the round's watermark comes with its last result only
    assert [r.complete_up_to_ms for r in results] == [None, None, None, NOW]


async def test_a_slow_request_eats_into_the_wait_rather_than_stretching_the_round() -> None:
    src, server, time = build(team_ids=["t1", "t2"], poll_interval="2s")
    server.latency = 0.75
    await collect(endpoint(src, "teamActivity"))
    await src.aclose()
    assert time.sleeps == [0.25]


async def test_a_failing_team_does_not_starve_the_others() -> None:
    src, server, time = build(team_ids=["t1", "t2", "t3"], max_attempts=1)
    server.fail["t2"] = (503, b'{"error": "Service Unavailable"}')
    ep = endpoint(src, "teamActivity")
    got: list[str] = []
    with pytest.raises(RetriableError, match="503"):
        async for r in ep.poll(None, NOW):
            got += [d.entity_id for d in r.drafts]
    assert got == ["team/t1"]
    server.calls.clear()
    del server.fail["t2"]
    await collect(ep)
    await src.aclose()
    assert [c[2]["teamId"] for c in server.calls] == ["t3", "t1", "t2"]  # next round starts after the failure


async def test_an_unreadable_team_is_reported_after_the_others_are_read() -> None:
    src, server, _ = build(team_ids=["t1", "nope", "t3"])
    server.fail["nope"] = (404, load("error_response_obj.json"))
    ep = endpoint(src, "teamActivity")
    got: list[str] = []
    with pytest.raises(SkippableError) as info:
        async for r in ep.poll(None, NOW):
            got += [d.entity_id for d in r.drafts]
    await src.aclose()
    assert got == ["team/t1", "team/t3"]
    assert "teamActivity: 1 of 3 unreadable: nope: HTTP 404" in str(info.value) and "Not Found" in str(info.value)


async def test_user_activity_and_bad_rows() -> None:
    src, server, _ = build()
    ep = endpoint(src, "userActivity")
    (first,) = await collect(ep)
    assert [(d.type, d.entity_id) for d in first.drafts] == [
        ("cc.agent.presence.changed", "Keran123"), ("cc.agent.state.changed", "Keran123"),
        ("cc.agent.workload.changed", "Keran123")]
    assert (await collect(ep))[0].drafts == []  # nothing changed
    ep.reset()
    assert len((await collect(ep))[0].drafts) == 3  # after a reload: re-derived (the ledger has the ids)
    server.fail["salesTeam"] = (200, b'{"rows": [{"userId": "x", "stateStartTime": "soon"}], "totalItems": 1}')
    (bad,) = await collect(ep)
    await src.aclose()
    assert bad.drafts == [] and len(bad.bad) == 1  # dead-lettered; and Keran123 is not logged out for it
    assert "UserActivityRow" in bad.bad[0].reason and msgspec.json.decode(bad.bad[0].raw)["userId"] == "x"


async def test_presence_users_sessions_only_for_users_no_team_covers() -> None:
    src, server, _ = build()
    users, presence = endpoint(src, "userActivity"), endpoint(src, "presenceUsers")
    server.users = [{"userId": "Keran123", "ehubSessionId": 1}]
    assert (await collect(presence))[0].drafts == []  # userActivity has not read its teams yet: seed
    await collect(users)
    server.users = [{"userId": "Keran123", "ehubSessionId": 2}, {"userId": "other", "ehubSessionId": 3}]
    (r,) = await collect(presence)
    assert [(d.type, d.entity_id) for d in r.drafts] == [("cc.agent.session.started", "other")]
    server.users = []
    (r,) = await collect(presence)
    await src.aclose()
    assert [(d.type, d.entity_id) for d in r.drafts] == [("cc.agent.session.ended", "other")]
    assert [c[2] for c in server.calls if c[1] == "users"][-1] == {"state": "LoggedOn"}


async def test_without_teams_presence_users_reports_every_session() -> None:
    src, server, _ = build(team_ids=[], work_type_ids=["w1"], contact_lists=["ContactList1"])
    assert [e.name for e in src.endpoints] == ["channelActivity", "listActivity", "presenceUsers"]
    presence = endpoint(src, "presenceUsers")
    await collect(presence)
    server.users = [{"userId": "Keran123", "ehubSessionId": 9}]
    (r,) = await collect(presence)
    (lst,) = await collect(endpoint(src, "listActivity"))
    (ch,) = await collect(endpoint(src, "channelActivity"))
    await src.aclose()
    assert [(d.type, d.entity_id) for d in r.drafts] == [("cc.agent.session.started", "Keran123")]
    assert [d.entity_id for d in lst.drafts] == ["list/ContactList1"]
    assert [d.entity_id for d in ch.drafts] == ["channel/worktype30_id/InboundEmail"]
    assert ("channelActivity", {"workTypeId": "w1"}) in [(c[1], c[2]) for c in server.calls]


def test_endpoints_follow_the_config() -> None:
    src, _, _ = build(team_ids=["a"], endpoints={"presenceUsers": {"enabled": False},
                                                 "teamActivity": {"poll_interval": "5s"}})
    assert [(e.name, e.interval) for e in src.endpoints] == [("userActivity", 2.0), ("teamActivity", 5.0)]
    spec = registry.get("alvaria")
    assert spec is not None and spec.build is AlvariaSource
    assert set(spec.endpoints) == {"userActivity", "teamActivity", "channelActivity", "listActivity", "presenceUsers"}


def _error(**src: Any) -> str:
    base: dict[str, Any] = {
        "id": "a", "vendor": "alvaria", "base_url": "https://acme.via.aspect-cloud.net", "org_id": "acme",
        "api_key": "k", "auth": {"type": "oauth2_client_credentials", "token_url": "https://t/x", "client_id": "c",
                                 "client_secret": "s", "scope": "reportingapi"},
    }
    base.update(src)
    cfg = {"sources": [{"id": "v", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}},
                       {k: v for k, v in base.items() if v is not None}]}
    with pytest.raises(ConfigError) as info:
        parse_config(cfg, env={})
    return str(info.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"org_id": None}, "sources[1].org_id: required for alvaria"),
        ({"org_id": " "}, "sources[1].org_id: required for alvaria"),
        ({"api_key": None}, "sources[1].api_key: required for alvaria (sent as x-api-key)"),
        ({"auth": {"type": "bearer", "token": "t"}}, "sources[1].auth.type: alvaria takes oauth2_client_credentials"),
        ({"auth": {"type": "oauth2_client_credentials", "token_url": "https://t", "client_id": "c",
                   "client_secret": "s", "scope": "stats"}}, "sources[1].auth.scope: alvaria needs the reportingapi scope"),
        ({"team_ids": ["a", ""]}, "sources[1].team_ids[1]: must not be empty"),
        ({"work_type_ids": ["w", "w"]}, "sources[1].work_type_ids[1]: 'w' is listed twice"),
        ({"endpoints": {"listActivity": {"poll_interval": "3s"}}},
         "sources[1].endpoints.listActivity: needs sources[1].contact_lists (it is empty)"),
        ({"endpoints": {"agent-status": {}}}, "sources[1].endpoints.agent-status: unknown endpoint for alvaria"),
    ],
)
def test_config_errors_name_the_key(override: dict[str, Any], message: str) -> None:
    assert _error(**override).startswith(message)


def test_a_valid_config_and_vonage_refusing_alvaria_keys() -> None:
    cfg = source_cfg(team_ids=["a", "b"], work_type_ids=["w"], contact_lists=["l"],
                     auth={"type": "oauth2_client_credentials", "token_url": "https://t", "client_id": "c",
                           "client_secret": "s"})  # no scope: reportingapi is asked for
    assert alvaria_options(cfg).team_ids == ["a", "b"]
    with pytest.raises(ConfigError, match=r"sources\[0\].org_id: not used by vonage"):
        parse_config({"sources": [{"id": "v", "vendor": "vonage", "base_url": "http://x", "org_id": "o",
                                   "auth": {"type": "bearer", "token": "t"}}]}, env={})


def _field_docs(cls_name: str) -> dict[str, str]:
    """Attribute docstrings of a class in streamer/vendors/alvaria/options.py (what the config
    reference says of Alvaria's own keys)."""
    import ast
    import inspect

    import streamer.vendors.alvaria.options

    tree = ast.parse(inspect.getsource(streamer.vendors.alvaria.options))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls_name)
    docs: dict[str, str] = {}
    for a, b in zip(cls.body, cls.body[1:]):
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(b, ast.Expr) \
                and isinstance(b.value, ast.Constant) and isinstance(b.value.value, str):
            docs[a.target.id] = " ".join(b.value.value.split())
    return docs


def test_the_config_reference_says_what_an_empty_id_list_does() -> None:
    # A2: no discovery exists (the doc shows no provisioning response to build it on), so
    # the docs must not promise one; each list names the endpoints an empty list turns off
    from streamer.vendors.alvaria.source import _NEEDS

    docs = _field_docs("AlvariaOptions")
    for key in ("team_ids", "work_type_ids", "contact_lists"):
        text = docs[key]
        assert "discover or skip" not in text, (key, text)
        for endpoint_name in [ep for ep, k in _NEEDS.items() if k == key]:
            assert endpoint_name in text, (key, endpoint_name, text)
        assert "off" in text, (key, text)
        src, _, _ = build(**{"team_ids": ["a"], "work_type_ids": ["w"], "contact_lists": ["l"], key: []})
        assert not {ep for ep, k in _NEEDS.items() if k == key} & {e.name for e in src.endpoints}
        assert "presenceUsers" in {e.name for e in src.endpoints}
    assert "presenceUsers never filters by work type" in docs["work_type_ids"]
