"""Shared fixtures. Airflow's environment is set here, before anything imports airflow, so the
DAG tests use a throw-away AIRFLOW_HOME and never the developer's `.airflow/`."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

REPO = Path(__file__).resolve().parents[1]
BARS = REPO / "data" / "market" / "daily_bars.csv"
#: Tuesday 2025-12-30, 10:00 in New York: the market is open.
OPEN_CLOCK = "2025-12-30T15:00:00Z"
SIM_SETTINGS = {"spread_bps": 2.0, "partial_fill_probability": 0.0, "exit_partial_fill_probability": 0.0,
                "market_buy_collar": 0.025, "seed": 0,
                "rate_limit_per_minute": 100000}

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="pt-airflow-home-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
# Airflow signs its API tokens with HS512; the secret it generates for a new home is shorter than
# the 64 bytes PyJWT asks for (and warns about on every token). Deployments set their own.
os.environ["AIRFLOW__API_AUTH__JWT_SECRET"] = secrets.token_urlsafe(64)
os.environ.pop("PAPER_TRADING_ROOT", None)

# CI runs the property tests on a fixed sequence of examples, so a submission never fails on a
# rare draw that nobody can reproduce; developers get fresh random examples on every run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

#: The test tier of each folder of tests/, a marker (registered in pyproject.toml): `make test-fast` runs
#: the unit tier, `pytest -m cli` (or integration, airflow, deploy, browser) another, `make test` all.
TIERS = {"unit": "unit", "cli": "cli", "integration": "integration", "sim": "integration", "e2e": "integration",
         "security": "integration", "dags": "airflow", "deploy": "deploy", "browser": "browser"}


def pytest_collection_modifyitems(config, items):
    """Mark every test with the tier of its folder; a test in a folder with no tier is an error, so none
    is left out of every tier. Markers set by hand (e.g. `airflow` on tests elsewhere that need it) stay."""
    tests = Path(__file__).parent
    for item in items:
        if not item.path.is_relative_to(tests):
            continue
        folder = item.path.relative_to(tests).parts[0]
        if folder not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests/{folder} has no test tier (TIERS in tests/conftest.py)")
        item.add_marker(TIERS[folder])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's config and sample data in a temporary root."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "data" / "raw_signals", root / "data" / "raw_signals")
    shutil.copytree(REPO / "data" / "mapping", root / "data" / "mapping")
    return root


@pytest.fixture(scope="session")
def sim_server(tmp_path_factory):
    """The Alpaca simulator, one process per test session, on a free loopback port."""
    from alpaca_sim.server import SimServer

    server = SimServer(tmp_path_factory.mktemp("sim") / "sim.db", bars=BARS, clock=OPEN_CLOCK)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sim(sim_server):
    """The simulator, reset for this test: $100,000 cash, no orders, the clock at OPEN_CLOCK, default
    settings (the rate limit raised so tests never wait on it; its own test lowers it)."""
    sim_server.admin("POST", "/sim/reset", {"cash": "100000", "clock": OPEN_CLOCK})
    sim_server.admin("POST", "/sim/config", SIM_SETTINGS)
    return sim_server
