"""The config file's types and every check that needs no vendor: YAML, ``${VAR}`` / ``${VAR:-default}`` / ``${file:PATH}`` interpolation.

Every error names the key path and the problem, e.g.
``sources[0].auth.token: environment variable VONAGE_TOKEN is not set``.
Unknown keys are errors.
"""

from __future__ import annotations

import math
import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import msgspec
import yaml

from streamer.errors import ConfigError
from streamer.secrets import Secret

__all__ = [
    "dump_config",
    "Duration",
    "KafkaConfig",
    "MetricsConfig",
    "ClusterConfig",
    "group_id",
    "BearerAuthConfig",
    "BasicAuthConfig",
    "OAuth2AuthConfig",
    "AuthConfig",
    "EndpointConfig",
    "SourceConfig",
    "StreamerConfig",
    "decode_config",
    "decode_part",
    "interpolate",
    "read_config_file",
    "parse_duration",
    "struct_schema",
    "part_schema",
]

T = TypeVar("T")

MIN_RECORD_BYTES = 16384
"""Smallest ``kafka.max_record_bytes``: a dead letter, a health event and a state record must fit."""


if TYPE_CHECKING:
    # To the type checker a Duration is a float, so that defaults can be written as plain floats:
    # msgspec cannot encode a float subclass as a JSON Schema default (config_schema).
    Duration = float
else:

    class Duration(float):
        """Seconds; written in config as ``500ms``, ``2s``, ``5m``, ``1h`` or a bare number of seconds."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> Duration:
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '2s', got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return Duration(float(value))
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return Duration(float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError(f"expected a duration like '500ms', '2s', '5m', got {value!r}")


class KafkaConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "cc"
    partitions: int = 3
    """Partitions for topics the daemon creates (existing topics are left as they are)."""
    replication_factor: int = 1
    linger_ms: int = 5
    compression: Literal["none", "gzip", "lz4", "zstd"] = "zstd"
    """zstd: smaller than gzip and cheaper to make (``make bench``'s publish sweep); lz4 and
    zstd need Kafka 0.11 and 2.1 or later, and cramjam (a dependency)."""
    request_timeout: Duration = 30.0
    max_record_bytes: int = 1048576
    """Largest record the daemon sends (key, value and headers as a one-record batch, before
    compression); at most the broker's ``message.max.bytes`` (a topic's ``max.message.bytes``).
    Vendor strings over 1/32 of it are cut; an event still over it is dead-lettered."""
    idempotence: bool = True
    """Idempotent producer: a batch aiokafka re-sends after a timeout or a dropped
    connection is written once. Off only for brokers without InitProducerId (the embedded one)."""
    client_id: str = "ccstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: Secret | None = None
    ssl_cafile: str | None = None
    """CA bundle to verify the brokers (SSL, SASL_SSL); default: the system's."""
    ssl_certfile: str | None = None
    """Client certificate for mutual TLS."""
    ssl_keyfile: str | None = None


class BearerAuthConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="bearer", tag_field="type"):
    token: Secret


class BasicAuthConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="basic", tag_field="type"):
    username: str
    password: Secret


class OAuth2AuthConfig(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, tag="oauth2_client_credentials", tag_field="type"
):
    token_url: str
    client_id: str
    client_secret: Secret
    scope: str | None = None


AuthConfig = BearerAuthConfig | BasicAuthConfig | OAuth2AuthConfig


class EndpointConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Per-endpoint overrides of the source's settings."""

    enabled: bool = True
    poll_interval: Duration | None = None


class SourceConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: str
    vendor: str
    """A vendor of this build (``streamer.vendors.registry``); checked when the config is parsed."""
    base_url: str
    auth: AuthConfig
    poll_interval: Duration = 2.0
    endpoints: dict[str, EndpointConfig] = {}
    lookback: Duration = 60.0
    """History reads re-read this far before the cursor; event ids make the overlap harmless."""
    lookback_every: Duration = 10.0
    """Vonage ``agent-activities`` re-reads the whole ``lookback`` once per this much cursor
    progress; the reads in between start ``safety_lag`` before the cursor. A late row is
    still read, at most this much later. 0: every read re-reads the lookback."""
    safety_lag: Duration = 2.0
    """History reads stop this far before now, so late-arriving rows are not skipped."""
    initial_lookback: Duration = 300.0
    """Where a history cursor starts on the very first run: now minus this."""
    max_catchup_span: Duration = 300.0
    """A history read moves its cursor at most this far per commit: after a long gap it
    is read, published and checkpointed in windows this long, one at a time."""
    page_limit: int = 1000
    timeout: Duration = 10.0
    """Deadline for one whole HTTP exchange (token, connect, headers, entire body)."""
    max_attempts: int = 5
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest response body, counted after inflating gzip/deflate (checked while reading)."""
    ca_file: str | None = None
    """CA bundle (PEM) that verifies the vendor's HTTPS certificate instead of the default
    (the public CAs httpx bundles, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set): a private
    CA, or a TLS-inspecting proxy's."""
    options: Any = None
    """Not a key of the file: the vendor's own keys (``VendorSpec.options``, a msgspec Struct),
    written beside these in the file and decoded by ``streamer.config.load.parse_config``;
    a vendor reads them through its typed accessor."""


class MetricsConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The HTTP server for /metrics (Prometheus), /healthz and /readyz (Kubernetes probes)."""

    host: str = "0.0.0.0"
    port: int | None = None
    """null (the default): no server."""
    ready_budget_intervals: float = 3.0
    """/readyz fails when an endpoint has not polled successfully for this many intervals (+10 s)."""


class ClusterConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Daemons started with one config share its sources through one Kafka consumer group."""

    group_id: str | None = None
    """null (the default): ``<kafka.topic_prefix>.streamer``."""
    session_timeout: Duration = 6.0
    """A daemon that stops heartbeating for this long leaves the group; its sources move."""
    heartbeat_interval: Duration = 1.0
    lease_margin: Duration = 1.5
    """A daemon stops writing ``session_timeout - lease_margin`` after its last heartbeat
    was sent: before its sources can be given to another daemon."""


class StreamerConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kafka: KafkaConfig = msgspec.field(default_factory=KafkaConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    sources: list[SourceConfig] = []
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"
    state_retention: Duration = 3600.0
    """How long per-interaction tracking state is kept after the vendor last served it."""
    watermark_interval: Duration = 10.0
    checkpoint_policy: Literal["fail", "resume-from-now"] = "fail"
    """What a source does when its checkpoint is missing, corrupt or from a newer build:
    ``fail`` (stop that source, report it failing) or ``resume-from-now`` (rebuild its
    state from the output topics, start history cursors at now, publish a gap)."""
    gap_after_intervals: int = 5
    """A source endpoint that could not poll for this many intervals publishes a gap."""


# --- interpolation -------------------------------------------------------------------

_VAR = re.compile(r"\$\{([^}]*)\}")


def _interpolate(text: str, path: str, env: Mapping[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("file:"):
            file = Path(expr[5:]).expanduser()
            try:
                return file.read_text().strip()
            except OSError as e:
                raise ConfigError(f"{path}: cannot read secret file {file}: {e.strerror}") from None
        name, sep, default = expr.partition(":-")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ConfigError(f"{path}: invalid variable reference ${{{expr}}}")
        if name in env and env[name] != "":
            return env[name]
        if sep:
            return default
        raise ConfigError(f"{path}: environment variable {name} is not set")

    return _VAR.sub(sub, text)


def _walk(node: Any, path: str, env: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if not isinstance(k, str):
                raise ConfigError(f"{path or '<root>'}: keys must be strings, got {k!r}")
            out[k] = _walk(v, f"{path}.{k}" if path else k, env)
        return out
    if isinstance(node, list):
        return [_walk(v, f"{path}[{i}]", env) for i, v in enumerate(node)]
    if isinstance(node, str):
        return _interpolate(node, path, env)
    return node


# --- decoding ------------------------------------------------------------------------


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Duration:
        return parse_duration(obj)
    if type_ is Secret:
        if not isinstance(obj, str):
            raise ValueError("expected a string")
        return Secret(obj)
    raise NotImplementedError(type_)


_PATH = re.compile(r"^(.*?) - at `\$(.*)`$", re.S)


def _translate(err: msgspec.ValidationError, prefix: str = "") -> ConfigError:
    msg = str(err)
    m = _PATH.match(msg)
    # msgspec leaves out the path for problems at the top level
    problem, where = (m.group(1), m.group(2).lstrip(".")) if m else (msg, "")
    if prefix:
        where = f"{prefix}.{where}" if where and not where.startswith("[") else prefix + where
    unknown = re.match(r"Object contains unknown field `(.+)`", problem)
    if unknown:
        key = unknown.group(1)
        return ConfigError(f"{where + '.' if where else ''}{key}: unknown key")
    missing = re.match(r"Object missing required field `(.+)`", problem)
    if missing:
        key = missing.group(1)
        return ConfigError(f"{where + '.' if where else ''}{key}: required key is missing")
    return ConfigError(f"{where or '<root>'}: {problem}")


def interpolate(node: Any, path: str, env: Mapping[str, str] | None = None) -> Any:
    """``node`` (a part of the file found at ``path``) with its ``${...}`` references replaced."""
    return _walk(node, path, os.environ if env is None else env)


def decode_part(node: Any, type_: type[T], path: str, env: Mapping[str, str] | None = None) -> T:
    """Interpolate and validate one part of the file (found at ``path``, e.g. a vendor's
    options of ``sources[1]``) into ``type_``, as :func:`decode_config` does the whole:
    errors name the key (``sources[1].org_id: ...``)."""
    env = os.environ if env is None else env
    tree = _walk(node, path, env)
    try:
        return msgspec.convert(tree, type_, dec_hook=_dec_hook, strict=False)
    except msgspec.ValidationError as e:
        raise _translate(e, path) from None


def decode_config(data: Any, env: Mapping[str, str] | None = None) -> StreamerConfig:
    """Interpolate and validate an already-loaded YAML tree into a StreamerConfig: every key
    but what only the vendor knows (``streamer.config.load.parse_config`` checks that too)."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("<root>: expected a mapping at the top level")
    tree = _walk(data, "", env)
    try:
        cfg = msgspec.convert(tree, StreamerConfig, dec_hook=_dec_hook, strict=False)  # "${N:-3}" -> 3
    except msgspec.ValidationError as e:
        raise _translate(e) from None
    _check(cfg)
    return cfg


def _check(cfg: StreamerConfig) -> None:
    seen: dict[str, int] = {}
    for i, src in enumerate(cfg.sources):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", src.id):
            raise ConfigError(f"sources[{i}].id: {src.id!r} must be letters, digits, '-', '_' or '.'")
        if src.id in seen:
            raise ConfigError(f"sources[{i}].id: {src.id!r} is already used by sources[{seen[src.id]}]")
        seen[src.id] = i
        if not src.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"sources[{i}].base_url: must start with http:// or https://")
        authority = re.split(r"[/?#]", src.base_url.split("://", 1)[1], maxsplit=1)[0]
        if "@" in authority:  # checked first, and the URL not echoed: it holds a credential
            raise ConfigError(f"sources[{i}].base_url: must not hold credentials (user@ or user:password@); "
                              f"sources[{i}].auth gives them")
        if "?" in src.base_url or "#" in src.base_url:
            raise ConfigError(f"sources[{i}].base_url: must not have a query (?) or a fragment (#), got {src.base_url}")
        if src.poll_interval <= 0:
            raise ConfigError(f"sources[{i}].poll_interval: must be positive")
        if src.max_catchup_span < 60:
            raise ConfigError(f"sources[{i}].max_catchup_span: must be at least 1m, got {src.max_catchup_span:g}s")
    longest = max((s.lookback + s.lookback_every for s in cfg.sources), default=0.0)
    if cfg.state_retention < 2 * longest:
        raise ConfigError(
            f"state_retention: {cfg.state_retention:g}s must be at least twice the longest "
            f"lookback plus lookback_every ({longest:g}s), or re-served rows could be published twice"
        )
    for i, src in enumerate(cfg.sources):
        if src.ca_file is not None:
            _check_ca_file(f"sources[{i}].ca_file", src.ca_file, src.base_url)
    k = cfg.kafka
    if k.security_protocol.startswith("SASL_") and not (k.sasl_username and k.sasl_password):
        raise ConfigError(f"kafka.sasl_username: {k.security_protocol} needs sasl_username and sasl_password")
    if (k.ssl_certfile is None) != (k.ssl_keyfile is None):
        raise ConfigError("kafka.ssl_keyfile: ssl_certfile and ssl_keyfile go together (mutual TLS)")
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(k, key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"kafka.{key}: {path} is not a readable file")
    if k.security_protocol in ("SSL", "SASL_SSL"):
        _check_tls_files(k)
    else:
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(k, key) is not None:
                raise ConfigError(
                    f"kafka.{key}: only used with security_protocol SSL or SASL_SSL, not {k.security_protocol}"
                )
    if cfg.kafka.partitions < 1:
        raise ConfigError("kafka.partitions: must be at least 1")
    if cfg.kafka.max_record_bytes < MIN_RECORD_BYTES:
        raise ConfigError(f"kafka.max_record_bytes: must be at least {MIN_RECORD_BYTES}")
    _check_cluster(cfg.cluster)


def _check_cluster(c: ClusterConfig) -> None:
    if c.heartbeat_interval <= 0:
        raise ConfigError("cluster.heartbeat_interval: must be positive")
    if c.lease_margin <= 0:
        raise ConfigError("cluster.lease_margin: must be positive")
    if c.session_timeout - c.lease_margin < 2 * c.heartbeat_interval:
        raise ConfigError(
            f"cluster.session_timeout: {c.session_timeout:g}s leaves a lease of "
            f"{c.session_timeout - c.lease_margin:g}s after cluster.lease_margin; it must cover two "
            f"heartbeats (2 x cluster.heartbeat_interval = {2 * c.heartbeat_interval:g}s)"
        )


def group_id(cfg: StreamerConfig) -> str:
    """The consumer group the daemons of this config share."""
    return cfg.cluster.group_id or f"{cfg.kafka.topic_prefix}.streamer"


class _AliasRefused(Exception):
    def __init__(self, anchor: str, line: int) -> None:
        super().__init__(anchor, line)
        self.anchor, self.line = anchor, line


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases (``*name``, merge keys ``<<: *name``).

    Interpolation walks the loaded tree and copies every node an alias points at, so a few
    hundred bytes of nested aliases (a "billion laughs" document) expand exponentially.
    The alias is refused where the parser meets it, before anything is expanded."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event: yaml.AliasEvent = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
            assert event.start_mark is not None  # the parser marks every event it makes
            raise _AliasRefused(str(event.anchor), event.start_mark.line + 1)
        return super().compose_node(parent, index)


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_config(data: Any) -> str:
    """YAML for a config file, with every repeated value written out: :func:`load_config`
    refuses aliases, and PyYAML writes one for any object it meets twice."""
    return yaml.dump(data, Dumper=_NoAliasDumper)


def _check_ca_file(key: str, path: str, base_url: str) -> None:
    """Load a source's CA bundle as its HTTP client will: a wrong file is a config error
    naming its key, not a failed TLS handshake at every poll."""
    if not base_url.lower().startswith("https://"):
        raise ConfigError(f"{key}: only used with an https base_url, not {base_url}")
    if not Path(path).is_file():
        raise ConfigError(f"{key}: {path} is not a readable file")
    _load_ca(ssl.create_default_context(), key, path)


def _load_ca(context: ssl.SSLContext, key: str, path: str) -> None:
    """Load the CA bundle at ``path`` (the config's ``key``) into ``context``, or say why not."""
    try:
        context.load_verify_locations(path)
    except ssl.SSLError as e:
        raise ConfigError(f"{key}: {path} holds no usable CA certificate: {e.reason or e.args[-1]}") from None


def _check_tls_files(k: KafkaConfig) -> None:
    """Load the CA and the client key pair as the Kafka clients will, so that a wrong file is
    a config error naming its key, not a crash when the daemon connects."""
    context = ssl.create_default_context()
    if k.ssl_cafile is not None:
        _load_ca(context, "kafka.ssl_cafile", k.ssl_cafile)
    if k.ssl_certfile is not None:
        try:  # the empty password: an encrypted key fails here instead of prompting on a terminal
            context.load_cert_chain(k.ssl_certfile, k.ssl_keyfile, password=lambda: "")
        except ssl.SSLError as e:
            raise ConfigError(
                f"kafka.ssl_certfile: cannot use {k.ssl_certfile} with kafka.ssl_keyfile {k.ssl_keyfile}: "
                f"{e.reason or e.args[-1]} (the key must match the certificate and not be encrypted)"
            ) from None


def read_config_file(path: str | Path) -> Any:
    """The YAML tree of a config file (aliases refused), before interpolation."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    loader = _NoAliasLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    except _AliasRefused as e:
        raise ConfigError(
            f"{p}: line {e.line}: YAML alias *{e.anchor} is not allowed in config files "
            "(aliases can expand without bound); write the value out"
        ) from None
    finally:
        loader.dispose()
    return data


def _schema_hook(type_: type) -> dict[str, Any]:
    if type_ is Duration:
        return {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION.pattern}],
            "description": "seconds, or a string like 500ms, 2s, 5m, 1h",
        }
    if type_ is Secret:
        return {"type": "string", "description": "secret: use ${ENV_VAR} or ${file:/path}", "writeOnly": True}
    raise NotImplementedError(type_)


def struct_schema() -> dict[str, Any]:
    """JSON Schema of :class:`StreamerConfig` (vendor names are added by ``config.load``)."""
    schema = msgspec.json.schema(StreamerConfig, schema_hook=_schema_hook)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "ccstream config"
    return schema


def part_schema(type_: type) -> dict[str, Any]:
    """JSON Schema of a part of the file decoded on its own (a vendor's options)."""
    return msgspec.json.schema(type_, schema_hook=_schema_hook)
