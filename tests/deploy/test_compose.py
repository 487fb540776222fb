"""Static checks of the container deployment: deploy/compose.yaml and deploy/docker/Dockerfile.

No Docker engine is needed. When Debian's `docker-compose` (1.29) or the `docker compose`
plugin is on PATH, the compose file is also validated by it (`config -q`); otherwise that
part is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
DOCKERFILE_REL = "deploy/docker/Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

PYTHON_SERVICES = {
    "volunteer": 8001, "dispatch": 8002, "reporting": 8003, "notify": 8004, "pages": 8005,
}  # fmt: skip
INFRA_SERVICES = {"kafka", "mongo"}
# Secrets have no defaults: `${VAR:?message}` makes compose refuse to start without them.
REQUIRED = re.compile(r"^\$\{(MUSTER_[A-Z_]+):\?[^}]+\}$")
SECRETS_FOR_CONFIG = {
    "MUSTER_JWT_SECRET": "a-test-secret-0123456789",
    "MUSTER_PII_PEPPER": "a-test-pepper-0123456789",
    # Not secrets, but required all the same: where volunteers sign in and what phones open.
    "MUSTER_OIDC_ISSUER": "https://idp.example",
    "MUSTER_VOLUNTEER_PAGE_URL": "https://muster.example",
}

Mapping = dict[str, Any]


def _required_variable(value: str) -> str | None:
    """The variable a `${VAR:?message}` value requires, or None."""
    match = REQUIRED.match(value)
    return match.group(1) if match else None


@pytest.fixture(scope="module")
def compose() -> Mapping:
    # PyYAML is typed as Any here, so no stubs are needed; it is skipped only if absent.
    yaml = pytest.importorskip("yaml")
    with COMPOSE_FILE.open(encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert isinstance(data, dict), "compose file must be a mapping"
    return cast("Mapping", data)


@pytest.fixture(scope="module")
def services(compose: Mapping) -> Mapping:
    svcs = compose.get("services")
    assert isinstance(svcs, dict), "compose file has no services mapping"
    return cast("Mapping", svcs)


@pytest.fixture(scope="module")
def dockerfile() -> str:
    assert DOCKERFILE.is_file(), f"missing {DOCKERFILE_REL}"
    return DOCKERFILE.read_text(encoding="utf-8")


def _logical_lines(text: str) -> list[str]:
    """Dockerfile instructions with backslash continuations joined and comments dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    if current:
        lines.append(current)
    return lines


def _env(service: Mapping) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        return dict(str(item).split("=", 1) for item in env)
    assert isinstance(env, dict)
    return {str(k): str(v) for k, v in env.items()}


def _host_ports(service: Mapping) -> list[int]:
    ports: list[int] = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            ports.append(int(entry["published"]))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) >= 2:  # [ip:]host:container; a bare container port publishes nothing fixed
            ports.append(int(parts[-2]))
    return ports


def _healthcheck_test(service: Mapping) -> str:
    check = service.get("healthcheck")
    assert isinstance(check, dict), "no healthcheck"
    assert not check.get("disable", False), "healthcheck disabled"
    test = check.get("test")
    assert test, "healthcheck has no test"
    assert test != ["NONE"], "healthcheck disabled"
    return " ".join(test) if isinstance(test, list) else str(test)


# ----------------------------------------------------------------------------- compose


def test_compose_has_every_service(services: Mapping) -> None:
    assert set(services) == INFRA_SERVICES | set(PYTHON_SERVICES)


def test_infrastructure_uses_official_images(services: Mapping) -> None:
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["mongo"]["image"] == "mongo:7"


@pytest.mark.parametrize(("name", "port"), sorted(PYTHON_SERVICES.items()))
def test_python_service_is_built_from_the_shared_dockerfile(
    services: Mapping, name: str, port: int
) -> None:
    build = services[name]["build"]
    assert isinstance(build, dict), f"{name}: build must be a mapping with context and args"
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT, f"{name}: build context must be the workspace root"
    assert build["dockerfile"] == DOCKERFILE_REL
    assert (context / build["dockerfile"]).is_file()
    args = build["args"]
    assert isinstance(args, dict), f"{name}: build args must be a mapping"
    assert args == {"SERVICE": name}


@pytest.mark.parametrize("name", sorted(PYTHON_SERVICES))
def test_python_service_waits_for_healthy_kafka_and_mongo(services: Mapping, name: str) -> None:
    depends = services[name]["depends_on"]
    assert isinstance(depends, dict), f"{name}: depends_on needs the long form with conditions"
    for infra in sorted(INFRA_SERVICES):
        assert depends.get(infra) == {"condition": "service_healthy"}, f"{name} -> {infra}"


@pytest.mark.parametrize(("name", "port"), sorted(PYTHON_SERVICES.items()))
def test_python_service_environment(services: Mapping, name: str, port: int) -> None:
    service = services[name]
    env = _env(service)
    assert env["MUSTER_HTTP_PORT"] == str(port)
    assert env["MUSTER_HTTP_HOST"] == "0.0.0.0"  # the settings default (loopback) is unreachable
    assert env["MUSTER_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["MUSTER_MONGO_URL"].startswith("mongodb://mongo:27017")
    assert env["MUSTER_STORE_PROFILE"] == "mongodb"  # the store is MongoDB: plain updates
    if name != "pages":  # the pages service keeps nothing: it forwards to the others
        assert env["MUSTER_MONGO_DB"] == f"muster_{name}"
    assert _required_variable(env["MUSTER_JWT_SECRET"]) == "MUSTER_JWT_SECRET"
    # It keys the stored Idempotency-Keys of every service.
    assert _required_variable(env["MUSTER_PII_PEPPER"]) == "MUSTER_PII_PEPPER"
    assert env["MUSTER_TOPIC_PREFIX"] == "${MUSTER_TOPIC_PREFIX:-muster}"
    assert _host_ports(service) == [port]
    assert service.get("restart") in {"always", "unless-stopped", "on-failure"}


def test_the_volunteer_service_requires_its_key_file(compose: Mapping, services: Mapping) -> None:
    env = _env(services["volunteer"])
    assert env["MUSTER_KEK_FILE"] == "/run/secrets/volunteer-kek"
    assert services["volunteer"]["secrets"] == ["volunteer-kek"]
    key_file = compose["secrets"]["volunteer-kek"]["file"]
    assert _required_variable(key_file) == "MUSTER_VOLUNTEER_KEK_FILE"


def test_every_service_has_a_healthcheck(services: Mapping) -> None:
    for name, service in services.items():
        test = _healthcheck_test(service)
        if name in PYTHON_SERVICES:
            assert "/healthz" in test, name
        assert service.get("restart"), f"{name}: no restart policy"


def test_kafka_is_single_node_kraft(services: Mapping, compose: Mapping) -> None:
    kafka = services["kafka"]
    env = _env(kafka)
    assert env["KAFKA_NODE_ID"] == "1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] == "CONTROLLER"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == "1", key
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in _healthcheck_test(kafka)
    assert _named_volume_targets(kafka, compose) == {"/var/lib/kafka/data"}
    assert env["KAFKA_LOG_DIRS"] == "/var/lib/kafka/data"


def test_mongo_has_ping_healthcheck_and_volume(services: Mapping, compose: Mapping) -> None:
    mongo = services["mongo"]
    test = _healthcheck_test(mongo)
    assert "mongosh" in test
    assert "ping" in test
    assert _named_volume_targets(mongo, compose) == {"/data/db"}


def _named_volume_targets(service: Mapping, compose: Mapping) -> set[str]:
    declared = compose.get("volumes") or {}
    targets: set[str] = set()
    for entry in service.get("volumes", []):
        source, target = str(entry).split(":")[:2]
        assert source in declared, f"volume {source!r} is not a declared named volume"
        targets.add(target)
    return targets


def test_published_host_ports_are_unique(services: Mapping) -> None:
    ports = [port for service in services.values() for port in _host_ports(service)]
    assert len(ports) == len(set(ports)), f"duplicate host ports: {sorted(ports)}"


def test_shared_config_uses_extension_fields(compose: Mapping) -> None:
    assert any(key.startswith("x-") for key in compose), "shared service config should be an x-"


# ----------------------------------------------------------------------------- Dockerfile


def test_dockerfile_syncs_frozen_with_uv(dockerfile: str) -> None:
    syncs = [line for line in _logical_lines(dockerfile) if "uv sync" in line]
    assert syncs, "Dockerfile never runs uv sync"
    for line in syncs:
        assert "--frozen" in line, line
        assert "--no-dev" in line, line
        assert '--package "muster-${SERVICE}"' in line, line
        assert "--mount=type=cache" in line, line


def test_dockerfile_binds_every_workspace_member(dockerfile: str) -> None:
    """The dependency layer needs each member's pyproject.toml; a new member must be added."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = pyproject["tool"]["uv"]["workspace"]["members"]
    assert members
    copies = {line.split()[1] for line in _logical_lines(dockerfile) if line.startswith("COPY ")}
    for member in members:
        assert f"source={member}/pyproject.toml" in dockerfile, member
        assert member.split("/")[0] in copies, f"{member} sources are not copied"


def test_dockerfile_runtime_shape(dockerfile: str) -> None:
    lines = _logical_lines(dockerfile)
    froms = [line for line in lines if line.startswith("FROM ")]
    assert any("python:3.11-slim" in line for line in lines if line.startswith("ARG "))
    assert froms[-1] == "FROM service-${SERVICE}"
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER: the service would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    health = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert health, "no HEALTHCHECK"
    assert "urllib.request" in health[-1]
    assert "/healthz" in health[-1]


@pytest.mark.parametrize(("name", "port"), sorted(PYTHON_SERVICES.items()))
def test_dockerfile_service_stage(dockerfile: str, name: str, port: int) -> None:
    stage = re.search(
        rf"^FROM runtime AS service-{name}\n(?P<body>(?:(?!FROM ).*\n)*)", dockerfile, re.M
    )
    assert stage, f"no service-{name} stage"
    body = stage["body"]
    assert f"EXPOSE {port}" in body
    assert f"MUSTER_HTTP_PORT={port}" in body
    assert f'CMD ["python", "-m", "muster_{name}"]' in body


def test_dockerignore_keeps_local_state_out() -> None:
    assert DOCKERIGNORE.is_file(), "missing .dockerignore at the workspace root"
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".state", ".git", "**/__pycache__"):
        assert required in patterns, required
    for needed in ("pyproject.toml", "uv.lock", "contracts", "libs", "services"):
        assert needed not in patterns, f"{needed} is needed by the build"


# ----------------------------------------------------------------------------- real validators


def test_docker_compose_v1_accepts_the_file() -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (apt-get install -y docker-compose)")
    _run_config([exe])


def test_docker_compose_plugin_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed")
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not installed")
    _run_config([docker, "compose"])


def _run_config(command: list[str]) -> None:
    def config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
        )

    bare = {k: v for k, v in os.environ.items() if k not in SECRETS_FOR_CONFIG}
    bare.pop("MUSTER_VOLUNTEER_KEK_FILE", None)
    with tempfile.NamedTemporaryFile() as key_file:
        given = bare | SECRETS_FOR_CONFIG | {"MUSTER_VOLUNTEER_KEK_FILE": key_file.name}
        result = config(given)
        assert result.returncode == 0, f"{command} config failed:\n{result.stdout}\n{result.stderr}"
        for missing in [*SECRETS_FOR_CONFIG, "MUSTER_VOLUNTEER_KEK_FILE"]:
            refused = config({k: v for k, v in given.items() if k != missing})
            assert refused.returncode != 0, f"{command} started without {missing}"
            assert missing in refused.stderr + refused.stdout, missing
