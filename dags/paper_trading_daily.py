"""
### paper_trading_daily

One run per XNYS trading day: wait until every strategy of `config/strategy_manifest.yaml` has
published rows for the trade date, consolidate them into the day's target weights (M1), plan
the rebalance (M2), pass every order through the pre-trade risk gate, then send the approved
orders (real mode) or record what would be sent (dry mode), and wait for the fills (M4).

| task | does | writes |
|---|---|---|
| `trade_date` | the run's exchange date (`run_date` param, else the New York date of the logical date / `run_after`); skips the run if it is not an XNYS session | XCom: the date |
| `wait_for_signals` | sensor (reschedule mode): every manifest file exists, is readable and has rows for the date | `logs/wait_for_signals_YYYYMMDD.log` |
| `signal_bus` | M1: select or blend the strategies, long-only, sum to 1 | `data/intermediate/targets_consolidated_YYYYMMDD.parquet` |
| `plan` | M2: targets + broker equity, positions, prices -> plan and orders | `data/outputs/rebalance_plan_YYYYMMDD.csv`, `planned_orders_YYYYMMDD.csv` |
| `risk_gate` | approve or reject every order; pre-flight (kill switch, account flags, market open in real mode) | `data/outputs/risk_report_YYYYMMDD.csv`, `approved_orders_YYYYMMDD.csv`, the ledger's `runs` |
| `execution_mode` | branch on the `mode` param | - |
| `approve_orders` | real: a person approves the batch when `execution.require_approval` (or the `require_approval` param) is true — Approve sends, Reject or no answer by `execution.approval_timeout_minutes` sends nothing | the ledger's `runs` (step `approval`) |
| `submit_orders` | real: pre-flight again, cancel open legs on the symbols, sells, cash re-read, buys, OCO re-protection; every order exactly once (deterministic client_order_id, looked up before sending) | orders at the broker, the ledger's `orders`, `data/outputs/execution_log.csv` |
| `dry_run_orders` | dry: the same code up to the submit call; every order recorded as `dry_run` | the ledger, `execution_log.csv` |
| `wait_for_fills` | sensor (reschedule mode): the day's entries are done, or `execution.fills_timeout_s` passed (then it says what is still open) | the ledger's order states |
| `books_time` | when the books are made: the session's close (early closes included) + a delay, or before the next open (`reconcile.timing`) | XCom: the instant |
| `wait_for_close` | deferrable: the triggerer waits, not a worker slot | - |
| `reconcile` | M5: fills, end-of-day positions, cash ledger, equity, every order classified, drift | the ledger's books, `filled_orders.csv`, `positions_eod_YYYYMMDD.csv`, `cash_ledger.csv`, `recon_report_YYYYMMDD.csv` |
| `data_quality.check_orders`, `data_quality.check_fills`, `data_quality.check_books` | the task group `data_quality`: checks on the ledger Connection (common-sql): unique client_order_id, non-negative quantities, no fill without an order, positions and cash reconcile to the broker | - |
| `report` | M6: performance against SPY, trading quality, risk and concentration, the daily-drawdown alert; the dashboard (extra link "Portfolio dashboard", and the "Portfolio" page of the UI) | `data/reports/pnl_daily_YYYYMMDD.csv`, `risk_snapshot_YYYYMMDD.csv`, `metrics_YYYYMMDD.json`, `summary_dashboard_YYYYMMDD.html`, `summary_dashboard.html` |

The broker is reached with the Airflow Connection `alpaca` (login = key id, password = secret;
host, port and schema make the trading URL — `https://paper-api.alpaca.markets` in host, or host
`127.0.0.1`, port `8765`, schema `http` for the local simulator; extra `data_url`) if it exists,
else with the `APCA_*` environment variables.

Failures: bad input, bad configuration, refused credentials and refused live trading fail the task
at once (no retry can fix them; the one-line error is in the task log); an unreachable or failing
broker (connection, timeout, 5xx, 429) is retried with back-off. A strategy file that is not
published yet is waited for; a published file that cannot be read fails the sensor at once.
A task that fails for good is a `task_failed` line in `logs/alerts.log` and, the first time that task
fails for the trade date, a notification through Airflow's apprise notifier to the channels of the
Connection `paper_trading_alerts` (conn type `apprise`, extra `{"config": [{"path": "<apprise URL>"}]}`;
none: the notifier's error is logged).

The ledger is the Airflow Connection `paper_trading_ledger` (postgres: host, port, schema = the
database, login, password; or sqlite: host = the file) if it exists, else `$PAPER_TRADING_DB_URL`,
else `ledger.url` of the config, else `data/ledger.sqlite`.

Params: `mode` (`dry` | `real`, default `dry`), `run_date` (YYYY-MM-DD, default: from the run),
`round` (default 1: a new round trades the same symbols again on purpose), `signal_mode` / `pick` /
`blend` (override `signal_bus` of `config/config.yaml`), `require_approval` (`yes` / `no`: override
`execution.require_approval`).
Every task can be cleared and re-run: outputs are rewritten atomically, never appended.
This file only wires: the logic is in `include/paper_trading`, the Airflow glue (the project root,
the Connections, the retry policy, the failure callback and notifier) in `plugins/paper_trading_airflow.py`.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pendulum
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLTableCheckOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, Param, PokeReturnValue, TaskGroup, TriggerRule, dag, task
from approval_gate import OrderApprovalOperator
from paper_trading_airflow import (
    LEDGER_CONN_ID,
    RETRY_POLICY,
    broker,
    ledger_url,
    project_root,
    record_failure,
    retry_delay,
    scheduler_time,
    trade_date_of,
)
from xnys_timetable import XNYSSessionTimetable

if TYPE_CHECKING:
    from airflow.sdk.types import DagRunProtocol, RuntimeTaskInstanceProtocol
    from pendulum import DateTime

DAG_ID = "paper_trading_daily"
FILLS_POKE_INTERVAL = timedelta(minutes=1)
#: A task that runs longer than this is killed and retried (a hung broker read, a stuck file system);
#: the waits have their own bounds (sensor timeouts, the approval deadline, the close).
TASK_TIMEOUT = timedelta(minutes=30)
#: Outlets a downstream DAG can be scheduled on (`schedule=[TARGETS]`): updated by every run.
TARGETS = Asset(name="paper_trading_targets", uri="paper-trading://targets", group="paper-trading")
PLAN = Asset(name="paper_trading_plan", uri="paper-trading://plan", group="paper-trading")
LEDGER = Asset(name="paper_trading_ledger", uri="paper-trading://ledger", group="paper-trading")


@dag(
    dag_id=DAG_ID,
    schedule=XNYSSessionTimetable(at=scheduler_time()),  # config.yaml scheduler.time (default 09:35)
    start_date=pendulum.datetime(2025, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    max_consecutive_failed_dag_runs=5,
    default_args={
        "owner": "paper-trading",
        "retries": 2,
        "retry_delay": retry_delay(),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "retry_policy": RETRY_POLICY,
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": [record_failure],  # records, then notifies only a new failure
    },
    # A param that defers to config.yaml names that choice (signal_mode), never a bare "null"; the REST
    # API takes the same values (null: the config's).
    params={
        "mode": Param("dry", enum=["dry", "real"], title="Mode", description="dry: plan only; real: send orders",
                      values_display={"dry": "dry: plan and record, send nothing", "real": "real: send orders"}),
        "run_date": Param(None, type=["null", "string"], format="date", title="Trade date",
                          description="the session to trade; empty: the run's New York date "
                                      "(in the REST API's conf: YYYY-MM-DD)"),
        "round": Param(1, type="integer", minimum=1, title="Round",
                       description="round of the day: a new round trades the same symbols again on purpose"),
        "signal_mode": Param(None, type=["null", "string"], enum=[None, "select", "blend"], title="Signal mode (M1)",
                             description="how M1 combines the strategies' weights",
                             values_display={None: "the config's default (signal_bus.mode)",
                                             "select": "select: one strategy (Pick)",
                                             "blend": "blend: several strategies (Blend)"}),
        "pick": Param(None, type=["null", "string"], title="Pick",
                      description="strategy id for signal mode select; empty: the config's"),
        "blend": Param(None, type=["null", "string"], title="Blend",
                       description="ID=WEIGHT,... for signal mode blend; empty: the config's"),
        "require_approval": Param(None, type=["null", "string"], enum=[None, "yes", "no"],
                                  title="Approval before real orders",
                                  description="real mode: wait for a person's Approve before sending "
                                              "(in the REST API's conf: \"yes\", \"no\" or null)",
                                  values_display={None: "the config's default (execution.require_approval)",
                                                  "yes": "yes: a person approves before anything is sent",
                                                  "no": "no: send without asking"}),
    },
    tags=["paper-trading", "alpaca", "rebalance"],
    doc_md=__doc__,
)
def paper_trading_daily():
    # The sensor's timing is shared with `replay`, which waits for late signals the same way. Imported
    # here, not at the top: paper_trading stays out of the file's top-level imports (wait_policy.py
    # itself imports only datetime).
    from paper_trading.signals.wait_policy import SENSOR_POKE_INTERVAL, SENSOR_TIMEOUT

    # Context values (params, run_id, ti, ...) are keyword-only arguments defaulting to None: Airflow
    # fills them from the task's context when it runs the task.

    @task.short_circuit
    def trade_date(*, params: dict | None = None, logical_date: DateTime | None = None,
                   dag_run: DagRunProtocol | None = None) -> str | bool:
        """The trade date (ISO) if it is an XNYS session; otherwise skip the rest of the run."""
        from paper_trading.trading_calendar import is_session, resolve_trade_date

        day = resolve_trade_date(params.get("run_date"), logical_date, dag_run.run_after)
        if not is_session(day):
            logging.getLogger(__name__).info("%s is not an XNYS session: nothing to trade", day)
            return False
        return day.isoformat()

    @task.sensor(poke_interval=SENSOR_POKE_INTERVAL, timeout=SENSOR_TIMEOUT, mode="reschedule", retries=2)
    def wait_for_signals(*, ti: RuntimeTaskInstanceProtocol | None = None, run_id: str | None = None) -> PokeReturnValue:
        """Every strategy file exists, is readable and has rows for the trade date."""
        from paper_trading.steps import signals_ready

        ready, statuses = signals_ready(trade_date_of(ti), root=project_root(), run_id=run_id)
        return PokeReturnValue(is_done=ready, xcom_value={s.strategy_id: s.reason for s in statuses})

    @task(multiple_outputs=False, outlets=[TARGETS])
    def signal_bus(*, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """M1: consolidated target weights for the trade date."""
        from paper_trading.steps import consolidate_signals as run

        return run(trade_date_of(ti), root=project_root(), run_id=run_id, mode=params.get("signal_mode"),
                   pick=params.get("pick"), blend=params.get("blend"))

    @task(multiple_outputs=False, outlets=[PLAN])
    def plan(targets: dict, *, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """M2: the rebalance plan and share orders."""
        from paper_trading.steps import plan_rebalance as run

        return run(trade_date_of(ti), root=project_root(), run_id=run_id, round_no=int(params["round"]),
                   targets=targets["targets_path"], broker=broker, db_url=ledger_url())

    @task(multiple_outputs=False)
    def risk_gate(planned: dict, *, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """The pre-trade risk gate: approved and rejected orders, with reasons."""
        from paper_trading.steps import check_risk as run

        gated = run(trade_date_of(ti), mode=params["mode"], round_no=int(params["round"]), root=project_root(),
                    run_id=run_id, orders=planned["orders_path"], broker=broker, db_url=ledger_url())
        if params["mode"] == "real" and gated["preflight"]:  # not green, and no retry can fix it
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"the risk gate refused to trade: {', '.join(gated['preflight'])}; every "
                                       "order rejected, nothing sent (alert raised)")
        return gated

    @task.branch
    def execution_mode(*, params: dict | None = None) -> str:
        """Real mode goes to the approval step, then sends; dry mode records what would be sent."""
        return "approve_orders" if params["mode"] == "real" else "dry_run_orders"

    def _execute(ti: RuntimeTaskInstanceProtocol, gated: dict, mode: str, params: dict, run_id: str) -> dict:
        from paper_trading.steps import execute_orders

        return execute_orders(trade_date_of(ti), mode=mode, round_no=int(params["round"]), root=project_root(),
                              run_id=run_id, orders=gated["approved_path"], broker=broker, db_url=ledger_url())

    @task(multiple_outputs=False)
    def submit_orders(gated: dict, *, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """M4, real: every approved order at the broker exactly once (see execution.py)."""
        return _execute(ti, gated, "real", params, run_id)

    @task(multiple_outputs=False)
    def dry_run_orders(gated: dict, *, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """M4, dry: the same code up to the submit call; every order recorded as dry_run."""
        return _execute(ti, gated, "dry", params, run_id)

    @task.sensor(poke_interval=FILLS_POKE_INTERVAL, timeout=timedelta(hours=7), mode="reschedule", retries=2,
                 trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def wait_for_fills(*, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> PokeReturnValue:
        """The day's entries are done (or the fills timeout passed; then it reports what is still open)."""
        from paper_trading.steps import wait_for_fills as check

        done, summary = check(trade_date_of(ti), mode=params["mode"], round_no=int(params["round"]),
                              root=project_root(), run_id=run_id, broker=broker, db_url=ledger_url())
        return PokeReturnValue(is_done=done, xcom_value=summary)

    @task
    def books_time(*, ti: RuntimeTaskInstanceProtocol | None = None) -> str:
        """When the day's books are made: after the close (t0) or before the next open (t1)."""
        from paper_trading.steps.common import config_or_defaults, load_settings, project_dir
        from paper_trading.trading_calendar import books_time

        rc = config_or_defaults(load_settings(project_dir(project_root()), None)).reconcile
        return books_time(trade_date_of(ti), rc).isoformat()

    @task(multiple_outputs=False, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, outlets=[LEDGER])
    def reconcile(*, ti: RuntimeTaskInstanceProtocol | None = None, params: dict | None = None, run_id: str | None = None) -> dict:
        """M5: the books of the day from what really happened at the broker (dry runs too)."""
        from paper_trading.steps import reconcile_books as run

        return run(trade_date_of(ti), mode=params["mode"], root=project_root(), run_id=run_id, broker=broker,
                   db_url=ledger_url())

    @task(multiple_outputs=False, trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def report(*, ti: RuntimeTaskInstanceProtocol | None = None, run_id: str | None = None) -> dict:
        """M6: the reports and the dashboard of every reconciled session up to the trade date. Runs
        when the books are made even if a data-quality check failed: a day with drift is exactly the
        day the dashboard must show (the failed check keeps the run red)."""
        from paper_trading.steps import write_report as run

        return run(trade_date_of(ti), root=project_root(), run_id=run_id, broker=broker, db_url=ledger_url())

    # The tasks. Passing a task's output (`targets`, `planned`, `gated`) to another also makes it
    # upstream of that one; the trade date is read from `trade_date`'s XCom (`trade_date_of`), not
    # passed, so the graph shows the pipeline rather than an edge from `trade_date` to every task.
    # The order of the pipeline is the block at the end.
    day = trade_date()
    signals = wait_for_signals()
    targets = signal_bus()
    planned = plan(targets)
    gated = risk_gate(planned)
    branch = execution_mode()
    approve = OrderApprovalOperator(
        task_id="approve_orders", subject="paper-trading: approve the orders of {{ params.run_date or ds }}?",
        body="{{ ti.xcom_pull(task_ids='risk_gate')['approval_md'] }}",
        execution_timeout=TASK_TIMEOUT, response_timeout=timedelta(minutes=60),
        doc_md="Real mode: a person approves the batch before it is sent when `execution.require_approval` "
               "(or the `require_approval` param) is true — Approve sends, Reject or no answer by "
               "`execution.approval_timeout_minutes` sends nothing; the answer is recorded in the ledger. "
               "Otherwise it records that no approval was required and lets the orders go.")
    submitted = submit_orders(gated)
    dry = dry_run_orders(gated)
    fills = wait_for_fills()
    books_at = books_time()
    wait_for_close = DateTimeSensorAsync(
        task_id="wait_for_close", target_time="{{ ti.xcom_pull(task_ids='books_time') }}",
        execution_timeout=timedelta(days=5),  # t1 waits for the next open: a long weekend, a holiday
        doc_md="Waits in the triggerer (no worker slot) until the books of the day can be made.")
    books = reconcile()
    partition = "trade_date = '{{ ti.xcom_pull(task_ids='trade_date') }}'"
    with TaskGroup("data_quality", tooltip="Data-quality checks on the ledger (common-sql)") as data_quality:
        SQLColumnCheckOperator(
            task_id="check_orders", conn_id=LEDGER_CONN_ID, table="orders", retry_on_failure=False,
            column_mapping={"client_order_id": {"unique_check": {"equal_to": 0}, "null_check": {"equal_to": 0}}},
            doc_md="Every order has a client_order_id, and no id is there twice.")
        SQLTableCheckOperator(
            task_id="check_fills", conn_id=LEDGER_CONN_ID, table="fills", retry_on_failure=False,
            checks={"no_fill_without_an_order": {
                        "check_statement": "COALESCE(SUM(CASE WHEN order_id IS NULL OR order_id = '' THEN 1 ELSE 0 END), 0) = 0"},
                    "non_negative_quantities": {"check_statement": "COALESCE(MIN(qty), 0) >= 0"},
                    "positive_prices": {"check_statement": "COALESCE(MIN(price), 1) > 0"}},
            doc_md="No fill without an order; non-negative quantities; positive prices.")
        SQLTableCheckOperator(
            task_id="check_books", conn_id=LEDGER_CONN_ID, table="recon", partition_clause=partition,
            retry_on_failure=False,
            checks={"reconciled": {"check_statement": "COUNT(*) > 0"},
                    "positions_reconcile_to_the_broker": {
                        "check_statement": "SUM(CASE WHEN classification = 'position_drift' THEN 1 ELSE 0 END) = 0"},
                    "cash_reconciles_to_the_broker": {
                        "check_statement": "SUM(CASE WHEN classification = 'cash_drift' THEN 1 ELSE 0 END) = 0"}},
            doc_md="The day is reconciled, and the ledger's positions and cash equal the broker's.")
    reports = report()

    # The pipeline.
    day >> signals >> targets >> planned >> gated >> branch >> [approve, dry]
    approve >> submitted
    [submitted, dry] >> fills >> books_at >> wait_for_close >> books >> data_quality >> reports
    books >> reports


DAG = paper_trading_daily()
