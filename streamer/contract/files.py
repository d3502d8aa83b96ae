"""Generate ``schemas/``: the events schema, the config schema and the AsyncAPI file, and
the frozen copy of the events schema per ``SCHEMA_VERSION``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from streamer.config.load import config_schema
from streamer.contract.asyncapi import render_asyncapi
from streamer.contract.compat import snapshot_name
from streamer.contract.events import SCHEMA_VERSION
from streamer.contract.schemas import COMPAT_DIR, canonical, events_schema

__all__ = ["render_all", "write_all"]


def render_all() -> dict[str, bytes]:
    """File name -> content, deterministic."""

    def dump(obj: Any) -> bytes:
        return msgspec.json.format(msgspec.json.encode(obj), indent=2) + b"\n"

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
    snapshot = out / COMPAT_DIR / snapshot_name(SCHEMA_VERSION)
    if not snapshot.exists():  # the first build of a schema version freezes it
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_bytes(files["events.schema.json"])
        written.append(snapshot)
    return written
