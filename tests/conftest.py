"""Shared fixtures. Airflow's environment is set here, before anything imports airflow, so the
DAG tests use a throw-away AIRFLOW_HOME and never the developer's `.airflow/`."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="pt-airflow-home-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("PAPER_TRADING_ROOT", None)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config and sample data in a temporary root."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "data" / "raw_signals", root / "data" / "raw_signals")
    shutil.copytree(REPO / "data" / "mapping", root / "data" / "mapping")
    return root
