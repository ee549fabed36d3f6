"""The deployment keeps the broker's credentials to itself. The `alpaca` Connection holds recognizable
fake ones (conftest.py; the simulator accepts only them); after a real run with a person's approval
on the cluster, nothing an operator can read holds them in any form (tests/security/canary.py):
through the REST API every task instance (rendered template fields included), XCom entry, task log
of every try, the approval's details, the run and the audit log; on disk every log of every
component and task, the project's files and the simulator's log; in PostgreSQL every row of the
metadata and ledger databases."""

from __future__ import annotations

import json
import subprocess
from urllib.parse import quote

import pytest
import requests

from tests.deploy.conftest import DAG_ID, FIRST_DAY_OPEN, at_broker
from tests.deploy.test_deployment import answer, wait_for_state
from tests.security.canary import files_under, find_in_text, report, scan_file, scan_tree

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def run_id(cluster, broker_state):
    """One real run of the module's first trading day, approved through the REST API."""
    broker_state.admin("POST", "/sim/clock", {"to": FIRST_DAY_OPEN})
    run = cluster.trigger(DAG_ID, {"run_date": FIRST_DAY_OPEN[:10], "mode": "real", "require_approval": True})
    wait_for_state(cluster, run, "approve_orders", "awaiting_input")
    answer(cluster, run, "Approve")
    finished = cluster.wait_for_run(DAG_ID, run)
    assert finished["state"] == "success", f"{cluster.task_states(DAG_ID, run)}\n{cluster.tails()}"
    return run


def get(cluster, path: str, **params) -> requests.Response:
    got = requests.get(f"{cluster.url}/api/v2{path}", params=params or None, timeout=30,
                       headers={"Authorization": f"Bearer {cluster.token}", "Accept": "application/json"})
    assert got.ok, f"GET {path}: {got.status_code} {got.text[:300]}"
    return got


def scanned(responses: dict[str, requests.Response]) -> list:
    return [f for where, r in responses.items() for f in find_in_text(r.text, where)]


def test_the_run_used_the_fake_credentials(run_id, broker_state):
    """The simulator accepts no other keys: orders placed prove the Connection's were used."""
    assert [o for o in at_broker(broker_state) if o["client_order_id"].startswith("pt-20251226-")]


def test_no_task_instance_or_rendered_field_holds_the_credentials(cluster, run_id):
    base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
    tis = get(cluster, base, limit=100).json()["task_instances"]
    responses = {f"GET {base}/{ti['task_id']}": get(cluster, f"{base}/{ti['task_id']}") for ti in tis}
    rendered = [r.json()["rendered_fields"] for r in responses.values()]
    assert len(tis) >= 14 and any(rendered)  # the approval's subject and body are templates
    assert not (found := scanned(responses)), report(found)


def test_no_xcom_entry_holds_the_credentials(cluster, run_id):
    base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
    responses = {}
    for ti in get(cluster, base, limit=100).json()["task_instances"]:
        for entry in get(cluster, f"{base}/{ti['task_id']}/xcomEntries", limit=100).json()["xcom_entries"]:
            path = f"{base}/{ti['task_id']}/xcomEntries/{quote(entry['key'])}"
            responses[f"GET {path}"] = get(cluster, path, stringify=True)
    assert len(responses) >= 10
    assert not (found := scanned(responses)), report(found)


def test_no_task_log_of_any_try_holds_the_credentials(cluster, run_id):
    base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
    responses = {}
    for ti in get(cluster, base, limit=100).json()["task_instances"]:
        for attempt in range(1, (ti["try_number"] or 0) + 1):
            path = f"{base}/{ti['task_id']}/logs/{attempt}"
            responses[f"GET {path}"] = get(cluster, path, full_content=True)
    logs = " ".join(r.text for r in responses.values())
    assert "submit_orders" in logs and "sent" in logs  # the logs are the run's, read in full
    assert not (found := scanned(responses)), report(found)


def test_the_approval_the_run_and_the_audit_log_hold_no_credentials(cluster, run_id):
    paths = [f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}", f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/hitlDetails",
             f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/approve_orders/-1/hitlDetails",
             f"/dags/{DAG_ID}/details", "/connections", "/variables", "/importErrors"]
    responses = {f"GET {p}": get(cluster, p) for p in paths}
    responses["GET /eventLogs"] = get(cluster, "/eventLogs", dag_id=DAG_ID, limit=1000)
    assert "order(s) to send" in responses[f"GET {paths[2]}"].text
    assert not (found := scanned(responses)), report(found)


def test_no_file_of_the_deployment_holds_the_credentials(cluster, run_id, deploy_project, broker_state):
    """Every log of the api-server, scheduler, dag-processor, triggerer and worker, every task log
    file, the project's outputs and ledger, the simulator's own log."""
    task_logs = [p for p in files_under(cluster.home / "logs") if "task_id=submit_orders" in str(p)]
    assert task_logs and (deploy_project / "data" / "reports" / "summary_dashboard.html").is_file()
    found = scan_tree(cluster.home) + scan_tree(deploy_project) + scan_file(broker_state.log)
    assert not found, report(found)


@pytest.mark.parametrize("database", ["meta_db", "ledger_db"])
def test_no_row_of_the_metadata_or_ledger_database_holds_the_credentials(cluster, run_id, database, tmp_path):
    """A dump of every table (TOAST-compressed values come out as text)."""
    name = getattr(cluster, database)
    dump = subprocess.run(["pg_dump", "--data-only", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True,
                          text=True, timeout=120, check=False)
    assert dump.returncode == 0, dump.stderr
    assert ("COPY public.xcom " in dump.stdout) if database == "meta_db" else ("COPY public.orders " in dump.stdout)
    assert not (found := find_in_text(dump.stdout, f"pg_dump {name}")), report(found)


def test_the_connection_really_holds_the_fake_credentials(cluster):
    """What the scans look for is what the workers were given."""
    from tests.security.canary import CANARY_KEY, CANARY_SECRET

    alpaca = json.loads(cluster.env["AIRFLOW_CONN_ALPACA"])
    assert (alpaca["login"], alpaca["password"]) == (CANARY_KEY, CANARY_SECRET)
