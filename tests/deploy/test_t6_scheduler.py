"""The spec's T6 ("resident for two days: runs each day on time") under a running Airflow: the
scheduler, on the DAG's XNYS timetable, creates the runs of two consecutive sessions — Friday
2025-12-26 and Monday 2025-12-29, none for the weekend between — and each run completes (dry
mode, against the simulator). The runs come from a backfill of the range, which Airflow 3's
scheduler runs with the timetable's own schedule: the wall clock is a year past the sample data."""

from __future__ import annotations

import time

import pendulum
import pytest

from tests.deploy.conftest import DAG_ID

pytestmark = pytest.mark.airflow

CLUSTER_ENV = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25"}
NY = pendulum.timezone("America/New_York")


def test_T6_the_scheduler_runs_two_consecutive_sessions_and_skips_the_weekend(cluster, market):
    market("2025-12-31T14:45:00Z")
    cluster.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": False})
    try:
        backfill = cluster.api("POST", "/backfills", {
            "dag_id": DAG_ID, "from_date": "2025-12-26T00:00:00-05:00", "to_date": "2025-12-29T23:00:00-05:00",
            "max_active_runs": 1, "reprocess_behavior": "none"})
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            runs = cluster.api("GET", f"/dags/{DAG_ID}/dagRuns", run_type=["backfill"], order_by="logical_date")
            states = [r["state"] for r in runs["dag_runs"]]
            if runs["dag_runs"] and all(s in ("success", "failed") for s in states):
                break
            time.sleep(1)
        else:
            raise TimeoutError(f"backfill {backfill['id']} not done: {states}")
    finally:
        cluster.api("PATCH", f"/dags/{DAG_ID}", {"is_paused": True})
    days = [(pendulum.parse(r["logical_date"]).in_timezone(NY).strftime("%Y-%m-%d %H:%M"), r["state"])
            for r in runs["dag_runs"]]
    assert days == [("2025-12-26 09:35", "success"), ("2025-12-29 09:35", "success")]
    for run in runs["dag_runs"]:
        states = cluster.task_states(DAG_ID, run["dag_run_id"])
        assert states["report"] == "success", states
