"""One source at work: restore from Kafka, then one polling task per endpoint; each
result is published and checkpointed as one commit.

Per source, the publish critical section is serialized by a lock, so the ledger and the
checkpoint never include events that are not acked. Any publish failure makes the source
reload its state from Kafka (checkpoint + state + output tail) before publishing again:
the crash-recovery path is the only recovery path.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Awaitable, Callable

import anyio
import structlog

from streamer.config.model import SourceConfig, StreamerConfig
from streamer.contract.events import EVENT_SPECS
from streamer.engine.commitlock import CommitLock
from streamer.engine.emit import Draft, OutRecord, SourceContext, agent_current_record
from streamer.engine.policy import on_failure, restore_delay
from streamer.engine.records import DeadLetters
from streamer.engine.rules import emit_with_rules
from streamer.engine.source import BadInput, Endpoint, PollResult, Source
from streamer.engine.source_events import Health, as_fill, gap_draft, health_draft, watermark_draft
from streamer.errors import (
    CheckpointError,
    FencedError,
    KafkaRejectedError,
    KafkaUnavailableError,
    RetriableError,
    SkippableError,
    StreamerError,
    TopicMismatchError,
)
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore, advance_offsets
from streamer.kafka.publisher import Publisher
from streamer.kafka.topics import partition_changes
from streamer.ops.crashpoints import crash_point
from streamer.ops.metrics import METRICS, Metrics
from streamer.track.ledger import Ledger
from streamer.vendors import registry

__all__ = ["SourceRunner", "FIELD_SHARE", "REJECTED_RETRY_S", "poll_phase"]

FIELD_SHARE = 32
"""Vendor strings are cut to ``kafka.max_record_bytes // FIELD_SHARE``: an event holds its
value up to about four times (``current``, ``previous``, the ccs-value header, ``raw``)."""
REJECTED_RETRY_S = 60.0
"""How long a source waits before trying again after the broker refused its restore."""


def poll_phase(source_id: str, endpoint: str, interval: float) -> float:
    """How much later than its interval an endpoint polls the second time: a share of the
    interval fixed by its source and name, in [0, interval). An endpoint keeps to its
    schedule (each poll an interval after the one before), so sources started together
    would poll in step for ever: at the simulator's default load ten snapshots were read,
    decoded and committed at the same instant every second, and each commit's acks waited
    behind the others' work (28-95 ms at the median; 7-18 ms with the polls spread)."""
    return zlib.crc32(f"{source_id}/{endpoint}".encode()) / 2**32 * interval


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
        write_refusal: Callable[[], str | None] = lambda: None,
        on_newer_owner: Callable[[int], None] = lambda epoch: None,
    ) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.write_refusal = write_refusal
        """Why this daemon is not (or no longer surely) the source's owner; None while it is."""
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
        self.sleep: Callable[[float], Awaitable[None]] = anyio.sleep
        """How an endpoint's loop waits for its next poll (a seam for tests)."""
        self.ctx = SourceContext(cfg.vendor, cfg.id, gcfg.kafka.topic_prefix,
                                 max_field_bytes=gcfg.kafka.max_record_bytes // FIELD_SHARE)
        self.log = structlog.get_logger("streamer.source").bind(source=cfg.id)
        self.dead_letters = DeadLetters(
            f"{gcfg.kafka.topic_prefix}.deadletter", cfg.id, gcfg.kafka.max_record_bytes, self.ctx.max_field_bytes,
        )
        self.source = source
        self.lock = CommitLock()
        """Held by a commit or a restore; the daemon also holds it while a rebalance runs
        (taken and given back from the group's task). A snapshot's commit goes first."""
        self.ledger = Ledger.for_retention(int(gcfg.state_retention * 1000))
        self.checkpoint = Checkpoint(source_id=self.state_key)
        self.needs_restore = True
        self.health: dict[str, Health] = {}
        self.pending_health: list[Draft] = []
        """Health changes not yet on Kafka (it was down): published with the next commit."""
        self.last_ok: dict[str, float] = {}
        self.errors_since_ok: dict[str, tuple[str, str]] = {}
        """Per endpoint, the first and the latest error since its last successful poll: a
        gap names what began the silence, not only what ended it (a fence while the group
        settles after Kafka came back, say)."""
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
                await anyio.sleep(restore_delay(e, failures))
            except KafkaRejectedError as e:
                # Up, but refusing (an ACL, a size limit): retrying soon would only repeat it.
                self.log.error("kafka refused the restore; retrying", error=str(e), retry_in=REJECTED_RETRY_S)
                await self._report_stopped(str(e))
                await anyio.sleep(REJECTED_RETRY_S)
            except RetriableError as e:
                failures += 1
                delay = restore_delay(e, failures)
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
        if (refused := self.write_refusal()) is not None:
            raise FencedError(f"source {self.state_key}: not writable by this daemon now: {refused}")
        if self.written_epoch is not None and (r.checkpoint is None or r.checkpoint.owner_epoch != self.written_epoch):
            self._forget_polling()  # another daemon ran the source since: its health, gaps and watermarks
        if r.checkpoint is not None and (changed := partition_changes(r.checkpoint.offsets, r.highwaters)):
            raise TopicMismatchError(
                f"source {self.state_key}: {'; '.join(changed)}. A new count moves keys to other partitions; "
                "restore the count, or start over on it: tombstone the source's checkpoint and run with "
                "checkpoint_policy: resume-from-now"
            )
        crash_point("during-restore")
        ledger = Ledger.for_retention(int(self.gcfg.state_retention * 1000), r.entities)
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
        self.errors_since_ok.clear()
        self.last_watermark.clear()

    def _reset_endpoints(self) -> None:
        assert self.source is not None
        for ep in self.source.endpoints:
            ep.reset()

    # --- polling -----------------------------------------------------------------------

    async def _endpoint_loop(self, ep: Endpoint) -> None:
        log = self.log.bind(endpoint=ep.name)
        failures = 0
        phase = poll_phase(self.cfg.id, ep.name, ep.interval)  # after the first poll: that one is not delayed
        while True:
            started = self.clock()
            delay = ep.interval
            outcome = "ok"
            try:
                await self.poll_once(ep)
                failures = 0
                await self._set_health(ep, "healthy", None)
                delay = max(0.0, started + ep.interval - self.clock()) + phase
                phase = 0.0
            except Exception as e:
                row = on_failure(e)
                outcome = row.outcome
                if row.counts:
                    failures += 1
                if row.restore:
                    self.needs_restore = True
                    self._reset_endpoints()
                delay = row.delay(e, ep.interval, failures)
                reason = f"internal error: {type(e).__name__}" if row.internal else str(e)
                first, _ = self.errors_since_ok.get(ep.name, (reason, ""))
                self.errors_since_ok[ep.name] = (first, reason)
                fields = {"retry_in": round(delay, 2), "failures": failures} if row.counts else {}
                if row.log == "exception":
                    log.exception(row.message, **fields)
                else:
                    getattr(log, row.log)(row.message, error=str(e), **fields)
                if row.dead_letter:
                    raw = e.raw if isinstance(e, SkippableError) else b""
                    await self._dead_letter_and_health(ep, BadInput(str(e), raw), row.health(failures), reason)
                else:
                    await self._set_health_safely(ep, row.health(failures), reason)
            self.metrics.polls.labels(self.cfg.id, ep.name, outcome).inc()
            self.metrics.poll_duration.labels(self.cfg.id, ep.name).observe(self.clock() - started)
            await self.sleep(delay)

    async def poll_once(self, ep: Endpoint) -> list[PollResult]:
        """One poll of ``ep`` as its loop runs it: restore if due, read, commit each result
        (a gap first when the endpoint was down too long); the results, in order. Raises
        what the poll or a commit raised: the loop maps it to an action (policy.py) and
        reports the endpoint's health."""
        if self.needs_restore:
            # Restore before reading the vendor (through an empty commit: the same
            # path a commit restores by): while Kafka is away a poll would read a
            # growing window only to fail at its commit.
            await self._commit(ep, PollResult([]))
        gap = self._gap_since_last_ok(ep)
        filling = bool(gap) and ep.history
        results = []
        async for result in ep.poll(self.checkpoint.cursors.get(ep.name), self.now_ms()):
            if filling:
                result.drafts = [as_fill(d) for d in result.drafts]
            await self._commit(ep, result, gap)
            gap = []
            results.append(result)
        if gap:
            await self._commit(ep, PollResult([]), gap)
        self.last_ok[ep.name] = self.clock()
        self.errors_since_ok.pop(ep.name, None)
        self.metrics.last_poll.labels(self.cfg.id, ep.name).set(self.last_ok[ep.name])
        return results

    def _gap_since_last_ok(self, ep: Endpoint) -> list[Draft]:
        """A gap draft when the endpoint has not polled successfully for too long."""
        last = self.last_ok.get(ep.name)
        now = self.clock()
        if last is None or now - last < self.gcfg.gap_after_intervals * ep.interval:
            return []
        first, latest = self.errors_since_ok.get(ep.name, ("not polled", "not polled"))
        reason = first if latest == first else f"{first}; the latest error: {latest}"
        if ep.history:
            reason += " (history endpoint: the range is re-read from its cursor)"
        return [self._gap_draft(ep.name, int(last * 1000), int(now * 1000), reason)]

    async def _commit(self, ep: Endpoint, result: PollResult, extra: list[Draft] | None = None) -> None:
        """Publish one result and checkpoint it; the lock makes it atomic per source."""
        queued = self.clock()
        async with self.lock.hold(first=not ep.history):
            self.metrics.commit_wait.labels(self.cfg.id, ep.name).observe(max(0.0, self.clock() - queued))
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
        if (refused := self.write_refusal()) is not None:
            raise FencedError(f"source {self.cfg.id}: not writable by this daemon now: {refused}")
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
        sealed = self.ledger.sealed()
        self.metrics.ledger_entities.labels(self.cfg.id, "sealed").set(sealed)
        self.metrics.ledger_entities.labels(self.cfg.id, "held").set(len(self.ledger) - sealed)
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
        return [watermark_draft(self.cfg.id, ep.name, up_to)]

    def _fit(self, ep: Endpoint, records: list[OutRecord], now: int) -> list[OutRecord]:
        """Records over ``kafka.max_record_bytes`` go to the dead-letter topic instead."""
        out = []
        for r in records:
            bad = self.dead_letters.oversized(r)
            if bad is None:
                out.append(r)
                continue
            self.metrics.dead_letters.labels(self.cfg.id, ep.name).inc()
            out.append(self._dead_letter(ep, bad, now))
        return out

    def _dead_letter(self, ep: Endpoint, bad: BadInput, now: int) -> OutRecord:
        record = self.dead_letters.record(ep.name, bad, now)
        self.log.warning("record dead-lettered", endpoint=ep.name, reason=bad.reason[:1024], bytes=len(bad.raw))
        return record

    # --- health ------------------------------------------------------------------------

    def _health_draft(self, ep: Endpoint, status: Health, reason: str | None) -> Draft | None:
        before = self.health.get(ep.name)
        if before == status:
            return None
        self.health[ep.name] = status
        self.metrics.healthy.labels(self.cfg.id, ep.name).set(1 if status == "healthy" else 0)
        return health_draft(self.cfg.id, ep.name, status, before, reason, self.now_ms())

    async def _set_health(self, ep: Endpoint, status: Health, reason: str | None) -> None:
        d = self._health_draft(ep, status, reason)
        if d is not None:
            self.log.info("health changed", endpoint=ep.name, status=status, reason=reason)
            self.pending_health.append(d)
        if self.pending_health:
            await self._commit(ep, PollResult([]))

    async def _set_health_safely(self, ep: Endpoint, status: Health, reason: str | None) -> None:
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
        return gap_draft(self.cfg.id, endpoint, start_ms, end_ms, reason)

    async def _dead_letter_and_health(self, ep: Endpoint, bad: BadInput, status: Health, reason: str) -> None:
        try:
            await self._commit(ep, PollResult([], [bad]))
        except StreamerError as e:
            self.log.warning("dead letter not published", endpoint=ep.name, error=str(e))
        await self._set_health_safely(ep, status, reason)
