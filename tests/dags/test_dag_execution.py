"""The DAG with M4, driven as an operator drives it (dag.test on the sample data, the simulator as
the broker): real mode sends exactly the approved orders, dry mode none; a retry or a cleared and
re-run submit_orders adds nothing."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from airflow.utils.state import DagRunState, TaskInstanceState

pytestmark = pytest.mark.airflow


@pytest.fixture
def broker_env(sim, monkeypatch, project):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})  # 09:45 New York
    for name, value in (("APCA_API_KEY_ID", sim.key), ("APCA_API_SECRET_KEY", sim.secret),
                        ("APCA_API_BASE_URL", sim.url), ("APCA_API_DATA_URL", sim.url)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05"))
    return sim


def at_broker(sim) -> list[dict]:
    got = requests.get(f"{sim.url}/v2/orders", params={"status": "all", "limit": 500}, headers=sim.headers, timeout=10)
    return got.json()


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_a_real_run_sends_exactly_the_approved_orders(dag, airflow_db, project, broker_env):
    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "real"})
    assert run.state == DagRunState.SUCCESS, states(run)
    assert states(run)["dry_run_orders"] == TaskInstanceState.SKIPPED
    approved = pd.read_csv(project / "data" / "outputs" / "approved_orders_20251231.csv")
    entries = [o for o in at_broker(broker_env) if o["client_order_id"].startswith("pt-20251231-")
               and "-oco-" not in o["client_order_id"]]
    assert sorted(o["client_order_id"] for o in entries) == sorted(
        f"pt-20251231-{r.symbol}-{r.side}-r1" for r in approved.itertuples())
    assert set(approved["run_id"]) == {run.run_id} and set(approved["mode"]) == {"real"}
    assert {states(run)[t] for t in ("wait_for_close", "reconcile", "data_quality.check_orders",
                                     "data_quality.check_fills", "data_quality.check_books")} \
        == {TaskInstanceState.SUCCESS}
    recon = pd.read_csv(project / "data" / "outputs" / "recon_report_20251231.csv")
    assert set(recon.loc[recon["kind"] == "order", "classification"]) == {"filled"}
    assert states(run)["report"] == TaskInstanceState.SUCCESS
    assert (project / "data" / "reports" / "summary_dashboard_20251231.html").is_file()
    assert (project / "data" / "reports" / "metrics_20251231.json").is_file()



def test_a_dry_run_sends_nothing_and_the_join_still_runs(dag, airflow_db, project, broker_env):
    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "dry"})
    assert run.state == DagRunState.SUCCESS, states(run)
    assert states(run)["submit_orders"] == TaskInstanceState.SKIPPED
    assert states(run)["wait_for_fills"] == TaskInstanceState.SUCCESS
    assert at_broker(broker_env) == []
    log = pd.read_csv(project / "data" / "outputs" / "execution_log.csv")
    assert set(log["status"]) == {"dry_run"}
    assert states(run)["report"] == TaskInstanceState.SUCCESS  # a dry run reports what there is
    assert (project / "data" / "reports" / "summary_dashboard.html").is_file()


def test_rerunning_submit_orders_of_a_run_adds_nothing(dag, airflow_db, project, broker_env):
    from paper_trading import steps
    from paper_trading.trading_calendar import parse_date

    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "real"})
    assert run.state == DagRunState.SUCCESS, states(run)
    before = sorted(o["id"] for o in at_broker(broker_env))
    # what a cleared submit_orders (or its retry) runs again: the same step, same run id and approvals
    steps.execute_orders(parse_date("2025-12-31"), mode="real", root=project, run_id=run.run_id)
    assert sorted(o["id"] for o in at_broker(broker_env)) == before
