"""The AsyncAPI 3.0 description of ccstream's public topics, generated from ``EVENT_SPECS``.

Payloads are not repeated here: every message's payload is a ``$ref`` into the
``$defs`` of ``events.schema.json`` (the file next to ``asyncapi.yaml`` in ``schemas/``),
so the two documents cannot disagree. ``make schemas`` writes both.
"""

from __future__ import annotations

from typing import Any

import msgspec
import yaml

from streamer import __version__
from streamer.contract.deadletter import DeadLetter
from streamer.contract.events import CONTENT_TYPE, EVENT_SPECS, SCHEMA_VERSION
from streamer.contract.schemas import events_schema

__all__ = ["asyncapi_document", "render_asyncapi", "EVENTS_SCHEMA_FILE", "KAFKA_BINDING_VERSION"]

EVENTS_SCHEMA_FILE = "events.schema.json"
KAFKA_BINDING_VERSION = "0.5.0"

_SOURCE_ID = "[A-Za-z0-9][A-Za-z0-9_.-]*"  # what config._check accepts for sources[].id

_CHANNELS: tuple[tuple[str, str, str, str], ...] = (
    # (channel id, topic suffix, cleanup policy, description)
    ("agent", "agent", "delete", "Agent changes: presence, sessions, work state, workload, ..."),
    ("interaction", "interaction", "delete", "Interaction state changes and transfers."),
    ("stats", "stats", "delete", "Aggregate statistics changes of queues, teams, channels and lists."),
    ("source", "source", "delete", "Source health changes, completeness watermarks and gaps."),
    ("agentCurrent", "agent.current", "compact",
     "Compacted: the latest full state of each agent, so a new consumer starts with a complete picture."),
    ("deadletter", "deadletter", "delete",
     "Records a source could not process, with the reason and the raw bytes (base64, first 1 MiB)."),
)


def _message_id(payload: type) -> str:
    return payload.__name__


def _envelope_defs() -> dict[str, str]:
    """Event type -> name of its CloudEvent envelope in events.schema.json's ``$defs``."""
    schema = events_schema()
    out = {}
    for ref in schema["oneOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        out[schema["$defs"][name]["properties"]["type"]["const"]] = name
    return out


def _key(entity: str) -> dict[str, Any]:
    return {
        "type": "string",
        "description": f"`<source id>/<{entity}>`: entity ids are only unique within a source.",
        "pattern": f"^{_SOURCE_ID}/.+$",
        "examples": ["vonage-main/07"],
    }


def _event_message(spec: Any, envelope: str, entity: str) -> dict[str, Any]:
    return {
        "name": spec.type,
        "title": spec.type,
        "summary": spec.summary,
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {
                "content-type": {"type": "string", "const": CONTENT_TYPE},
                "ccs-entity": {"type": "string", "examples": ["agent/07"],
                               "description": "The daemon's key of the entity: `<topic name>/<subject>`."},
                "ccs-stream": {"type": "string", "examples": ["presence"],
                               "description": "Which of the entity's states the event changes."},
                "ccs-since-ms": {"type": "string", "pattern": "^[0-9]+$", "examples": ["1795251600000"],
                                 "description": "`time` as Unix milliseconds (decimal digits)."},
                "ccs-value": {"description": "The state the event entered, as compact JSON (vendor strings "
                                             "cut as in `data`): the next event's `previous`."},
            },
            "description": ("The `ccs-` headers are part of the contract but meant for the daemon: after a "
                            "restart it reads its own output back through them (README, Record headers). "
                            "Consumers may ignore them; they only repeat what the event says."),
        },
        "payload": {"$ref": f"{EVENTS_SCHEMA_FILE}#/$defs/{envelope}"},
        "correlationId": {"description": "The CloudEvent id: the same vendor fact always has the same id.",
                          "location": "$message.payload#/id"},
        "bindings": {"kafka": {"key": _key(entity), "bindingVersion": KAFKA_BINDING_VERSION}},
    }


def _dead_letter_schema() -> dict[str, Any]:
    schema = msgspec.json.schema(DeadLetter)
    schema.pop("$ref", None)
    ((_, body),) = schema.pop("$defs").items()
    body = dict(body)
    body["description"] = "A record a source could not process. `raw` is base64 (the first 1 MiB); `raw_size` the full size."
    return body


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document as a plain dict (deterministic)."""
    envelopes = _envelope_defs()
    entity_of_topic = {"agent": "agent id", "interaction": "interaction id", "stats": "queue / team / channel / list id",
                       "source": "source id"}

    messages: dict[str, Any] = {}
    by_topic: dict[str, list[str]] = {}
    for spec in EVENT_SPECS.values():
        mid = _message_id(spec.payload)
        messages[mid] = _event_message(spec, envelopes[spec.type], entity_of_topic.get(spec.topic, "entity id"))
        by_topic.setdefault(spec.topic, []).append(mid)

    messages["AgentCurrent"] = {
        "name": "agent.current",
        "title": "Latest agent state",
        "summary": "The latest full state of one agent (compacted topic: one value per key).",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {"content-type": {"type": "string", "const": "application/json"}}},
        "payload": {"$ref": f"{EVENTS_SCHEMA_FILE}#/$defs/AgentCurrent"},
        "bindings": {"kafka": {"key": _key("agent id"), "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    by_topic["agent.current"] = ["AgentCurrent"]
    messages["DeadLetter"] = {
        "name": "deadletter",
        "title": "Dead letter",
        "summary": "A record that could not be processed, with the reason and the raw bytes.",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {"content-type": {"type": "string", "const": "application/json"}}},
        "payload": {"$ref": "#/components/schemas/DeadLetter"},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": "The source id.", "pattern": f"^{_SOURCE_ID}$",
                    "examples": ["vonage-main"]},
            "bindingVersion": KAFKA_BINDING_VERSION,
        }},
    }
    by_topic["deadletter"] = ["DeadLetter"]

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for cid, topic, cleanup, description in _CHANNELS:
        mids = by_topic.get(topic, [])
        channels[cid] = {
            "address": f"{{prefix}}.{topic}",
            "title": f"<prefix>.{topic}",
            "description": description,
            "parameters": {"prefix": {"description": "The config's `kafka.topic_prefix`.", "default": "cc"}},
            "messages": {mid: {"$ref": f"#/components/messages/{mid}"} for mid in mids},
            "bindings": {"kafka": {
                "topicConfiguration": {"cleanup.policy": [cleanup]},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }},
        }
        operations[f"send{cid[0].upper()}{cid[1:]}"] = {
            "action": "send",
            "title": f"Publish to <prefix>.{topic}",
            "summary": "The daemon publishes with acks=all; per key, values are in publication order.",
            "channel": {"$ref": f"#/channels/{cid}"},
            "messages": [{"$ref": f"#/channels/{cid}/messages/{mid}"} for mid in mids],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ccstream",
            "version": __version__,
            "description": (
                "Normalized contact-center change events, polled from vendor REST reporting APIs "
                "(Vonage, Sinch, Alvaria) and published to Kafka. Event values are CloudEvents 1.0 "
                "in structured JSON mode; their JSON Schema is events.schema.json "
                f"(x-schema-version {SCHEMA_VERSION}). Topics are `<prefix>.<name>`, default prefix `cc`; "
                "keys are `<source id>/<entity id>`. Generated by `make schemas`: do not edit."
            ),
            "tags": [{"name": "cloudevents"}, {"name": "contact-center"}],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The config's `kafka.bootstrap_servers`.",
                "variables": {"bootstrap": {"default": "127.0.0.1:9092"}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": {"DeadLetter": _dead_letter_schema()},
        },
    }


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def render_asyncapi() -> bytes:
    """``asyncapi.yaml``: block YAML, keys in document order, no anchors."""
    header = "# Generated from streamer/contract/asyncapi.py by `make schemas`; do not edit.\n"
    body = yaml.dump(
        asyncapi_document(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=120,
        default_flow_style=False,
    )
    return (header + body).encode()
