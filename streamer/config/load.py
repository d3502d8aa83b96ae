"""Read and validate a config file, with each source checked by its vendor; the config's
JSON Schema, with the vendor names of this build."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamer.config.model import StreamerConfig, decode_config, read_config_file, struct_schema
from streamer.errors import ConfigError
from streamer.vendors import registry

__all__ = ["config_schema", "load_config", "parse_config"]


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> StreamerConfig:
    """Validate an already-loaded YAML tree (after interpolation) into a StreamerConfig."""
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
        vendor.check(src, f"sources[{i}]")
    return cfg


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> StreamerConfig:
    """Read, interpolate and validate a YAML config file."""
    return parse_config(read_config_file(path), env)


def config_schema() -> dict[str, Any]:
    """JSON Schema of the config file; ``vendor`` is an enum of the registry's names."""
    schema = struct_schema()
    vendor = schema["$defs"]["SourceConfig"]["properties"]["vendor"]
    vendor["enum"] = registry.names()
    vendor.pop("type", None)
    return schema
