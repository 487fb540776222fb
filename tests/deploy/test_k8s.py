"""Static checks of the Kubernetes layout in deploy/k8s (kustomize base + production overlay).

No cluster is needed. Every manifest is validated offline against the Kubernetes 1.30 API
schemas bundled with `kubernetes-validate` (strict: unknown fields are errors). The
production overlay is rendered by a small Python stand-in for kustomize (resources,
namespace, labels, replicas, images, strategic-merge patches without lists); when
`kubectl` is on PATH, its `kubectl kustomize` output must equal that rendering.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
CONFIG_DOC = ROOT / "docs" / "configuration.md"

K8S_VERSION = "1.30"
SERVICES = {"volunteer": 8001, "dispatch": 8002, "reporting": 8003, "notify": 8004, "pages": 8005}
SETTINGS = "muster-settings"
SECRETS = "muster-secrets"
PLACEHOLDER = "REPLACE_ME"
KUSTOMIZE_API = "kustomize.config.k8s.io/"
# Kinds kustomize leaves without a namespace (only the ones this layout could contain).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}

Mapping = dict[str, Any]
Key = tuple[str, str]


# --------------------------------------------------------------------------- loading


def _load_all(path: Path) -> list[Mapping]:
    with path.open(encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for doc in docs:
        assert isinstance(doc, dict), f"{path.relative_to(ROOT)}: every document must be a mapping"
    return cast("list[Mapping]", docs)


def _load_one(path: Path) -> Mapping:
    docs = _load_all(path)
    assert len(docs) == 1, f"{path.relative_to(ROOT)}: expected exactly one document"
    return docs[0]


def _kustomization(directory: Path) -> Mapping:
    k = _load_one(directory / "kustomization.yaml")
    assert str(k.get("apiVersion", "")).startswith(KUSTOMIZE_API)
    assert k.get("kind") == "Kustomization"
    return k


def _key(obj: Mapping) -> Key:
    return (str(obj["kind"]), str(obj["metadata"]["name"]))


def _base_resources() -> list[Mapping]:
    out: list[Mapping] = []
    for entry in _kustomization(BASE)["resources"]:
        out.extend(_load_all(BASE / entry))
    return out


# --------------------------------------------------------------------------- rendering


def _merge(target: Mapping, patch: Mapping, where: str) -> None:
    """Strategic merge restricted to mappings and scalars (lists would need merge keys)."""
    for k, v in patch.items():
        if isinstance(v, list):
            raise AssertionError(f"{where}: list patches are beyond this test's renderer ({k})")
        if isinstance(v, dict) and isinstance(target.get(k), dict):
            _merge(target[k], v, f"{where}.{k}")
        elif v is None:
            target.pop(k, None)
        else:
            target[k] = v


def _render(directory: Path) -> list[Mapping]:
    k = _kustomization(directory)
    objs: list[Mapping] = []
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        objs.extend(_render(path) if path.is_dir() else _load_all(path))

    for label in k.get("labels", []):
        assert not label.get("includeSelectors")
        assert not label.get("includeTemplates")
        for obj in objs:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])

    for patch_ref in k.get("patches", []):
        patch = _load_one(directory / patch_ref["path"])
        target = patch_ref.get("target", {"kind": patch["kind"], "name": patch["metadata"]["name"]})
        matches = [o for o in objs if _key(o) == (target["kind"], target["name"])]
        assert matches, f"patch {patch_ref['path']} matches no resource"
        for obj in matches:
            if patch.get("$patch") == "delete":
                objs.remove(obj)
            else:
                body = {k2: v for k2, v in patch.items() if k2 not in ("apiVersion", "kind")}
                body["metadata"] = {
                    k2: v for k2, v in body.get("metadata", {}).items() if k2 != "name"
                }
                _merge(obj, body, patch_ref["path"])

    for rep in k.get("replicas", []):
        matches = [
            o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == rep["name"]
        ]
        assert matches, f"replicas entry {rep['name']} matches no Deployment"
        for obj in matches:
            obj["spec"]["replicas"] = rep["count"]

    images = {i["name"]: i for i in k.get("images", [])}
    for obj in objs:
        if obj["kind"] != "Deployment":
            continue
        for c in obj["spec"]["template"]["spec"]["containers"]:
            name = c["image"].split(":", 1)[0]
            if name in images:
                c["image"] = f"{images[name].get('newName', name)}:{images[name]['newTag']}"

    if "namespace" in k:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = k["namespace"]
    return objs


def _by_key(objs: list[Mapping]) -> dict[Key, Mapping]:
    out = {_key(o): o for o in objs}
    assert len(out) == len(objs), "duplicate kind/name in one rendering"
    return out


@pytest.fixture(scope="module")
def base() -> dict[Key, Mapping]:
    return _by_key(_base_resources())


@pytest.fixture(scope="module")
def production() -> dict[Key, Mapping]:
    return _by_key(_render(PRODUCTION))


# --------------------------------------------------------------------------- helpers


def _container(dep: Mapping) -> Mapping:
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return cast("Mapping", containers[0])


def _port_number(container: Mapping, port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert named, f"no container port named {port!r}"
    return cast("int", named[0])


def _env(container: Mapping) -> dict[str, Mapping]:
    return {e["name"]: e for e in container.get("env", [])}


def _secret_values(secret: Mapping) -> dict[str, str]:
    values = {k: str(v) for k, v in (secret.get("stringData") or {}).items()}
    for k, v in (secret.get("data") or {}).items():
        values[k] = base64.b64decode(v).decode("utf-8")
    return values


# --------------------------------------------------------------------------- tests


def test_every_yaml_file_parses_and_base_lists_all_its_files() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert files, "deploy/k8s holds no YAML"
    for path in files:
        for doc in _load_all(path):
            assert "apiVersion" in doc, f"{path.relative_to(ROOT)}"
            assert "kind" in doc, f"{path.relative_to(ROOT)}"
    listed = {BASE / r for r in _kustomization(BASE)["resources"]}
    on_disk = {p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert listed == on_disk, "base/kustomization.yaml resources must list every manifest file"


def test_validator_rejects_unknown_fields() -> None:
    """Guards the check below: strict validation must fail on a misspelt field."""
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": 1, "targtPort": 1}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@pytest.mark.parametrize("rendering", ["base", "production"])
def test_manifests_match_kubernetes_schema(
    rendering: str, base: dict[Key, Mapping], production: dict[Key, Mapping]
) -> None:
    objs = base if rendering == "base" else production
    for key, obj in objs.items():
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{rendering} {key}: {e.message}")


def test_every_service_has_deployment_service_and_pdb(base: dict[Key, Mapping]) -> None:
    for svc in SERVICES:
        for kind in ("Deployment", "Service", "PodDisruptionBudget"):
            assert (kind, svc) in base, f"missing {kind} {svc}"
    assert ("ConfigMap", SETTINGS) in base
    assert ("Secret", SECRETS) in base


@pytest.mark.parametrize("svc", sorted(SERVICES))
def test_deployment(svc: str, base: dict[Key, Mapping]) -> None:
    port = SERVICES[svc]
    dep = base[("Deployment", svc)]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    c = _container(dep)
    assert spec["replicas"] == 2
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert c["image"].split(":", 1)[0] == f"muster-{svc}"

    env = _env(c)
    assert env["MUSTER_HTTP_PORT"]["value"] == str(port)
    if svc != "pages":  # the pages service keeps nothing: it forwards to the others
        assert env["MUSTER_MONGO_DB"]["value"] == f"muster_{svc}"
    assert [p["containerPort"] for p in c["ports"]] == [port]

    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "httpGet" in c["startupProbe"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert _port_number(c, c[probe]["httpGet"]["port"]) == port, probe

    annotations = spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"

    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["runAsGroup"] == 10001
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= c["resources"][kind].keys(), kind

    assert {"configMapRef": {"name": SETTINGS}} in c["envFrom"]
    refs = {
        name: e["valueFrom"]["secretKeyRef"]
        for name, e in env.items()
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(refs) == {"MUSTER_JWT_SECRET", "MUSTER_PII_PEPPER"}
    secret_keys = set(_secret_values(base[("Secret", SECRETS)]))
    for name, ref in refs.items():
        assert ref["name"] == SECRETS, name
        assert ref["key"] in secret_keys, name


@pytest.mark.parametrize("svc", sorted(SERVICES))
def test_service_and_pdb_select_the_pods(svc: str, base: dict[Key, Mapping]) -> None:
    dep = base[("Deployment", svc)]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    service = base[("Service", svc)]
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (sport,) = service["spec"]["ports"]
    assert sport["port"] == SERVICES[svc]
    assert _port_number(_container(dep), sport["targetPort"]) == SERVICES[svc]
    pdb = base[("PodDisruptionBudget", svc)]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_every_setting_is_documented(
    base: dict[Key, Mapping], production: dict[Key, Mapping]
) -> None:
    documented = set(re.findall(r"`(MUSTER_[A-Z0-9_]+)`", CONFIG_DOC.read_text(encoding="utf-8")))
    used: set[str] = set()
    for objs in (base, production):
        for (kind, _), obj in objs.items():
            if kind in ("ConfigMap", "Secret"):
                used |= set(obj.get("data") or {}) | set(obj.get("stringData") or {})
            if kind == "Deployment":
                used |= set(_env(_container(obj)))
    assert used
    assert used <= documented, sorted(used - documented)


def test_secrets_hold_placeholders_only(production: dict[Key, Mapping]) -> None:
    secrets = [d for p in K8S.rglob("*.yaml") for d in _load_all(p) if d["kind"] == "Secret"]
    assert secrets
    for secret in secrets:
        if secret.get("$patch") == "delete":
            continue
        values = _secret_values(secret)
        assert values, "a Secret template should list its keys"
        for key, value in values.items():
            assert value.startswith(PLACEHOLDER), f"{key} must be a {PLACEHOLDER} placeholder"
    # Production must not overwrite the real Secret with the placeholder one.
    assert not [k for k in production if k[0] == "Secret"]


def test_production_overlay_references(base: dict[Key, Mapping]) -> None:
    k = _kustomization(PRODUCTION)
    assert "../../base" in k["resources"]
    for entry in k["resources"]:
        assert (PRODUCTION / entry).exists(), entry
    for patch_ref in k["patches"]:
        path = PRODUCTION / patch_ref["path"]
        assert path.is_file(), patch_ref["path"]
        patch = _load_one(path)
        key = _key(patch)
        assert key in base, f"{patch_ref['path']} targets {key}, not in base"
        target = patch_ref.get("target")
        if target is not None:
            assert (target["kind"], target["name"]) == key, patch_ref["path"]
    for rep in k["replicas"]:
        assert ("Deployment", rep["name"]) in base, rep["name"]
    base_images = {
        _container(o)["image"].split(":", 1)[0]
        for (kind, _), o in base.items()
        if kind == "Deployment"
    }
    assert {i["name"] for i in k["images"]} == base_images


def test_production_rendering(production: dict[Key, Mapping], base: dict[Key, Mapping]) -> None:
    settings = production[("ConfigMap", SETTINGS)]["data"]
    assert settings["MUSTER_TOPIC_PARTITIONS"] == "24"
    assert settings["MUSTER_TOPIC_REPLICATION"] == "3"
    assert settings["MUSTER_STORE_PROFILE"] == "mongodb"  # plain in-place updates
    base_settings = base[("ConfigMap", SETTINGS)]["data"]
    for name in ("MUSTER_KAFKA_BOOTSTRAP", "MUSTER_MONGO_URL"):
        assert settings[name] != base_settings[name], f"{name} should point outside the cluster"
    for svc in SERVICES:
        dep = production[("Deployment", svc)]
        assert dep["spec"]["replicas"] == 3
        image = _container(dep)["image"]
        assert "/" in image, image
        assert not image.endswith(":local"), image
    assert {
        o["metadata"].get("namespace") for k, o in production.items() if k[0] != "Namespace"
    } == {"muster"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not on PATH")
@pytest.mark.parametrize("directory", [BASE, PRODUCTION], ids=["base", "production"])
def test_python_rendering_matches_kubectl_kustomize(directory: Path) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rendered = _by_key([d for d in yaml.safe_load_all(out.stdout) if d is not None])
    assert rendered == _by_key(_render(directory))
