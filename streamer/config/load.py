"""Read and validate a config file, with each source checked by its vendor (and its own
options decoded by the vendor's Struct); the config's JSON Schema, with the vendor names
and the vendors' options of this build."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from streamer.config.model import (
    StreamerConfig,
    decode_config,
    decode_part,
    interpolate,
    part_schema,
    read_config_file,
    struct_schema,
)
from streamer.engine.source import VendorSpec
from streamer.errors import ConfigError
from streamer.vendors import registry

__all__ = ["config_schema", "load_config", "parse_config"]


def _option_keys() -> dict[str, list[str]]:
    """Every vendor option's key -> the vendors that declare it, in the registry's order."""
    out: dict[str, list[str]] = {}
    for name in registry.names():
        spec = registry.get(name)
        if spec is not None and spec.options is not None:
            for f in msgspec.structs.fields(spec.options):
                out.setdefault(f.encode_name, []).append(name)
    return out


def _split_options(data: Any, keys: Mapping[str, list[str]]) -> tuple[Any, list[dict[str, Any]]]:
    """``data`` without the vendor option keys of its sources, and those keys per source."""
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        return data, []
    sources: list[Any] = []
    options: list[dict[str, Any]] = []
    for i, raw in enumerate(data["sources"]):
        opts: dict[str, Any] = {}
        if isinstance(raw, dict):
            if "options" in raw:  # SourceConfig's field for the decoded options, not a key of the file
                raise ConfigError(f"sources[{i}].options: unknown key")
            opts = {k: v for k, v in raw.items() if k in keys}
            raw = {k: v for k, v in raw.items() if k not in keys}
        sources.append(raw)
        options.append(opts)
    return {**data, "sources": sources}, options


def _decode_options(vendor: VendorSpec, raw: dict[str, Any], path: str, env: Mapping[str, str] | None) -> Any:
    """The vendor's options Struct from its keys; another vendor's key is refused when it
    says something (a null, an empty list or an empty string says nothing)."""
    declared = {f.encode_name for f in msgspec.structs.fields(vendor.options)} if vendor.options else set()
    for key, value in raw.items():
        if key not in declared and interpolate(value, f"{path}.{key}", env):
            raise ConfigError(f"{path}.{key}: not used by {vendor.name}")
    if vendor.options is None:
        return None
    return decode_part({k: v for k, v in raw.items() if k in declared}, vendor.options, path, env)


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> StreamerConfig:
    """Validate an already-loaded YAML tree (after interpolation) into a StreamerConfig."""
    data, options = _split_options(data, _option_keys())
    cfg = decode_config(data, env)
    for i, src in enumerate(cfg.sources):
        vendor = registry.get(src.vendor)
        if vendor is None:
            raise ConfigError(
                f"sources[{i}].vendor: {src.vendor!r} is not a vendor of this build "
                f"(known: {', '.join(registry.names())})"
            )
        for name in src.endpoints:
            if name not in vendor.endpoints:
                raise ConfigError(
                    f"sources[{i}].endpoints.{name}: unknown endpoint for {src.vendor} "
                    f"(known: {', '.join(vendor.endpoints)})"
                )
        src.options = _decode_options(vendor, options[i] if i < len(options) else {}, f"sources[{i}]", env)
        vendor.check(src, f"sources[{i}]")
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> StreamerConfig:
    """Read, interpolate and validate a YAML config file."""
    return parse_config(read_config_file(path), env)


def config_schema() -> dict[str, Any]:
    """JSON Schema of the config file; ``vendor`` is an enum of the registry's names, and a
    source's properties include every vendor's options (saying which vendors use each)."""
    schema = struct_schema()
    source = schema["$defs"]["SourceConfig"]
    source["properties"].pop("options", None)
    source["properties"]["vendor"]["enum"] = registry.names()
    source["properties"]["vendor"].pop("type", None)
    users = _option_keys()
    for name in registry.names():
        spec = registry.get(name)
        if spec is None or spec.options is None:
            continue
        part = part_schema(spec.options)
        defs = part.pop("$defs", {})
        own = defs.pop(spec.options.__name__)
        for key, prop in own["properties"].items():
            if key not in source["properties"]:
                source["properties"][key] = {**prop, "description": f"used by {', '.join(users[key])} only"}
        for def_name, definition in defs.items():
            schema["$defs"].setdefault(def_name, definition)
    return schema
