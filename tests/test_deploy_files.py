"""The production setup in docs/deploy/ names only real settings and a consistent shape.

No Docker or Kubernetes runs here: the compose file, the Helm values and the Dockerfile are
read as text and YAML and checked against the code they configure — the settings registry,
Airflow's configuration options, the installed Airflow version, the DAG's pools and the dev
cluster's environment (devtools/cluster.py), which the cluster tests run for real.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from core import settings
from devtools.cluster import PORTS, Cluster
from hpt.airflow_pools import POOLS

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "docs" / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
HELM = DEPLOY / "helm-values.yaml"
HELM_K8S = DEPLOY / "helm-values-kubernetes.yaml"
K8S_EXTRA = DEPLOY / "k8s-extra.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
PRODUCTION = ROOT / "docs" / "production.md"
# Every file that names settings: the YAML, the Dockerfile, the .env template and the page.
NAMING = [COMPOSE, HELM, HELM_K8S, K8S_EXTRA, DOCKERFILE, DEPLOY / "env.example", PRODUCTION]
AIRFLOW_VERSION = importlib.metadata.version("apache-airflow")
# The dev cluster's Airflow variables that only concern loopback ports on one machine.
DEV_ONLY = {
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__API__WORKERS",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL",
}
SERVICES = {"postgres", "redis", "minio", "minio-bucket", "airflow-init", "scheduler",
            "dag-processor", "api-server", "warehouse-worker", "worker", "dashboard"}  # fmt: skip


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _compose() -> dict[str, Any]:
    return dict(_load(COMPOSE))


def _text(paths: list[Path]) -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


@cache
def _airflow_options() -> dict[str, set[str]]:
    """Airflow's configuration options (its providers' included), section → keys: read in a
    child process with a throwaway AIRFLOW_HOME, since importing Airflow's configuration
    creates one."""
    code = (
        "import json\n"
        "from airflow.configuration import retrieve_configuration_description as d\n"
        "print(json.dumps({s: sorted(v['options']) for s, v in d().items()}))\n"
    )
    home = Path(os.environ.get("TMPDIR", "/tmp")) / f"hpt-deploy-airflow-{os.getpid()}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "AIRFLOW_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {section: set(keys) for section, keys in json.loads(done.stdout).items()}


def _is_option(section: str, key: str) -> bool:
    return key.lower() in _airflow_options().get(section.lower(), set())


def test_the_files_parse() -> None:
    for path in (COMPOSE, HELM, HELM_K8S):
        assert isinstance(_load(path), dict), path
    kinds = [doc["kind"] for doc in yaml.safe_load_all(K8S_EXTRA.read_text(encoding="utf-8"))]
    assert kinds == ["PersistentVolumeClaim", "StatefulSet", "Deployment", "Service"]


def test_every_hpt_variable_is_a_setting() -> None:
    named = set(re.findall(r"\bHPT_[A-Z0-9_]*[A-Z0-9]\b", _text(NAMING)))
    assert named, "no HPT_* variable found"
    assert named - settings.names() == set(), "not settings of core/settings.py"


def test_every_airflow_variable_is_an_airflow_option() -> None:
    named = set(re.findall(r"\bAIRFLOW__([A-Z0-9_]+?)__([A-Z0-9_]+)\b", _text(NAMING)))
    assert len(named) > 10
    unknown = {f"AIRFLOW__{s}__{k}" for s, k in named if not _is_option(s, k)}
    assert unknown == set(), f"not options of Airflow {AIRFLOW_VERSION}"


def test_the_charts_config_keys_are_airflow_options() -> None:
    for path in (HELM, HELM_K8S):
        config = _load(path)["config"]
        unknown = [f"[{s}] {k}" for s, keys in config.items() for k in keys if not _is_option(s, k)]
        assert unknown == [], path.name


def test_the_image_is_the_locked_airflow() -> None:
    pinned = re.search(r'"apache-airflow==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned and pinned.group(1) == AIRFLOW_VERSION
    base = re.search(r"^ARG AIRFLOW_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert base and base.group(1) == f"apache/airflow:{AIRFLOW_VERSION}-python3.11"
    image = _compose()["x-airflow-common"]["image"]
    assert image.endswith(f"hpt-airflow:{AIRFLOW_VERSION}}}")
    helm = _load(HELM)
    assert helm["airflowVersion"] == helm["defaultAirflowTag"] == AIRFLOW_VERSION
    assert str(helm["images"]["airflow"]["tag"]).startswith(f"{AIRFLOW_VERSION}-")
    for extra in list(yaml.safe_load_all(K8S_EXTRA.read_text()))[1:3]:  # warehouse, dashboard
        [container] = extra["spec"]["template"]["spec"]["containers"]
        assert container["image"].endswith(f":{helm['images']['airflow']['tag']}")


def test_the_dockerfile_installs_the_lock() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^COPY pyproject\.toml uv\.lock \./$", text, re.MULTILINE)
    assert "uv export --frozen --no-dev --no-emit-project --format requirements.txt" in text
    assert "pip install --no-cache-dir --require-hashes -r /opt/hpt/requirements.txt" in text
    assert "pip install --no-cache-dir --no-deps /opt/hpt" in text  # the project, unresolved
    assert "COPY --chown=airflow:root dags /opt/hpt/dags" in text
    for package in ("core", "ingest", "transform", "quality", "warehouse", "dashboard", "hpt"):
        assert f"COPY --chown=airflow:root {package} /opt/hpt/{package}\n" in text


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not installed")
def test_the_dockerfiles_export_of_the_lock_runs(tmp_path: Path) -> None:
    out = tmp_path / "requirements.txt"
    subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--no-emit-project",
         "--format", "requirements.txt", "-o", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    requirements = out.read_text()
    assert f"\napache-airflow=={AIRFLOW_VERSION} \\\n    --hash=sha256:" in requirements
    assert "\npytest==" not in requirements  # no dev dependency in the image


def _pool_constants() -> set[str]:
    tree = ast.parse((ROOT / "dags" / "hpt_nightly.py").read_text())
    return {
        str(node.value.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and any(isinstance(t, ast.Name) and t.id.endswith("_POOL") for t in node.targets)
    }


def test_the_pools_of_the_page_are_the_dags() -> None:
    dag_pools = _pool_constants()
    assert dag_pools == set(POOLS)
    documented = set(re.findall(r"^\| `(hpt_[a-z_]+)` \| `HPT_AIRFLOW_", PRODUCTION.read_text(),
                                re.MULTILINE))  # fmt: skip
    assert documented == dag_pools


def test_the_compose_services() -> None:
    services = _compose()["services"]
    assert set(services) == SERVICES
    commands = {name: services[name].get("command") for name in services}
    assert commands["scheduler"] == "scheduler"
    assert commands["dag-processor"] == "dag-processor"
    assert commands["api-server"] == "api-server"
    assert commands["worker"] == "celery worker --queues default"
    assert commands["warehouse-worker"] == "celery worker --queues default,hpt_warehouse"
    assert services["warehouse-worker"]["deploy"]["replicas"] == 1
    assert commands["dashboard"][:2] == ["hpt", "dashboard"]
    init = "\n".join(commands["airflow-init"])
    assert "airflow db migrate" in init and "python -m hpt.airflow_pools" in init
    assert 'rows(os.environ["HPT_CATALOG"]' in init  # the shared catalog's database
    assert isinstance(services["worker"]["deploy"]["replicas"], str | int)
    assert re.search(r"^x-airflow-env: &airflow-env$", COMPOSE.read_text(), re.MULTILINE)


def test_each_dependency_waits_for_health_or_completion() -> None:
    services = _compose()["services"]
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"minio-bucket", "airflow-init"}
    for name, service in services.items():
        if name not in one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for target, how in depends.items():
            expected = "service_completed_successfully" if target in one_shot else "service_healthy"
            assert how == {"condition": expected}, f"{name} → {target}"


def test_compose_sets_what_the_dev_cluster_sets() -> None:
    """The same Airflow and pipeline variables as `make cluster`, pointing at the services."""
    with mock.patch.dict(os.environ, clear=True):  # only what the cluster sets itself
        dev = Cluster("/tmp/hpt-dev", dict(PORTS), "sources.csv").airflow_env()
    env = _compose()["services"]["worker"]["environment"]
    wanted = {name for name in dev if name.startswith(("AIRFLOW__", "HPT_", "AWS_"))} - DEV_ONLY
    assert wanted - set(env) == set()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://api-server:8080/execution/"
    assert env["HPT_STORAGE"].startswith("s3://")
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    # The catalog in PostgreSQL, the data and the landing area on the object store: the
    # ordinary workers and the dashboard mount no volume; only the warehouse host keeps one,
    # for its catalog file. Scratch on each container's own disk.
    services = _compose()["services"]
    assert env["HPT_CATALOG"].startswith("postgresql://airflow:")
    assert env["HPT_CATALOG"].endswith("@postgres:5432/hpt")
    assert env["HPT_AIRFLOW_WAREHOUSE_QUEUE"] == "hpt_warehouse"
    for name in ("worker", "dashboard"):
        assert services[name]["volumes"] == [], name
        assert services[name]["environment"]["HPT_CATALOG"] == env["HPT_CATALOG"], name
    warehouse = services["warehouse-worker"]
    assert warehouse["environment"] == env
    assert warehouse["volumes"] == ["hpt-warehouse:/data"]
    assert env["HPT_DB"].startswith("/data/")  # the catalog file: on the warehouse volume
    assert env["HPT_LANDING"].startswith("s3://")  # downloads: on the object store
    assert not env["HPT_WORK_DIR"].startswith("/data/")


def test_no_trust_and_no_secret_in_the_files() -> None:
    services = _compose()["services"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in services["postgres"]["environment"]
    assert "--requirepass" in services["redis"]["command"]
    for name in ("postgres", "redis", "minio"):
        assert "ports" not in services[name], f"{name} is published"
    for name in ("api-server", "dashboard"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"])
    env = services["worker"]["environment"]
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY",
                 "AIRFLOW__API_AUTH__JWT_SECRET", "AWS_SECRET_ACCESS_KEY"):  # fmt: skip
        assert env[name].startswith("${") and ":?" in env[name], name


def test_the_chart_values() -> None:
    helm, k8s = _load(HELM), _load(HELM_K8S)
    assert helm["executor"] == "CeleryExecutor" and k8s["executor"] == "KubernetesExecutor"
    assert helm["postgresql"]["enabled"] is False and helm["data"]["metadataSecretName"]
    assert helm["redis"]["enabled"] is True and k8s["redis"]["enabled"] is False
    assert isinstance(helm["workers"]["replicas"], int) and helm["workers"]["resources"]
    assert "python -m hpt.airflow_pools" in helm["migrateDatabaseJob"]["args"][-1]
    names = {e["name"] for e in helm["env"]} | {s["envName"] for s in helm["secret"]}
    assert {"HPT_CATALOG", "HPT_AIRFLOW_WAREHOUSE_QUEUE", "HPT_LANDING", "HPT_STORAGE",
            "AWS_ACCESS_KEY_ID"} <= names  # fmt: skip
    # Celery: the chart's workers (queue `default`) mount no shared volume; the warehouse
    # worker beside the chart serves both queues and alone mounts the catalog file's volume.
    assert "HPT_DB" not in names
    assert "extraVolumes" not in helm["workers"] and "extraVolumeMounts" not in helm["workers"]
    claim, warehouse, dashboard, _ = yaml.safe_load_all(K8S_EXTRA.read_text())
    assert warehouse["spec"]["replicas"] == 1
    pod = warehouse["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["args"] == ["celery", "worker", "--queues", "default,hpt_warehouse"]
    env = {e["name"]: e for e in container["env"]}
    assert env["HPT_DB"]["value"].startswith("/data/")
    assert env["HPT_AIRFLOW_WAREHOUSE_QUEUE"]["value"] == "hpt_warehouse"
    assert env["HPT_CATALOG"]["valueFrom"]["secretKeyRef"]["name"] == "hpt-catalog"
    [volume] = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    [reader] = dashboard["spec"]["template"]["spec"]["containers"]
    assert "volumes" not in dashboard["spec"]["template"]["spec"]
    assert "HPT_CATALOG" in {e["name"] for e in reader["env"]}
    # KubernetesExecutor: no queues, every task pod mounts the catalog file's volume.
    [volume] = k8s["workers"]["extraVolumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert k8s["workers"]["extraVolumeMounts"][0]["mountPath"] == "/data"


def test_the_page_is_linked() -> None:
    assert "(production.md)" in (ROOT / "docs" / "README.md").read_text()
    assert "(docs/production.md)" in (ROOT / "README.md").read_text()
    assert "[scaling.md](scaling.md)" in PRODUCTION.read_text()
