"""The deployment's docker-compose.yaml and Dockerfile, checked for the structure a distributed
Airflow needs (no Docker here): every component, healthchecks, one JWT secret, volumes that exist,
an image that has the project installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def test_every_airflow_component_postgres_and_redis_are_services(compose):
    assert AIRFLOW_SERVICES | {"postgres", "redis", "airflow-init"} <= set(compose["services"])


def test_the_workers_run_celery_and_can_be_scaled(compose):
    worker = compose["services"]["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert "container_name" not in worker and "ports" not in worker  # `--scale airflow-worker=N` needs both absent
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert worker["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")


@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES | {"postgres", "redis"}))
def test_every_long_running_service_has_a_healthcheck(compose, service):
    check = compose["services"][service]["healthcheck"]
    assert check["test"] and check["interval"] and check["retries"]


def test_one_jwt_secret_and_one_fernet_key_are_shared_by_every_airflow_container(compose):
    secrets = {compose["services"][s]["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for s in AIRFLOW_SERVICES}
    fernet = {compose["services"][s]["environment"]["AIRFLOW__CORE__FERNET_KEY"] for s in AIRFLOW_SERVICES}
    assert len(secrets) == 1 and len(fernet) == 1
    assert re.fullmatch(r"\$\{AIRFLOW_JWT_SECRET:\?.+\}", secrets.pop())  # from .env, required, never a literal


def test_the_ledger_has_a_database_apart_from_airflows_metadata(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airflow")
    assert env["PAPER_TRADING_DB_URL"].endswith("/paper_trading")
    assert '"schema": "paper_trading"' in env["AIRFLOW_CONN_PAPER_TRADING_LEDGER"]
    init = [v for v in compose["services"]["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v][0]
    sql = (ROOT / init.split(":")[0]).read_text()
    assert "CREATE DATABASE paper_trading" in sql


def test_every_bind_mount_exists_in_the_project(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.replace("${AIRFLOW_PROJ_DIR:-.}", ".").split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists() or source in ("./logs",), f"{name}: {source} does not exist"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"


def test_every_airflow_container_runs_the_image_built_with_the_project(compose):
    for name in AIRFLOW_SERVICES | {"airflow-init"}:
        assert compose["services"][name]["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11$", dockerfile, re.M)
    assert "pip install --no-cache-dir -c /opt/paper-trading/constraints.txt /opt/paper-trading" in dockerfile
    assert "COPY --chown=airflow:0 include" in dockerfile


def test_the_image_installs_the_runtime_dependencies_only():
    """The image gets pyproject's `dependencies` under the runtime lock: no `[dev]` extra, no
    requirements file, and no test, lint, benchmark or audit tool in the lock it installs."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and not any("[dev]" in line or " -r " in line or "constraints-dev" in line for line in installs)
    runtime_lock = (ROOT / "constraints.txt").read_text()
    for tool in ("pytest", "hypothesis", "playwright", "pip-audit", "quantstats", "ruff", "mypy", "pre-commit"):
        assert not re.search(rf"^{re.escape(tool)}==", runtime_lock, re.M), f"{tool} is in the runtime lock"


def test_the_simulator_is_a_demo_profile_only(compose):
    sim = compose["services"]["alpaca-sim"]
    assert sim["profiles"] == ["demo"] and "--host" in sim["command"]
    for name in AIRFLOW_SERVICES:
        assert "profiles" not in compose["services"][name]


def test_no_secret_is_committed_with_the_deployment():
    assert not (ROOT / ".env").exists() or ".env" in (ROOT / ".gitignore").read_text().split()
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"^AIRFLOW_JWT_SECRET=$", example, re.M) and re.search(r"^AIRFLOW_FERNET_KEY=$", example, re.M)
