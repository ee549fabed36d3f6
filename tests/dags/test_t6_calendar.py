"""The spec's T6: the timetable yields two consecutive trading days' runs and skips the holiday
between them; on an early close the DAG waits for that day's close (13:00 in New York on the day
after Thanksgiving), not 16:00."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.utils.state import DagRunState

pytestmark = pytest.mark.airflow
NY = pendulum.timezone("America/New_York")


def _runs_after(timetable, first: pendulum.DateTime, n: int) -> list[dt.date]:
    out, last = [], first
    for _ in range(n):
        info = timetable.next_dagrun_info(last_automated_data_interval=DataInterval.exact(last.in_timezone("UTC")),
                                          restriction=TimeRestriction(earliest=None, latest=None, catchup=True))
        last = info.logical_date
        out.append(last.in_timezone(NY).date())
    return out


def test_T6_consecutive_sessions_skip_thanksgiving_and_the_weekend(dag):
    runs = _runs_after(dag.timetable, pendulum.datetime(2025, 11, 25, 9, 35, tz=NY), 3)
    assert runs == [dt.date(2025, 11, 26), dt.date(2025, 11, 28), dt.date(2025, 12, 1)]


def test_T6_on_the_early_close_the_dag_waits_for_1300_new_york(dag, airflow_db, project, sim, monkeypatch):
    for name, value in (("APCA_API_KEY_ID", sim.key), ("APCA_API_SECRET_KEY", sim.secret),
                        ("APCA_API_BASE_URL", sim.url), ("APCA_API_DATA_URL", sim.url)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-11-28", "mode": "dry"})
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, {t: ti.state for t, ti in tis.items()}
    close = dt.datetime.fromisoformat(tis["books_time"].xcom_pull(task_ids="books_time"))
    assert close.astimezone(NY) == pendulum.datetime(2025, 11, 28, 13, 15, tz=NY)  # 13:00 + reconcile's 15 minutes
    assert tis["wait_for_close"].start_date is not None
