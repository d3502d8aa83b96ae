"""Kafka security settings reach every client as aiokafka expects them; bad combinations and
unusable certificate files are config errors naming the key. (TLS on the wire:
tests/integration/test_kafka_tls.py.)"""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamer.config.load import parse_config
from streamer.errors import ConfigError
from streamer.kafka.broker import free_port
from streamer.kafka.connection import client_kwargs, explain_tls_failure
from tests.pki import Pki


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
        ({"ssl_cafile": "/etc/hosts"},
         "kafka.ssl_cafile: only used with security_protocol SSL or SASL_SSL, not PLAINTEXT"),
        ({"security_protocol": "SSL", "ssl_cafile": "/etc/hosts"},
         "kafka.ssl_cafile: /etc/hosts holds no usable CA certificate: NO_CERTIFICATE_OR_CRL_FOUND"),
    ],
)
def test_bad_security_settings_name_the_key(kafka: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(**kafka)
    assert str(e.value).startswith(message)


def test_a_client_key_that_does_not_match_its_certificate_is_a_config_error(pki: Pki) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(security_protocol="SSL", ssl_certfile=str(pki.client_cert), ssl_keyfile=str(pki.server_key))
    assert str(e.value) == (
        f"kafka.ssl_certfile: cannot use {pki.client_cert} with kafka.ssl_keyfile {pki.server_key}: "
        "KEY_VALUES_MISMATCH (the key must match the certificate and not be encrypted)"
    )


def test_usable_certificate_files_pass(pki: Pki) -> None:
    k = cfg(security_protocol="SSL", ssl_cafile=str(pki.ca), ssl_certfile=str(pki.client_cert),
            ssl_keyfile=str(pki.client_key))
    assert isinstance(client_kwargs(k)["ssl_context"], ssl.SSLContext)


async def test_no_tls_explanation_without_tls_or_without_a_listener() -> None:
    assert await explain_tls_failure(cfg(bootstrap_servers=f"127.0.0.1:{free_port()}")) is None
    # nothing listens: an outage, not a TLS problem
    assert await explain_tls_failure(cfg(bootstrap_servers=f"127.0.0.1:{free_port()}", security_protocol="SSL")) is None
