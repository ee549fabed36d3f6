"""The DAG end to end on the sample data, in-process with `dag.test()` (SQLite metadata DB)."""

from __future__ import annotations

import pandas as pd
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

pytestmark = pytest.mark.airflow


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_daily_run_writes_targets_that_sum_to_one(dag, airflow_db, project, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "dry"})
    assert run.state == DagRunState.SUCCESS, _states(run)
    out = project / "data" / "intermediate" / "targets_consolidated_20251231.parquet"
    targets = pd.read_parquet(out)
    assert abs(targets["target_weight"].sum() - 1.0) <= 1e-9
    assert targets["run_id"].unique().tolist() == [run.run_id]
    assert (project / "logs" / "signal_bus_20251231.log").exists()


def test_run_on_an_exchange_holiday_skips_everything(dag, airflow_db, project, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-12-25"})
    states = _states(run)
    assert states["trade_date"] == TaskInstanceState.SUCCESS
    assert states["wait_for_signals"] == states["signal_bus"] == TaskInstanceState.SKIPPED
    assert not (project / "data" / "intermediate").exists()
