"""Generate ``schemas/``: the JSON Schema of every event and of the config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from streamer.config import config_schema
from streamer.contract.events import EVENT_SPECS, SCHEMA_VERSION, AgentCurrent, CloudEvent

__all__ = ["events_schema", "render_all", "write_all", "COMPAT_DIR"]

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
    return canonical({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://ccstream.dev/schemas/events.schema.json",
        "title": "ccstream events",
        "description": "CloudEvents 1.0 structured-mode JSON values of ccstream's public topics.",
        "x-schema-version": SCHEMA_VERSION,
        "oneOf": variants,
        "$defs": components,
    })


def render_all() -> dict[str, bytes]:
    """File name -> content, deterministic."""

    def dump(obj: Any) -> bytes:
        return msgspec.json.format(msgspec.json.encode(obj), indent=2) + b"\n"

    from streamer.contract.asyncapi import render_asyncapi

    return {
        "events.schema.json": dump(events_schema()),
        "config.schema.json": dump(canonical(config_schema())),
        "asyncapi.yaml": render_asyncapi(),
    }


def write_all(folder: str | Path) -> list[Path]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    files = render_all()
    for name, content in files.items():
        p = out / name
        p.write_bytes(content)
        written.append(p)
    from streamer.contract.compat import snapshot_name

    snapshot = out / COMPAT_DIR / snapshot_name(SCHEMA_VERSION)
    if not snapshot.exists():  # the first build of a schema version freezes it
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_bytes(files["events.schema.json"])
        written.append(snapshot)
    return written
