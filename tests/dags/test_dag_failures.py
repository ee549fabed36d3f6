"""How failures show in Airflow: what cannot fix itself fails at once, what can is retried, and the
broker Connection is read the way Airflow's form fills it in."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from airflow.sdk import RetryAction
from airflow.utils.state import DagRunState, TaskInstanceState

from paper_trading import errors

pytestmark = pytest.mark.airflow


def _tis(run) -> dict:
    return {ti.task_id: ti for ti in run.get_task_instances()}


@pytest.fixture
def at_the_open(sim, monkeypatch):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})
    return sim


def _conn(monkeypatch, sim, **fields) -> None:
    conn = {"conn_type": "generic", "login": sim.key, "password": sim.secret, **fields}
    monkeypatch.setenv("AIRFLOW_CONN_ALPACA", json.dumps(conn))
    for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "APCA_API_BASE_URL", "APCA_API_DATA_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("policy_for, action", [
    (errors.InputError("data/raw_signals/a.csv row 3: trade_date ..."), RetryAction.FAIL),
    (errors.ConfigError("config/config.yaml: risk.x: ..."), RetryAction.FAIL),
    (errors.SignalsNotReady("a.csv: file not published yet"), RetryAction.FAIL),
    (errors.BrokerAuthError("broker 127.0.0.1:1: GET /v2/account failed: forbidden", 403), RetryAction.FAIL),
    (errors.LiveTradingRefused("broker host 'api.alpaca.markets' ..."), RetryAction.FAIL),
    (errors.OrderRejected("broker rejected buy AAPL", 422), RetryAction.FAIL),
    (errors.BrokerUnavailable("broker 127.0.0.1:1: GET /v2/account failed: timed out"), RetryAction.RETRY),
    (errors.AmbiguousSubmitError("submit of pt-1 has an unknown outcome", "pt-1"), RetryAction.RETRY),
    (RuntimeError("a bug"), RetryAction.DEFAULT),
])
def test_the_retry_policy_fails_what_cannot_fix_itself_and_retries_what_can(dag, policy_for, action):
    for task in dag.tasks:
        assert task.retry_policy.evaluate(policy_for, try_number=1, max_tries=3).action == action, task.task_id


def test_a_broken_signal_file_fails_the_sensor_at_once(dag, airflow_db, project, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    drl = project / "data" / "raw_signals" / "drl_weight.csv"
    drl.write_text(drl.read_text() + "2025-02-30,001690,0.1\n")
    run = dag.test(run_conf={"run_date": "2025-12-31"})
    tis = _tis(run)
    assert run.state == DagRunState.FAILED
    sensor = tis["wait_for_signals"]
    assert (sensor.state, sensor.try_number) == (TaskInstanceState.FAILED, 1)
    assert tis["signal_bus"].state == TaskInstanceState.UPSTREAM_FAILED
    log = (project / "logs" / "wait_for_signals_20251231.log").read_text()
    assert "data/raw_signals/drl_weight.csv (strategy drl) row " in log


def test_a_connection_split_into_host_port_and_schema_reaches_the_simulator(dag, airflow_db, project, monkeypatch,
                                                                           at_the_open):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    url = at_the_open.url  # http://127.0.0.1:<port>
    host, port = url.removeprefix("http://").split(":")
    _conn(monkeypatch, at_the_open, host=host, port=int(port), schema="http")
    run = dag.test(run_conf={"run_date": "2025-12-31"})
    assert run.state == DagRunState.SUCCESS, {t: ti.state for t, ti in _tis(run).items()}


def test_a_connection_to_an_unknown_host_fails_at_once_naming_the_host(dag, airflow_db, project, monkeypatch, sim):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    _conn(monkeypatch, sim, host="broker.example.com")
    run = dag.test(run_conf={"run_date": "2025-12-31"})
    plan = _tis(run)["plan"]
    assert (plan.state, plan.try_number) == (TaskInstanceState.FAILED, 1)
    log = (project / "logs" / "plan_20251231.log").read_text()
    assert "broker host 'broker.example.com' (https://broker.example.com) is neither Alpaca paper nor a local " \
           "simulator. For paper trading use https://paper-api.alpaca.markets" in log


def test_the_non_session_message_is_logged_not_printed(dag, airflow_db, project, monkeypatch, caplog, capsys):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    dag.test(run_conf={"run_date": "2025-12-25"})
    assert "2025-12-25 is not an XNYS session: nothing to trade" not in capsys.readouterr().out
    assert any(r.levelname == "INFO" and "is not an XNYS session" in r.getMessage() for r in caplog.records)


def test_step_lines_reach_the_task_log_at_their_own_level(dag, airflow_db, project, monkeypatch, caplog, at_the_open):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    _conn(monkeypatch, at_the_open, host=at_the_open.url)
    dag.test(run_conf={"run_date": "2025-12-31"})
    ours = [r for r in caplog.records if r.name.startswith("paper_trading.")]
    assert ours and {r.levelname for r in ours} <= {"INFO", "WARNING"}
    assert any(r.name == "paper_trading.plan" and r.getMessage().startswith("plan: equity") for r in ours)
    assert dt.date(2025, 12, 31)  # the run's date, for the reader


def test_a_real_run_the_gate_refuses_fails_the_gate_at_once_naming_the_reason(dag, airflow_db, project, sim,
                                                                                 monkeypatch):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})  # 16:30 in New York: the market is closed
    _conn(monkeypatch, sim, host=sim.url)
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(project))
    run = dag.test(run_conf={"run_date": "2025-12-31", "mode": "real"})
    tis = _tis(run)
    assert run.state == DagRunState.FAILED  # not green: nothing was traded
    gate = tis["risk_gate"]
    assert (gate.state, gate.try_number) == (TaskInstanceState.FAILED, 1)  # no retry can open the market
    assert {tis[t].state for t in ("approve_orders", "submit_orders", "reconcile", "report")} == {
        TaskInstanceState.UPSTREAM_FAILED}
    alerts = [json.loads(line) for line in (project / "logs" / "alerts.log").read_text().splitlines()]
    assert [(a["rule"], a["step"]) for a in alerts if a["rule"] == "trading_refused"] == [("trading_refused", "risk")]
    assert "market_closed_now" in alerts[0]["message"]
    assert requests_at(sim) == []


def requests_at(sim) -> list:
    import requests

    return requests.get(f"{sim.url}/v2/orders", params={"status": "all"}, headers=sim.headers, timeout=10).json()
