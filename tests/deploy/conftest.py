"""One deployed Airflow per test module (starting one costs ~30 s): the api-server, scheduler,
dag-processor, triggerer and a Celery worker as processes on PostgreSQL and Redis, the DAG on a
project of the module's own, the simulator as the broker (reached through the `alpaca` Connection),
with the recognizable fake credentials of tests/security/canary.py (test_deployment.py looks for them
everywhere a run leaves something)."""

from __future__ import annotations

import json
import shutil
import socket

import pytest
import requests

from tests.conftest import BARS, OPEN_CLOCK, REPO, SIM_SETTINGS
from tests.deploy.cluster import AirflowCluster
from tests.postgres import REQUIRED, admin_connection
from tests.security.canary import CANARY_KEY, CANARY_SECRET

DAG_ID = "paper_trading_daily"
#: The simulator's clock only moves forward: the module's first trading day, 09:45 in New York.
FIRST_DAY_OPEN = "2025-12-26T14:45:00Z"


def redis_ping() -> None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(16).startswith(b"+PONG")
    except (OSError, AssertionError) as exc:
        if REQUIRED:
            pytest.fail(f"Redis is not reachable at 127.0.0.1:6379 ({exc}); the deployment tests must run in CI",
                        pytrace=False)
        pytest.skip(f"Redis is not reachable at 127.0.0.1:6379 ({exc})")


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory):
    """The simulator of the deployment tests (one per test session, like tests/conftest.py's), with
    the fake credentials: they reach Airflow as the `alpaca` Connection's login and password."""
    from alpaca_sim.server import SimServer

    with SimServer(tmp_path_factory.mktemp("deploy-sim") / "sim.db", bars=BARS, clock=OPEN_CLOCK, key=CANARY_KEY,
                   secret=CANARY_SECRET) as server:
        yield server


@pytest.fixture(scope="module")
def deploy_project(tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy") / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    config = root / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.2")
                      .replace("approval_timeout_minutes: 60", "approval_timeout_minutes: 0.2")
                      .replace("lock_lease_s: 180", "lock_lease_s: 15"))
    return root


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory, deploy_project, sim_server):
    """The module's cluster; a module may add Airflow settings with a `CLUSTER_ENV` dict (e.g. a
    shorter scheduler loop sleep)."""
    admin_connection().close()
    redis_ping()
    host, port = sim_server.url.removeprefix("http://").split(":")
    alpaca = {"conn_type": "http", "login": sim_server.key, "password": sim_server.secret, "host": host,
              "port": int(port), "schema": "http"}
    airflow = AirflowCluster(tmp_path_factory.mktemp("airflow"), deploy_project, executor="CeleryExecutor",
                             extra_env={"AIRFLOW_CONN_ALPACA": json.dumps(alpaca),
                                        **getattr(request.module, "CLUSTER_ENV", {})})
    try:
        airflow.start()
        airflow.wait_for_dag(DAG_ID)
        yield airflow
    finally:
        airflow.stop()


@pytest.fixture(scope="module")
def broker_state(sim_server):
    """The simulator reset once for the module: its tests run days in order on one account, as
    production does (a reset between them would be drift for the ledger)."""
    sim_server.admin("POST", "/sim/reset", {"cash": "100000", "clock": FIRST_DAY_OPEN})
    sim_server.admin("POST", "/sim/config", SIM_SETTINGS)
    return sim_server


@pytest.fixture
def market(broker_state):
    """The simulator's clock set by the test: `market("2025-12-31T14:45:00Z")`."""
    sim_server = broker_state

    def at(clock: str):
        sim_server.admin("POST", "/sim/clock", {"to": clock})
        return sim_server

    return at


def at_broker(sim) -> list[dict]:
    got = requests.get(f"{sim.url}/v2/orders", params={"status": "all", "limit": 500}, headers=sim.headers, timeout=10)
    got.raise_for_status()
    return got.json()


def ledger_rows(cluster, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{cluster.ledger_db}") as conn:
        return conn.execute(sql).fetchall()

