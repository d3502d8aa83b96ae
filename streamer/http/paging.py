"""Tiny paginators: one abstract method, with the invariants owned by the base class.

The base counts pages, keeps the ``finished`` flag and turns a page loop (the same
next-page token twice, the same page body twice, or more than ``max_pages``) into a
:class:`~streamer.errors.PageLoopError` instead of a hang.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import msgspec
import xxhash

from streamer.errors import PageLoopError, SkippableError

__all__ = ["Paginator", "PageNumberPaginator"]

P = TypeVar("P", bound=Hashable)


class Paginator(ABC, Generic[P]):
    """Walks pages; subclasses only say what the next page token is."""

    def __init__(self, start_value: P, *, max_pages: int = 10_000) -> None:
        self.current_value: P = start_value
        self.count = 0
        self.finished = False
        self.max_pages = max_pages
        self._tokens: set[P] = {start_value}
        self._digests: set[tuple[int, int]] = set()

    @abstractmethod
    def get_next(self, response_body: Any, current: P) -> P | None:
        """The token of the page after ``current``, or None when this was the last."""

    def advance(self, response_body: Any, *, raw: bytes | None = None) -> None:
        """Record one page (decoded body, and its raw bytes when known) and move on."""
        if self.finished:
            raise RuntimeError("paginator already finished")
        self.count += 1
        digest = None
        if self.count > 1:
            digest = _page_digest(response_body, raw)
            if digest in self._digests:
                raise PageLoopError(f"page {self.count} repeats an earlier page body")
            self._digests.add(digest)
        nxt = self.get_next(response_body, self.current_value)
        if nxt is None:
            self.finished = True
            return
        if digest is None:
            # The first page is hashed only once a second one follows: most reads are
            # one page, and hashing it (up to max_body_bytes) would compare it with nothing.
            self._digests.add(_page_digest(response_body, raw))
        if nxt in self._tokens:
            raise PageLoopError(f"page token {nxt!r} returned twice (after {self.count} pages)")
        if self.count >= self.max_pages:
            raise PageLoopError(f"more than {self.max_pages} pages")
        self._tokens.add(nxt)
        self.current_value = nxt


_PAGE_SEED = secrets.randbits(64)
"""Seeded at random per process (as ``RawRows``' row hashes are), so no two pages share a
digest known in advance. A false match would only fail the read, and a
:class:`PageLoopError` is retried."""


def _page_digest(response_body: Any, raw: bytes | None) -> tuple[int, int]:
    """Length and 64-bit XXH3 of a page: two honest pages of one read collide with a chance
    of about 2**-64 (XXH3 rather than the interpreter's hash: a tenth of the cost)."""
    data = raw if raw is not None else msgspec.json.encode(response_body)
    return len(data), xxhash.xxh3_64_intdigest(data, _PAGE_SEED)


def _field(obj: Any, *names: str) -> Any:
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


class PageNumberPaginator(Paginator[int]):
    """``page``/``pageCount`` paging as Vonage does it (pages counted from 1).

    ``response_body.meta`` (attribute or key) carries ``page`` and ``page_count``
    (or ``pageCount``). The next page is the server's page + 1, so a server that
    ignores ``page`` and keeps answering page 1 is caught as a loop. A page without
    ``page_count`` raises :class:`~streamer.errors.SkippableError`: taking it for the
    last page would lose the pages after it.
    """

    def __init__(self, start_value: int = 1, *, max_pages: int = 10_000) -> None:
        super().__init__(start_value, max_pages=max_pages)

    def get_next(self, response_body: Any, current: int) -> int | None:
        meta = _field(response_body, "meta")
        page_count = _field(meta, "page_count", "pageCount") if meta is not None else None
        if page_count is None:
            raise SkippableError(f"page {current} has no paging information (meta.pageCount)")
        page = _field(meta, "page")
        page = int(page) if page is not None else current
        return page + 1 if page < int(page_count) else None
