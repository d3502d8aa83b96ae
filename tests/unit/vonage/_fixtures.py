"""Fixture loading for the Vonage unit tests."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "vonage"


def load(name: str) -> bytes:
    """The bytes of ``tests/fixtures/vonage/<name>``."""
    return (FIXTURES / name).read_bytes()
