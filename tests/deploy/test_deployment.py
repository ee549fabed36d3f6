"""The deployment past one machine, for real and without Docker: Airflow's api-server, scheduler,
dag-processor, triggerer and a Celery worker as processes, the metadata and the ledger in PostgreSQL
databases of their own, Celery on the local Redis. An operator triggers the daily DAG through the
REST API, answers its approval step there, and clears a task through it; the simulator is the
broker. The tests run trading days in order on one account (see conftest.py)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from urllib.parse import quote

import pandas as pd
import pytest
import requests

from tests.deploy.conftest import DAG_ID, at_broker, ledger_rows
from tests.security.canary import (
    files_under,
    find_in_text,
    report,
    scan_file,
    scan_tree,
)

pytestmark = pytest.mark.airflow

#: A dead worker's task is noticed after 20 s without heartbeats (Airflow's default: 300 s) and
#: retried 5-10 s later (the DAG's default: 60-120 s).
CLUSTER_ENV = {"AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
               "PAPER_TRADING_RETRY_DELAY_S": "5"}


def wait_for_state(cluster, run_id: str, task_id: str, state: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = cluster.task_states(DAG_ID, run_id)
        if states.get(task_id) == state:
            return
        assert states.get(task_id) not in ("failed", "upstream_failed", "skipped"), states
        time.sleep(0.25)
    raise TimeoutError(f"{task_id} not {state} in {timeout:.0f} s: {cluster.task_states(DAG_ID, run_id)}")


def kill_worker(cluster, name: str) -> int:
    """SIGKILL a Celery worker and every process it started (the pool, the task supervisors, the
    tasks): what a lost machine does. Returns how many processes died."""
    import psutil

    root = psutil.Process(cluster.procs[name].pid)
    family = [root, *root.children(recursive=True)]
    cluster.kill(name)  # the worker's process group
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(family, timeout=10)
    return len(family)


def answer(cluster, run_id: str, option: str) -> dict:
    return cluster.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_orders/-1/hitlDetails",
                       {"chosen_options": [option], "params_input": {}})


def approval_rows(cluster, day: str) -> list[tuple]:
    return ledger_rows(cluster, f"SELECT outcome, detail FROM runs WHERE step = 'approval' "
                                f"AND trade_date = '{day}'")


def test_no_answer_by_the_deadline_sends_nothing(cluster, market):
    sim = market("2025-12-26T14:45:00Z")  # Friday 09:45 in New York
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-26", "mode": "real", "require_approval": "yes"})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    run = cluster.wait_for_run(DAG_ID, run_id, timeout=180)  # execution.approval_timeout_minutes: 0.2 here
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success" and states["submit_orders"] == "skipped", states
    assert at_broker(sim) == []
    assert [o for o, _ in approval_rows(cluster, "2025-12-26")] == ["rejected"]
    assert '"by": null' in approval_rows(cluster, "2025-12-26")[0][1]  # nobody answered


def test_a_rejected_batch_is_recorded_and_nothing_is_sent(cluster, market):
    sim = market("2025-12-29T14:45:00Z")
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-29", "mode": "real", "require_approval": "yes"})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    detail = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_orders/-1/hitlDetails")
    assert "order(s) now" in detail["body"] and "turnover" in detail["body"]  # the batch, shown to the person
    assert detail["options"] == ["Approve", "Reject"]
    answer(cluster, run_id, "Reject")
    run = cluster.wait_for_run(DAG_ID, run_id)
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success" and states["submit_orders"] == "skipped", states
    assert at_broker(sim) == []
    (outcome, who), = approval_rows(cluster, "2025-12-29")
    assert outcome == "rejected" and "operator" in who


def test_an_approved_batch_is_sent_once_though_its_worker_dies_in_the_middle(cluster, market, deploy_project):
    """Issue 12 §3, the worker: once the approved batch is half sent, the Celery worker running
    `submit_orders` dies with everything it started (SIGKILL of every process of it: the machine
    is gone), and a new worker comes up. Airflow notices the missing heartbeats
    (`task_instance_heartbeat_timeout`, 20 s here), retries the task on the new worker once the dead
    run's ledger lock has lapsed (its lease, 15 s here, is shorter than the heartbeat timeout, as
    180 s is shorter than Airflow's default 300 s), and the retry sends the rest: every approved
    order at the broker exactly once, the ledger holding each."""
    sim = market("2025-12-30T14:45:00Z")
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-30", "mode": "real", "require_approval": "yes"})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    assert not [o for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]  # nothing before
    sim.admin("POST", "/sim/faults", {"kind": "latency", "method": "POST", "path": "/v2/orders", "seconds": 1.0})
    try:
        answer(cluster, run_id, "Approve")
        deadline = time.monotonic() + 120
        while not [o for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]:
            assert time.monotonic() < deadline, cluster.task_states(DAG_ID, run_id)
            time.sleep(0.2)
        assert cluster.task_states(DAG_ID, run_id)["submit_orders"] == "running"
        killed = kill_worker(cluster, "worker-0")
    finally:
        sim.admin("DELETE", "/sim/faults")
    half = [o["client_order_id"] for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]
    cluster.spawn("worker-0", cluster._airflow("celery", "worker", "--concurrency", "4",
                                               "--celery-hostname", "pt-worker-0b@%h"))
    run = cluster.wait_for_run(DAG_ID, run_id, timeout=300)
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success", f"{states}\n{cluster.tails()}"
    assert killed >= 2  # the worker and the task it ran
    tries = {ti["task_id"]: ti["try_number"] for ti in cluster.task_instances(DAG_ID, run_id)}
    assert tries["submit_orders"] == 2, tries  # Airflow's retry, on the new worker
    orders = [o for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]
    sent = [o["client_order_id"] for o in orders]
    assert len(sent) == len(set(sent)) and set(half) < set(sent)  # the rest sent, nothing twice
    approved = pd.read_csv(deploy_project / "data" / "outputs" / "approved_orders_20251230.csv")
    assert sorted(zip(approved["symbol"], approved["side"])) == sorted(
        (o["symbol"], o["side"]) for o in orders if o["order_class"] != "oco")  # every approved order, once
    books = {cid for cid, in ledger_rows(cluster, "SELECT client_order_id FROM orders WHERE trade_date = '2025-12-30' "
                                                  "AND parent_client_order_id IS NULL AND broker_order_id IS NOT NULL")}
    assert books == set(sent)  # the ledger holds each, with its broker id
    assert [o for o, _ in approval_rows(cluster, "2025-12-30")] == ["approved"]
    assert (deploy_project / "data" / "reports" / "summary_dashboard_20251230.html").is_file()


def test_a_real_run_through_the_rest_api_survives_restarts_a_second_trigger_waits_then_a_cleared_submit(
        cluster, market, deploy_project):
    """Issue 11's real run on Celery workers, with issue 12 §3 on top: once its orders are sent, the
    broker and then the scheduler are killed and started again, and an operator triggers the same
    date meanwhile. The run completes; the second one waits for it (max_active_runs=1), finds round
    1 traded and sends nothing."""
    sim = market("2025-12-31T14:45:00Z")  # 09:45 in New York, the market open
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-31", "mode": "real"})
    second = cluster.trigger(DAG_ID, {"run_date": "2025-12-31", "mode": "real"})
    wait_for_state(cluster, run_id, "submit_orders", "success")
    assert cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{second}")["state"] == "queued"  # it waits
    sim.stop()  # the broker goes down (SIGTERM) and comes back on its database: orders, account, clock
    sim.start()
    cluster.kill("scheduler")  # SIGKILL, then a new scheduler adopts the running tasks
    cluster.spawn("scheduler", cluster._airflow("scheduler"))
    run = cluster.wait_for_run(DAG_ID, run_id)
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success", f"{states}\n{cluster.tails()}"
    assert states["submit_orders"] == "success" and states["dry_run_orders"] == "skipped"
    assert states["approve_orders"] == "success"  # not required: recorded, and the orders went
    assert {ti["hostname"] for ti in cluster.task_instances(DAG_ID, run_id) if ti["state"] == "success"}

    assert (deploy_project / "data" / "intermediate" / "targets_consolidated_20251231.parquet").is_file()
    for name in ("rebalance_plan_20251231.csv", "approved_orders_20251231.csv", "recon_report_20251231.csv"):
        assert (deploy_project / "data" / "outputs" / name).is_file(), name
    at_sim = at_broker(sim)
    sent = sorted(o["client_order_id"] for o in at_sim if o["client_order_id"].startswith("pt-20251231-"))
    assert sent and len(sent) == len(set(sent))
    books = ledger_rows(cluster, "SELECT client_order_id, status, broker_order_id FROM orders ORDER BY 1")
    assert {cid for cid, _status, broker_id in books if broker_id} >= set(sent)

    later = cluster.wait_for_run(DAG_ID, second)
    assert later["state"] == "success", cluster.task_states(DAG_ID, second)
    assert later["start_date"] >= run["end_date"]  # it waited for the first run to end
    assert sorted(o["id"] for o in at_broker(sim)) == sorted(o["id"] for o in at_sim)  # it sent nothing
    assert ledger_rows(cluster, "SELECT client_order_id, status, broker_order_id FROM orders ORDER BY 1") == books
    (detail,), = ledger_rows(cluster, f"SELECT detail FROM runs WHERE run_id = '{second}' AND step = 'execute'")
    assert f'"traded_by": "{run_id}"' in detail

    cleared = cluster.clear(DAG_ID, run_id, ["submit_orders"])
    assert [ti["task_id"] for ti in cleared] == ["submit_orders"]
    again = cluster.wait_for_run(DAG_ID, run_id)
    assert again["state"] == "success", cluster.task_states(DAG_ID, run_id)
    tries = {ti["task_id"]: ti["try_number"] for ti in cluster.task_instances(DAG_ID, run_id)}
    assert tries["submit_orders"] == 2
    assert sorted(o["id"] for o in at_broker(sim)) == sorted(o["id"] for o in at_sim)  # nothing sent twice
    assert ledger_rows(cluster, "SELECT client_order_id, status, broker_order_id FROM orders ORDER BY 1") == books

# ---------------------------------------------------------------------------------------- secrets
# The deployment keeps the broker's credentials to itself. The `alpaca` Connection holds
# recognizable fake ones (conftest.py; the simulator accepts only them); after the runs above (an
# approval timed out, a rejection, an approval, a real run with restarts and a clear), nothing an
# operator can read holds them in any form (tests/security/canary.py): through the REST API every
# task instance (rendered template fields included), XCom entry, task log of every try, the
# approval's details, the runs and the audit log; on disk every log of every component and task,
# the project's files and the simulator's log; in PostgreSQL every row of the metadata and ledger
# databases. These tests come last in the module: they read what the runs above left.


@pytest.fixture(scope="module")
def run_ids(cluster) -> list[str]:
    runs = get(cluster, f"/dags/{DAG_ID}/dagRuns", limit=100).json()["dag_runs"]
    assert len(runs) >= 5, "the runs of the tests above (run the whole module)"
    return [r["dag_run_id"] for r in runs]


@pytest.fixture(scope="module")
def approved_run(cluster) -> str:
    runs = get(cluster, f"/dags/{DAG_ID}/dagRuns", limit=100).json()["dag_runs"]
    approved = [r["dag_run_id"] for r in runs if (r.get("conf") or {}).get("run_date") == "2025-12-30"]
    assert approved, "the approved run of test_an_approved_batch_is_sent_once (run the whole module)"
    return approved[0]


def get(cluster, path: str, **params) -> requests.Response:
    got = requests.get(f"{cluster.url}/api/v2{path}", params=params or None, timeout=30,
                       headers={"Authorization": f"Bearer {cluster.token}", "Accept": "application/json"})
    assert got.ok, f"GET {path}: {got.status_code} {got.text[:300]}"
    return got


def scanned(responses: dict[str, requests.Response]) -> list:
    return [f for where, r in responses.items() for f in find_in_text(r.text, where)]


def test_the_runs_used_the_fake_credentials(run_ids, broker_state):
    """The simulator accepts no other keys: orders placed prove the Connection's were used."""
    assert [o for o in at_broker(broker_state) if o["client_order_id"].startswith("pt-20251230-")]


def test_no_task_instance_or_rendered_field_holds_the_credentials(cluster, run_ids):
    responses = {}
    for run_id in run_ids:
        base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
        tis = get(cluster, base, limit=100).json()["task_instances"]
        assert len(tis) >= 14
        responses.update({f"GET {base}/{ti['task_id']}": get(cluster, f"{base}/{ti['task_id']}") for ti in tis})
    rendered = [r.json()["rendered_fields"] for r in responses.values()]
    assert any(rendered)  # the approval's subject and body are templates
    assert not (found := scanned(responses)), report(found)


def test_no_xcom_entry_holds_the_credentials(cluster, run_ids):
    responses = {}
    for run_id in run_ids:
        base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
        for ti in get(cluster, base, limit=100).json()["task_instances"]:
            for entry in get(cluster, f"{base}/{ti['task_id']}/xcomEntries", limit=100).json()["xcom_entries"]:
                path = f"{base}/{ti['task_id']}/xcomEntries/{quote(entry['key'])}"
                responses[f"GET {path}"] = get(cluster, path, stringify=True)
    assert len(responses) >= 10
    assert not (found := scanned(responses)), report(found)


def test_no_task_log_of_any_try_holds_the_credentials(cluster, run_ids):
    responses = {}
    for run_id in run_ids:
        base = f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances"
        for ti in get(cluster, base, limit=100).json()["task_instances"]:
            for attempt in range(1, (ti["try_number"] or 0) + 1):
                path = f"{base}/{ti['task_id']}/logs/{attempt}"
                responses[f"GET {path}"] = get(cluster, path, full_content=True)
    logs = " ".join(r.text for r in responses.values())
    assert "submit_orders" in logs and "sent" in logs  # the logs are the run's, read in full
    assert not (found := scanned(responses)), report(found)


def test_the_approval_the_run_and_the_audit_log_hold_no_credentials(cluster, approved_run):
    run_id = approved_run
    paths = [f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}", f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/hitlDetails",
             f"/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/approve_orders/-1/hitlDetails",
             f"/dags/{DAG_ID}/details", "/connections", "/variables", "/importErrors"]
    responses = {f"GET {p}": get(cluster, p) for p in paths}
    responses["GET /eventLogs"] = get(cluster, "/eventLogs", dag_id=DAG_ID, limit=1000)
    assert "order(s) now" in responses[f"GET {paths[2]}"].text
    assert not (found := scanned(responses)), report(found)


def test_no_file_of_the_deployment_holds_the_credentials(cluster, run_ids, deploy_project, broker_state):
    """Every log of the api-server, scheduler, dag-processor, triggerer and worker, every task log
    file, the project's outputs and ledger, the simulator's own log."""
    task_logs = [p for p in files_under(cluster.home / "logs") if "task_id=submit_orders" in str(p)]
    assert task_logs and (deploy_project / "data" / "reports" / "summary_dashboard.html").is_file()
    found = scan_tree(cluster.home) + scan_tree(deploy_project) + scan_file(broker_state.log)
    assert not found, report(found)


@pytest.mark.parametrize("database", ["meta_db", "ledger_db"])
def test_no_row_of_the_metadata_or_ledger_database_holds_the_credentials(cluster, run_ids, database):
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
