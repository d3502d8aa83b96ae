"""The vendors this build knows, found by convention: any package under ``streamer.vendors``
with a ``source`` module that defines ``SPEC`` (a :class:`VendorSpec`) is a vendor, named by
``SPEC.name``. Adding a vendor is adding its folder."""

from __future__ import annotations

import importlib
import pkgutil

import streamer.vendors
from streamer.engine.source import VendorSpec

__all__ = ["get", "names", "reset"]

_specs: dict[str, VendorSpec] | None = None


def _discover() -> dict[str, VendorSpec]:
    global _specs
    if _specs is None:
        found: dict[str, VendorSpec] = {}
        prefix = streamer.vendors.__name__ + "."
        for info in pkgutil.walk_packages(streamer.vendors.__path__, prefix):
            if not info.name.endswith(".source"):
                continue
            spec = getattr(importlib.import_module(info.name), "SPEC", None)
            if isinstance(spec, VendorSpec):
                if spec.name in found:
                    raise RuntimeError(f"vendor {spec.name!r} is declared twice ({info.name})")
                found[spec.name] = spec
        _specs = found
    return _specs


def get(name: str) -> VendorSpec | None:
    """The vendor's spec, or ``None`` when this build has no folder for it."""
    return _discover().get(name)


def names() -> list[str]:
    """Vendors implemented in this build, in discovery order."""
    return list(_discover())


def reset() -> None:
    """Forget the vendors found: the next look walks ``streamer.vendors.__path__`` again
    (a test adds a folder of its own to it)."""
    global _specs
    _specs = None
