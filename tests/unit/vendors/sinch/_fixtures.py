"""The Sinch seed examples (verbatim) as response bodies."""

from __future__ import annotations

from tests import paths

FIXTURES = paths.FIXTURES / "sinch"


def verbatim(name: str) -> bytes:
    """``rmi/agents`` -> the example's bytes exactly as the doc has them."""
    return (FIXTURES / f"{name}.verbatim.txt").read_bytes()


def body(name: str) -> bytes:
    """The example as a server would send it: a list example gets its brackets."""
    raw = verbatim(name)
    return raw if raw.lstrip().startswith(b"[") else b"[" + raw + b"]"


#: what the RAI status-log example means, in the order things happened (the status
#: times, not the order the log wrote them): (type, time, raw or category). The two
#: ``Waiting`` rows written 3 ms and 0 ms before a ``Wrap`` (07:20:37.387, 07:21:27.600)
#: are the call ending, folded into the Wrap; the two ``Dialing_Outbound_Campaign`` rows
#: written after a newer ``Waiting`` come before it.
SEED_EVENTS = [
    ("presence.changed", "2019-12-03T07:19:59.127Z", "Ready"),
    ("session.started", "2019-12-03T07:19:59.127Z", None),
    ("state.changed", "2019-12-03T07:19:59.127Z", "Waiting"),
    ("presence.changed", "2019-12-03T07:19:59.160Z", "Away"),
    ("presence.changed", "2019-12-03T07:20:12.960Z", "Ready"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "OBJoin"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "Preview"),
    ("state.changed", "2019-12-03T07:20:16.027Z", "Dialing_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:20:21.250Z", "Waiting"),
    ("state.changed", "2019-12-03T07:20:21.907Z", "Talking_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:20:37.390Z", "Wrap"),
    ("state.changed", "2019-12-03T07:20:42.230Z", "Waiting"),
    ("state.changed", "2019-12-03T07:20:42.233Z", "OBUnJoin"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "OBJoin"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "Preview"),
    ("state.changed", "2019-12-03T07:20:45.053Z", "Dialing_Outbound_Campaign"),
    ("state.changed", "2019-12-03T07:21:08.223Z", "Waiting"),
    ("state.changed", "2019-12-03T07:21:27.600Z", "Wrap"),
    ("state.changed", "2019-12-03T07:22:40.587Z", "Waiting"),
    ("state.changed", "2019-12-03T07:22:40.593Z", "OBUnJoin"),
    ("presence.changed", "2019-12-03T07:40:58.870Z", "LoggedOut"),
    ("session.ended", "2019-12-03T07:40:58.870Z", None),
    ("state.changed", "2019-12-03T07:40:58.870Z", "LoggedOut"),
]
