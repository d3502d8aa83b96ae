"""Build a source's HttpClient (and its Auth) from its config: shared by every vendor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

import anyio
import httpx
import structlog

from streamer.config.model import AuthConfig, BasicAuthConfig, BearerAuthConfig, OAuth2AuthConfig, SourceConfig
from streamer.http.auth import Auth, BasicAuth, BearerAuth, OAuth2ClientCredentials
from streamer.http.client import HttpClient

__all__ = ["build_auth", "build_http", "duration_histogram", "response_counter"]


def build_auth(cfg: AuthConfig, *, oauth_credentials_in: Literal["body", "basic"] = "body") -> Auth:
    if isinstance(cfg, BearerAuthConfig):
        return BearerAuth(cfg.token)
    if isinstance(cfg, BasicAuthConfig):
        return BasicAuth(cfg.username, cfg.password)
    if isinstance(cfg, OAuth2AuthConfig):
        return OAuth2ClientCredentials(
            cfg.token_url, cfg.client_id, cfg.client_secret, cfg.scope, credentials_in=oauth_credentials_in
        )
    raise TypeError(f"unsupported auth config {type(cfg).__name__}")  # pragma: no cover


def build_http(
    cfg: SourceConfig,
    *,
    headers: Mapping[str, str] | None = None,
    oauth_credentials_in: Literal["body", "basic"] = "body",
    transport: httpx.AsyncBaseTransport | None = None,
    auth: Auth | None = None,
    base_url: str | None = None,
    sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
) -> HttpClient:
    """The source's HttpClient: its config's limits, logging and response metrics; ``auth``
    and ``base_url`` replace what the config's ``auth`` and ``base_url`` give (a vendor
    whose requests need more than the config says, Alvaria's realm and api key)."""
    log = structlog.get_logger("streamer.http.client").bind(source=cfg.id)
    return HttpClient(
        cfg.base_url if base_url is None else base_url,
        build_auth(cfg.auth, oauth_credentials_in=oauth_credentials_in) if auth is None else auth,
        headers=headers,
        timeout=cfg.timeout,
        max_attempts=cfg.max_attempts,
        max_body_bytes=cfg.max_body_bytes,
        ca_file=cfg.ca_file,
        transport=transport,
        sleep=sleep,
        log=log,
        on_response=response_counter(cfg.id),
        on_duration=duration_histogram(cfg.id),
    )


def response_counter(source_id: str) -> Callable[[int], None]:
    """Count a source's HTTP responses by status in the daemon's metrics."""
    from streamer.ops.metrics import METRICS

    def count(status: int) -> None:
        METRICS.http_responses.labels(source_id, str(status)).inc()

    return count


def duration_histogram(source_id: str) -> Callable[[float], None]:
    """Record how long each of a source's vendor requests took in the daemon's metrics."""
    from streamer.ops.metrics import METRICS

    return METRICS.http_duration.labels(source_id).observe
