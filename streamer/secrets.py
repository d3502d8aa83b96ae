"""A string type for credentials that never shows its value in repr, str or logs."""

from __future__ import annotations

__all__ = ["Secret"]


class Secret:
    """Holds a credential; ``str()``/``repr()`` print ``'***'``. Use ``.reveal()`` to send it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
