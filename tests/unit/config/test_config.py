"""Config: interpolation, key-path errors, secrets, the shipped config.yaml, check-config."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from streamer.cli import main
from streamer.config.load import load_config, parse_config
from streamer.config.model import BearerAuthConfig, OAuth2AuthConfig, dump_config, parse_duration
from streamer.errors import ConfigError
from streamer.secrets import Secret
from tests import paths
from tests.pki import Pki

REPO = paths.ROOT

SRC: dict[str, Any] = {
    "id": "vonage-main",
    "vendor": "vonage",
    "base_url": "http://127.0.0.1:8701",
    "auth": {"type": "bearer", "token": "${VONAGE_TOKEN}"},
}
ENV = {"VONAGE_TOKEN": "tok-123"}


def cfg_with(**overrides: Any) -> dict[str, Any]:
    src = copy.deepcopy(SRC)
    src.update(overrides)
    return {"sources": [src]}


def error_of(data: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(data, ENV if env is None else env)
    return str(exc.value)


# --- interpolation ---------------------------------------------------------------------


def test_env_var_is_interpolated_into_secret() -> None:
    cfg = parse_config(cfg_with(), ENV)
    auth = cfg.sources[0].auth
    assert isinstance(auth, BearerAuthConfig)
    assert isinstance(auth.token, Secret)
    assert auth.token.reveal() == "tok-123"


def test_missing_env_var_names_key_path_and_variable() -> None:
    assert error_of(cfg_with(), env={}) == "sources[0].auth.token: environment variable VONAGE_TOKEN is not set"


def test_empty_env_var_counts_as_not_set() -> None:
    assert "VONAGE_TOKEN is not set" in error_of(cfg_with(), env={"VONAGE_TOKEN": ""})


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, "h:1"), ({"K": ""}, "h:1"), ({"K": "z:2"}, "z:2")],
)
def test_default_applies_when_unset_or_empty(env: dict[str, str], expected: str) -> None:
    cfg = parse_config({"kafka": {"bootstrap_servers": "${K:-h:1}"}}, env)
    assert cfg.kafka.bootstrap_servers == expected


def test_empty_default_is_allowed() -> None:
    assert parse_config({"kafka": {"client_id": "x${K:-}y"}}, {}).kafka.client_id == "xy"


def test_several_references_in_one_value() -> None:
    cfg = parse_config(cfg_with(base_url="${SCHEME:-http}://${HOST}:${PORT:-80}/vonage"), {**ENV, "HOST": "h"})
    assert cfg.sources[0].base_url == "http://h:80/vonage"


def test_env_var_reaches_integer_and_duration_fields() -> None:
    cfg = parse_config(
        {"kafka": {"partitions": "${P:-3}"}, "sources": [dict(SRC, poll_interval="${POLL:-5s}")]},
        {**ENV, "P": "7"},
    )
    assert cfg.kafka.partitions == 7
    assert cfg.sources[0].poll_interval == 5.0


def test_invalid_variable_reference() -> None:
    assert error_of({"kafka": {"client_id": "${1BAD}"}}) == "kafka.client_id: invalid variable reference ${1BAD}"


def test_file_reference_reads_and_strips(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    cfg = parse_config(cfg_with(auth={"type": "bearer", "token": f"${{file:{secret}}}"}), {})
    assert cfg.sources[0].auth.token.reveal() == "from-file"  # type: ignore[union-attr]


def test_missing_file_reference_names_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    msg = error_of(cfg_with(auth={"type": "bearer", "token": f"${{file:{missing}}}"}))
    assert msg.startswith("sources[0].auth.token: cannot read secret file")
    assert str(missing) in msg


def test_env_values_are_not_reinterpolated() -> None:
    cfg = parse_config(cfg_with(), {"VONAGE_TOKEN": "${OTHER}"})
    assert cfg.sources[0].auth.token.reveal() == "${OTHER}"  # type: ignore[union-attr]


# --- structure errors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (cfg_with(bogus=1), "sources[0].bogus: unknown key"),
        ({"kafka": {"bogus": 1}}, "kafka.bogus: unknown key"),
        ({"bogus": 1}, "bogus: unknown key"),
        (cfg_with(auth={"type": "bearer", "token": "t", "extra": 1}), "sources[0].auth.extra: unknown key"),
        (cfg_with(endpoints={"agent-status": {"bogus": True}}), "bogus: unknown key"),
    ],
)
def test_unknown_keys(data: dict[str, Any], expected: str) -> None:
    assert error_of(data).endswith(expected)


@pytest.mark.parametrize("key", ["id", "vendor", "base_url", "auth"])
def test_missing_required_source_key(key: str) -> None:
    data = cfg_with()
    del data["sources"][0][key]
    assert error_of(data) == f"sources[0].{key}: required key is missing"


def test_missing_required_auth_key() -> None:
    assert error_of(cfg_with(auth={"type": "bearer"})) == "sources[0].auth.token: required key is missing"


def test_error_path_points_at_the_right_source() -> None:
    good = dict(SRC, id="a", auth={"type": "bearer", "token": "t"})
    bad = dict(SRC, id="b", auth={"type": "bearer", "token": "t"}, bogus=1)
    assert error_of({"sources": [good, bad]}) == "sources[1].bogus: unknown key"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("2s", 2.0), ("5m", 300.0), ("1h", 3600.0), ("1d", 86400.0), ("3", 3.0), (" 1.5 s ", 1.5), (4, 4.0), (0.25, 0.25)],
)
def test_parse_duration(text: Any, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["2 parsecs", "-1s", "s", "", "1.2.3s", True, None, [1], -1, float("inf"), float("nan")])
def test_parse_duration_rejects(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("key", "value"),
    [("poll_interval", "2 parsecs"), ("lookback", "-5s"), ("safety_lag", -1), ("timeout", True)],
)
def test_bad_duration_names_key(key: str, value: Any) -> None:
    assert error_of(cfg_with(**{key: value})).startswith(f"sources[0].{key}: ")


def test_zero_poll_interval_rejected() -> None:
    assert error_of(cfg_with(poll_interval="0s")) == "sources[0].poll_interval: must be positive"


def test_catchup_span_of_less_than_a_minute_rejected() -> None:
    assert error_of(cfg_with(max_catchup_span="30s")) == "sources[0].max_catchup_span: must be at least 1m, got 30s"
    assert parse_config(cfg_with(max_catchup_span="1m"), ENV).sources[0].max_catchup_span == 60.0


def test_state_retention_must_cover_twice_the_furthest_history_reread() -> None:
    data = {**cfg_with(lookback="60s", lookback_every="10s"), "state_retention": "139s"}
    assert error_of(data).startswith("state_retention: 139s must be at least twice the longest lookback plus lookback_every (70s)")
    assert parse_config({**data, "state_retention": "140s"}, ENV).sources[0].lookback_every == 10.0
    assert parse_config({**cfg_with(lookback_every=0), "state_retention": "120s"}, ENV).state_retention == 120.0


def test_durations_are_seconds() -> None:
    src = parse_config(cfg_with(poll_interval="500ms", lookback="5m", safety_lag="1h", timeout=3), ENV).sources[0]
    assert (src.poll_interval, src.lookback, src.safety_lag, src.timeout) == (0.5, 300.0, 3600.0, 3.0)


def test_duplicate_source_ids() -> None:
    data = {"sources": [dict(SRC), dict(SRC)]}
    assert error_of(data) == "sources[1].id: 'vonage-main' is already used by sources[0]"


def test_bad_source_id() -> None:
    assert error_of(cfg_with(id="has space")).startswith("sources[0].id: ")


def test_bad_base_url() -> None:
    assert error_of(cfg_with(base_url="ftp://x")) == "sources[0].base_url: must start with http:// or https://"
    assert error_of(cfg_with(base_url="https://x/api?page=2")) == (
        "sources[0].base_url: must not have a query (?) or a fragment (#), got https://x/api?page=2")


def test_a_base_url_holding_credentials_is_refused_without_echoing_them() -> None:
    for url in ("https://bot:s3cret@x/api", "https://bot:s3cret@x?page=2", "https://bot:s3cret@x#top"):
        msg = error_of(cfg_with(base_url=url))
        assert msg == ("sources[0].base_url: must not hold credentials (user@ or user:password@); "
                       "sources[0].auth gives them"), url
    assert error_of(cfg_with(base_url="https://x?to=a@b")).startswith("sources[0].base_url: must not have a query")
    assert parse_config(cfg_with(base_url="https://x/api/@me"), ENV).sources[0].base_url == "https://x/api/@me"


def test_unknown_vendor() -> None:
    msg = error_of(cfg_with(vendor="genesys"))
    assert msg.startswith("sources[0].vendor: ") and "genesys" in msg


def test_unknown_endpoint_name() -> None:
    msg = error_of(cfg_with(endpoints={"agent-statuz": {"enabled": False}}))
    assert msg.startswith("sources[0].endpoints.agent-statuz: unknown endpoint for vonage")
    assert "agent-activities" in msg


def test_endpoint_overrides_are_parsed() -> None:
    src = parse_config(cfg_with(endpoints={"interactions": {"enabled": False, "poll_interval": "10s"}}), ENV).sources[0]
    assert src.endpoints["interactions"].enabled is False
    assert src.endpoints["interactions"].poll_interval == 10.0


def test_vonage_rejects_basic_auth() -> None:
    msg = error_of(cfg_with(auth={"type": "basic", "username": "u", "password": "p"}))
    assert msg.startswith("sources[0].auth.type: vonage takes bearer or oauth2_client_credentials")


def test_unknown_auth_type() -> None:
    assert error_of(cfg_with(auth={"type": "kerberos"})).startswith("sources[0].auth.type: ")


def test_vonage_accepts_oauth2() -> None:
    auth = {"type": "oauth2_client_credentials", "token_url": "http://t", "client_id": "c", "client_secret": "${S}"}
    cfg = parse_config(cfg_with(auth=auth), {"S": "s3cr3t"})
    assert isinstance(cfg.sources[0].auth, OAuth2AuthConfig)
    assert cfg.sources[0].auth.client_secret.reveal() == "s3cr3t"


def test_partitions_must_be_positive() -> None:
    assert error_of({"kafka": {"partitions": 0}}) == "kafka.partitions: must be at least 1"


def test_bad_enum_names_key() -> None:
    assert error_of({"log_level": "loud"}).startswith("log_level: ")


def test_top_level_must_be_mapping() -> None:
    assert error_of([1, 2]).startswith("<root>: ")


def test_empty_document_is_defaults() -> None:
    cfg = parse_config(None, {})
    assert cfg.sources == [] and cfg.kafka.topic_prefix == "cc"


# --- secrets -------------------------------------------------------------------------------


def test_secrets_never_in_repr_or_str() -> None:
    auth = {"type": "oauth2_client_credentials", "token_url": "http://t", "client_id": "c", "client_secret": "hunter2-oauth"}
    cfg = parse_config(
        {"sources": [dict(SRC, id="a"), dict(SRC, id="b", auth=auth)]},
        {"VONAGE_TOKEN": "hunter2-bearer"},
    )
    for text in (repr(cfg), str(cfg), repr(cfg.sources), str(cfg.sources[0].auth)):
        assert "hunter2" not in text
    assert "***" in repr(cfg)
    assert str(Secret("x")) == "***"
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")


# --- files and the CLI ---------------------------------------------------------------------


def test_repo_config_yaml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    cfg = load_config("config.yaml", env={})
    from streamer.vendors import registry

    # the demo runs every vendor this build implements, each at the simulator
    assert {s.vendor for s in cfg.sources} == set(registry.names())
    assert all(s.base_url.startswith("http://127.0.0.1:8700/") for s in cfg.sources)
    src = cfg.sources[0]
    assert src.vendor == "vonage"
    assert src.base_url == "http://127.0.0.1:8700/vonage"
    assert src.auth.token.reveal() == "sim-token"  # type: ignore[union-attr]
    assert cfg.kafka.bootstrap_servers == "127.0.0.1:9092"


def test_repo_config_yaml_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(REPO / "config.yaml", env={"SIM_URL": "http://sim:1", "KAFKA_BOOTSTRAP": "k:9"})
    assert cfg.sources[0].base_url == "http://sim:1/vonage"
    assert cfg.kafka.bootstrap_servers == "k:9"


def test_load_config_bad_yaml(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(f, env={})


def test_billion_laughs_is_refused_before_expanding(tmp_path: Path) -> None:
    # 9 levels of 10 aliases each: 10^9 strings once expanded, from under 500 bytes
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    f = tmp_path / "c.yaml"
    f.write_text("\n".join([*lines, "sources: *l8"]) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_config(f, env={})
    print(f"refused a {f.stat().st_size}-byte document in {time.perf_counter() - started:.4f}s")
    assert str(exc.value) == (
        f"{f}: line 2: YAML alias *l0 is not allowed in config files "
        "(aliases can expand without bound); write the value out"
    )


def test_merge_key_alias_is_refused_with_its_line(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        "x-defaults: &defaults {vendor: vonage, poll_interval: 2s}\n"
        "sources:\n"
        "  - id: a\n"
        "    <<: *defaults\n"
    )
    with pytest.raises(ConfigError, match=r"c\.yaml: line 4: YAML alias \*defaults is not allowed"):
        load_config(f, env={})


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml", env={})


def test_check_config_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VONAGE_TOKEN", raising=False)
    assert main(["check-config", "--config", str(REPO / "config.yaml")]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "vonage-main (vonage)" in out
    assert err == ""
    assert "sim-token" not in out


def test_check_config_error_names_key(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCS_TEST_UNSET_TOKEN", raising=False)
    f = tmp_path / "c.yaml"
    f.write_text(
        "sources:\n"
        "  - id: a\n    vendor: vonage\n    base_url: http://x\n"
        "    auth: {type: bearer, token: \"${CCS_TEST_UNSET_TOKEN}\"}\n"
    )
    assert main(["check-config", "--config", str(f)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "sources[0].auth.token: environment variable CCS_TEST_UNSET_TOKEN is not set" in err


def test_check_config_unknown_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("kafka:\n  bootstrap: x\n")
    assert main(["check-config", "--config", str(f)]) == 2
    assert "kafka.bootstrap: unknown key" in capsys.readouterr().err


def test_dump_config_writes_repeated_values_out_so_they_load(tmp_path: Path) -> None:
    """PyYAML writes an alias for an object it meets twice; load_config refuses aliases."""
    auth = {"type": "bearer", "token": "t"}
    data = {"kafka": {"bootstrap_servers": "127.0.0.1:9092"},
            "sources": [{"id": f"v{i}", "vendor": "vonage", "base_url": "http://127.0.0.1:1", "auth": auth}
                        for i in range(2)]}
    path = tmp_path / "c.yaml"
    path.write_text(dump_config(data))
    assert "*" not in path.read_text()
    assert [s.id for s in load_config(path).sources] == ["v0", "v1"]


# --- a vendor's own options ----------------------------------------------------------------

ALVARIA: dict[str, Any] = {
    "id": "alv", "vendor": "alvaria", "base_url": "https://acme.via.aspect-cloud.net", "org_id": "${ORG}",
    "api_key": "${KEY}", "team_ids": ["t1"],
    "auth": {"type": "oauth2_client_credentials", "token_url": "https://t/x", "client_id": "c", "client_secret": "s"},
}


def test_a_vendors_options_are_decoded_by_its_struct_from_the_same_keys() -> None:
    from streamer.vendors.alvaria.options import AlvariaOptions

    src = parse_config({"sources": [ALVARIA]}, {"ORG": "acme", "KEY": "k-1"}).sources[0]
    assert isinstance(src.options, AlvariaOptions)
    assert (src.options.org_id, src.options.team_ids, src.options.work_type_ids) == ("acme", ["t1"], [])
    assert src.options.api_key is not None and src.options.api_key.reveal() == "k-1"
    assert parse_config(cfg_with(), ENV).sources[0].options is None  # vonage declares none


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"team_ids": "t1"}, "sources[0].team_ids: Expected `array`, got `str`"),
        ({"team_ids": ["t1", 2]}, "sources[0].team_ids[1]: Expected `str`, got `int`"),
        ({"org_id": "${NOPE}"}, "sources[0].org_id: environment variable NOPE is not set"),
        ({"options": {"org_id": "x"}}, "sources[0].options: unknown key"),
    ],
)
def test_a_vendor_option_error_names_its_key(override: dict[str, Any], expected: str) -> None:
    assert error_of({"sources": [{**ALVARIA, **override}]}, {"ORG": "acme", "KEY": "k"}) == expected


def test_another_vendors_key_is_refused_when_it_says_something() -> None:
    assert error_of(cfg_with(team_ids=["t1"])) == "sources[0].team_ids: not used by vonage"
    assert error_of(cfg_with(api_key="${K}"), {**ENV, "K": "k"}) == "sources[0].api_key: not used by vonage"
    cfg = parse_config(cfg_with(team_ids=[], org_id=None, api_key="${K:-}"), ENV)  # says nothing: dropped
    assert cfg.sources[0].options is None


def test_the_config_schema_lists_every_vendors_options_with_who_uses_them() -> None:
    from streamer.config.load import config_schema

    props = config_schema()["$defs"]["SourceConfig"]["properties"]
    assert "options" not in props
    assert props["org_id"]["description"] == "used by alvaria only"
    assert props["api_key"]["description"] == "used by alvaria, sinch_rai, sinch_rmi only"
    assert props["api_key"]["anyOf"][0]["writeOnly"] is True


# --- a vendor's CA ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ca_file": "/etc/hosts"}, "sources[0].ca_file: only used with an https base_url, not http://127.0.0.1:8701"),
        ({"base_url": "https://vendor.example", "ca_file": "/nonexistent/ca.pem"},
         "sources[0].ca_file: /nonexistent/ca.pem is not a readable file"),
        ({"base_url": "https://vendor.example", "ca_file": "/etc/hosts"},
         "sources[0].ca_file: /etc/hosts holds no usable CA certificate: NO_CERTIFICATE_OR_CRL_FOUND"),
    ],
)
def test_a_bad_vendor_ca_file_names_the_key(overrides: dict[str, Any], message: str) -> None:
    assert error_of(cfg_with(**overrides)).startswith(message)


def test_a_vendor_ca_file_that_holds_a_ca_is_taken(pki: Pki) -> None:
    ca = str(pki.ca)
    assert parse_config(cfg_with(base_url="https://vendor.example", ca_file=ca), ENV).sources[0].ca_file == ca
