"""schemas/asyncapi.yaml: AsyncAPI 3.0, one message per event type in its topic's channel,
every $ref resolvable, and the committed file equal to the generated one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

from streamer.contract.asyncapi import EVENTS_SCHEMA_FILE, asyncapi_document, render_asyncapi
from streamer.contract.events import CONTENT_TYPE, EVENT_SPECS
from streamer.contract.schemas import events_schema
from streamer.kafka.publisher import topic_names
from tests import paths

SCHEMAS = paths.SCHEMAS


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def _pointer(doc: Any, fragment: str) -> Any:
    assert fragment.startswith("/"), fragment
    for part in fragment[1:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(doc, dict) and part in doc, f"unresolved: #{fragment} (at {part!r})"
        doc = doc[part]
    return doc


def _channel_of_topic(doc: dict[str, Any], topic: str) -> dict[str, Any]:
    matches = [c for c in doc["channels"].values() if c["address"] == f"{{prefix}}.{topic}"]
    assert len(matches) == 1, f"expected one channel for <prefix>.{topic}, got {len(matches)}"
    return matches[0]


def test_is_asyncapi_3_with_package_version() -> None:
    from streamer import __version__

    doc = asyncapi_document()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["version"] == __version__
    assert doc["info"]["title"] and doc["info"]["description"]


def test_channels_are_the_public_topics_with_a_prefix_parameter() -> None:
    doc = asyncapi_document()
    plain, compacted = topic_names("{prefix}")
    public = {t for t in plain + compacted if ".streamer." not in t}
    assert {c["address"] for c in doc["channels"].values()} == public
    for c in doc["channels"].values():
        assert c["parameters"]["prefix"]["default"] == "cc"
    current = _channel_of_topic(doc, "agent.current")
    assert current["bindings"]["kafka"]["topicConfiguration"]["cleanup.policy"] == ["compact"]


def test_every_event_type_has_a_message_in_its_topics_channel() -> None:
    doc = asyncapi_document()
    for spec in EVENT_SPECS.values():
        channel = _channel_of_topic(doc, spec.topic)
        names = []
        for ref in channel["messages"].values():
            msg = _pointer(doc, ref["$ref"][1:])
            names.append(msg["name"])
            if msg["name"] == spec.type:
                assert msg["contentType"] == CONTENT_TYPE
                key = msg["bindings"]["kafka"]["key"]
                assert key["type"] == "string" and "<source id>/" in key["description"]
        assert spec.type in names, f"{spec.type} has no message in channel <prefix>.{spec.topic}"


def test_operations_send_every_channels_messages() -> None:
    doc = asyncapi_document()
    sent: dict[str, set[str]] = {}
    for op in doc["operations"].values():
        assert op["action"] == "send"
        cid = op["channel"]["$ref"].rsplit("/", 1)[1]
        sent.setdefault(cid, set()).update(m["$ref"] for m in op["messages"])
        for m in op["messages"]:  # AsyncAPI 3: an operation's messages are its channel's
            assert m["$ref"].startswith(f"#/channels/{cid}/messages/")
    for cid, channel in doc["channels"].items():
        assert sent.get(cid) == {f"#/channels/{cid}/messages/{mid}" for mid in channel["messages"]}


def test_every_ref_resolves() -> None:
    doc = asyncapi_document()
    events = events_schema()
    refs = list(_refs(doc))
    assert any(r.startswith(EVENTS_SCHEMA_FILE + "#") for r in refs)
    for ref in refs:
        file, _, fragment = ref.partition("#")
        if file == "":
            _pointer(doc, fragment)
        else:
            assert file == EVENTS_SCHEMA_FILE, ref
            target = _pointer(events, fragment)
            for inner in _refs(target):  # and the events schema's own refs from there
                _pointer(events, inner.removeprefix("#"))


def test_payloads_are_the_envelopes_of_their_event_types() -> None:
    doc = asyncapi_document()
    events = events_schema()
    for msg in doc["components"]["messages"].values():
        if msg["name"] in EVENT_SPECS:
            envelope = _pointer(events, msg["payload"]["$ref"].partition("#")[2])
            assert envelope["properties"]["type"] == {"const": msg["name"]}


def test_yaml_round_trips_deterministically() -> None:
    text = render_asyncapi()
    assert text == render_asyncapi()
    assert yaml.safe_load(text) == asyncapi_document()
    assert b"&id" not in text and b"*id" not in text  # no YAML anchors


def test_committed_file_equals_the_generated_one() -> None:
    committed = (SCHEMAS / "asyncapi.yaml").read_bytes()
    assert committed == render_asyncapi(), "schemas/asyncapi.yaml is stale: run `make schemas` and commit it"


def test_every_header_an_event_carries_is_in_the_contract() -> None:
    """The `ccs-` headers a consumer sees are documented: in each event message of the
    AsyncAPI and in the README's table of record headers."""
    import msgspec

    from streamer.contract.events import AgentPresenceChanged, Presence
    from streamer.engine.emit import Draft, SourceContext, emit
    from streamer.track.ledger import Ledger

    p = Presence(name="Ready", category="Ready")
    draft = Draft(type="cc.agent.presence.changed", entity_id="07", stream="presence", transition="Ready",
                  at_ms=1_795_251_600_000, value=msgspec.to_builtins(p), previous_type=Presence, endpoint="agent-status",
                  payload=AgentPresenceChanged(agent_id="07", previous=None, current=p, since="2026-11-19T06:20:00Z"))
    out = emit(draft, Ledger(), SourceContext("vonage", "s1", "cc"), 1_795_251_600_000)
    assert out is not None
    sent = {name for name, _ in out[0].headers}
    readme = (SCHEMAS.parent / "README.md").read_text()
    for msg in asyncapi_document()["components"]["messages"].values():
        if msg["contentType"] == CONTENT_TYPE:
            assert sent <= set(msg["headers"]["properties"]), (msg["name"], sent)
    for name in sent - {"content-type"}:
        assert f"| `{name}` |" in readme, f"README: record header {name} is not in the table"
