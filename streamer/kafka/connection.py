"""Connection settings shared by every Kafka client the daemon creates (security included)."""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from ..config import KafkaConfig

__all__ = ["client_kwargs"]


def _ssl(cfg: KafkaConfig) -> ssl.SSLContext | None:
    if cfg.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    return create_ssl_context(cafile=cfg.ssl_cafile, certfile=cfg.ssl_certfile, keyfile=cfg.ssl_keyfile)


def client_kwargs(cfg: KafkaConfig, *, suffix: str = "") -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer/Consumer/AdminClient."""
    kw: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers,
        "client_id": cfg.client_id + suffix,
        "security_protocol": cfg.security_protocol,
    }
    context = _ssl(cfg)
    if context is not None:
        kw["ssl_context"] = context
    if cfg.security_protocol.startswith("SASL_"):
        kw["sasl_mechanism"] = cfg.sasl_mechanism
        kw["sasl_plain_username"] = cfg.sasl_username
        kw["sasl_plain_password"] = cfg.sasl_password.reveal() if cfg.sasl_password else None
    return kw
