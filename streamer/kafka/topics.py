"""The contract's topics as they are on the cluster: described, checked, created if missing.

Topics that exist are used as they are (created by an operator, maybe without giving
the daemon CREATE rights), so they are checked, not assumed: compaction where the
daemon relies on it, retention that covers the read-back after a crash, a record
limit no smaller than the daemon's, replication. :func:`check_topics` and
:func:`partition_changes` decide; :func:`ensure_topics` talks to the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from streamer.config.model import KafkaConfig
from streamer.errors import KafkaRejectedError, KafkaUnavailableError, TopicMismatchError
from streamer.kafka.connection import client_kwargs

__all__ = [
    "TopicSpec", "TopicInfo", "TopicCheck", "contract_topics", "check_topics", "partition_changes", "ensure_topics",
    "WARN_RETENTION_MS", "MIN_RETENTION_MS",
]

MIN_RETENTION_MS = 3_600_000
"""Output topics must keep records at least this long (or ``state_retention``, if longer)."""
WARN_RETENTION_MS = 7 * 86_400_000
"""Below this (Kafka's default), a daemon down longer than the retention loses its read-back."""
_DEFAULT_POLICY = "delete"  # Kafka's log.cleanup.policy: what a topic without its own setting has
_TOPIC_EXISTS, _TOPIC_AUTHZ, _CLUSTER_AUTHZ = 36, 29, 31


class TopicSpec(msgspec.Struct, frozen=True):
    """A topic of the contract: how it is created, and what the daemon relies on."""

    name: str
    partitions: int
    compacted: bool
    internal: bool = False
    """The daemon's own state (checkpoints, ledger): compaction must not also delete."""
    read_back: bool = False
    """Read back after a crash (the tailed output topics): retention must cover it."""
    advisory: bool = False
    """Created compacted, but an existing topic is not refused when it is not (nothing is lost)."""


class TopicInfo(msgspec.Struct, frozen=True):
    """What the broker says about an existing topic. ``configs`` is None when it could not say."""

    name: str
    partitions: int
    replication: int
    configs: dict[str, str] | None = None


class TopicCheck(msgspec.Struct):
    create: list[TopicSpec]
    errors: list[str]
    warnings: list[str]


def contract_topics(cfg: KafkaConfig) -> list[TopicSpec]:
    p, n = cfg.topic_prefix, cfg.partitions
    return [
        *(TopicSpec(f"{p}.{t}", n, False, read_back=True) for t in ("agent", "interaction", "stats")),
        TopicSpec(f"{p}.source", n, False),
        TopicSpec(f"{p}.deadletter", n, False),
        TopicSpec(f"{p}.agent.current", n, True),
        TopicSpec(f"{p}.streamer.checkpoints", 1, True, internal=True),
        TopicSpec(f"{p}.streamer.state", 1, True, internal=True),
        # The group's subscription; who owns what, for `streamer status`.
        TopicSpec(f"{p}.streamer.members", 1, True, advisory=True),
    ]


def _ms(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def check_topics(
    specs: Iterable[TopicSpec], existing: dict[str, TopicInfo], *, max_record_bytes: int,
    min_retention_ms: int = MIN_RETENTION_MS, replication_factor: int = 1,
) -> TopicCheck:
    """Which topics to create, and what is wrong (refuse) or risky (warn) with the others.

    A topic whose configs do not name a setting has the broker's default; for
    ``cleanup.policy`` and ``retention.ms`` those are Kafka's (delete, 7 days).
    """
    out = TopicCheck([], [], [])
    single: list[str] = []
    for spec in specs:
        info = existing.get(spec.name)
        if info is None:
            out.create.append(spec)
            if replication_factor == 1:
                single.append(spec.name)
            continue
        if info.replication == 1:
            single.append(spec.name)
        if info.configs is None:
            continue
        c = info.configs
        if spec.advisory:
            continue
        policy = c.get("cleanup.policy", _DEFAULT_POLICY)
        kinds = {k.strip() for k in policy.split(",")}
        if spec.compacted and "compact" not in kinds:
            out.errors.append(
                f"topic {spec.name} has cleanup.policy={policy}; it must be compact (the daemon keeps "
                f"{'its checkpoints and state' if spec.internal else 'the latest value per key'} there)"
            )
        elif spec.compacted and "delete" in kinds:
            msg = (f"topic {spec.name} has cleanup.policy={policy}: records of keys that do not change "
                   f"for retention.ms are deleted")
            (out.errors if spec.internal else out.warnings).append(
                msg + (" (a quiet agent's tracked state would be lost); set cleanup.policy=compact"
                       if spec.internal else ""))
        if spec.read_back:
            retention = _ms(c.get("retention.ms"))
            if retention is not None and 0 <= retention < min_retention_ms:
                out.errors.append(
                    f"topic {spec.name} has retention.ms={retention}, under {min_retention_ms}: a daemon "
                    f"restarted later than that cannot read back what it published after its last checkpoint"
                )
            elif retention is not None and 0 <= retention < WARN_RETENTION_MS:
                out.warnings.append(
                    f"topic {spec.name} has retention.ms={retention}: a daemon down longer than that "
                    f"reads back less than it published after its last checkpoint (duplicates possible)"
                )
            size = _ms(c.get("retention.bytes"))
            if size is not None and size >= 0:
                out.warnings.append(
                    f"topic {spec.name} has retention.bytes={size}: the tail the daemon reads back after "
                    f"a crash may be deleted before it is read"
                )
        limit = _ms(c.get("max.message.bytes"))
        if limit is not None and limit < max_record_bytes:
            out.errors.append(
                f"topic {spec.name} has max.message.bytes={limit}, under kafka.max_record_bytes "
                f"({max_record_bytes}): set kafka.max_record_bytes to at most {limit}"
            )
    if single:
        out.warnings.append(
            f"replication factor 1 for {', '.join(single)}: acks=all then waits for one broker only, "
            f"and losing it loses acked records"
        )
    return out


def partition_changes(recorded: dict[str, int], current: dict[str, int]) -> list[str]:
    """Topics whose partition count differs from the one a checkpoint covered.

    Both map ``'topic/partition'`` to an offset: ``recorded`` from the checkpoint (every
    partition of the tailed topics when it was written), ``current`` now. A new count
    sends keys to other partitions: per-key order and the read-back after it break.
    """

    def counts(offsets: dict[str, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for k in offsets:
            topic, _, part = k.rpartition("/")
            if part.isdigit():
                out[topic] = max(out.get(topic, 0), int(part) + 1)
        return out

    before, now = counts(recorded), counts(current)
    return [f"topic {t} has {now[t]} partitions, the checkpoint recorded {n}"
            for t, n in sorted(before.items()) if t in now and now[t] != n]


def _info(topic: dict[str, Any]) -> TopicInfo:
    parts = topic.get("partitions") or []
    replication = min((len(p.get("replicas") or []) for p in parts), default=0)
    return TopicInfo(topic["topic"], len(parts), replication)


async def _describe_configs(
    admin: AIOKafkaAdminClient, names: list[str], log: structlog.typing.FilteringBoundLogger
) -> dict[str, dict[str, str] | None]:
    out: dict[str, dict[str, str] | None] = {n: None for n in names}
    if not names:
        return out
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    except (KafkaError, OSError) as e:
        log.warning("cannot describe topic configs; compaction, retention and record limits are not checked",
                    error=f"{type(e).__name__}: {e}")
        return out
    for resp in responses:
        for res in resp.resources:
            code, message, name, entries = res[0], res[1], res[3], res[4]
            if code != 0:
                log.warning("cannot describe a topic's configs; not checked", topic=name, error_code=code,
                            error=message)
                continue
            out[name] = {e[0]: e[1] for e in entries if e[1] is not None}
    return out


async def ensure_topics(
    cfg: KafkaConfig, *, min_retention_ms: int = MIN_RETENTION_MS, log: structlog.typing.FilteringBoundLogger | None = None,
    admin_factory: Callable[..., Any] = AIOKafkaAdminClient,
) -> None:
    """Describe the contract's topics, refuse wrong ones, warn about risky ones, create the
    missing ones (only those: creating needs rights a pre-created setup may not grant).
    Raises :class:`TopicMismatchError` (wrong topics) or :class:`KafkaRejectedError` (a
    missing topic this principal may not create)."""
    log = log or structlog.get_logger("streamer.kafka")
    specs = contract_topics(cfg)
    admin = admin_factory(**client_kwargs(cfg, suffix="-admin"))
    try:
        await admin.start()
        # All topics: naming ours would let a broker with auto-creation create them, unchecked.
        described = {t["topic"]: t for t in await admin.describe_topics() if t.get("error_code", 0) == 0}
        existing = {s.name: _info(described[s.name]) for s in specs if s.name in described}
        configs = await _describe_configs(admin, list(existing), log)
        existing = {n: msgspec.structs.replace(i, configs=configs[n]) for n, i in existing.items()}
        check = check_topics(specs, existing, max_record_bytes=cfg.max_record_bytes,
                             min_retention_ms=min_retention_ms, replication_factor=cfg.replication_factor)
        for w in check.warnings:
            log.warning("kafka topic: " + w)
        if check.errors:
            raise TopicMismatchError("kafka topics unusable: " + "; ".join(check.errors))
        if check.create:
            await _create(admin, check.create, cfg.replication_factor, log)
    except KafkaError as e:
        raise KafkaUnavailableError(f"kafka: cannot describe or create topics: {type(e).__name__}: {e}") from None
    finally:
        await admin.close()


async def _create(
    admin: AIOKafkaAdminClient, specs: list[TopicSpec], replication: int, log: structlog.typing.FilteringBoundLogger
) -> None:
    new = [NewTopic(s.name, s.partitions, replication,
                    topic_configs={"cleanup.policy": "compact"} if s.compacted else {}) for s in specs]
    resp = await admin.create_topics(new)
    refused = []
    for topic, code, message in resp.topic_errors:
        if code in (_TOPIC_AUTHZ, _CLUSTER_AUTHZ):
            refused.append(topic)
        elif code not in (0, _TOPIC_EXISTS):
            raise TopicMismatchError(f"kafka: cannot create topic {topic}: error {code} {message}")
        elif code == 0:
            log.info("kafka topic created", topic=topic)
    if refused:
        how = {s.name: f"{s.name} ({s.partitions} partitions{', cleanup.policy=compact' if s.compacted else ''})"
               for s in specs}
        raise KafkaRejectedError(
            "kafka: topics missing (or not visible to this principal), and it may not create them: create "
            + ", ".join(how[t] for t in refused) + ", or grant it CREATE"
        )
