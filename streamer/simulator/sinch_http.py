"""The HTTP side of the Sinch simulator: the query parameters as the API parses them
(GUIDs, times, limits, sort), paging and the row limit, the documented quirks applied to
rows, and the guarded endpoint (Basic auth, JSON only, errors as text/plain)."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import msgspec
from starlette.requests import Request
from starlette.responses import Response

if TYPE_CHECKING:
    from streamer.simulator.faults import Faults

ROW_LIMIT = 10_000
DEFAULT_LIMIT = 100
USERNAME = PASSWORD = "sim"

#: documented spelling -> the other spelling the docs also use (``field_case_drift``)
SINCH_DRIFT: dict[str, str] = {
    "changeTimeStamp": "changeTimestamp",
    "userStatusTimeStamp": "userStatusTimestamp",
    "userId": "UserId",
    "userName": "UserName",
    "agentId": "agentid",
    "reportingGroupid": "reportingGroupId",
    "reportingGroupId": "reportingGroupid",
    "maxChangeTimestamp": "maxChangeTimeStamp",
    "contactGroupId": "contactGroupID",
}


class SinchApiError(Exception):
    """Answered as ``text/plain`` with ``status``, as both interfaces do."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def is_guid(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789ABCDEFabcdef" for ch in value)


def check_guid(value: str) -> str:
    if not is_guid(value):
        raise SinchApiError(400, f"Invalid GUID: '{value}'")
    return value.upper()


def guid_list(raw: str | None) -> set[str] | None:
    """A comma list of GUIDs (``userId=A,B``); each must be one."""
    if raw is None or raw == "":
        return None
    return {check_guid(x.strip()) for x in raw.split(",") if x.strip()}


@overload
def parse_time(raw: str | None, name: str, *, required: Literal[True]) -> int: ...
@overload
def parse_time(raw: str | None, name: str, *, required: bool) -> int | None: ...
def parse_time(raw: str | None, name: str, *, required: bool) -> int | None:
    if raw is None or raw == "":
        if required:
            raise SinchApiError(400, f"Missing required query parameter: {name}")
        return None
    text = raw.strip().replace(" ", "T", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise SinchApiError(400, f"Invalid date: '{raw}'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return math.floor(dt.timestamp() * 1000)


def parse_int(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SinchApiError(400, f"Invalid integer for {name}: '{raw}'") from None
    if value < 0:
        raise SinchApiError(400, f"Invalid integer for {name}: '{raw}'")
    return value


def page(params: Any, rows: Sequence[Any], *, row_limit: bool = False) -> Sequence[Any]:
    """``offset``/``limit`` (default 100); no page is longer than the row limit.
    ``row_limit`` (RAI: "Row limit = 10000" on every endpoint): the query as a whole
    returns at most that many rows, whatever the paging; the rest are cut, silently."""
    offset = parse_int(params.get("offset"), "offset", 0)
    limit = min(max(1, parse_int(params.get("limit"), "limit", DEFAULT_LIMIT)), ROW_LIMIT)
    if row_limit:
        rows = rows[:ROW_LIMIT]
    return rows[offset: offset + limit]


def sort_rows(params: Any, rows: list[dict[str, Any]], default: str, seed: int) -> list[dict[str, Any]]:
    """``sort`` ("Can be sorted by any field", ``-`` descending, an optional
    ``,LOCALE-xx``), else the documented default field. Rows that do not have the field
    (RMI /contacts' default ``name``: contacts have no name) come in no defined order:
    shuffled by ``seed`` (one per request), so paging them is unstable as it would be."""
    spec = (params.get("sort") or default).split(",", 1)[0].strip()
    key, desc = spec.lstrip("-"), spec.startswith("-")
    if not rows or any(key not in r for r in rows):
        out = list(rows)
        random.Random(seed).shuffle(out)
        return out
    return sorted(rows, key=lambda r: str(r[key]), reverse=desc)


def _drift(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {SINCH_DRIFT.get(k, k): _drift(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_drift(v) for v in obj]
    return obj


def quirks(rows: list[dict[str, Any]], faults: Faults) -> list[dict[str, Any]]:
    """The JSON quirks switched on in ``faults``: zone-less timestamps and numbers as
    strings (the shared transform), and the Sinch docs' own field-case drift."""
    out: list[dict[str, Any]] = faults.transform({"items": rows})["items"]
    if faults.field_case_drift:
        out = _drift(out)
    return out


def guarded(world: Any, fn: Any) -> Any:
    """A Starlette endpoint: Basic ``sim:sim`` (else 401), JSON accepted (else 406), one
    consistent instant of the world per response, errors as ``text/plain``."""
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

    async def endpoint(request: Request) -> Response:
        try:
            if request.headers.get("authorization", "") != expected:
                return Response("HTTP 401 Unauthorized", status_code=401, media_type="text/plain",
                                headers={"WWW-Authenticate": 'Basic realm="RI"'})
            accept = request.headers.get("accept", "*/*")
            if "json" not in accept and "*/*" not in accept:
                raise SinchApiError(406, "HTTP 406 Not Acceptable")
            with world.lock:
                payload = fn(request, world.advance())
            return Response(msgspec.json.encode(payload), media_type="application/json")
        except SinchApiError as err:
            return Response(err.message, status_code=err.status, media_type="text/plain")

    return endpoint
