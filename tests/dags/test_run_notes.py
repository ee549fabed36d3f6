"""The run-notes listener (plugins/run_notes.py) is one of Airflow's listeners and writes the note
of a run of the DAG as it starts, from the run's conf; other DAGs' runs and given notes are left
alone. The scheduler calling it on a real run is tested in tests/deploy/test_clear.py."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.airflow


def started(dag_id: str = "paper_trading_daily", note: str | None = None, **conf) -> SimpleNamespace:
    at = dt.datetime(2026, 1, 4, 15, 0, tzinfo=dt.UTC)
    return SimpleNamespace(dag_id=dag_id, note=note, conf=conf, logical_date=at, run_after=at, run_id="manual__x",
                           dag=SimpleNamespace(params={"mode": "dry"}))


def listener():
    from airflow.listeners.listener import get_listener_manager

    manager = get_listener_manager()
    assert manager.has_listeners
    return manager.hook


def test_the_listener_is_registered_from_the_plugins_folder():
    from airflow import plugins_manager

    plugins, _ = plugins_manager._get_plugins()
    assert "paper_trading_run_notes" in {p.name for p in plugins}
    listener()


def test_a_starting_run_gets_its_trade_date_mode_and_round_as_its_note():
    run = started(run_date="2025-12-31", mode="real", round=2)
    listener().on_dag_run_running(dag_run=run, msg="started")
    assert run.note == "2025-12-31 · real · round 2"


def test_a_run_without_conf_gets_the_dags_default_mode():
    run = started()
    listener().on_dag_run_running(dag_run=run, msg="started")
    assert run.note == "2026-01-04 · dry · round 1"


def test_a_note_given_at_trigger_and_other_dags_runs_are_left_alone():
    mine, other = started(note="my note", run_date="2025-12-31"), started(dag_id="another", run_date="2025-12-31")
    for run in (mine, other):
        listener().on_dag_run_running(dag_run=run, msg="started")
    assert (mine.note, other.note) == ("my note", None)
