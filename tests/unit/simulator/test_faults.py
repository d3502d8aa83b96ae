"""Fault injection: HTTP-level faults, JSON quirks, the /_sim/faults control."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from streamer.simulator.faults import Faults
from tests.unit.simulator.conftest import T0, FakeClock

PARAMS = {"start": "2023-11-14T22:13:20.000Z"}


async def test_rate_limit_with_retry_after(client: httpx.AsyncClient, faults: Faults) -> None:
    faults.update(rate_limit=2, retry_after=3)
    for path in ("/alvaria/x", "/vonage/agent-status"):
        r = await client.get(path)
        assert r.status_code == 429
        # Vonage documents no Retry-After (issue 15, V9); the other vendors' 429 keep it
        assert r.headers.get("retry-after") == (None if path.startswith("/vonage") else "3")
    assert (await client.get("/vonage/agent-status")).status_code == 200
    faults.update(rate_limit=1, retry_after=0.5)
    assert (await client.get("/alvaria/x")).headers["retry-after"] == "0.5"
    assert faults.faults_served["rate_limit"] == 3
    assert faults.requests_by_path["/vonage/agent-status"] == 2


async def test_server_errors_and_error_rate(client: httpx.AsyncClient, faults: Faults) -> None:
    faults.update(server_errors=1)
    assert (await client.get("/vonage/agent-status")).status_code == 503
    assert (await client.get("/vonage/agent-status")).status_code == 200
    faults.update(error_rate=1.0)
    assert (await client.get("/vonage/agent-status")).status_code == 500
    faults.update(error_rate=0.0)
    assert (await client.get("/vonage/agent-status")).status_code == 200


async def test_truncated_body(client: httpx.AsyncClient, faults: Faults, clock: FakeClock) -> None:
    clock.advance(10)
    full = (await client.get("/vonage/agent-activities", params=PARAMS)).content
    faults.update(truncate=1)
    r = await client.get("/vonage/agent-activities", params=PARAMS)
    assert r.status_code == 200 and len(r.content) == len(full) // 2
    assert r.content == full[: len(full) // 2]
    with pytest.raises(json.JSONDecodeError):
        r.json()


async def test_html_200(client: httpx.AsyncClient, faults: Faults) -> None:
    faults.update(html_200=1)
    r = await client.get("/vonage/agent-status")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<!DOCTYPE html>")


async def test_json_quirks(client: httpx.AsyncClient, faults: Faults, clock: FakeClock) -> None:
    clock.advance(20)
    faults.update(field_case_drift=True, zoneless_timestamps=True, numbers_as_strings=True)
    body = (await client.get("/vonage/agent-activities", params=PARAMS)).json()
    item = body["items"][0]
    assert "agentid" in item and "agentId" not in item and "eligibleforRouting" in item
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", item["start"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", body["upTo"])
    assert isinstance(item["duration"], str) and int(item["duration"]) > 0
    assert isinstance(body["meta"]["totalCount"], int)
    workload = next(i for i in body["items"] if i["type"] == "Workload")["workload"]
    assert set(workload) == {"calls", "semilive", "nonlive"}
    status = (await client.get("/vonage/agent-status")).json()["items"][0]
    assert "agentid" in status and " " in status["presence"]["since"]
    faults.reset()
    item = (await client.get("/vonage/agent-activities", params=PARAMS)).json()["items"][0]
    assert "agentId" in item and item["start"].endswith("Z")


async def test_latency(client: httpx.AsyncClient, faults: Faults) -> None:
    faults.update(latency_ms=1)
    assert (await client.get("/vonage/agent-status")).status_code == 200


async def test_sim_faults_endpoint(client: httpx.AsyncClient, faults: Faults) -> None:
    r = await client.post("/_sim/faults", json={"server_errors": 2, "zoneless_timestamps": True})
    assert r.status_code == 200 and r.json()["server_errors"] == 2
    assert faults.server_errors == 2 and faults.zoneless_timestamps
    assert (await client.post("/_sim/faults", json={"nope": 1})).status_code == 400
    assert (await client.post("/_sim/faults", json={"rate_limit": "x"})).status_code == 400
    r = await client.post("/_sim/faults", json={"reset": True})
    assert r.json()["server_errors"] == 0 and not faults.zoneless_timestamps
    faults.update(server_errors=5)
    assert (await client.get("/_sim/truth")).status_code == 200  # control paths never faulted


async def test_sim_truth_endpoint(client: httpx.AsyncClient, clock: FakeClock) -> None:
    clock.advance(30)
    body = (await client.get("/_sim/truth")).json()
    assert body["now_ms"] == int((T0 + 30) * 1000)
    assert body["activities"] and body["interactions"]
    assert {"agent_id", "type", "start_ms", "end_ms"} <= set(body["activities"][0])


# --- the seed documents' JSON slips and row quirks: one switch each ------------------------

import msgspec  # noqa: E402

from streamer.http.jsonrepair import repair_json  # noqa: E402
from streamer.simulator.slips import COMMENT, SLIPS  # noqa: E402

#: switch -> what its body must show (the doc example's shape) and the repair that undoes it
SLIP_CASES = {
    # sinch RMI /contacts: "channel": "PHONE", // PHONE, CHAT, EMAIL
    "json_comments": (re.compile(rb'"agentId":"\d+", ' + re.escape(COMMENT) + rb"\n"), "comments"),
    # sinch RMI /agents: "availability": "LoggedOut" <newline> next key (no comma)
    "json_missing_comma": (re.compile(rb'"agentId":"\d+"\n"'), "missing-comma"),
    # vonage agent-activities: "guid": null"6a6d57c3-..."
    "json_glued_literal": (re.compile(rb'"agentId":null"\d+"'), "literal-glued-to-string"),
    # sinch RMI /contacts: "source" "0401234XXX"
    "json_missing_colon": (re.compile(rb'"agentId" "\d+"'), "missing-colon"),
}


@pytest.mark.parametrize("switch", sorted(SLIPS))
async def test_each_json_slip_reproduces_its_seed_example_and_is_repaired(
    client: httpx.AsyncClient, faults: Faults, clock: FakeClock, switch: str
) -> None:
    clock.advance(20)
    clean = (await client.get("/vonage/agent-activities", params=PARAMS)).content
    faults.update(**{switch: True})
    slipped = (await client.get("/vonage/agent-activities", params=PARAMS)).content
    pattern, repair = SLIP_CASES[switch]
    assert pattern.search(slipped), slipped[:200]
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(slipped)
    fixed, applied = repair_json(slipped)
    assert applied == [repair] and msgspec.json.decode(fixed) == msgspec.json.decode(clean)
    assert faults.faults_served[switch] == 1
    faults.reset()
    assert (await client.get("/vonage/agent-activities", params=PARAMS)).content == clean


@pytest.mark.parametrize("switch", sorted(SLIPS))
async def test_json_slips_apply_to_every_vendor_but_not_to_tokens_or_errors(
    client: httpx.AsyncClient, faults: Faults, clock: FakeClock, switch: str
) -> None:
    clock.advance(20)
    faults.update(**{switch: True})
    sinch = await client.get("/sinch/RI/rai/agentStatusHistory", params={"startTime": "2023-11-14T22:00:00.000Z"},
                             auth=("sim", "sim"))
    assert sinch.status_code == 200
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(sinch.content)
    token = await client.post("/alvaria/tokenservice/oauth2/access_token?realm=sim", auth=("sim", "sim"),
                              data={"grant_type": "client_credentials", "scope": "reportingapi"})
    tok = token.json()["access_token"]  # the token service is not slipped
    alvaria = await client.get("/alvaria/via/v2/organizations/sim/reporting/queries/userActivity/data",
                               params={"teamId": "salesTeam"},
                               headers={"authorization": f"Bearer {tok}", "x-api-key": "sim-key"})
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(alvaria.content)
    assert msgspec.json.decode(repair_json(alvaria.content)[0])["rows"]
    missing = await client.get("/alvaria/via/v2/organizations/sim/reporting/queries/userActivity/data",
                               params={"teamId": "nope"},
                               headers={"authorization": f"Bearer {tok}", "x-api-key": "sim-key"})
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}  # error bodies as they are


async def test_rows_out_of_order_and_duplicate_rows(client: httpx.AsyncClient, faults: Faults, clock: FakeClock) -> None:
    clock.advance(20)
    clean = (await client.get("/vonage/agent-status")).json()["items"]
    assert len(clean) > 2
    faults.update(rows_out_of_order=True)
    assert (await client.get("/vonage/agent-status")).json()["items"] == clean[::-1]
    faults.update(rows_out_of_order=False, duplicate_rows=True)
    assert (await client.get("/vonage/agent-status")).json()["items"] == [r for r in clean for r in (r, r)]
    faults.update(rows_out_of_order=True)
    assert (await client.get("/vonage/agent-status")).json()["items"] == [r for r in clean[::-1] for r in (r, r)]
    assert faults.faults_served["duplicate_rows"] == 1 and faults.faults_served["rows_out_of_order"] == 2


async def test_new_switches_are_set_through_sim_faults(client: httpx.AsyncClient, faults: Faults) -> None:
    names = [*SLIPS, "rows_out_of_order", "duplicate_rows"]
    r = await client.post("/_sim/faults", json={name: True for name in names})
    assert r.status_code == 200 and all(r.json()[name] is True for name in names)
    assert (await client.post("/_sim/faults", json={"json_comments": 1})).status_code == 400
    await client.post("/_sim/faults", json={"reset": True})
    assert not any(getattr(faults, name) for name in names)
