"""Every record on the public topics, from every vendor, parses with the CloudEvents SDK and
validates against schemas/events.schema.json."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from cloudevents.v1.http import from_json

from streamer.contract.events import EVENT_SPECS
from streamer.kafka.broker import EmbeddedBroker
from streamer.simulator.app import SimulatorThread
from tests.integration.harness import ROOT, DaemonProcess, events_so_far, read_topic, unique_prefix, write_config

pytestmark = pytest.mark.integration
SOURCES = {"vonage-it", "sinch-rmi", "sinch-rai", "alvaria"}
TYPES = {"cc.agent.presence.changed", "cc.agent.state.changed", "cc.interaction.state.changed", "cc.stats.changed",
         "cc.source.health.changed"}


def test_every_public_record_is_a_valid_cloudevent(broker: EmbeddedBroker, tmp_path: Path) -> None:
    with SimulatorThread(seed=81, agents=10) as sim:
        prefix = unique_prefix()
        u = sim.base_url
        basic = {"type": "basic", "username": "sim", "password": "sim"}
        extra = [
            {"id": "sinch-rmi", "vendor": "sinch_rmi", "base_url": f"{u}/sinch/RI/rmi", "auth": basic, "poll_interval": "1s"},
            {"id": "sinch-rai", "vendor": "sinch_rai", "base_url": f"{u}/sinch/RI/rai", "auth": basic, "poll_interval": "1s"},
            {"id": "alvaria", "vendor": "alvaria", "base_url": f"{u}/alvaria", "org_id": "sim", "api_key": "sim-key",
             "team_ids": ["salesTeam"], "work_type_ids": ["billingVoice"], "contact_lists": ["callbackList"],
             "poll_interval": "1s",
             "auth": {"type": "oauth2_client_credentials", "token_url": f"{u}/alvaria/tokenservice/oauth2/access_token",
                      "client_id": "sim", "client_secret": "sim", "scope": "reportingapi"}},
        ]
        cfg = write_config(tmp_path / "c.yaml", bootstrap=broker.bootstrap, prefix=prefix, base_url=f"{u}/vonage",
                           extra_sources=extra)
        daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()

        def published() -> bool:
            """Every source, and every kind of event the contract is checked on below."""
            evs = events_so_far(broker.bootstrap, prefix, "agent", "interaction", "stats", "source")
            return ({e["source"].split("/")[2] for e in evs} == SOURCES
                    and TYPES <= {e["type"] for e in evs})

        daemon.wait_until(published, f"events of the types {sorted(TYPES)} from {sorted(SOURCES)}", timeout=90)
        assert daemon.terminate() == 0

    schema = json.loads((ROOT / "schemas" / "events.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    types: Counter[str] = Counter()
    sources: set[str] = set()
    broken = {"specversion": "1.0", "id": "x", "source": "/v/s/e", "type": "cc.agent.presence.changed",
              "subject": "1", "time": "2026-01-01T00:00:00.000Z", "datacontenttype": "application/json",
              "observedtime": "2026-01-01T00:00:00.000Z", "data": {"previous": None, "since": "x",
                                                                   "current": {"name": None, "category": "Ready"}}}
    assert list(validator.iter_errors(broken)), "the schema must reject a record without data.agent_id"
    for topic in ("agent", "interaction", "stats", "source"):
        for r in read_topic(broker.bootstrap, f"{prefix}.{topic}"):
            assert dict(r.headers)["content-type"] == b"application/cloudevents+json"
            event = from_json(r.value)  # the SDK's structured-mode parser
            assert event["specversion"] == "1.0" and event["id"] and event["type"] in EVENT_SPECS
            assert EVENT_SPECS[event["type"]].topic == topic
            errors = list(validator.iter_errors(json.loads(r.value)))
            assert not errors, f"{event['type']}: {errors[0].message}"
            types[event["type"]] += 1
            sources.add(event["source"].split("/")[2])
    assert sources == SOURCES
    assert TYPES <= set(types), types
