"""The deployment past one machine, for real and without Docker: Airflow's api-server, scheduler,
dag-processor, triggerer and a Celery worker as processes, the metadata and the ledger in PostgreSQL
databases of their own, Celery on the local Redis. An operator triggers the daily DAG through the
REST API, answers its approval step there, and clears a task through it; the simulator is the
broker. The tests run trading days in order on one account (see conftest.py)."""

from __future__ import annotations

import time

import pytest

from tests.deploy.conftest import DAG_ID, at_broker, ledger_rows

pytestmark = pytest.mark.airflow


def wait_for_state(cluster, run_id: str, task_id: str, state: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = cluster.task_states(DAG_ID, run_id)
        if states.get(task_id) == state:
            return
        assert states.get(task_id) not in ("failed", "upstream_failed", "skipped"), states
        time.sleep(0.25)
    raise TimeoutError(f"{task_id} not {state} in {timeout:.0f} s: {cluster.task_states(DAG_ID, run_id)}")


def answer(cluster, run_id: str, option: str) -> dict:
    return cluster.api("PATCH", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_orders/-1/hitlDetails",
                       {"chosen_options": [option], "params_input": {}})


def approval_rows(cluster, day: str) -> list[tuple]:
    return ledger_rows(cluster, f"SELECT outcome, detail FROM runs WHERE step = 'approval' "
                                f"AND trade_date = '{day}'")


def test_no_answer_by_the_deadline_sends_nothing(cluster, market):
    sim = market("2025-12-26T14:45:00Z")  # Friday 09:45 in New York
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-26", "mode": "real", "require_approval": True})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    run = cluster.wait_for_run(DAG_ID, run_id, timeout=180)  # execution.approval_timeout_minutes: 0.2 here
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success" and states["submit_orders"] == "skipped", states
    assert at_broker(sim) == []
    assert [o for o, _ in approval_rows(cluster, "2025-12-26")] == ["rejected"]
    assert '"by": null' in approval_rows(cluster, "2025-12-26")[0][1]  # nobody answered


def test_a_rejected_batch_is_recorded_and_nothing_is_sent(cluster, market):
    sim = market("2025-12-29T14:45:00Z")
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-29", "mode": "real", "require_approval": True})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    detail = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/approve_orders/-1/hitlDetails")
    assert "order(s) to send" in detail["body"] and "turnover" in detail["body"]  # the batch, shown to the person
    assert detail["options"] == ["Approve", "Reject"]
    answer(cluster, run_id, "Reject")
    run = cluster.wait_for_run(DAG_ID, run_id)
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success" and states["submit_orders"] == "skipped", states
    assert at_broker(sim) == []
    (outcome, who), = approval_rows(cluster, "2025-12-29")
    assert outcome == "rejected" and "operator" in who


def test_an_approved_batch_is_sent_once(cluster, market, deploy_project):
    sim = market("2025-12-30T14:45:00Z")
    run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-30", "mode": "real", "require_approval": True})
    wait_for_state(cluster, run_id, "approve_orders", "awaiting_input")
    assert not [o for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]  # nothing before
    answer(cluster, run_id, "Approve")
    run = cluster.wait_for_run(DAG_ID, run_id)
    states = cluster.task_states(DAG_ID, run_id)
    assert run["state"] == "success", f"{states}\n{cluster.tails()}"
    sent = [o["client_order_id"] for o in at_broker(sim) if o["client_order_id"].startswith("pt-20251230-")]
    assert sent and len(sent) == len(set(sent))
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
