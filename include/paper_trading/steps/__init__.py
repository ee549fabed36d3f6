"""The steps of the daily run, as plain functions: what the CLI and the DAG tasks call.

One module per step (`signals`, `plan`, `risk`, `execute`, `reconcile`, `report`), the plumbing they share (`common`),
and the whole day in the DAG's order without Airflow (`day`, the CLI's `run`): each step
resolves its settings (config file, then explicit overrides), opens its step log
(`logs/<step>_YYYYMMDD.log`, handed to the host's logging too) and calls the pure core functions.
Arguments and return values are plain (paths, dates, small dicts), so an Airflow task passes them
through XCom unchanged.
"""

from paper_trading.config import DEFAULT_CONFIG
from paper_trading.steps.common import broker_for, make_broker, output_paths
from paper_trading.steps.day import run_day
from paper_trading.steps.execute import execute, wait_for_fills
from paper_trading.steps.plan import plan
from paper_trading.steps.reconcile import reconcile
from paper_trading.steps.report import report
from paper_trading.steps.risk import risk
from paper_trading.steps.signals import signal_bus, signals_ready

__all__ = ["DEFAULT_CONFIG", "broker_for", "execute", "make_broker", "output_paths", "plan", "reconcile", "report", "risk",
           "run_day", "signal_bus",
           "signals_ready", "wait_for_fills"]
