"""The vendors this build knows. Adding a vendor: its folder plus one line here."""

from __future__ import annotations

from ..source import VendorSpec

__all__ = ["get", "names"]


def _vendors() -> dict[str, VendorSpec]:
    from .vonage.source import VONAGE

    return {v.name: v for v in (VONAGE,)}


def get(name: str) -> VendorSpec | None:
    return _vendors().get(name)


def names() -> list[str]:
    return list(_vendors())
