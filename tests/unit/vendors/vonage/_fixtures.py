"""Fixture loading for the Vonage unit tests."""

from __future__ import annotations

from tests import paths

FIXTURES = paths.FIXTURES / "vonage"


def load(name: str) -> bytes:
    """The bytes of ``tests/fixtures/vonage/<name>``."""
    return (FIXTURES / name).read_bytes()
