"""The daemon: the sources of a config it owns in its Kafka group, one publisher, the probe
server, and graceful shutdown (the last commits first, then it leaves the group)."""

from __future__ import annotations

import functools
import os
import signal
import threading

import anyio
import anyio.abc
import msgspec
import structlog
from aiokafka.errors import GroupAuthorizationFailedError, KafkaError, TopicAuthorizationFailedError

from streamer.cluster.membership import Membership
from streamer.config.model import SourceConfig, StreamerConfig, group_id
from streamer.engine.backoff import backoff_delay
from streamer.engine.emit import OutRecord
from streamer.engine.runner import SourceRunner
from streamer.errors import FatalError, KafkaTlsError, RetriableError, StreamerError
from streamer.kafka.checkpoint import SavedRead, StateStore
from streamer.kafka.connection import client_kwargs
from streamer.kafka.publisher import Publisher
from streamer.ops.metrics import METRICS, Metrics
from streamer.ops.probes import serve_http

__all__ = ["Daemon", "PAUSE_WAIT_S", "SHUTDOWN_GRACE_S"]

_enc = msgspec.json.Encoder()

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


class _ReadAhead:
    """The saved state of every configured source, read while the first join runs."""

    def __init__(self) -> None:
        self.scope = anyio.CancelScope()
        self.done = anyio.Event()
        self.read: SavedRead | None = None


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
        self._ahead: _ReadAhead | None = None
        self._exported: set[str] = set()
        """The sources whose gauges this daemon may show: those of its last assignment."""

    def _runner(self, s: SourceConfig) -> SourceRunner:
        membership = self.membership
        return SourceRunner(
            s, self.cfg, self.publisher, self.store, metrics=self.metrics,
            write_refusal=lambda: membership.write_refusal(s.id), on_newer_owner=membership.saw_epoch,
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
                        self._ahead = _ReadAhead()
                        owned.start_soon(self._read_ahead, self._ahead)
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

    async def _read_ahead(self, ahead: _ReadAhead) -> None:
        """Read the saved state of every configured source while the first join runs (a
        broker may hold the first join of a group for seconds: Kafka's
        ``group.initial.rebalance.delay.ms``, 3 s by default; the embedded broker, half
        the session timeout); the first restore then reads only what was written since."""
        try:
            with ahead.scope:
                ahead.read = await self.store.read_saved({r.state_key for r in self.runners.values()})
        except Exception as e:  # only a head start: never a reason to stop
            self.log.warning("could not read the saved state ahead; sources restore after the assignment",
                             error=f"{type(e).__name__}: {e}")
        finally:
            ahead.done.set()

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
        for sid in sorted(self._exported - owned):  # stopped above, or when the rebalance began
            self.metrics.forget_source(sid)
        self._exported = {sid for sid in owned if sid in self.runners}
        fresh = [self.runners[sid] for sid in sorted(owned) if sid in self.runners and sid not in self._owned]
        for sid, o in self._owned.items():
            o.runner.owner_epoch = epoch
            o.paused = False
            o.runner.lock.release()
        for r in fresh:
            r.owner_epoch = epoch
        self.metrics.rebalances.inc()
        self.metrics.owned_sources.set(len(self._owned) + len(fresh))
        ahead, self._ahead = self._ahead, None  # only the first assignment can use it
        if fresh:
            self._restoring = anyio.CancelScope()
            self._start_fresh(tg, fresh, self._restoring, ahead)
        elif ahead is not None:
            ahead.scope.cancel()
        tg.start_soon(functools.partial(self._announce, _enc.encode(self.membership.record()), attempts=8))

    def _start_fresh(
        self, tg: anyio.abc.TaskGroup, runners: list[SourceRunner], scope: anyio.CancelScope,
        ahead: _ReadAhead | None = None,
    ) -> None:
        """Start ``runners``, after one shared read of their state (in the background),
        which goes on from ``ahead`` if given."""
        for r in runners:
            self._owned[r.cfg.id] = _Owned(r)

        async def go() -> None:
            with scope:
                await self._prefetch_state(runners, ahead)
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

    async def _run_one(self, o: _Owned) -> None:
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

    async def _prefetch_state(self, runners: list[SourceRunner], ahead: _ReadAhead | None = None) -> None:
        """Restore the owned sources in one shared read (start-up time independent of the
        number of sources); a failure here only means each source restores on its own."""
        if not runners:
            return
        since = None
        if ahead is not None:
            await ahead.done.wait()
            since = ahead.read
        try:
            restored = await self.store.restore_many({r.state_key: r.cfg.id for r in runners}, since=since)
        except RetriableError as e:
            self.log.warning("shared restore failed; sources restore one by one", error=str(e))
            return
        if since is not None:
            self.log.info("restore went on from the state read during the join", sources=len(runners))
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
