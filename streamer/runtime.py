"""The daemon: one task per (source, endpoint); poll -> detect -> publish -> ack -> checkpoint.

Per source, the publish critical section is serialized by a lock, so the ledger and the
checkpoint never include events that are not acked. Any publish failure makes the source
reload its state from Kafka (checkpoint + state + output tail) before publishing again:
the crash-recovery path is the only recovery path.
"""

from __future__ import annotations

import hashlib
import random
import signal
import time
from typing import Callable

import anyio
import msgspec
import structlog

from .config import SourceConfig, StreamerConfig
from .emit import Draft, OutRecord, SourceContext, agent_current_record
from .errors import FatalError, RetriableError, SkippableError, StreamerError
from .events import EVENT_SPECS, SourceHealthChanged, SourceWatermark
from .kafka.checkpoint import Checkpoint, StateStore, advance_offsets
from .kafka.publisher import Publisher
from .rules import emit_with_rules
from .source import BadInput, Endpoint, PollResult, Source
from .timeutil import format_ts, from_ms
from .track.ledger import Ledger
from .vendors import registry

__all__ = ["Daemon", "SourceRunner", "DeadLetter", "backoff_delay"]

_enc = msgspec.json.Encoder()
MAX_DEAD_LETTER_RAW = 1024 * 1024  # a whole oversized page must not make the dead letter unpublishable


class DeadLetter(msgspec.Struct, kw_only=True):
    """Value of the dead-letter topic. ``raw`` is base64 in JSON."""

    id: str
    source_id: str
    endpoint: str
    reason: str
    raw: bytes
    raw_size: int
    """Size of the unreadable input; ``raw`` holds at most its first MAX_DEAD_LETTER_RAW bytes."""
    observedtime: str


def backoff_delay(failures: int, *, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter."""
    r = rng or random
    return r.uniform(0, min(cap, base * 2 ** max(0, failures - 1)))


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
    ) -> None:
        self.cfg = cfg
        self.gcfg = gcfg
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.ctx = SourceContext(cfg.vendor, cfg.id, gcfg.kafka.topic_prefix)
        self.log = structlog.get_logger("streamer.source").bind(source=cfg.id)
        self.source = source
        self.lock = anyio.Lock()
        self.ledger = Ledger(seen_refresh_ms=int(gcfg.state_retention * 500))
        self.checkpoint = Checkpoint(source_id=cfg.id)
        self.needs_restore = True
        self.health: dict[str, str] = {}
        self.last_watermark: dict[str, float] = {}
        self.tailed = {f"{gcfg.kafka.topic_prefix}.{t}" for t in ("agent", "interaction", "stats")}
        self.published = 0

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    async def run(self) -> None:
        if self.source is None:
            spec = registry.get(self.cfg.vendor)
            assert spec is not None, self.cfg.vendor  # checked by config validation
            self.source = spec.build(self.cfg)
        try:
            async with self.lock:
                await self._restore_until_done()
            async with anyio.create_task_group() as tg:
                for ep in self.source.endpoints:
                    tg.start_soon(self._endpoint_loop, ep)
        finally:
            with anyio.CancelScope(shield=True):
                await self.source.aclose()

    # --- restore -----------------------------------------------------------------------

    async def _restore_until_done(self) -> None:
        failures = 0
        while True:
            try:
                await self._restore()
                return
            except RetriableError as e:
                failures += 1
                delay = backoff_delay(failures, cap=30.0)
                self.log.warning("restore failed; retrying", error=str(e), retry_in=round(delay, 2))
                await anyio.sleep(delay)

    async def _restore(self) -> None:
        r = await self.store.restore(self.cfg.id)
        retention_ms = int(self.gcfg.state_retention * 1000)
        ledger = Ledger(r.entities, seen_refresh_ms=retention_ms // 2)
        now = self.now_ms()
        for t in r.tail:
            ledger.replay(t.entity, t.stream, t.event_id, t.since_ms, t.value, t.sequence, now)
        cp = r.checkpoint or Checkpoint(source_id=self.cfg.id)
        for k, v in r.highwaters.items():
            cp.offsets[k] = max(cp.offsets.get(k, 0), v)
        # Save what the tail taught us before claiming its offsets as covered.
        records = self.store.state_records(self.cfg.id, ledger.take_dirty())
        records.append(self.store.checkpoint_record(cp))
        await self.publisher.send(records)
        self.ledger, self.checkpoint, self.needs_restore = ledger, cp, False
        assert self.source is not None
        for ep in self.source.endpoints:
            ep.reset()
        self.log.info(
            "state restored",
            checkpoint=r.checkpoint is not None,
            entities=len(r.entities),
            replayed_from_tail=len(r.tail),
            cursors=cp.cursors,
        )

    # --- polling -----------------------------------------------------------------------

    async def _endpoint_loop(self, ep: Endpoint) -> None:
        log = self.log.bind(endpoint=ep.name)
        failures = 0
        while True:
            started = self.clock()
            delay = ep.interval
            try:
                async for result in ep.poll(self.checkpoint.cursors.get(ep.name), self.now_ms()):
                    await self._commit(ep, result)
                failures = 0
                await self._set_health(ep, "healthy", None)
                delay = max(0.0, started + ep.interval - self.clock())
            except SkippableError as e:
                log.warning("poll skipped", error=str(e))
                await self._dead_letter_and_health(ep, BadInput(str(e), e.raw), "degraded", str(e))
            except RetriableError as e:
                failures += 1
                delay = max(e.retry_after or 0.0, backoff_delay(failures, base=ep.interval, cap=60.0))
                log.warning("poll failed; backing off", error=str(e), retry_in=round(delay, 2), failures=failures)
                await self._set_health_safely(ep, "failing" if failures >= 3 else "degraded", str(e))
            except FatalError as e:
                failures += 1
                delay = max(60.0, ep.interval * 10)
                log.error("poll failed and needs attention", error=str(e), retry_in=delay)
                await self._set_health_safely(ep, "failing", str(e))
            except Exception as e:  # a bug must not stop the other endpoints; state is reloaded
                failures += 1
                self.needs_restore = True
                delay = backoff_delay(failures, base=ep.interval, cap=60.0)
                log.exception("unexpected error in poll; state will be reloaded", retry_in=round(delay, 2))
                await self._set_health_safely(ep, "failing", f"internal error: {type(e).__name__}")
            await anyio.sleep(delay)

    async def _commit(self, ep: Endpoint, result: PollResult, extra: list[Draft] | None = None) -> None:
        """Publish one result and checkpoint it; the lock makes it atomic per source."""
        async with self.lock:
            with anyio.CancelScope(shield=True):
                if self.needs_restore:
                    await self._restore()
                try:
                    await self._commit_locked(ep, result, extra or [])
                except StreamerError:
                    self.needs_restore = True
                    raise

    async def _commit_locked(self, ep: Endpoint, result: PollResult, extra: list[Draft]) -> None:
        now = self.now_ms()
        records: list[OutRecord] = []
        agents: set[str] = set()
        watermark = self._watermark(ep, result)
        for rec, d in emit_with_rules([*result.drafts, *extra, *watermark], self.ledger, self.ctx, now):
            records.append(rec)
            if EVENT_SPECS[d.type].topic == "agent":
                agents.add(d.entity_id)
        records += [agent_current_record(self.ledger, self.ctx, a, now) for a in sorted(agents)]
        records += [self._dead_letter(ep, b, now) for b in result.bad]
        cursor_moved = result.cursor_ms is not None and result.cursor_ms != self.checkpoint.cursors.get(ep.name)
        if not records and not cursor_moved:
            return
        acks = await self.publisher.send(records)
        self.published += sum(1 for r in records if r.event_id)
        if result.cursor_ms is not None:
            self.checkpoint.cursors[ep.name] = max(result.cursor_ms, self.checkpoint.cursors.get(ep.name, 0))
        pruned = self.ledger.prune(now, int(self.gcfg.state_retention * 1000), ("interaction/", "stats/"))
        state = self.store.state_records(self.cfg.id, self.ledger.take_dirty())
        advance_offsets(self.checkpoint.offsets, acks, self.tailed)
        await self.publisher.send([*state, self.store.checkpoint_record(self.checkpoint)])
        if watermark:
            self.last_watermark[ep.name] = self.clock()
        if pruned:
            self.log.debug("forgot idle interactions", count=len(pruned))

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

    def _dead_letter(self, ep: Endpoint, bad: BadInput, now: int) -> OutRecord:
        digest = hashlib.sha256(bad.raw + bad.reason.encode()).hexdigest()[:32]
        value = DeadLetter(
            id=digest, source_id=self.cfg.id, endpoint=ep.name, reason=bad.reason,
            raw=bad.raw[:MAX_DEAD_LETTER_RAW], raw_size=len(bad.raw), observedtime=format_ts(from_ms(now)),
        )
        self.log.warning("record dead-lettered", endpoint=ep.name, reason=bad.reason, bytes=len(bad.raw))
        return OutRecord(
            f"{self.gcfg.kafka.topic_prefix}.deadletter", self.cfg.id.encode(), _enc.encode(value),
            [("content-type", b"application/json")],
        )

    # --- health ------------------------------------------------------------------------

    def _health_draft(self, ep: Endpoint, status: str, reason: str | None) -> Draft | None:
        before = self.health.get(ep.name)
        if before == status:
            return None
        self.health[ep.name] = status
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
            await self._commit(ep, PollResult([]), [d])

    async def _set_health_safely(self, ep: Endpoint, status: str, reason: str | None) -> None:
        try:
            await self._set_health(ep, status, reason)
        except StreamerError as e:
            self.health.pop(ep.name, None)  # not published: try again next time
            self.log.warning("health event not published", endpoint=ep.name, error=str(e))

    async def _dead_letter_and_health(self, ep: Endpoint, bad: BadInput, status: str, reason: str) -> None:
        try:
            await self._commit(ep, PollResult([], [bad]))
        except StreamerError as e:
            self.log.warning("dead letter not published", endpoint=ep.name, error=str(e))
        await self._set_health_safely(ep, status, reason)


class Daemon:
    """All sources of a config, one publisher, graceful shutdown on SIGTERM/SIGINT."""

    def __init__(self, cfg: StreamerConfig) -> None:
        self.cfg = cfg
        self.log = structlog.get_logger("streamer.daemon")
        self.publisher = Publisher(cfg.kafka)
        self.store = StateStore(cfg.kafka)
        self.runners = [SourceRunner(s, cfg, self.publisher, self.store) for s in cfg.sources]

    async def _connect(self) -> None:
        failures = 0
        while True:
            try:
                await self.publisher.start()
                await self.publisher.ensure_topics()
                return
            except RetriableError as e:
                await self.publisher.stop()
                failures += 1
                delay = backoff_delay(failures, cap=15.0)
                self.log.warning("kafka unreachable; retrying", error=str(e), retry_in=round(delay, 2))
                await anyio.sleep(delay)

    async def run(self) -> None:
        self.log.info("starting", sources=[s.id for s in self.cfg.sources], kafka=self.cfg.kafka.bootstrap_servers)
        work = anyio.CancelScope()
        try:
            async with anyio.create_task_group() as outer:
                # Handlers stay installed until we exit: a second signal during shutdown
                # must not kill the process in the middle of its last checkpoint.
                outer.start_soon(self._watch_signals, work)
                with work:
                    await self._connect()
                    async with anyio.create_task_group() as tg:
                        for r in self.runners:
                            tg.start_soon(r.run)
                outer.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.publisher.stop()
            self.log.info("stopped", published=sum(r.published for r in self.runners))

    async def _watch_signals(self, work: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for sig in signals:
                name = signal.Signals(sig).name
                if work.cancel_called:
                    self.log.info("already shutting down", signal=name)
                    continue
                self.log.info("shutting down: finishing the in-flight batch", signal=name)
                work.cancel()
