"""The JSON Schema of every event (and the canonical order the generated files keep)."""

from __future__ import annotations

from typing import Any

import msgspec

from streamer.contract.events import EVENT_SPECS, SCHEMA_VERSION, AgentCurrent, CloudEvent

__all__ = ["events_schema", "canonical", "COMPAT_DIR"]

COMPAT_DIR = "compat"
"""Under the schemas folder: ``events.v<N>.schema.json``, the events schema as released
with ``SCHEMA_VERSION`` N (see ``streamer.contract.compat``). Written once, never rewritten."""


def canonical(schema: Any) -> Any:
    """``schema`` with every ``anyOf`` in one order, null last: msgspec versions list the
    members of ``X | None`` in different orders, and the generated files must not depend
    on which version is installed."""
    if isinstance(schema, list):
        return [canonical(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: canonical(v) for k, v in schema.items()}
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = sorted(out["anyOf"], key=lambda member: member == {"type": "null"})
    return out


def events_schema() -> dict[str, Any]:
    """One schema: a CloudEvent whose ``type`` selects the ``data`` payload."""
    types = [CloudEvent[spec.payload] for spec in EVENT_SPECS.values()]  # type: ignore[name-defined]
    (schemas, components) = msgspec.json.schema_components(types + [AgentCurrent], ref_template="#/$defs/{name}")
    variants = []
    for spec, s in zip(EVENT_SPECS.values(), schemas):
        name = s["$ref"].rsplit("/", 1)[1]
        envelope = components[name]
        envelope["properties"]["type"] = {"const": spec.type}
        envelope["description"] = f"{spec.type} on topic <prefix>.{spec.topic}: {spec.summary}"
        envelope["properties"]["observedtime"]["description"] = "extension: when the daemon saw it (UTC)"
        variants.append({"$ref": f"#/$defs/{name}"})
    schema: dict[str, Any] = canonical({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ccstream.dev/schemas/events.schema.json",
        "title": "ccstream events",
        "description": "CloudEvents 1.0 structured-mode JSON values of ccstream's public topics.",
        "x-schema-version": SCHEMA_VERSION,
        "oneOf": variants,
        "$defs": components,
    })
    return schema
