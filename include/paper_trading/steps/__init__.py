"""The steps of the daily run, as plain functions: what the CLI and the DAG tasks call.

One module per step (`signals`, `plan`, `risk`, `execute`, `reconcile`, `report`), each exporting a verb
(`consolidate_signals`, `plan_rebalance`, `check_risk`, `execute_orders`, `reconcile_books`, `write_report`);
the plumbing they share (`common`),
and the whole day in the DAG's order without Airflow (`day`, the CLI's `run`): each step
resolves its settings (config file, then explicit overrides), opens its step log
(`logs/<step>_YYYYMMDD.log`, handed to the host's logging too) and calls the pure core functions.
Arguments and return values are plain (paths, dates, small dicts), so an Airflow task passes them
through XCom unchanged.
"""

from paper_trading.config import DEFAULT_CONFIG
from paper_trading.steps.common import broker_for, make_broker, output_paths
from paper_trading.steps.day import run_day
from paper_trading.steps.execute import execute_orders, wait_for_fills
from paper_trading.steps.plan import plan_rebalance
from paper_trading.steps.reconcile import reconcile_books
from paper_trading.steps.report import write_report
from paper_trading.steps.risk import check_risk
from paper_trading.steps.signals import consolidate_signals, signals_ready

__all__ = ["DEFAULT_CONFIG", "broker_for", "check_risk", "consolidate_signals", "execute_orders", "make_broker",
           "output_paths", "plan_rebalance", "reconcile_books", "run_day", "signals_ready", "wait_for_fills",
           "write_report"]
