"""deploy/ agrees with the code. There is no container engine here, so every file is
parsed and cross-checked instead: the image runs the real CLI, the probes hit real
endpoints on the configured port, the shipped configs pass check-config, the dashboard
queries real metrics, the Secret provides every credential the config needs."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer import cli
from streamer.config.load import parse_config
from streamer.config.model import StreamerConfig
from streamer.ops import metrics
from tests.pki import make_pki

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"

HEALTH_PATH = getattr(metrics, "HEALTH_PATH", "/healthz")
READY_PATH = getattr(metrics, "READY_PATH", "/readyz")
METRICS_PATH = getattr(metrics, "METRICS_PATH", "/metrics")

_VAR = re.compile(r"\$\{([^}]*)\}")  # as streamer.config interpolates


# --- helpers -------------------------------------------------------------------------


def _yaml_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _manifests() -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind in deploy/k8s/."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in _yaml_docs(path):
            kind = doc["kind"]
            if kind == "Kustomization":
                continue
            assert kind not in out, f"two {kind} manifests"
            out[kind] = doc
    return out


def _pod(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return manifests["Deployment"]["spec"]["template"]


def _container(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    (container,) = _pod(manifests)["spec"]["containers"]
    return container


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def _variables(tree: Any) -> tuple[set[str], set[str]]:
    """(${VAR} without default, ${VAR:-default}) used in a parsed YAML tree; comments
    are not part of the tree, so commented-out examples do not count."""
    required, defaulted = set(), set()
    for s in _strings(tree):
        for expr in _VAR.findall(s):
            if expr.startswith("file:"):
                continue
            name, sep, _ = expr.partition(":-")
            (defaulted if sep else required).add(name)
    return required, defaulted - required


def _configmap_config() -> dict[str, Any]:
    tree = yaml.safe_load(_manifests()["ConfigMap"]["data"]["config.yaml"])
    assert isinstance(tree, dict)
    return tree


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _require_metrics_key() -> None:
    """The deploy configs set ``metrics:``; it must be a config key by the time they ship."""
    fields = getattr(StreamerConfig, "__struct_fields__", ())
    assert "metrics" in fields, (
        "streamer.config.StreamerConfig has no `metrics` key yet, but deploy/ configures "
        "metrics.port for the probes and Prometheus: add the key (issue 6, metrics server)"
    )


def _parse(tree: dict[str, Any], env: dict[str, str]) -> StreamerConfig:
    _require_metrics_key()
    required, _ = _variables(tree)
    dummies = {name: f"dummy-{name.lower()}" for name in required}
    return parse_config(tree, {**dummies, **env})


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends in a line continuation"
    out = []
    for line in lines:
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), args.strip()))
    return out


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def _subcommands() -> dict[str, Any]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return dict(action.choices)  # type: ignore[attr-defined]


def _script_name() -> str:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    (name,) = [n for n, target in scripts.items() if target == "streamer.cli:main"]
    return name


# --- every file parses ---------------------------------------------------------------


def test_deploy_has_the_expected_files() -> None:
    for rel in ("Dockerfile", "compose.yaml", "config.compose.yaml", "prometheus.yml", "README.md",
                "grafana/ccstream.json", "k8s/deployment.yaml", "k8s/configmap.yaml", "k8s/secret.yaml",
                "k8s/service.yaml", "k8s/pdb.yaml"):
        assert (DEPLOY / rel).is_file(), f"deploy/{rel} is missing"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml", ".json")),
    ids=lambda p: str(p.relative_to(DEPLOY)),
)
def test_every_yaml_and_json_file_parses(path: Path) -> None:
    if path.suffix == ".json":
        assert isinstance(json.loads(path.read_text()), dict)
    else:
        docs = _yaml_docs(path)
        assert docs and all(isinstance(d, dict) for d in docs)


def test_k8s_manifests_have_the_expected_kinds_and_no_namespace() -> None:
    manifests = _manifests()
    assert set(manifests) == {"Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget"}
    for kind, doc in manifests.items():
        assert "namespace" not in doc["metadata"], f"{kind} sets a namespace; the manifests are namespace-free"


# --- Dockerfile ----------------------------------------------------------------------


def test_dockerfile_entrypoint_is_the_cli_and_cmd_a_real_subcommand() -> None:
    instructions = _dockerfile()
    entry = [a for i, a in instructions if i == "ENTRYPOINT"]
    cmd = [a for i, a in instructions if i == "CMD"]
    assert _exec_form(entry[-1]) == [_script_name()]
    argv = _exec_form(cmd[-1])
    assert argv[0] in _subcommands(), f"CMD subcommand {argv[0]!r} is not in streamer's CLI"
    args = cli.build_parser().parse_args(argv)
    assert args.command == "run" and args.config == "/etc/ccstream/config.yaml"


def test_dockerfile_is_slim_multistage_nonroot_without_dev_extras() -> None:
    instructions = _dockerfile()
    text = (DEPLOY / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    froms = [a.split()[0].replace("${PYTHON_IMAGE}", args.get("PYTHON_IMAGE", "")) for i, a in instructions if i == "FROM"]
    assert len(froms) >= 2, "expected a multi-stage build"
    assert all(f == "python:3.11-slim" for f in froms), froms
    users = [a for i, a in instructions if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    assert "dev" not in re.findall(r"EXTRAS=\"?([\w,]*)", text), "no dev extras in the image"
    assert "pip wheel" in text


def test_dockerfile_exposes_the_metrics_port_and_checks_healthz() -> None:
    instructions = _dockerfile()
    port = _parse(_configmap_config(), {}).metrics.port
    assert [a for i, a in instructions if i == "EXPOSE"] == [str(port)]
    (check,) = [a for i, a in instructions if i == "HEALTHCHECK"]
    assert "urllib.request" in check and "curl" not in check
    env = " ".join(a for i, a in instructions if i == "ENV")
    assert f"CCSTREAM_HEALTH_URL=http://127.0.0.1:{port}{HEALTH_PATH}" in env
    assert "CCSTREAM_HEALTH_URL" in check


# --- Kubernetes ----------------------------------------------------------------------


def test_configmap_config_passes_check_config() -> None:
    cfg = _parse(_configmap_config(), {})
    assert cfg.metrics.port == 9464
    assert [s.vendor for s in cfg.sources] == ["vonage"]


def test_configmap_config_passes_the_check_config_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _require_metrics_key()
    tree = _configmap_config()
    for name in _variables(tree)[0]:
        monkeypatch.setenv(name, "dummy")
    path = tmp_path / "config.yaml"
    path.write_text(_manifests()["ConfigMap"]["data"]["config.yaml"])
    assert cli.main(["check-config", "--config", str(path)]) == 0, capsys.readouterr().err


def test_secret_covers_every_variable_without_default() -> None:
    manifests = _manifests()
    secret = manifests["Secret"]
    assert "stringData" in secret and "data" not in secret
    required, _ = _variables(_configmap_config())
    assert required, "the ConfigMap's credentials should come from the Secret as ${VAR}"
    missing = required - set(secret["stringData"])
    assert not missing, f"the Secret lacks {sorted(missing)}, used as ${{VAR}} without default in the ConfigMap"
    env_from = [e["secretRef"]["name"] for e in _container(manifests).get("envFrom", []) if "secretRef" in e]
    assert secret["metadata"]["name"] in env_from, "the Deployment must load the Secret into the environment"


def test_deployment_runs_the_config_from_the_configmap() -> None:
    manifests = _manifests()
    deploy, pod, container = manifests["Deployment"], _pod(manifests), _container(manifests)
    assert deploy["spec"]["replicas"] == 2
    assert deploy["spec"]["strategy"]["type"] == "RollingUpdate"
    args = cli.build_parser().parse_args(container["args"])
    assert args.command == "run"
    assert "command" not in container, "keep the image's ENTRYPOINT (the streamer CLI)"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    config_dir, _, file = args.config.rpartition("/")
    assert config_dir in mounts, f"{args.config} is not on a mounted volume"
    volume = volumes[mounts[config_dir]["name"]]
    assert volume["configMap"]["name"] == manifests["ConfigMap"]["metadata"]["name"]
    assert file in manifests["ConfigMap"]["data"]
    assert pod["metadata"]["labels"].items() >= deploy["spec"]["selector"]["matchLabels"].items()


def test_probes_hit_health_endpoints_on_the_metrics_port() -> None:
    manifests = _manifests()
    container = _container(manifests)
    port = _parse(_configmap_config(), {}).metrics.port
    assert container["livenessProbe"]["httpGet"] == {"path": HEALTH_PATH, "port": port}
    assert container["readinessProbe"]["httpGet"] == {"path": READY_PATH, "port": port}
    assert HEALTH_PATH == "/healthz" and READY_PATH == "/readyz"
    assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container["ports"]


def test_pod_is_non_root_with_a_read_only_root_fs_and_resources() -> None:
    manifests = _manifests()
    pod, container = _pod(manifests), _container(manifests)
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] != 0
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), "a writable /tmp"


def test_service_and_pdb_select_the_pod_and_expose_metrics() -> None:
    manifests = _manifests()
    labels = _pod(manifests)["metadata"]["labels"]
    port = _parse(_configmap_config(), {}).metrics.port
    svc = manifests["Service"]
    assert labels.items() >= svc["spec"]["selector"].items()
    (svc_port,) = svc["spec"]["ports"]
    assert svc_port["name"] == "metrics" and svc_port["port"] == port
    assert svc_port["targetPort"] in ("metrics", port)
    pdb = manifests["PodDisruptionBudget"]
    assert labels.items() >= pdb["spec"]["selector"]["matchLabels"].items()
    assert ("maxUnavailable" in pdb["spec"]) != ("minAvailable" in pdb["spec"])
    assert pdb["spec"].get("minAvailable") == 1, "one replica keeps polling during a drain"


# --- compose -------------------------------------------------------------------------


def test_compose_config_passes_check_config_and_points_at_the_compose_services() -> None:
    services = _compose()["services"]
    env = {k: str(v) for k, v in services["streamer"].get("environment", {}).items()}
    for tree_env in ({}, env):  # with the file's own defaults, and with compose's environment
        cfg = _parse(yaml.safe_load((DEPLOY / "config.compose.yaml").read_text()), tree_env)
        assert cfg.kafka.bootstrap_servers == "kafka:9092"
        assert cfg.metrics.port == 9464
        for src in cfg.sources:
            assert src.base_url.startswith("http://simulator:8700/"), src.base_url
    assert {"kafka", "simulator", "streamer"} <= set(services)


def test_compose_services_run_the_cli() -> None:
    services = _compose()["services"]
    sim = cli.build_parser().parse_args(services["simulator"]["command"])
    assert (sim.command, sim.port, sim.host) == ("simulate", 8700, "0.0.0.0")
    run = cli.build_parser().parse_args(services["streamer"]["command"])
    assert run.command == "run"
    mounts = {m.split(":")[1]: m.split(":")[0] for m in services["streamer"]["volumes"]}
    assert mounts[run.config] == "./config.compose.yaml"
    port = _parse(yaml.safe_load((DEPLOY / "config.compose.yaml").read_text()), {}).metrics.port
    assert str(port) in services["streamer"]["ports"], "a container port only: `--scale streamer=N` needs no fixed host port"
    health = services["streamer"]["environment"]["CCSTREAM_HEALTH_URL"]
    assert health == f"http://127.0.0.1:{port}{HEALTH_PATH}"


def test_compose_kafka_is_single_node_kraft_with_the_compose_listener() -> None:
    kafka = _compose()["services"]["kafka"]
    env = {k: str(v) for k, v in kafka["environment"].items()}
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in json.dumps(kafka).lower()
    assert "://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(env["KAFKA_NODE_ID"] + "@")
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_compose_bind_mounts_exist_and_prometheus_scrapes_the_daemon() -> None:
    services = _compose()["services"]
    for name, svc in services.items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    prom = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    port = _parse(yaml.safe_load((DEPLOY / "config.compose.yaml").read_text()), {}).metrics.port
    (job,) = prom["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == METRICS_PATH
    (sd,) = job["dns_sd_configs"]  # every replica of --scale
    assert (sd["names"], sd["type"], sd["port"]) == (["streamer"], "A", port)


# --- images --------------------------------------------------------------------------


def _images() -> list[str]:
    images = [svc["image"] for svc in _compose()["services"].values() if "image" in svc]
    pod = _pod(_manifests())
    images += [c["image"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])]
    text = (DEPLOY / "Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    stages = set(re.findall(r"^FROM \S+ AS (\w+)$", text, re.M | re.I))
    for ref in re.findall(r"^FROM (\S+)", text, re.M):
        ref = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref)
        if ref not in stages:
            images.append(ref)
    return images


def test_images_are_pinned_not_latest() -> None:
    images = _images()
    assert len(images) >= 5
    for image in images:
        name = image.split("@")[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
        assert "@sha256:" in image or (tag and tag != "latest"), f"{image}: pin a tag (not :latest)"


# --- Grafana -------------------------------------------------------------------------


def _dashboard_exprs() -> list[str]:
    dash = json.loads((DEPLOY / "grafana" / "ccstream.json").read_text())
    exprs = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []))
            walk(p.get("panels", []))

    walk(dash["panels"])
    exprs += [v["definition"] for v in dash["templating"]["list"] if v.get("definition")]
    return exprs


def test_dashboard_queries_name_real_metrics() -> None:
    exprs = _dashboard_exprs()
    assert exprs
    used = set()
    for expr in exprs:
        for name in re.findall(r"ccstream_[a-z_]+", expr):
            used.add(re.sub(r"_(bucket|sum|count)$", "", name))
    unknown = used - set(metrics.METRIC_NAMES)
    assert not unknown, f"the dashboard queries metrics that do not exist: {sorted(unknown)}"
    unused = set(metrics.METRIC_NAMES) - used
    assert not unused, f"metrics without a dashboard panel: {sorted(unused)}"


def test_dashboard_histogram_queries_use_buckets_of_histograms() -> None:
    histograms = {m.name for m in metrics.Metrics().registry.collect() if m.type == "histogram"}
    for expr in _dashboard_exprs():
        for name in re.findall(r"(ccstream_[a-z_]+)_bucket", expr):
            assert name in histograms, f"{name}_bucket: {name} is not a histogram"
        if "histogram_quantile" in expr:
            assert "_bucket" in expr and "le" in expr, expr


def test_metric_names_are_the_registered_metrics() -> None:
    registered = set()
    for family in metrics.Metrics().registry.collect():
        registered.add(family.name + "_total" if family.type == "counter" else family.name)
    assert registered == set(metrics.METRIC_NAMES)


def test_detection_lag_has_p50_and_p99_panels() -> None:
    exprs = " ".join(_dashboard_exprs())
    for q in ("0.5", "0.99"):
        assert f"histogram_quantile({q}, sum by (le, source, endpoint) (rate(ccstream_detection_lag_seconds_bucket" in exprs
    assert "time() - ccstream_last_checkpoint_timestamp_seconds" in exprs


def test_grafana_provisioning_points_at_the_dashboard() -> None:
    compose = _compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in compose["volumes"])
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/ccstream.yaml").read_text())["providers"]
    (provider,) = providers
    assert mounts["./grafana/ccstream.json"].startswith(provider["options"]["path"] + "/")
    (ds,) = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"


def test_readme_mentions_every_piece() -> None:
    text = (DEPLOY / "README.md").read_text()
    for word in ("Dockerfile", "compose.yaml", "k8s", "ccstream.json", "/healthz", "/readyz", "/metrics", "Secret"):
        assert word in text, f"deploy/README.md does not mention {word}"



def test_configmap_commented_sasl_ssl_example_is_valid(tmp_path: Path) -> None:
    """The ConfigMap shows SASL_SSL commented out; uncommented, it must still pass
    (with its certificate file paths pointed at real files made here)."""
    text = _manifests()["ConfigMap"]["data"]["config.yaml"]
    pattern = re.compile(r"^(\s*)# ((?:security_protocol|sasl_\w+|ssl_\w+): .*)$", re.M)
    assert len(pattern.findall(text)) >= 3, "expected a commented SASL_SSL example under kafka:"
    tree = yaml.safe_load(pattern.sub(r"\1\2", text))
    pki = make_pki(tmp_path / "pki")
    files = {"ssl_cafile": pki.ca, "ssl_certfile": pki.client_cert, "ssl_keyfile": pki.client_key}
    for key, real in files.items():
        if key in tree["kafka"]:
            assert tree["kafka"][key].startswith("/"), key
            tree["kafka"][key] = str(real)
    cfg = _parse(tree, {})
    assert cfg.kafka.security_protocol == "SASL_SSL"
    assert cfg.kafka.sasl_mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    assert "KAFKA_SASL_PASSWORD" in _variables(tree)[0]
    secret_text = (K8S / "secret.yaml").read_text()
    assert "KAFKA_SASL_PASSWORD" in secret_text, "the Secret should show where the SASL password goes"


def test_the_image_installs_the_lock_it_is_given() -> None:
    """The image is pinned as `make install` is: the files it copies pass the
    .dockerignore, and it installs the lock's versions with their hashes."""
    text = (DEPLOY / "Dockerfile").read_text()
    ignore = [line for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if line and not line.startswith("#")]
    copied = [src for i, a in _dockerfile() if i == "COPY" and "--from" not in a for src in a.split()[:-1]]
    for src in copied:
        assert f"!{src.rstrip('/')}" in ignore or f"!{src.rstrip('/')}/" in ignore, f"{src} is not in the build context"
    assert {"uv.lock", "requirements-uv.txt"} <= set(copied)
    assert "uv export --frozen" in text and text.count("--require-hashes") >= 2
