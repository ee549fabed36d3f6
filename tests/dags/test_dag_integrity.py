"""The DAG file parses cleanly, wires what DESIGN §7 says, and stays light to parse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "paper_trading_daily.py"
HEAVY = {"pandas", "pyarrow", "numpy", "paper_trading", "alpaca", "exchange_calendars", "sqlalchemy", "requests"}


@pytest.fixture(scope="module")
def dag():
    """The DAG as parsed, not the session's: dag.test() runs of other modules leave their run's
    params on the session's DAG object."""
    from airflow.models import DagBag

    return DagBag(dag_folder=str(DAG_FILE.parent)).dags["paper_trading_daily"]


def test_dagbag_has_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "paper_trading_daily" in dagbag.dags


def test_task_ids_and_edges(dag):
    assert set(dag.task_ids) == {"trade_date", "wait_for_signals", "signal_bus", "plan", "risk_gate", "execution_mode",
                                 "submit_orders", "dry_run_orders", "wait_for_fills", "books_time", "wait_for_close",
                                 "reconcile", "data_quality.check_orders", "data_quality.check_fills",
                                 "data_quality.check_books", "report", "approve_orders"}
    assert dag.get_task("wait_for_signals").downstream_task_ids == {"signal_bus"}
    assert dag.get_task("signal_bus").downstream_task_ids == {"plan"}
    assert dag.get_task("plan").downstream_task_ids == {"risk_gate"}
    assert dag.get_task("risk_gate").downstream_task_ids == {"execution_mode", "submit_orders", "dry_run_orders"}
    assert dag.get_task("execution_mode").downstream_task_ids == {"approve_orders", "dry_run_orders"}
    assert dag.get_task("approve_orders").downstream_task_ids == {"submit_orders"}
    assert dag.get_task("submit_orders").downstream_task_ids == {"wait_for_fills"}
    assert dag.get_task("dry_run_orders").downstream_task_ids == {"wait_for_fills"}
    assert dag.get_task("wait_for_fills").downstream_task_ids == {"books_time"}
    assert dag.get_task("wait_for_close").downstream_task_ids == {"reconcile"}
    assert dag.get_task("reconcile").downstream_task_ids == {*CHECKS, "report"}
    assert dag.get_task("report").upstream_task_ids == {"reconcile", *CHECKS}


CHECKS = {"data_quality.check_orders", "data_quality.check_fills", "data_quality.check_books"}


def test_the_data_quality_checks_are_one_task_group(dag):
    group = dag.task_group_dict["data_quality"]
    assert {t.task_id for t in group} == CHECKS
    assert {type(dag.get_task(t)).__name__ for t in CHECKS} == {"SQLColumnCheckOperator", "SQLTableCheckOperator"}


def test_the_report_runs_when_a_data_quality_check_fails_but_not_without_books(dag):
    assert dag.get_task("report").trigger_rule == "all_done_min_one_success"


def test_the_wait_for_the_close_is_deferrable(dag):
    assert type(dag.get_task("wait_for_close")).__name__ == "DateTimeSensorAsync"


def test_the_join_after_the_branch_is_not_skipped_with_the_branch_not_taken(dag):
    assert dag.get_task("wait_for_fills").trigger_rule == "none_failed_min_one_success"


def test_params_round_is_a_whole_number_from_one(dag):
    assert dag.params["round"] == 1
    schema = dag.params.get_param("round").schema
    assert (schema["type"], schema["minimum"]) == ("integer", 1)


def test_tags_docs_and_one_run_at_a_time(dag):
    assert {"paper-trading", "alpaca"} <= set(dag.tags)
    assert dag.doc_md and "signal_bus" in dag.doc_md
    assert dag.max_active_runs == 1
    assert dag.catchup is False


def test_every_task_retries_at_least_twice(dag):
    assert dag.default_args["retries"] >= 2
    assert all(task.retries >= 2 for task in dag.tasks)


def test_the_first_retry_waits_a_minute_unless_the_deployment_says_otherwise(dag, monkeypatch):
    from airflow.models import DagBag

    assert dag.default_args["retry_delay"].total_seconds() == 60
    monkeypatch.setenv("PAPER_TRADING_RETRY_DELAY_S", "5")
    assert DagBag(dag_folder=str(DAG_FILE.parent)).dags["paper_trading_daily"].default_args[
        "retry_delay"].total_seconds() == 5


@pytest.mark.parametrize("value", ["soon", "0", "-5", "86400"])
def test_a_retry_delay_that_is_not_seconds_is_an_import_error_naming_the_variable(value, monkeypatch):
    from airflow.models import DagBag

    monkeypatch.setenv("PAPER_TRADING_RETRY_DELAY_S", value)
    errors = DagBag(dag_folder=str(DAG_FILE.parent)).import_errors
    assert len(errors) == 1 and f"PAPER_TRADING_RETRY_DELAY_S: expected seconds between 0 and 3600, got '{value}'" in \
        next(iter(errors.values()))


def test_params_mode_defaults_to_dry_and_run_date_is_optional(dag):
    assert dag.params["mode"] == "dry"
    assert dag.params.get_param("mode").schema["enum"] == ["dry", "real"]
    assert dag.params["run_date"] is None


def test_sensor_waits_in_reschedule_mode_with_a_timeout(dag):
    sensor = dag.get_task("wait_for_signals")
    assert sensor.mode == "reschedule"
    assert 0 < sensor.timeout <= 24 * 3600
    assert sensor.poke_interval >= 60


def test_schedule_is_the_xnys_session_timetable(dag):
    assert type(dag.timetable).__name__ == "XNYSSessionTimetable"


def test_tasks_take_context_values_as_arguments_and_trigger_rules_are_enums():
    """No task calls get_current_context() (context values are keyword arguments Airflow fills), and
    trigger rules are TriggerRule members, not strings."""
    tree = ast.parse(DAG_FILE.read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert "get_current_context" not in names
    rules = [k.value for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg == "trigger_rule"]
    assert rules and all(isinstance(r, ast.Attribute) and r.value.id == "TriggerRule" for r in rules)


def test_dag_file_has_no_heavy_top_level_imports():
    tree = ast.parse(DAG_FILE.read_text())
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    assert not (top & HEAVY), top & HEAVY


def test_the_dag_has_no_cycle(dag):
    dag.check_cycle()  # raises on a cycle


def test_every_task_has_an_execution_timeout(dag):
    missing = [t.task_id for t in dag.tasks if t.execution_timeout is None]
    assert not missing
    assert dag.get_task("wait_for_close").execution_timeout.days >= 4  # t1 waits over a long weekend


def test_every_task_has_docs(dag):
    assert not [t.task_id for t in dag.tasks if not (t.doc_md or "").strip()]


def test_the_trigger_form_has_typed_params(dag):
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    assert schema["mode"]["enum"] == ["dry", "real"]
    assert schema["run_date"]["format"] == "date"  # a date picker in the trigger form
    assert schema["round"]["type"] == "integer"
    assert schema["require_approval"]["enum"] == [None, "yes", "no"]
    assert {"signal_mode", "pick", "blend"} <= set(schema)
    assert all(dag.params.get_param(name).description for name in dag.params)


def test_the_trigger_form_names_the_configs_default_instead_of_null(dag):
    signal_mode = dag.params.get_param("signal_mode").schema
    assert signal_mode["enum"][0] is None
    assert signal_mode["values_display"][None] == "the config's default (signal_bus.mode)"
    assert "YYYY-MM-DD" not in dag.params.get_param("run_date").description.split("(")[0]  # the widget is a date picker


def test_require_approval_is_a_named_choice_that_can_go_back_to_the_configs_default(dag):
    """A boolean is a switch (on/off only, never "the config's" again once touched), and Airflow's
    dropdown shows no selected boolean; three named strings are a dropdown with all three."""
    param = dag.params.get_param("require_approval").schema
    assert param["enum"] == [None, "yes", "no"]
    assert set(param["values_display"]) == {None, "yes", "no"}
    assert param["values_display"][None] == "the config's default (execution.require_approval)"


def test_the_targets_the_plan_and_the_ledger_are_assets(dag):
    outlets = {t.task_id: {a.name for a in t.outlets} for t in dag.tasks if t.outlets}
    assert outlets == {"signal_bus": {"paper_trading_targets"}, "plan": {"paper_trading_plan"},
                       "reconcile": {"paper_trading_ledger"}}


def test_money_moves_only_after_the_approval_step(dag):
    approve = dag.get_task("approve_orders")
    assert type(approve).__mro__[1].__name__ == "ApprovalOperator"
    assert approve.defaults == ["Reject"]  # no answer by the deadline: nothing is sent
    assert dag.get_task("submit_orders").upstream_task_ids >= {"approve_orders"}
