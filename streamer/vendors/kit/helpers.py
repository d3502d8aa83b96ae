"""Small helpers every vendor used its own copy of."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from streamer.config.model import SourceConfig
from streamer.engine.emit import Draft
from streamer.engine.source import BadInput
from streamer.http.tolerant import BadRecord

__all__ = ["split_bad", "endpoint_enabled", "draft_key", "options_of"]


def split_bad(items: Iterable[Any]) -> tuple[list[Any], list[BadInput]]:
    """Decoded records, and the unreadable ones (``BadRecord``) as dead-letter inputs."""
    good: list[Any] = []
    bad: list[BadInput] = []
    for x in items:
        if isinstance(x, BadRecord):
            bad.append(BadInput(x.reason, x.raw))
        else:
            good.append(x)
    return good, bad


def endpoint_enabled(cfg: SourceConfig, name: str) -> bool:
    """Whether the source polls endpoint ``name``: yes unless its config turns it off."""
    ep = cfg.endpoints.get(name)
    return ep is None or ep.enabled


def draft_key(d: Draft) -> str:
    """What makes a draft the same change in two reads of a history (its event id's facts)."""
    return f"{d.type}|{d.entity_id}|{d.transition}|{d.at_ms}"


O = TypeVar("O", bound=msgspec.Struct)


def options_of(cfg: SourceConfig, kind: type[O]) -> O:
    """The source's own options as the vendor's Struct ``kind`` (decoded by
    ``streamer.config.load``); its defaults when the source has none."""
    return cfg.options if isinstance(cfg.options, kind) else kind()
