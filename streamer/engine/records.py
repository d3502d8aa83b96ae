"""Records that must fit: a dead letter holding as much of the unreadable input as fits,
and the swap of an oversized record for its dead letter. Pure."""

from __future__ import annotations

import hashlib

import msgspec

from streamer.contract.deadletter import DeadLetter
from streamer.engine.emit import OutRecord
from streamer.engine.source import BadInput
from streamer.kafka.publisher import record_size, size_over
from streamer.timeutil import format_ts, from_ms
from streamer.track.cut import cut_text

__all__ = ["MAX_DEAD_LETTER_RAW", "DeadLetters"]

_enc = msgspec.json.Encoder()
MAX_DEAD_LETTER_RAW = 1024 * 1024
"""At most this much of the unreadable input is kept, and never more than fits in
``kafka.max_record_bytes`` (base64 in JSON): a dead letter must be publishable."""


class DeadLetters(msgspec.Struct, frozen=True):
    """Builds one source's dead-letter records within the broker's record size limit."""

    topic: str
    source_id: str
    max_record_bytes: int
    max_field_bytes: int
    """Vendor strings (and the reason) are cut to this many bytes."""

    def record(self, endpoint: str, bad: BadInput, now_ms: int) -> OutRecord:
        """The dead letter of ``bad``: its reason, and its raw input cut to what fits."""
        digest = hashlib.sha256(bad.raw + bad.reason.encode()).hexdigest()[:32]
        value = DeadLetter(
            id=digest, source_id=self.source_id, endpoint=endpoint, reason=cut_text(bad.reason, self.max_field_bytes),
            raw=b"", raw_size=len(bad.raw), observedtime=format_ts(from_ms(now_ms)),
        )
        key, headers = self.source_id.encode(), [("content-type", b"application/json")]
        # What the record holds besides raw; raw goes in as base64 (4 bytes per 3), 16 bytes
        # spare for the record's length fields growing with it.
        room = self.max_record_bytes - record_size(OutRecord(self.topic, key, _enc.encode(value), headers)) - 16
        value.raw = bad.raw[: min(MAX_DEAD_LETTER_RAW, max(0, room) * 3 // 4)]
        return OutRecord(self.topic, key, _enc.encode(value), headers)

    def oversized(self, r: OutRecord) -> BadInput | None:
        """Why ``r`` (its vendor strings already cut) cannot be published, if it is over
        ``max_record_bytes``: the broker would refuse it on every retry."""
        size = size_over(r, self.max_record_bytes)
        if size is None:
            return None
        what = f"{r.type} {r.event_id}" if r.event_id else f"record for {r.topic}"
        reason = (f"{what} (key {r.key.decode(errors='replace')}) is {size} bytes, over kafka.max_record_bytes "
                  f"({self.max_record_bytes}) with strings cut to {self.max_field_bytes} bytes")
        return BadInput(reason, r.value or b"")
