"""Bearer tokens the simulated vendors issue, with expiry on the world's clock."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable

__all__ = ["TokenStore"]


class TokenStore:
    """Issued tokens and their expiry; ``static`` tokens never expire (demo credentials)."""

    def __init__(self, clock: Callable[[], float], static: Iterable[str] = ()) -> None:
        self._clock = clock
        self._static = frozenset(static)
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl: float) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = self._clock() + ttl
        return token

    def valid(self, token: str) -> bool:
        if token in self._static:
            return True
        with self._lock:
            expiry = self._tokens.get(token)
        return expiry is not None and self._clock() < expiry

    def revoke_all(self) -> int:
        """Forget every issued token (as a vendor-side revocation would); returns how many."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
        return n
