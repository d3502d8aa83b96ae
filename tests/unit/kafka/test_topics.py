"""Existing topics are used as they are: checked, not blindly created."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from aiokafka.errors import UnsupportedVersionError

from streamer.config.load import parse_config
from streamer.config.model import KafkaConfig
from streamer.engine.runner import SourceRunner
from streamer.errors import KafkaRejectedError, TopicMismatchError
from streamer.kafka.checkpoint import Checkpoint, Restored, StateStore
from streamer.kafka.publisher import Publisher
from streamer.kafka.topics import (
    WARN_RETENTION_MS,
    TopicInfo,
    check_topics,
    contract_topics,
    ensure_topics,
    partition_changes,
)

CFG = KafkaConfig(topic_prefix="cc", replication_factor=3)
SPECS = contract_topics(CFG)
GOOD = {
    "cc.agent.current": {"cleanup.policy": "compact"},
    "cc.streamer.checkpoints": {"cleanup.policy": "compact"},
    "cc.streamer.state": {"cleanup.policy": "compact"},
}


def _existing(configs: dict[str, dict[str, str] | None] | None = None, replication: int = 3) -> dict[str, TopicInfo]:
    configs = {**GOOD, **(configs or {})}
    return {s.name: TopicInfo(s.name, s.partitions, replication, configs.get(s.name, {})) for s in SPECS}


def _check(existing: dict[str, TopicInfo], **kw: Any) -> Any:
    return check_topics(SPECS, existing, max_record_bytes=CFG.max_record_bytes, replication_factor=3, **kw)


def test_well_configured_topics_pass_and_none_is_created() -> None:
    out = _check(_existing())
    assert (out.create, out.errors, out.warnings) == ([], [], [])


def test_missing_topics_are_created() -> None:
    existing = _existing()
    del existing["cc.stats"]
    assert [s.name for s in _check(existing).create] == ["cc.stats"]


def test_a_checkpoints_topic_that_is_not_compacted_is_refused_by_name() -> None:
    out = _check(_existing({"cc.streamer.checkpoints": {}}))
    assert out.errors == ["topic cc.streamer.checkpoints has cleanup.policy=delete; it must be compact "
                          "(the daemon keeps its checkpoints and state there)"]


def test_compact_and_delete_is_refused_for_internal_state_and_a_warning_for_agent_current() -> None:
    out = _check(_existing({"cc.streamer.state": {"cleanup.policy": "compact,delete"},
                            "cc.agent.current": {"cleanup.policy": "delete, compact"}}))
    assert len(out.errors) == 1 and out.errors[0].startswith("topic cc.streamer.state has cleanup.policy=compact,delete")
    assert len(out.warnings) == 1 and out.warnings[0].startswith("topic cc.agent.current")


def test_output_retention_shorter_than_the_read_back_needs_is_refused_shorter_than_a_week_warned() -> None:
    out = _check(_existing({"cc.agent": {"retention.ms": "600000"}, "cc.stats": {"retention.ms": "86400000"},
                            "cc.interaction": {"retention.ms": "-1"}}))
    assert out.errors == ["topic cc.agent has retention.ms=600000, under 3600000: a daemon restarted later than "
                          "that cannot read back what it published after its last checkpoint"]
    assert len(out.warnings) == 1 and "cc.stats has retention.ms=86400000" in out.warnings[0]
    # a longer minimum (state_retention) is honoured; topics that are not read back are not checked
    assert _check(_existing({"cc.agent": {"retention.ms": "7200000"}}), min_retention_ms=10_800_000).errors
    assert not _check(_existing({"cc.source": {"retention.ms": "60000"}})).errors
    assert not _check(_existing({"cc.agent": {"retention.ms": str(WARN_RETENTION_MS)}})).warnings


def test_size_based_retention_on_an_output_topic_is_warned() -> None:
    out = _check(_existing({"cc.interaction": {"retention.bytes": "1073741824"}}))
    assert out.errors == [] and "cc.interaction has retention.bytes" in out.warnings[0]


def test_a_topic_record_limit_under_ours_is_refused_with_the_fix() -> None:
    out = _check(_existing({"cc.agent": {"max.message.bytes": "500000"}}))
    assert out.errors == ["topic cc.agent has max.message.bytes=500000, under kafka.max_record_bytes (1048576): "
                          "set kafka.max_record_bytes to at most 500000"]


def test_replication_factor_one_is_warned_once_for_all_topics() -> None:
    out = check_topics(SPECS, _existing(replication=1), max_record_bytes=CFG.max_record_bytes)
    assert out.errors == [] and len(out.warnings) == 1
    assert out.warnings[0].startswith("replication factor 1 for cc.agent, cc.interaction") and "acks=all" in out.warnings[0]


def test_undescribed_configs_are_not_checked() -> None:
    out = _check(_existing({n: None for n in GOOD}))
    assert (out.errors, out.warnings) == ([], [])


def test_partition_counts_are_compared_with_the_checkpoint() -> None:
    recorded = {"cc.agent/0": 5, "cc.agent/1": 0, "cc.agent/2": 9, "cc.stats/0": 1}
    assert partition_changes(recorded, {"cc.agent/0": 5, "cc.agent/1": 0, "cc.agent/2": 9, "cc.stats/0": 3}) == []
    now = {"cc.agent/0": 5, "cc.agent/1": 0, "cc.agent/2": 9, "cc.agent/3": 0, "cc.stats/0": 3}
    assert partition_changes(recorded, now) == ["topic cc.agent has 4 partitions, the checkpoint recorded 3"]
    assert partition_changes({}, now) == []  # nothing recorded yet (first run)


# --- talking to the broker (a fake admin client) -------------------------------------


class FakeAdmin:
    """Every contract topic exists, compacted where it should be; creating is not allowed."""

    def __init__(self, *, missing: tuple[str, ...] = (), configs_error: Exception | None = None,
                 create_code: int = 0, **kw: Any) -> None:
        self.missing, self.configs_error, self.create_code = missing, configs_error, create_code
        self.created: list[str] = []

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def describe_topics(self, topics: list[str] | None = None) -> list[dict[str, Any]]:
        assert topics is None, "naming topics lets a broker auto-create them"
        return [{"error_code": 0, "topic": s.name, "partitions": [
            {"partition": p, "replicas": [1, 2, 3]} for p in range(s.partitions)]}
            for s in SPECS if s.name not in self.missing]

    async def describe_configs(self, resources: list[Any]) -> list[Any]:
        if self.configs_error is not None:
            raise self.configs_error
        rows = [(0, None, 2, r.name, [(k, v, False, 1, False, []) for k, v in GOOD.get(r.name, {}).items()])
                for r in resources]
        return [SimpleNamespace(resources=rows)]

    async def create_topics(self, new: list[Any]) -> Any:
        self.created += [t.name for t in new]
        return SimpleNamespace(topic_errors=[(t.name, self.create_code, "denied" if self.create_code else None)
                                             for t in new])


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg: str, **kw: Any) -> None:
        self.warnings.append(msg)

    def info(self, msg: str, **kw: Any) -> None: ...


def _ensure(admin: FakeAdmin, log: Log | None = None) -> None:
    anyio.run(lambda: ensure_topics(CFG, log=log or Log(), admin_factory=lambda **kw: admin))  # type: ignore[arg-type]


def test_pre_created_topics_are_described_not_created() -> None:
    admin = FakeAdmin(create_code=29)  # no CREATE right: any create would be refused
    _ensure(admin)
    assert admin.created == []


def test_a_missing_topic_without_create_rights_is_refused_with_what_to_create() -> None:
    admin = FakeAdmin(missing=("cc.streamer.state",), create_code=29)
    with pytest.raises(KafkaRejectedError, match=r"create cc\.streamer\.state \(1 partitions, cleanup\.policy=compact\)"):
        _ensure(admin)


def test_configs_the_broker_cannot_describe_are_skipped_with_a_log_line() -> None:
    log = Log()
    _ensure(FakeAdmin(configs_error=UnsupportedVersionError()), log)
    assert any("cannot describe topic configs" in w for w in log.warnings)


def test_wrong_topics_raise_before_anything_is_created() -> None:
    class Wrong(FakeAdmin):
        async def describe_configs(self, resources: list[Any]) -> list[Any]:
            return [SimpleNamespace(resources=[(0, None, 2, r.name, []) for r in resources])]

    admin = Wrong(missing=("cc.stats",))
    with pytest.raises(TopicMismatchError, match=r"cc\.agent\.current has cleanup\.policy=delete.*"
                                                 r"cc\.streamer\.checkpoints has cleanup\.policy=delete"):
        _ensure(admin)
    assert admin.created == []


# --- a checkpoint that covered another partition count -----------------------------


def test_a_source_whose_checkpoint_covered_another_partition_count_stops_with_both_counts() -> None:
    from tests.unit.kafka.test_publisher import FakeProducer, _Source

    cfg = parse_config({
        "sources": [{"id": "s1", "vendor": "vonage", "base_url": "http://x", "auth": {"type": "bearer", "token": "t"}}],
    }, env={})
    cp = Checkpoint(source_id="s1", offsets={f"cc.agent/{p}": 10 for p in range(3)})
    now = {f"cc.agent/{p}": 10 for p in range(6)}

    class Store(StateStore):
        async def restore(self, source_id: str, **kw: Any) -> Restored:
            return Restored(cp, {}, [], now)

    producer = FakeProducer()
    sent: list[Any] = []
    pub = Publisher(cfg.kafka, producer_factory=lambda **kw: producer)
    runner = SourceRunner(cfg.sources[0], cfg, pub, Store(cfg.kafka), source=_Source())
    real_send = pub.send

    async def send(records: list[Any]) -> Any:
        sent.extend(records)
        return await real_send(records)

    pub.send = send  # type: ignore[method-assign]

    async def go() -> bool:
        await pub.start()
        async with runner.lock:
            return await runner._restore_until_done()

    assert anyio.run(go) is False
    (health,) = [json.loads(r.value)["data"] for r in sent if r.topic == "cc.source"]
    assert health["status"] == "failing"
    assert "topic cc.agent has 6 partitions, the checkpoint recorded 3" in health["reason"]
    assert not any(r.topic == "cc.streamer.checkpoints" for r in sent)  # the checkpoint is left as it was
