from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def dagbag():
    from airflow.models import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


@pytest.fixture(scope="session")
def dag(dagbag):
    return dagbag.dags["paper_trading_daily"]


@pytest.fixture(autouse=True)
def ledger_connection(request, monkeypatch):
    """The ledger as the Airflow Connection the DAG's data-quality checks use: the test project's
    SQLite file (as `make demo` sets it for the project)."""
    if "project" in request.fixturenames:
        import json

        root = request.getfixturevalue("project")
        monkeypatch.setenv("AIRFLOW_CONN_PAPER_TRADING_LEDGER",
                           json.dumps({"conn_type": "sqlite", "host": str(root / "data" / "ledger.sqlite")}))


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated metadata DB (SQLite) in the test session's throw-away AIRFLOW_HOME."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return os.environ["AIRFLOW_HOME"]
