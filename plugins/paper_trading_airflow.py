"""The Airflow adapter of the paper-trading library: the glue between Airflow and `paper_trading`
that the DAG (`dags/paper_trading_daily.py`) and the approval step (`approval_gate.py`) share.

* `project_root()`: where the project lives (`$PAPER_TRADING_ROOT`, else the folder above plugins/
  and dags/);
* `scheduler_time()`: config.yaml's `scheduler.time`, for the DAG's timetable;
* `retry_delay()` and `RETRY_POLICY`: how a failed task is retried (the library's error classes say
  what a retry can fix);
* `record_failure()`: the DAG's failure callback (a `task_failed` line in logs/alerts.log) and
  `notify_failure()`: Airflow's apprise notifier, for a new failure only;
* `broker()` and `ledger_url()`: the Airflow Connections `alpaca` and `paper_trading_ledger`, with the
  library's fall-backs when they do not exist.

The library never imports Airflow; this module is where the Airflow-specific code lives. Airflow puts
plugins/ on `sys.path`, so it is imported as a top-level module (`from paper_trading_airflow import
...`); the plugins manager and every task process import it too, so it imports nothing but
`airflow.sdk` at module level: `paper_trading` and the providers are imported inside the functions.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

if TYPE_CHECKING:
    import datetime as dt

#: The Airflow Connections the DAG reads (see the DAG's docs for their fields).
BROKER_CONN_ID = "alpaca"
LEDGER_CONN_ID = "paper_trading_ledger"
ALERTS_CONN_ID = "paper_trading_alerts"


def project_root() -> str:
    """The project root: $PAPER_TRADING_ROOT, else the folder above plugins/ (which is also the
    folder above dags/: `<root>/dags`, `<root>/plugins`)."""
    return os.environ.get("PAPER_TRADING_ROOT") or str(Path(__file__).resolve().parents[1])


def scheduler_time() -> str:
    """config.yaml's scheduler.time (default 09:35 New York), read when the DAG is parsed."""
    from paper_trading.paths import scheduler_time as configured

    return configured(Path(project_root()))


def trade_date_of(ti: Any):  # -> datetime.date
    """The run's trade date, from the `trade_date` task's XCom. Tasks read it rather than take it as
    an argument: an argument is an edge, and ten edges from `trade_date` made the graph a bundle;
    the pipeline's own order already runs `trade_date` first."""
    from paper_trading.trading_calendar import parse_date

    return parse_date(ti.xcom_pull(task_ids="trade_date"))


# ------------------------------------------------------------------------------------------ retries

def retry_delay() -> timedelta:
    """The wait before a task's first retry (doubled on each further one, at most 10 minutes):
    `$PAPER_TRADING_RETRY_DELAY_S` seconds, else 60. A deployment that wants a dead worker's task
    back sooner after `[scheduler] task_instance_heartbeat_timeout` shortens it."""
    text = os.environ.get("PAPER_TRADING_RETRY_DELAY_S", "60")
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 3600:
        raise ValueError(f"PAPER_TRADING_RETRY_DELAY_S: expected seconds between 0 and 3600, got {text!r}")
    return timedelta(seconds=seconds)


# The library's error classes say what a retry can fix (paper_trading/errors.py); named by dotted
# path, so parsing the DAG imports nothing but that small module. First match wins.
RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(exception=["paper_trading.errors.BrokerUnavailable", "paper_trading.errors.AmbiguousSubmitError",
                             "paper_trading.errors.OutcomeUnknown", "paper_trading.errors.LedgerUnavailable",
                             "paper_trading.errors.LedgerBusy"],
                  action=RetryAction.RETRY, retry_delay=timedelta(minutes=2),
                  reason="the broker or the ledger is unreachable, or an outcome is unknown: try again"),
        RetryRule(exception="paper_trading.errors.PaperTradingError", action=RetryAction.FAIL,
                  reason="bad input, configuration or credentials: a retry cannot fix it"),
    ],
)


# ----------------------------------------------------------------------------------------- failures

def record_failure(context: Any) -> None:
    """The failure callback (the only one): the failure as a `task_failed` line of logs/alerts.log
    (paper_trading.alerts; it never raises), then — only when that line is new — the notice through
    `notify_failure`. A task cleared, or run again, that fails again on the same trade date is not
    sent twice: alerts.log de-duplicates per (trade date, rule, key) for both."""
    from paper_trading.alerts.delivery import failure_trade_date, record_task_failure

    ti, dag_run = context["ti"], context["dag_run"]
    day = failure_trade_date(context["params"].get("run_date"), context.get("logical_date"), dag_run.run_after)
    new = record_task_failure(Path(project_root()), dag_id=ti.dag_id, task_id=ti.task_id, run_id=context["run_id"],
                              trade_date=day, try_number=ti.try_number, error=context.get("exception"))
    if new:
        notify_failure(context, day)


# What Airflow's apprise notifier sends on a task failure (Jinja, rendered with the task's context and
# `trade_date`: the date the task_failed line of alerts.log has).
FAILURE_NOTICE = {
    "title": "paper-trading error: task_failed {{ ti.dag_id }}.{{ ti.task_id }}",
    "body": "task {{ ti.dag_id }}.{{ ti.task_id }} failed (try {{ ti.try_number }}): {{ exception }}\n\n"
            "rule: task_failed\nkey: {{ ti.dag_id }}.{{ ti.task_id }}\n"
            "trade date: {{ trade_date }}\nrun: {{ run_id }}",
}


def notify_failure(context: Any, trade_date: dt.date) -> None:
    """The notice of a new task failure: Airflow's apprise provider notifier, sending to the
    channels of the Connection `paper_trading_alerts` (conn type apprise, extra {"config": [{"path":
    "<apprise URL>"}, ...]}), with the trade date alerts.log records. A fresh notifier per failure
    (a notifier renders its templates in place, once), given a copy of the context (it adds its
    fields to the context it is given). Without the Connection the notifier raises; Airflow logs
    "Failed to run task callback" and nothing else changes (the task's state, the line in alerts.log)."""
    from airflow.providers.apprise.notifications.apprise import AppriseNotifier

    notifier = AppriseNotifier(apprise_conn_id=ALERTS_CONN_ID, notify_type="failure", **FAILURE_NOTICE)
    notifier({**context, "trade_date": trade_date.isoformat()})


# -------------------------------------------------------------------------------------- Connections

def broker():  # -> the library's broker (paper_trading.steps.broker_for)
    """The broker from the Airflow Connection `alpaca` if there is one, else from APCA_* variables."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from paper_trading.steps import broker_for

    try:
        conn = Connection.get(BROKER_CONN_ID)
    except AirflowNotFoundException:
        return broker_for(project_root())
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return broker_for(project_root(), key=conn.login, secret=conn.password, host=conn.host, port=conn.port,
                      schema=conn.schema, data_url=extra.get("data_url"), conn_id=f"connection {BROKER_CONN_ID!r}")


def ledger_url() -> str | None:
    """The ledger from the Airflow Connection `paper_trading_ledger`, if there is one (else None: the
    library's `$PAPER_TRADING_DB_URL`, `ledger.url` of the config, `data/ledger.sqlite`)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from paper_trading.connections import ledger_url_from_parts

    try:
        conn = Connection.get(LEDGER_CONN_ID)
    except AirflowNotFoundException:
        return None
    return ledger_url_from_parts(conn.conn_type, conn.host, conn.schema, conn.login, conn.password, conn.port,
                                 conn_id=f"connection {LEDGER_CONN_ID!r}")


def _import_the_sensor_decorator_quietly() -> None:
    """`@task.sensor` imports providers-standard's `sensors.python`, which (1.21.0) takes
    `determine_kwargs` from its deprecated place: a DeprecatedImportWarning in every task's log that
    no code of ours causes (moved upstream in apache/airflow#62746). The module is imported once here,
    before the DAG uses the decorator, with exactly that warning silenced; any other still shows."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The `airflow\.utils\.operator_helpers\.determine_kwargs` attribute")
        import airflow.providers.standard.sensors.python  # noqa: F401


_import_the_sensor_decorator_quietly()
