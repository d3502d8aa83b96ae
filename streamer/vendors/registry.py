"""The vendors this build knows, found by convention: ``streamer.vendors.<name>.source``
defines ``SPEC`` (a :class:`VendorSpec`). Adding a vendor is adding its folder."""

from __future__ import annotations

import importlib

from ..config import VENDORS
from ..source import VendorSpec

__all__ = ["get", "names"]

_cache: dict[str, VendorSpec | None] = {}


def get(name: str) -> VendorSpec | None:
    """The vendor's spec, or ``None`` when this build has no folder for it."""
    if name not in _cache:
        module_name = f"{__package__}.{name}.source"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name not in (module_name, f"{__package__}.{name}"):
                raise  # the vendor exists but something it imports is missing: say so
            _cache[name] = None
        else:
            _cache[name] = module.SPEC
    return _cache[name]


def names() -> list[str]:
    """Vendors implemented in this build."""
    return [n for n in VENDORS if get(n) is not None]
