"""Topics that already exist are used as they are, and refused when they are wrong: a
checkpoints topic someone created without compaction would lose checkpoints to retention."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.kafka.broker import EmbeddedBroker
from tests.integration.harness import DaemonProcess, unique_prefix, write_config

pytestmark = pytest.mark.integration


def test_a_pre_created_checkpoints_topic_without_compaction_is_refused(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = unique_prefix()

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            resp = await admin.create_topics([NewTopic(f"{prefix}.streamer.checkpoints", 1, 1)])
            assert resp.topic_errors[0][1] == 0, resp
        finally:
            await admin.close()

    anyio.run(create)
    cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url="http://127.0.0.1:9/vonage")
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    assert daemon.proc is not None
    try:
        code = daemon.proc.wait(60)
    finally:
        if daemon.alive():
            daemon.kill9()
    log = (tmp_path / "daemon.log").read_text()
    print(f"\nexit {code}; " + next(line for line in log.splitlines() if "refusing to start" in line))
    assert code == 1
    assert f"topic {prefix}.streamer.checkpoints has cleanup.policy=delete; it must be compact" in log
