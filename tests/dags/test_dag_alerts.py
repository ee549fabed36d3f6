"""A task that fails for good is a `task_failed` line in logs/alerts.log and — when that line is new
for the trade date — a notification sent by Airflow's apprise provider notifier to the channels of
the Connection `paper_trading_alerts`; a missing Connection costs a logged error, nothing more."""

from __future__ import annotations

import json

import pendulum
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from tests.unit.test_alerts import TOKEN, Receiver

pytestmark = pytest.mark.airflow


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _break_a_signal_file(project) -> None:
    """A row with an impossible date: the sensor fails at once (bad input, no retry)."""
    drl = project / "data" / "raw_signals" / "drl_weight.csv"
    drl.write_text(drl.read_text() + "2025-02-30,001690,0.1\n")


def _failed_lines(project) -> list[dict]:
    path = project / "logs" / "alerts.log"
    return [a for a in map(json.loads, path.read_text().splitlines()) if a["rule"] == "task_failed"]


def test_a_failed_task_is_recorded_and_sent_through_the_apprise_connection(dag, airflow_db, project, monkeypatch,
                                                                          receiver):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    monkeypatch.setenv("AIRFLOW_CONN_PAPER_TRADING_ALERTS", json.dumps(
        {"conn_type": "apprise", "extra": {"config": [{"path": receiver.url(), "tag": "alerts"}]}}))
    _break_a_signal_file(project)
    run = dag.test(run_conf={"run_date": "2025-12-31"})
    assert run.state == DagRunState.FAILED
    [line] = _failed_lines(project)
    assert (line["trade_date"], line["key"], line["step"]) == ("2025-12-31", "paper_trading_daily.wait_for_signals",
                                                               "wait_for_signals")
    assert "drl_weight.csv" in line["message"]
    [(path, payload)] = receiver.posts  # one failed task, one notification (the others were not run)
    assert path == f"/hook/{TOKEN}"
    assert payload["title"] == "paper-trading error: task_failed paper_trading_daily.wait_for_signals"
    assert "rule: task_failed" in payload["message"] and "trade date: 2025-12-31" in payload["message"]
    assert "drl_weight.csv" in payload["message"] and payload["type"] == "failure"
    assert TOKEN not in (project / "logs" / "alerts.log").read_text()


def test_without_the_connection_the_failure_is_still_recorded(dag, airflow_db, project, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    monkeypatch.delenv("AIRFLOW_CONN_PAPER_TRADING_ALERTS", raising=False)
    _break_a_signal_file(project)
    run = dag.test(run_conf={"run_date": "2025-12-31"})
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert run.state == DagRunState.FAILED
    assert (tis["wait_for_signals"].state, tis["wait_for_signals"].try_number) == (TaskInstanceState.FAILED, 1)
    assert tis["signal_bus"].state == TaskInstanceState.UPSTREAM_FAILED
    assert [a["key"] for a in _failed_lines(project)] == ["paper_trading_daily.wait_for_signals"]


def _alerts_connection(monkeypatch, receiver) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PAPER_TRADING_ALERTS", json.dumps(
        {"conn_type": "apprise", "extra": {"config": [{"path": receiver.url(), "tag": "alerts"}]}}))


def test_a_task_failing_again_on_the_same_trade_date_is_not_notified_again(dag, airflow_db, project, monkeypatch,
                                                                           receiver):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    _alerts_connection(monkeypatch, receiver)
    _break_a_signal_file(project)
    for _ in range(2):  # a second run of the day: the same task fails the same way
        assert dag.test(run_conf={"run_date": "2025-12-31"}).state == DagRunState.FAILED
    assert len(_failed_lines(project)) == 1
    assert len(receiver.posts) == 1


def test_the_notice_gives_the_trade_date_alerts_log_records(dag, airflow_db, project, monkeypatch, receiver):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    _alerts_connection(monkeypatch, receiver)
    _break_a_signal_file(project)
    when = pendulum.datetime(2025, 12, 31, 14, 35, tz="UTC")  # no run_date: the date comes from the run
    assert dag.test(logical_date=when, run_after=when).state == DagRunState.FAILED
    [line] = _failed_lines(project)
    [(_, payload)] = receiver.posts
    assert line["trade_date"] == "2025-12-31"
    assert "\ntrade date: 2025-12-31\n" in payload["message"]


def test_every_task_has_the_one_failure_callback_that_records_then_notifies(dag):
    for task in dag.tasks:
        names = [getattr(cb, "__name__", type(cb).__name__) for cb in task.on_failure_callback]
        assert names == ["record_failure"], task.task_id
