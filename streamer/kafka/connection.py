"""Connection settings shared by every Kafka client the daemon creates (security included),
and the words for a TLS failure that aiokafka reports only as "Unable to bootstrap"."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from streamer.config.model import KafkaConfig
from streamer.errors import KafkaTlsError, KafkaUnavailableError

__all__ = ["client_kwargs", "connect_failure", "explain_tls_failure"]

TLS_PROBE_TIMEOUT_S = 5.0
"""Connect plus handshake, per bootstrap server, when explaining a failure."""
TLS_REFUSAL_WAIT_S = 0.5
"""After the handshake, how long to wait for the broker to refuse us (it never speaks first)."""


def _ssl(cfg: KafkaConfig) -> ssl.SSLContext | None:
    if cfg.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(cafile=cfg.ssl_cafile, certfile=cfg.ssl_certfile, keyfile=cfg.ssl_keyfile)
    return context


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


def _host_port(server: str) -> tuple[str, int] | None:
    host, _, port = server.strip().rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


async def explain_tls_failure(cfg: KafkaConfig) -> str | None:
    """Why TLS to the bootstrap servers fails, in words, or None when TLS is off or is not
    the problem (nothing answers TCP, or a handshake works and the connection stays up).

    aiokafka logs the cause and raises only "Unable to bootstrap", so after a failed
    connect this opens one TLS connection per bootstrap server with the same settings."""
    context = _ssl(cfg)
    if context is None:
        return None
    for server in cfg.bootstrap_servers.split(","):
        address = _host_port(server)
        if address is None:
            continue
        host, port = address
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=host), TLS_PROBE_TIMEOUT_S,
            )
        except ssl.SSLCertVerificationError as e:
            return (f"TLS: the certificate of {server.strip()} is not trusted: {e.verify_message} "
                    f"(kafka.ssl_cafile: {cfg.ssl_cafile or 'the system CAs'})")
        except ssl.SSLError as e:
            return f"TLS handshake with {server.strip()} failed: {e.reason or e}"
        except TimeoutError:
            return f"TLS handshake with {server.strip()} timed out (is it a TLS listener?)"
        except OSError:
            continue  # not reachable at all: an outage, not a TLS problem
        try:
            refused = await asyncio.wait_for(reader.read(1), TLS_REFUSAL_WAIT_S) == b""
        except TimeoutError:
            refused = False  # still connected: TLS works
        except ssl.SSLError as e:  # an alert after the handshake (TLS 1.3 checks our certificate here)
            return f"TLS: {server.strip()} refused the connection: {e.reason or e} (kafka.ssl_certfile)"
        except OSError:
            refused = True
        finally:
            writer.transport.abort()  # a probe: no TLS close to wait for
        if refused:
            which = f"ours ({cfg.ssl_certfile})" if cfg.ssl_certfile else "none is configured (kafka.ssl_certfile)"
            return (f"TLS: {server.strip()} closed the connection right after the handshake: "
                    f"it may require a client certificate it trusts; {which}")
    return None


async def connect_failure(cfg: KafkaConfig, cause: BaseException) -> KafkaUnavailableError:
    """The error for a client that could not start: a KafkaTlsError saying why when TLS is
    the problem, else an outage."""
    why = await explain_tls_failure(cfg)
    if why is not None:
        return KafkaTlsError(f"kafka: cannot connect to {cfg.bootstrap_servers}: {why}")
    return KafkaUnavailableError(f"kafka: cannot connect to {cfg.bootstrap_servers}: {cause}")
