"""Content-Encoding decoding in bounded steps, so a size cap holds for the inflated body.

httpx inflates each network chunk in one call: a 64 KiB chunk of gzipped zeros becomes
about 64 MB before any cap can look at it. :class:`Inflater` hands out the decoded body
in pieces of at most :data:`STEP` bytes, so the reader stops within one step of its cap
(a body sent as is comes in the chunks it arrived in).
Only the encodings the client asks for (:data:`ACCEPT_ENCODING`) are decoded; a body in
any other encoding is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

__all__ = ["ACCEPT_ENCODING", "STEP", "UnsupportedEncoding", "BadEncoding", "Inflater"]

ACCEPT_ENCODING = "gzip, deflate"
"""What the client sends as ``Accept-Encoding``: exactly what :class:`Inflater` decodes."""

STEP = 64 * 1024
"""The most decoded bytes one step produces."""


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` the client did not ask for and cannot decode."""


class BadEncoding(ValueError):
    """The body is not valid in its declared encoding (a corrupt or cut-off gzip stream)."""


class Inflater:
    """Decodes one response body declared with ``content_encoding`` (the header's value)."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise UnsupportedEncoding(f"content-encoding {content_encoding!r} is not supported")
        self._coding = codings[0] if codings else None
        self._zlib: zlib._Decompress | None = None
        if self._coding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16)
        elif self._coding == "deflate":
            self._zlib = zlib.decompressobj()  # zlib-wrapped, as the RFC says; raw deflate on error
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data`` (each at most :data:`STEP` bytes when encoded)."""
        if self._zlib is None:
            if data:
                yield data  # as received: already in memory, nothing to amplify
            return
        if not self._started and data and self._coding == "deflate":
            try:
                zlib.decompressobj().decompress(data[:2])  # the zlib header, or not
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # servers that send raw deflate
        self._started = self._started or bool(data)
        pending = data
        while True:
            try:
                piece = self._zlib.decompress(pending, STEP)
            except zlib.error as exc:
                raise BadEncoding(f"body is not valid {self._coding}: {exc}") from None
            if piece:
                yield piece
            pending = self._zlib.unconsumed_tail
            if not pending and len(piece) < STEP:
                return  # input used up and no output held back

    def finish(self) -> bytes:
        """What is left once the body has ended (like httpx, a stream without its end is
        not an error here: the JSON decoder judges what came)."""
        if self._zlib is None:
            return b""
        try:
            return self._zlib.flush()
        except zlib.error as exc:
            raise BadEncoding(f"body is not valid {self._coding}: {exc}") from None
