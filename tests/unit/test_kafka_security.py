"""Kafka security settings reach every client as aiokafka expects them; bad combinations are
config errors naming the key. (The embedded broker cannot serve TLS or SASL, so the wire
handshake itself is not exercised here.)"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamer.config import parse_config
from streamer.errors import ConfigError
from streamer.kafka.connection import client_kwargs


def cfg(**kafka: Any) -> Any:
    return parse_config({"kafka": kafka}, env={"KAFKA_PASSWORD": "canary-kafka-pw"}).kafka


def test_plaintext_is_the_default() -> None:
    kw = client_kwargs(cfg())
    assert kw["security_protocol"] == "PLAINTEXT" and "ssl_context" not in kw and "sasl_mechanism" not in kw


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_ssl_settings_reach_the_clients(mechanism: str) -> None:
    k = cfg(security_protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_username="svc",
            sasl_password="${KAFKA_PASSWORD}")
    kw = client_kwargs(k, suffix="-restore")
    assert kw["sasl_mechanism"] == mechanism and kw["sasl_plain_username"] == "svc"
    assert kw["sasl_plain_password"] == "canary-kafka-pw" and isinstance(kw["ssl_context"], ssl.SSLContext)
    assert kw["client_id"] == "ccstream-restore"
    # aiokafka validates these combinations when a client is built: it must accept them
    producer, consumer = AIOKafkaProducer(**kw), AIOKafkaConsumer(**kw)
    await producer.stop()
    await consumer.stop()
    assert "canary-kafka-pw" not in repr(k)


def test_sasl_plaintext_has_no_tls() -> None:
    kw = client_kwargs(cfg(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p"))
    assert "ssl_context" not in kw and kw["sasl_mechanism"] == "PLAIN"


@pytest.mark.parametrize(
    ("kafka", "message"),
    [
        ({"security_protocol": "SASL_SSL"}, "kafka.sasl_username: SASL_SSL needs sasl_username and sasl_password"),
        ({"ssl_certfile": "/etc/hosts"}, "kafka.ssl_keyfile: ssl_certfile and ssl_keyfile go together"),
        ({"ssl_cafile": "/nonexistent/ca.pem"}, "kafka.ssl_cafile: /nonexistent/ca.pem is not a readable file"),
        ({"security_protocol": "SSL_SASL"}, "kafka.security_protocol: Invalid enum value"),
        ({"sasl_mechanism": "GSSAPI"}, "kafka.sasl_mechanism: Invalid enum value"),
    ],
)
def test_bad_security_settings_name_the_key(kafka: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(**kafka)
    assert str(e.value).startswith(message)
