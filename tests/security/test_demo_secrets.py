"""The embedded demo, run as `make demo` runs it, with recognizable fake credentials: afterwards no
log, output, report, ledger, Airflow metadata (XComs, rendered templates, the audit log) or task
log holds them, in any form (tests/security/canary.py).

One project copy, run once for the module, in four ways that between them write every kind of file:
`make demo`'s own command (the DAG in dry mode under `alpaca_sim run`, then the summary it prints),
the day in real mode on the command line (orders, fills, the ledger, the reports; a real run inside
Airflow is the deployment test's, tests/deploy/test_deployment.py), the DAG and the command line with a
wrong secret (a 403: the failure, its alert and its traceback are logged).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.security.canary import (
    CANARY_KEY,
    CANARY_SECRET,
    WRONG_SECRET,
    files_under,
    find_in_text,
    report,
    scan_tree,
)

pytestmark = pytest.mark.airflow

DATE = "2025-12-31"
CLOCK = "2025-12-31T09:45:00-05:00"
BIN = Path(sys.executable).parent


def demo_env(root: Path) -> dict[str, str]:
    """The Makefile's environment for `make demo`, on the project copy, with the canary keys for the
    simulator (and no other Alpaca or Airflow setting of the test session)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "APCA_", "ALPACA_", "PAPER_TRADING"))}
    env.update({
        "PAPER_TRADING_ROOT": str(root),
        "AIRFLOW_HOME": str(root / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW_CONN_PAPER_TRADING_LEDGER": json.dumps({"conn_type": "sqlite", "host": str(root / "data" / "ledger.sqlite")}),
        "ALPACA_SIM_KEY": CANARY_KEY,
        "ALPACA_SIM_SECRET": CANARY_SECRET,
    })
    return env


def under_simulator(*command: str) -> list[str]:
    return [str(BIN / "python"), "-m", "alpaca_sim", "run", "--bars", "data/market/daily_bars.csv", "--clock", CLOCK,
            "--", *command]


def dags_test(mode: str) -> list[str]:
    return [str(BIN / "airflow"), "dags", "test", "paper_trading_daily", "-c", json.dumps({"run_date": DATE, "mode": mode})]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The project copy after the four runs; each run's exit status and console output (kept in
    `.airflow/`, scanned with the rest)."""
    root = tmp_path_factory.mktemp("demo") / "project"
    for part in ("config", "dags", "plugins", "data/raw_signals", "data/mapping", "data/market"):
        shutil.copytree(REPO / part, root / part)
    (root / ".airflow").mkdir()
    env = demo_env(root)

    def run(name: str, command: list[str]) -> int:
        with open(root / ".airflow" / f"{name}.log", "wb") as out:
            return subprocess.run(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=240,
                                  check=False).returncode

    assert run("db-migrate", [str(BIN / "airflow"), "db", "migrate"]) == 0
    started = time.time()
    status = {"demo": run("demo", under_simulator(*dags_test("dry")))}
    status["summary"] = run("summary", [str(BIN / "python"), str(REPO / "scripts" / "demo_summary.py"), "--date", DATE,
                                        "--log", str(root / ".airflow" / "demo.log"), "--status", str(status["demo"]),
                                        "--since", str(started)])
    status["real"] = run("real", under_simulator(str(BIN / "python"), "-m", "paper_trading", "run", "--date", DATE,
                                                 "--mode", "real"))
    wrong = ["env", f"APCA_API_SECRET_KEY={WRONG_SECRET}"]
    status["wrong-dag"] = run("wrong-dag", under_simulator(*wrong, *dags_test("dry")))
    status["wrong-cli"] = run("wrong-cli", under_simulator(*wrong, str(BIN / "python"), "-m", "paper_trading", "run",
                                                           "--date", DATE, "--mode", "dry", "--debug"))
    return root, status


@pytest.fixture(scope="module")
def findings(demo) -> list:
    """Every canary in every file of the project copy after the runs (scanned once)."""
    return scan_tree(demo[0])


def under(findings: list, part: str) -> list:
    return [f for f in findings if f.where.startswith(part)]


def test_the_demo_and_the_real_run_pass_with_the_fake_credentials(demo):
    """The simulator accepts no other keys, so a green run proves they were used."""
    root, status = demo
    assert status["demo"] == 0 and status["summary"] == 0 and status["real"] == 0, (
        status, (root / ".airflow" / "demo.log").read_text()[-3000:], (root / ".airflow" / "real.log").read_text())
    assert (root / "data" / "outputs" / "execution_log.csv").is_file()


def test_a_wrong_secret_is_refused_by_the_simulator(demo):
    root, status = demo
    assert status["wrong-dag"] != 0 and status["wrong-cli"] == 2
    assert "forbidden (check the API key id and secret" in (root / ".airflow" / "wrong-cli.log").read_text()
    assert "task_failed" in (root / "logs" / "alerts.log").read_text()


def test_no_step_log_or_alert_holds_the_credentials(demo, findings):
    root, _ = demo
    assert len(files_under(root / "logs")) >= 8  # a log per step, and alerts.log
    assert not (found := under(findings, "logs/")), report(found)


def test_no_output_report_or_cache_file_holds_the_credentials(demo, findings):
    root, _ = demo
    assert (root / "data" / "reports" / "summary_dashboard.html").is_file()
    assert not (found := under(findings, "data/")), report(found)


def test_the_ledger_holds_no_credentials(demo, findings):
    root, _ = demo
    with sqlite3.connect(root / "data" / "ledger.sqlite") as db:
        assert db.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
    assert not (found := under(findings, "data/ledger.sqlite")), report(found)


def test_no_xcom_rendered_template_or_audit_log_row_of_airflow_holds_the_credentials(demo, findings):
    root, _ = demo
    with sqlite3.connect(root / ".airflow" / "airflow.db") as db:
        for table in ("xcom", "rendered_task_instance_fields", "log", "dag_run", "task_instance"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table
    assert not (found := under(findings, ".airflow/airflow.db")), report(found)


def test_no_task_log_or_console_output_holds_the_credentials(demo, findings):
    """`airflow dags test` writes the task logs to its console output, kept in .airflow/*.log."""
    root, _ = demo
    console = (root / ".airflow" / "demo.log").read_text()
    assert "dry_run_orders" in console and "Task instance state updated" in console
    assert not (found := [f for f in under(findings, ".airflow/") if not f.where.startswith(".airflow/airflow.db")]), \
        report(found)


def test_nothing_anywhere_in_the_project_holds_the_credentials(findings):
    """Every file of the copy, whatever the tests above expect where."""
    assert not findings, report(findings)


def test_the_scan_of_the_demo_would_see_a_planted_credential(demo, tmp_path):
    """The same scan over a copy of the run's Airflow database with one XCom value changed."""
    root, _ = demo
    shutil.copy(root / ".airflow" / "airflow.db", tmp_path / "airflow.db")
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        db.execute("UPDATE xcom SET value = ? WHERE rowid = (SELECT min(rowid) FROM xcom)",
                   (json.dumps({"leak": CANARY_SECRET}).encode(),))
    assert "airflow.db table xcom" in [f.where for f in scan_tree(tmp_path) if f.form == "plain"]
    assert find_in_text((root / ".airflow" / "demo.log").read_text(), "demo.log") == []
