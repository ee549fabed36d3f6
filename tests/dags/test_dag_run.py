"""The DAG end to end on the sample data, in-process with `dag.test()` (SQLite metadata DB)."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from airflow.utils.state import DagRunState, TaskInstanceState

pytestmark = pytest.mark.airflow


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.fixture
def broker_env(sim, monkeypatch):
    """The DAG's broker is the simulator (through APCA_* variables), at 09:45 New York on 2025-12-31."""
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})
    for name, value in (("APCA_API_KEY_ID", sim.key), ("APCA_API_SECRET_KEY", sim.secret),
                        ("APCA_API_BASE_URL", sim.url), ("APCA_API_DATA_URL", sim.url)):
        monkeypatch.setenv(name, value)
    return sim


def test_daily_run_writes_targets_plan_and_risk_report(dag, airflow_db, project, monkeypatch, broker_env):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "dry"})
    assert run.state == DagRunState.SUCCESS, _states(run)
    out = project / "data" / "intermediate" / "targets_consolidated_20251231.parquet"
    targets = pd.read_parquet(out)
    assert abs(targets["target_weight"].sum() - 1.0) <= 1e-9
    assert targets["run_id"].unique().tolist() == [run.run_id]
    assert (project / "logs" / "signal_bus_20251231.log").exists()

    outputs = project / "data" / "outputs"
    plan = pd.read_csv(outputs / "rebalance_plan_20251231.csv", dtype={"asset_id": str})
    orders = pd.read_csv(outputs / "planned_orders_20251231.csv")
    report = pd.read_csv(outputs / "risk_report_20251231.csv")
    assert set(plan["asset_id"]) >= set(targets["asset_id"])  # every target asset is in the plan
    assert (orders["side"] == "buy").all() and (orders["order_type"] == "bracket").all()  # a fresh $100k account
    assert len(report) == len(orders) and set(report["verdict"]) == {"approved"}
    sent = requests.get(f"{broker_env.url}/v2/orders", params={"status": "all"}, headers=broker_env.headers, timeout=10)
    assert sent.json() == []  # planning and gating only: no order reaches the broker


def test_run_on_an_exchange_holiday_skips_everything(dag, airflow_db, project, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-12-25"})
    states = _states(run)
    assert states["trade_date"] == TaskInstanceState.SUCCESS
    assert {states[t] for t in ("wait_for_signals", "signal_bus", "plan", "risk_gate")} == {TaskInstanceState.SKIPPED}
    assert not (project / "data" / "intermediate").exists()
