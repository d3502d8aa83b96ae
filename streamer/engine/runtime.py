"""The daemon: one task per (source, endpoint); poll -> detect -> publish -> ack -> checkpoint.

Per source, the publish critical section is serialized by a lock, so the ledger and the
checkpoint never include events that are not acked. Any publish failure makes the source
reload its state from Kafka (checkpoint + state + output tail) before publishing again:
the crash-recovery path is the only recovery path.
"""

from __future__ import annotations

import functools
import hashlib
import os
import random
import signal
import threading
import time
from typing import Callable

import anyio
import anyio.abc
import msgspec
import structlog
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from streamer.cluster.membership import Membership
from streamer.config import SourceConfig, StreamerConfig, group_id
from streamer.ops.crashpoints import crash_point
from streamer.ops.probes import serve_http
from streamer.ops.metrics import METRICS, Metrics
from streamer.engine.emit import Draft, OutRecord, SourceContext, agent_current_record
from streamer.errors import (
    CheckpointError, FatalError, FencedError, KafkaRejectedError, KafkaTlsError, KafkaUnavailableError,
    RetriableError, SkippableError, StreamerError, TopicMismatchError,
)
from streamer.contract.events import EVENT_SPECS, SourceGap, SourceHealthChanged, SourceWatermark
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore, advance_offsets
from streamer.kafka.connection import client_kwargs
from streamer.kafka.publisher import Publisher, record_size, size_over
from streamer.kafka.topics import partition_changes
from streamer.engine.rules import emit_with_rules
from streamer.engine.source import BadInput, Endpoint, PollResult, Source
from streamer.timeutil import format_ts, from_ms
from streamer.track.cut import cut_text
from streamer.track.ledger import Ledger
from streamer.vendors import registry

__all__ = ["Daemon", "SourceRunner", "DeadLetter", "backoff_delay"]

_enc = msgspec.json.Encoder()
MAX_DEAD_LETTER_RAW = 1024 * 1024
"""At most this much of the unreadable input is kept, and never more than fits in
``kafka.max_record_bytes`` (base64 in JSON): a dead letter must be publishable."""
FIELD_SHARE = 32
"""Vendor strings are cut to ``kafka.max_record_bytes // FIELD_SHARE``: an event holds its
value up to about four times (``current``, ``previous``, the ccs-value header, ``raw``)."""
REJECTED_RETRY_S = 60.0
"""How long a source waits before trying again after the broker refused its restore."""


class DeadLetter(msgspec.Struct, kw_only=True):
    """Value of the dead-letter topic. ``raw`` is base64 in JSON."""

    id: str
    source_id: str
    endpoint: str
    reason: str
    raw: bytes
    raw_size: int
    """Size of the unreadable input; ``raw`` holds its first bytes, as many as fit (at most MAX_DEAD_LETTER_RAW)."""
    observedtime: str


def backoff_delay(failures: int, *, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter."""
    r = rng or random
    return r.uniform(0, min(cap, base * 2 ** max(0, failures - 1)))


def _as_fill(d: Draft, field: str = "fill") -> Draft:
    """Mark a draft as published by the history read that closes a gap (or a backfill)."""
    if field not in d.payload.__struct_fields__:
        return d
    return msgspec.structs.replace(d, payload=msgspec.structs.replace(d.payload, **{field: True}))


class SourceRunner:
    """Runs one configured source: restore, then one polling task per endpoint."""

    def __init__(
        self,
        cfg: SourceConfig,
        gcfg: StreamerConfig,
        publisher: Publisher,
        store: StateStore,
        *,
        clock: Callable[[], float] = time.time,
        source: Source | None = None,
        metrics: Metrics = METRICS,
        state_key: str | None = None,
        may_write: Callable[[], bool] = lambda: True,
        on_newer_owner: Callable[[int], None] = lambda epoch: None,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.may_write = may_write
        """False once this daemon is not (or no longer surely) the source's owner."""
        self.on_newer_owner = on_newer_owner
        """Told the epoch of a checkpoint newer than ours (another daemon wrote it)."""
        self.owner_epoch = 0
        """The group epoch this runner owns the source in; written into every checkpoint."""
        self.written_epoch: int | None = None
        """The owner epoch of the last checkpoint this runner wrote."""
        self.state_key = state_key or cfg.id
        """Key of this runner's checkpoint and state (a backfill keeps its own)."""
        self.gcfg = gcfg
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.ctx = SourceContext(cfg.vendor, cfg.id, gcfg.kafka.topic_prefix,
                                 max_field_bytes=gcfg.kafka.max_record_bytes // FIELD_SHARE)
        self.log = structlog.get_logger("streamer.engine.source").bind(source=cfg.id)
        self.source = source
        self.lock = anyio.Semaphore(1)
        """Held by a commit or a restore; the daemon also holds it while a rebalance runs
        (a semaphore, not a Lock: it is taken and given back from the group's task)."""
        self.ledger = Ledger(seen_refresh_ms=int(gcfg.state_retention * 500))
        self.checkpoint = Checkpoint(source_id=self.state_key)
        self.needs_restore = True
        self.health: dict[str, str] = {}
        self.pending_health: list[Draft] = []
        """Health changes not yet on Kafka (it was down): published with the next commit."""
        self.last_ok: dict[str, float] = {}
        self.last_error: dict[str, str] = {}
        self.last_watermark: dict[str, float] = {}
        self.tailed = {f"{gcfg.kafka.topic_prefix}.{t}" for t in ("agent", "interaction", "stats")}
        self.published = 0
        self.prefetched: Restored | CheckpointError | None = None
        """What the daemon restored for all sources at once; used by the first restore."""

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        """Restore, then poll until cancelled. Run again (after a rebalance gave the source
        back) it restores again: another daemon may have written it in between."""
        built = self.source is None
        if self.source is None:
            spec = registry.get(self.cfg.vendor)
            assert spec is not None, self.cfg.vendor  # checked by config validation
            self.source = spec.build(self.cfg)
        try:
            async with self.lock:
                self.needs_restore = True
                usable = await self._restore_until_done()
            if not usable:
                await anyio.sleep_forever()  # policy "fail": this source stays down, the others run
            async with anyio.create_task_group() as tg:
                for ep in self.source.endpoints:
                    tg.start_soon(self._endpoint_loop, ep)
        finally:
            with anyio.CancelScope(shield=True):
                await self.source.aclose()
            if built:
                self.source = None

    # --- restore -----------------------------------------------------------------------

    async def _restore_until_done(self) -> bool:
        """Restore, retrying while Kafka is unavailable; False if the checkpoint policy
        says this source must not run."""
        failures = 0
        while True:
            try:
                await self.publisher.settle()
                await self._restore()
                return True
            except CheckpointError as e:
                self.log.error(
                    "checkpoint unusable; source stopped (checkpoint_policy: fail). Inspect the "
                    "checkpoint topic, or set checkpoint_policy: resume-from-now to rebuild and go on",
                    kind=e.kind, error=str(e),
                )
                await self._report_stopped(str(e))
                return False
            except TopicMismatchError as e:
                self.log.error("output topics changed under the checkpoint; source stopped", error=str(e))
                await self._report_stopped(str(e))
                return False
            except FencedError as e:
                self.metrics.fenced.labels(self.cfg.id).inc()
                if e.newer_epoch is not None:
                    self.log.error("not the owner: source stopped until the group gives it back", error=str(e))
                    return False
                failures += 1  # our lease lapsed (the broker was slow to answer heartbeats)
                await anyio.sleep(backoff_delay(failures, cap=5.0))
            except KafkaRejectedError as e:
                # Up, but refusing (an ACL, a size limit): retrying soon would only repeat it.
                self.log.error("kafka refused the restore; retrying", error=str(e), retry_in=REJECTED_RETRY_S)
                await self._report_stopped(str(e))
                await anyio.sleep(REJECTED_RETRY_S)
            except RetriableError as e:
                failures += 1
                delay = backoff_delay(failures, cap=30.0)
                self.log.warning("restore failed; retrying", error=str(e), retry_in=round(delay, 2))
                await anyio.sleep(delay)

    async def _restore(self) -> None:
        trouble: CheckpointError | None = None
        try:
            r = await self._restored()
        except CheckpointError as e:
            if self.gcfg.checkpoint_policy != "resume-from-now":
                raise
            trouble = e
            self.log.error(
                "checkpoint unusable; rebuilding state from the output and resuming from now "
                "(checkpoint_policy: resume-from-now)", kind=e.kind, error=str(e),
            )
            r = await self.store.restore(self.state_key, rebuild=True, events_key=self.cfg.id)
        if r.checkpoint is not None and r.checkpoint.owner_epoch > self.owner_epoch:
            self.on_newer_owner(r.checkpoint.owner_epoch)
            raise FencedError(
                f"source {self.state_key}: its checkpoint was written by owner epoch {r.checkpoint.owner_epoch}, "
                f"newer than this daemon's {self.owner_epoch}: another daemon owns it now",
                newer_epoch=r.checkpoint.owner_epoch,
            )
        if not self.may_write():
            raise FencedError(f"source {self.state_key}: not owned by this daemon now (or its lease ran out)")
        if self.written_epoch is not None and (r.checkpoint is None or r.checkpoint.owner_epoch != self.written_epoch):
            self._forget_polling()  # another daemon ran the source since: its health, gaps and watermarks
        if r.checkpoint is not None and (changed := partition_changes(r.checkpoint.offsets, r.highwaters)):
            raise TopicMismatchError(
                f"source {self.state_key}: {'; '.join(changed)}. A new count moves keys to other partitions; "
                "restore the count, or start over on it: tombstone the source's checkpoint and run with "
                "checkpoint_policy: resume-from-now"
            )
        crash_point("during-restore")
        retention_ms = int(self.gcfg.state_retention * 1000)
        ledger = Ledger(r.entities, seen_refresh_ms=retention_ms // 2)
        now = self.now_ms()
        for t in r.tail:
            ledger.replay(t.entity, t.stream, t.event_id, t.since_ms, t.value, t.sequence, now)
        cp = r.checkpoint or Checkpoint(source_id=self.state_key)
        for k, v in r.highwaters.items():
            cp.offsets[k] = max(cp.offsets.get(k, 0), v)
        gaps: list[Draft] = []
        if trouble is not None:
            assert self.source is not None
            since = trouble.written_ms or now - int(self.cfg.initial_lookback * 1000)
            for ep in self.source.endpoints:
                if ep.history:
                    cp.cursors[ep.name] = now
                gaps.append(self._gap_draft(ep.name, since, now, f"checkpoint {trouble.kind}; resumed from now"))
        records = [rec for rec, _ in emit_with_rules(gaps, ledger, self.ctx, now)]
        acks = await self.publisher.send(records)
        advance_offsets(cp.offsets, acks, self.tailed)
        # Save what the tail taught us before claiming its offsets as covered.
        records = self.store.state_records(self.state_key, ledger.take_dirty())
        cp.owner_epoch = self.owner_epoch
        records.append(self.store.checkpoint_record(cp))
        await self.publisher.send(records)
        self.written_epoch = cp.owner_epoch
        self.ledger, self.checkpoint, self.needs_restore = ledger, cp, False
        self._reset_endpoints()
        self.log.info(
            "state restored",
            checkpoint=r.checkpoint is not None,
            entities=len(r.entities),
            replayed_from_tail=len(r.tail),
            cursors=cp.cursors,
        )

    async def _restored(self) -> Restored:
        prefetched, self.prefetched = self.prefetched, None
        if isinstance(prefetched, CheckpointError):
            raise prefetched
        return prefetched or await self.store.restore(self.state_key, events_key=self.cfg.id)

    def _forget_polling(self) -> None:
        """What this runner knew of the source's polling, now out of date."""
        self.health.clear()
        self.pending_health.clear()
        self.last_ok.clear()
        self.last_error.clear()
        self.last_watermark.clear()

    def _reset_endpoints(self) -> None:
        assert self.source is not None
        for ep in self.source.endpoints:
            ep.reset()

    # --- polling -----------------------------------------------------------------------

    async def _endpoint_loop(self, ep: Endpoint) -> None:
        log = self.log.bind(endpoint=ep.name)
        failures = 0
        while True:
            started = self.clock()
            delay = ep.interval
            outcome = "ok"
            try:
                if self.needs_restore:
                    # Restore before reading the vendor (through an empty commit: the same
                    # path a commit restores by): while Kafka is away a poll would read a
                    # growing window only to fail at its commit.
                    await self._commit(ep, PollResult([]))
                gap = self._gap_since_last_ok(ep)
                filling = bool(gap) and ep.history
                async for result in ep.poll(self.checkpoint.cursors.get(ep.name), self.now_ms()):
                    if filling:
                        result.drafts = [_as_fill(d) for d in result.drafts]
                    await self._commit(ep, result, gap)
                    gap = []
                if gap:
                    await self._commit(ep, PollResult([]), gap)
                failures = 0
                self.last_ok[ep.name] = self.clock()
                self.metrics.last_poll.labels(self.cfg.id, ep.name).set(self.last_ok[ep.name])
                await self._set_health(ep, "healthy", None)
                delay = max(0.0, started + ep.interval - self.clock())
            except SkippableError as e:
                outcome = "skipped"
                self.last_error[ep.name] = str(e)
                log.warning("poll skipped", error=str(e))
                await self._dead_letter_and_health(ep, BadInput(str(e), e.raw), "degraded", str(e))
            except RetriableError as e:
                outcome = "retriable"
                failures += 1
                self.last_error[ep.name] = str(e)
                # Kafka coming back should be noticed within seconds; vendors get more room.
                cap = 5.0 if isinstance(e, KafkaUnavailableError) else 60.0
                delay = max(e.retry_after or 0.0, backoff_delay(failures, base=ep.interval, cap=cap))
                log.warning("poll failed; backing off", error=str(e), retry_in=round(delay, 2), failures=failures)
                await self._set_health_safely(ep, "failing" if failures >= 3 else "degraded", str(e))
            except FatalError as e:
                outcome = "fatal"
                failures += 1
                self.last_error[ep.name] = str(e)
                delay = max(60.0, ep.interval * 10)
                log.error("poll failed and needs attention", error=str(e), retry_in=delay)
                await self._set_health_safely(ep, "failing", str(e))
            except Exception as e:  # a bug must not stop the other endpoints; state is reloaded
                outcome = "error"
                failures += 1
                self.needs_restore = True
                self._reset_endpoints()
                delay = backoff_delay(failures, base=ep.interval, cap=60.0)
                log.exception("unexpected error in poll; state will be reloaded", retry_in=round(delay, 2))
                await self._set_health_safely(ep, "failing", f"internal error: {type(e).__name__}")
            self.metrics.polls.labels(self.cfg.id, ep.name, outcome).inc()
            self.metrics.poll_duration.labels(self.cfg.id, ep.name).observe(self.clock() - started)
            await anyio.sleep(delay)

    def _gap_since_last_ok(self, ep: Endpoint) -> list[Draft]:
        """A gap draft when the endpoint has not polled successfully for too long."""
        last = self.last_ok.get(ep.name)
        now = self.clock()
        if last is None or now - last < self.gcfg.gap_after_intervals * ep.interval:
            return []
        reason = self.last_error.get(ep.name, "not polled")
        if ep.history:
            reason += " (history endpoint: the range is re-read from its cursor)"
        return [self._gap_draft(ep.name, int(last * 1000), int(now * 1000), reason)]

    async def _commit(self, ep: Endpoint, result: PollResult, extra: list[Draft] | None = None) -> None:
        """Publish one result and checkpoint it; the lock makes it atomic per source."""
        async with self.lock:
            if self.needs_restore:
                # Before reading back: a failed send may still land (cancellable: nothing in flight).
                await self.publisher.settle()
            with anyio.CancelScope(shield=True):
                try:
                    if self.needs_restore:
                        await self._restore()
                    await self._commit_locked(ep, result, extra or [])
                except FencedError:
                    self.metrics.fenced.labels(self.cfg.id).inc()
                    self.needs_restore = True
                    self._reset_endpoints()
                    raise
                except StreamerError:
                    # What endpoints remember between polls (rows seen, snapshot digests)
                    # describes work that is not on Kafka: forget it now, or the re-poll
                    # would skip those rows and the cursor would move past them.
                    self.needs_restore = True
                    self._reset_endpoints()
                    raise

    async def _commit_locked(self, ep: Endpoint, result: PollResult, extra: list[Draft]) -> None:
        now = self.now_ms()
        self.ledger.keep_alive(result.alive, now)
        records: list[OutRecord] = []
        agents: set[str] = set()
        watermark = self._watermark(ep, result)
        health = list(self.pending_health)
        emitted = emit_with_rules([*health, *result.drafts, *extra, *watermark], self.ledger, self.ctx, now)
        for rec, d in emitted:
            records.append(rec)
            if EVENT_SPECS[d.type].topic == "agent":
                agents.add(d.entity_id)
        records += [agent_current_record(self.ledger, self.ctx, a, now) for a in sorted(agents)]
        records += [self._dead_letter(ep, b, now) for b in result.bad]
        records = self._fit(ep, records, now)
        cursor_moved = result.cursor_ms is not None and result.cursor_ms != self.checkpoint.cursors.get(ep.name)
        if not records and not cursor_moved:
            return
        if not self.may_write():
            raise FencedError(f"source {self.cfg.id}: not owned by this daemon now (or its lease ran out)")
        sent_at = time.monotonic()
        try:
            acks = await self.publisher.send(records)
        except KafkaUnavailableError:
            self.metrics.kafka_up.set(0)
            raise
        self.metrics.kafka_up.set(1)
        self.metrics.publish_latency.labels(self.cfg.id).observe(time.monotonic() - sent_at)
        if any(r.topic in self.tailed for r in records):  # something a restart must read back
            crash_point("after-publish")
        self._count(ep, emitted, result, now)
        self.published += sum(1 for r in records if r.event_id)
        if result.cursor_ms is not None:
            self.checkpoint.cursors[ep.name] = max(result.cursor_ms, self.checkpoint.cursors.get(ep.name, 0))
        pruned = self.ledger.prune(now, int(self.gcfg.state_retention * 1000), ("interaction/", "stats/"))
        state = self.store.state_records(self.state_key, self.ledger.take_dirty())
        # State and checkpoint in one send, one ack: either may land without the other, so
        # the checkpoint claims only the output whose state an earlier send saved, and a
        # restart reads this commit's events back from the tail (its cursors are safe:
        # the events are acked). Only once this state is acked is its output covered.
        self.checkpoint.owner_epoch = self.owner_epoch
        await self.publisher.send([*state, self.store.checkpoint_record(self.checkpoint)])
        advance_offsets(self.checkpoint.offsets, acks, self.tailed)
        crash_point("after-state")
        self.written_epoch = self.owner_epoch
        self.metrics.last_checkpoint.labels(self.cfg.id).set(self.clock())
        if watermark:
            self.last_watermark[ep.name] = self.clock()
        del self.pending_health[: len(health)]
        if pruned:
            self.log.debug("forgot idle interactions", count=len(pruned))
        if self.ledger.unreadable:
            self.log.error("saved state unreadable; these keys started over", keys=self.ledger.unreadable[:20],
                           count=len(self.ledger.unreadable))
            self.ledger.unreadable.clear()

    def _count(self, ep: Endpoint, emitted: list[tuple[OutRecord, Draft]], result: PollResult, now: int) -> None:
        counts: dict[str, int] = {}
        lags: dict[str, list[float]] = {}
        for _, d in emitted:  # labels() is a locked lookup: once per label, not per event
            counts[d.type] = counts.get(d.type, 0) + 1
            if EVENT_SPECS[d.type].topic in ("agent", "interaction", "stats"):
                lags.setdefault(d.endpoint, []).append(max(0.0, (now - d.at_ms) / 1000))
        for type_, n in counts.items():
            self.metrics.events.labels(self.cfg.id, type_).inc(n)
        for endpoint, values in lags.items():
            histogram = self.metrics.detection_lag.labels(self.cfg.id, endpoint)
            for v in values:
                histogram.observe(v)
        if result.bad:
            self.metrics.dead_letters.labels(self.cfg.id, ep.name).inc(len(result.bad))

    def ready(self) -> tuple[bool, str]:
        """Every endpoint polled successfully within its budget."""
        assert self.source is not None
        now = self.clock()
        budget = self.gcfg.metrics.ready_budget_intervals
        for ep in self.source.endpoints:
            last = self.last_ok.get(ep.name)
            if last is None or now - last > budget * ep.interval + 10:
                return False, f"{self.cfg.id}/{ep.name}: no successful poll within {budget:g} intervals"
        return True, "ok"

    def _watermark(self, ep: Endpoint, result: PollResult) -> list[Draft]:
        """A watermark draft when the endpoint has not announced one for a while."""
        up_to = result.complete_up_to_ms
        if up_to is None or self.clock() - self.last_watermark.get(ep.name, 0.0) < self.gcfg.watermark_interval:
            return []
        d = Draft(
            type="cc.source.watermark", entity_id=self.cfg.id, stream=f"watermark/{ep.name}",
            transition=f"watermark:{ep.name}", at_ms=up_to, previous_field=None, endpoint=ep.name,
            payload=SourceWatermark(source_id=self.cfg.id, endpoint=ep.name, complete_up_to=format_ts(from_ms(up_to))),
        )
        return [d]

    def _fit(self, ep: Endpoint, records: list[OutRecord], now: int) -> list[OutRecord]:
        """Records over ``kafka.max_record_bytes`` (their vendor strings already cut) go
        to the dead-letter topic instead: the broker would refuse them on every retry."""
        limit = self.gcfg.kafka.max_record_bytes
        out = []
        for r in records:
            size = size_over(r, limit)
            if size is None:
                out.append(r)
                continue
            what = f"{r.type} {r.event_id}" if r.event_id else f"record for {r.topic}"
            reason = (f"{what} (key {r.key.decode(errors='replace')}) is {size} bytes, over kafka.max_record_bytes "
                      f"({limit}) with strings cut to {self.ctx.max_field_bytes} bytes")
            self.metrics.dead_letters.labels(self.cfg.id, ep.name).inc()
            out.append(self._dead_letter(ep, BadInput(reason, r.value or b""), now))
        return out

    def _dead_letter(self, ep: Endpoint, bad: BadInput, now: int) -> OutRecord:
        digest = hashlib.sha256(bad.raw + bad.reason.encode()).hexdigest()[:32]
        reason = cut_text(bad.reason, self.ctx.max_field_bytes)
        value = DeadLetter(
            id=digest, source_id=self.cfg.id, endpoint=ep.name, reason=reason,
            raw=b"", raw_size=len(bad.raw), observedtime=format_ts(from_ms(now)),
        )
        topic = f"{self.gcfg.kafka.topic_prefix}.deadletter"
        key, headers = self.cfg.id.encode(), [("content-type", b"application/json")]
        # What the record holds besides raw; raw goes in as base64 (4 bytes per 3), 16 bytes
        # spare for the record's length fields growing with it.
        room = self.gcfg.kafka.max_record_bytes - record_size(OutRecord(topic, key, _enc.encode(value), headers)) - 16
        value.raw = bad.raw[: min(MAX_DEAD_LETTER_RAW, max(0, room) * 3 // 4)]
        self.log.warning("record dead-lettered", endpoint=ep.name, reason=reason[:1024], bytes=len(bad.raw))
        return OutRecord(topic, key, _enc.encode(value), headers)

    # --- health ------------------------------------------------------------------------

    def _health_draft(self, ep: Endpoint, status: str, reason: str | None) -> Draft | None:
        before = self.health.get(ep.name)
        if before == status:
            return None
        self.health[ep.name] = status
        self.metrics.healthy.labels(self.cfg.id, ep.name).set(1 if status == "healthy" else 0)
        now = self.now_ms()
        return Draft(
            type="cc.source.health.changed", entity_id=self.cfg.id, stream=f"health/{ep.name}",
            transition=f"{ep.name}:{status}", at_ms=now, previous_field=None, endpoint=ep.name,
            payload=SourceHealthChanged(
                source_id=self.cfg.id, endpoint=ep.name, status=status,  # type: ignore[arg-type]
                previous_status=before, reason=reason,
            ),
        )

    async def _set_health(self, ep: Endpoint, status: str, reason: str | None) -> None:
        d = self._health_draft(ep, status, reason)
        if d is not None:
            self.log.info("health changed", endpoint=ep.name, status=status, reason=reason)
            self.pending_health.append(d)
        if self.pending_health:
            await self._commit(ep, PollResult([]))

    async def _set_health_safely(self, ep: Endpoint, status: str, reason: str | None) -> None:
        try:
            await self._set_health(ep, status, reason)
        except StreamerError as e:
            # Kept in pending_health: published, with its own time, once Kafka is back.
            self.log.warning("health event not published yet", endpoint=ep.name, error=str(e))

    async def _report_stopped(self, reason: str) -> None:
        """Best effort: tell consumers this source's endpoints are failing (it cannot restore)."""
        assert self.source is not None
        drafts = [d for ep in self.source.endpoints if (d := self._health_draft(ep, "failing", reason))]
        try:
            await self.publisher.send([rec for rec, _ in emit_with_rules(drafts, self.ledger, self.ctx, self.now_ms())])
        except StreamerError as e:
            self.log.warning("could not publish the stopped source's health", error=str(e))

    def _gap_draft(self, endpoint: str, start_ms: int, end_ms: int, reason: str) -> Draft:
        """``cc.source.gap``: the endpoint could not be read from ``start_ms`` to ``end_ms``."""
        return Draft(
            type="cc.source.gap", entity_id=self.cfg.id, stream=f"gap/{endpoint}",
            transition=f"gap:{endpoint}:{start_ms}", at_ms=end_ms, previous_field=None, endpoint=endpoint,
            payload=SourceGap(
                source_id=self.cfg.id, endpoint=endpoint, from_=format_ts(from_ms(start_ms)),
                to=format_ts(from_ms(end_ms)), reason=reason,
            ),
        )

    async def _dead_letter_and_health(self, ep: Endpoint, bad: BadInput, status: str, reason: str) -> None:
        try:
            await self._commit(ep, PollResult([], [bad]))
        except StreamerError as e:
            self.log.warning("dead letter not published", endpoint=ep.name, error=str(e))
        await self._set_health_safely(ep, status, reason)


PAUSE_WAIT_S = 2.0
"""How long a rebalance waits for a source to pause (its in-flight commit) before stopping it."""


class _Owned:
    """A source this daemon runs: its task's scope, and whether a rebalance paused it."""

    def __init__(self, runner: SourceRunner) -> None:
        self.runner = runner
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.started = False
        self.paused = False


SHUTDOWN_GRACE_S = 10.0
"""How long a stop signal waits for the in-flight commit before the process exits anyway."""


class Daemon:
    """The sources of a config this daemon owns in its group, one publisher, graceful
    shutdown on SIGTERM/SIGINT (the last commits first, then it leaves the group)."""

    def __init__(self, cfg: StreamerConfig, *, metrics: Metrics = METRICS) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.log = structlog.get_logger("streamer.daemon")
        self.membership = Membership(
            client_kwargs(cfg.kafka, suffix="-group"),
            group_id=group_id(cfg), topic=f"{cfg.kafka.topic_prefix}.streamer.members",
            sources=[s.id for s in cfg.sources], on_revoked=self._stop_owned, on_assigned=self._start_owned,
            session_timeout=cfg.cluster.session_timeout, heartbeat_interval=cfg.cluster.heartbeat_interval,
            lease_margin=cfg.cluster.lease_margin,
        )
        self.publisher = Publisher(cfg.kafka, gate=self.membership.lease.valid)
        membership = self.membership
        metrics.group_member.set_function(lambda: 1.0 if membership.member else 0.0)
        self.store = StateStore(cfg.kafka)
        self.runners = {s.id: self._runner(s) for s in cfg.sources}
        """Every source of the config; those the group gave this daemon run."""
        self.connect_error: str | None = None
        """Why the last connect to Kafka failed, until one works (for /readyz)."""
        self.refused: str | None = None
        """Why the daemon refused to start (wrong topics, no right to create them), if it did."""
        self._owned_tg: anyio.abc.TaskGroup | None = None
        self._owned: dict[str, _Owned] = {}
        """The sources this daemon runs (paused while a rebalance runs)."""
        self._restoring: anyio.CancelScope | None = None

    def _runner(self, s: SourceConfig) -> SourceRunner:
        membership = self.membership
        return SourceRunner(
            s, self.cfg, self.publisher, self.store, metrics=self.metrics,
            may_write=lambda: membership.may_write(s.id), on_newer_owner=membership.saw_epoch,
        )

    async def _connect(self) -> None:
        failures = 0
        while True:
            try:
                await self.publisher.start()
                await self.publisher.ensure_topics(min_retention_s=max(3600.0, self.cfg.state_retention))
                self.membership.saw_epoch(await self.store.max_owner_epoch())
                self.connect_error = None
                return
            except RetriableError as e:
                await self.publisher.stop()
                self.connect_error = str(e)
                failures += 1
                delay = backoff_delay(failures, cap=15.0)
                if isinstance(e, KafkaTlsError):  # a certificate problem needs a human: say it loudly
                    self.log.error("kafka TLS failed; retrying", error=str(e), retry_in=round(delay, 2))
                else:
                    self.log.warning("kafka unreachable; retrying", error=str(e), retry_in=round(delay, 2))
                await anyio.sleep(delay)

    async def run(self) -> None:
        self.log.info("starting", sources=[s.id for s in self.cfg.sources], kafka=self.cfg.kafka.bootstrap_servers,
                      group=self.membership.group_id)
        work = anyio.CancelScope()
        member = anyio.CancelScope()
        try:
            async with anyio.create_task_group() as outer:
                # Handlers stay installed until we exit: a second signal during shutdown
                # must not kill the process in the middle of its last checkpoint.
                outer.start_soon(self._watch_signals, work)
                if self.cfg.metrics.port is not None:
                    outer.start_soon(serve_http, self.cfg.metrics.host, self.cfg.metrics.port, self.metrics, self.ready)
                with work:
                    try:
                        await self._connect()
                    except FatalError as e:
                        self.refused = str(e)
                        self.log.error("refusing to start", error=str(e))
                        outer.cancel_scope.cancel()
                        return
                    async with anyio.create_task_group() as owned:
                        self._owned_tg = owned
                        outer.start_soon(self._stay_member, member)
                        await anyio.sleep_forever()
                # Every owned source has made its last commit: only now leave the group,
                # so that the daemons taking the sources over read everything back.
                self._owned_tg = None
                if self.publisher.started:
                    with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                        await self._announce(None)
                member.cancel()
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.publisher.stop()
            self.log.info("stopped", published=sum(r.published for r in self.runners.values()))

    async def _stay_member(self, scope: anyio.CancelScope) -> None:
        """Be a member of the group (rejoining after a failure) until ``scope`` is cancelled."""
        failures = 0
        with scope:
            while True:
                try:
                    await self.membership.run()
                except (KafkaError, OSError) as e:
                    failures += 1
                    delay = backoff_delay(failures, cap=10.0)
                    if isinstance(e, (GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
                        self.log.error(
                            "kafka refused the group; the daemon needs READ on the group and its topic",
                            group=self.membership.group_id, topic=self.membership.topic,
                            error=f"{type(e).__name__}: {e}", retry_in=round(delay, 2))
                    else:
                        self.log.warning("group membership failed; rejoining", error=f"{type(e).__name__}: {e}",
                                         retry_in=round(delay, 2))
                    await self._stop_all_owned()
                    await anyio.sleep(delay)

    async def _start_owned(self, owned: frozenset[str], epoch: int) -> None:
        """The group gave this daemon ``owned`` at ``epoch``. A source it ran until the
        rebalance, with nobody else in between, goes on from where it paused; the others
        it ran stop; new ones restore from Kafka and poll."""
        tg = self._owned_tg
        if tg is None:  # shutting down
            return
        expelled, self.membership.dropped = self.membership.dropped, False
        for sid in [sid for sid, o in self._owned.items() if sid not in owned or expelled or not o.paused]:
            await self._stop_one(sid)
        fresh = [self.runners[sid] for sid in sorted(owned) if sid in self.runners and sid not in self._owned]
        for sid, o in self._owned.items():
            o.runner.owner_epoch = epoch
            o.paused = False
            o.runner.lock.release()
        for r in fresh:
            r.owner_epoch = epoch
        self.metrics.rebalances.inc()
        self.metrics.owned_sources.set(len(self._owned) + len(fresh))
        if fresh:
            self._restoring = anyio.CancelScope()
            self._start_fresh(tg, fresh, self._restoring)
        tg.start_soon(functools.partial(self._announce, _enc.encode(self.membership.record()), attempts=8))

    def _start_fresh(self, tg: anyio.abc.TaskGroup, runners: list[SourceRunner], scope: anyio.CancelScope) -> None:
        """Start ``runners``, after one shared read of their state (in the background)."""
        for r in runners:
            self._owned[r.cfg.id] = _Owned(r)

        async def go() -> None:
            with scope:
                await self._prefetch_state(runners)
            for r in runners:
                o = self._owned.get(r.cfg.id)
                if o is not None and o.runner is r and not o.started:
                    o.started = True
                    tg.start_soon(self._run_one, o)

        tg.start_soon(go)

    async def _announce(self, value: bytes | None, *, attempts: int = 1) -> None:
        """Say on the group's topic who owns what (for ``streamer status``), trying up to
        ``attempts`` times: the lease may lapse for a moment around a rebalance."""
        record = OutRecord(self.membership.topic, self.membership.name.encode(), value, [])
        for attempt in range(1, attempts + 1):
            try:
                await self.publisher.send([record])
                return
            except StreamerError as e:
                if attempt == attempts:
                    self.log.warning("could not announce this daemon's sources", error=str(e))
                    return
            await anyio.sleep(min(5.0, 0.25 * 2 ** attempt))

    async def _run_one(self, o: "_Owned") -> None:
        try:
            with o.scope:
                await o.runner.run()
        finally:
            o.done.set()

    async def _stop_one(self, sid: str) -> None:
        o = self._owned.pop(sid)
        o.scope.cancel()
        if o.paused:
            o.paused = False
            o.runner.lock.release()  # the cancelled runner's commit waits no more
        if o.started:
            await o.done.wait()

    async def _stop_owned(self) -> None:
        """A rebalance starts: no commit may run until the new assignment. Each source's
        in-flight commit finishes; the source then waits, paused, or stops if it cannot
        pause within ``PAUSE_WAIT_S`` (a long restore)."""
        if self._restoring is not None:
            self._restoring.cancel()  # a shared read for sources started last time
            self._restoring = None
        for sid, o in list(self._owned.items()):
            if o.paused:
                continue
            if not o.started:
                await self._stop_one(sid)
                continue
            with anyio.move_on_after(PAUSE_WAIT_S):
                await o.runner.lock.acquire()
                o.paused = True
            if not o.paused:
                await self._stop_one(sid)

    async def _stop_all_owned(self) -> None:
        for sid in list(self._owned):
            await self._stop_one(sid)
        self.metrics.owned_sources.set(0)

    async def _prefetch_state(self, runners: list[SourceRunner]) -> None:
        """Restore the owned sources in one shared read (start-up time independent of the
        number of sources); a failure here only means each source restores on its own."""
        if not runners:
            return
        try:
            restored = await self.store.restore_many({r.state_key: r.cfg.id for r in runners})
        except RetriableError as e:
            self.log.warning("shared restore failed; sources restore one by one", error=str(e))
            return
        for r in runners:
            r.prefetched = restored.get(r.state_key)

    def ready(self) -> tuple[bool, str]:
        """For /readyz: the broker reachable, a member of the group, and every owned
        source polled within its budget."""
        if not self.publisher.started and self.connect_error is not None:
            return False, self.connect_error
        if not (self.publisher.started and self.publisher.reachable):
            return False, "kafka: not reachable"
        if not self.membership.member:
            return False, f"not a member of group {self.membership.group_id} (joining or rebalancing)"
        for sid in sorted(self.membership.owned):
            r = self.runners.get(sid)
            if r is None:
                continue
            if r.source is None:
                return False, f"{sid}: starting"
            ok, why = r.ready()
            if not ok:
                return False, why
        return True, "ok"

    async def _watch_signals(self, work: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for sig in signals:
                name = signal.Signals(sig).name
                if work.cancel_called:
                    self.log.info("already shutting down", signal=name)
                    continue
                self.log.info("shutting down: finishing the in-flight batch", signal=name)
                work.cancel()
                self._exit_if_stuck()

    def _exit_if_stuck(self) -> None:
        """A last commit can wait on a broker that is gone (a shielded write, then the
        producer's flush). After ``SHUTDOWN_GRACE_S`` the process exits anyway: that is no
        worse than a crash, and the next start reads back whatever the commit had written."""

        def expire() -> None:
            self.log.error(
                "shutdown overran its deadline; exiting without the last checkpoint "
                "(the next start reads back the output tail)", deadline_s=SHUTDOWN_GRACE_S,
            )
            os._exit(1)

        timer = threading.Timer(SHUTDOWN_GRACE_S, expire)
        timer.daemon = True
        timer.start()
