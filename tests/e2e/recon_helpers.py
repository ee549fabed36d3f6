"""Helpers of the M5 review cases (test_reconcile_holes.py, test_reconcile_clean.py, test_reconcile_late.py)."""

import datetime as dt

import pandas as pd

from paper_trading import steps
from paper_trading.broker.alpaca import AlpacaBroker
from paper_trading.errors import OutcomeUnknown

DAY = dt.date(2025, 12, 31)
OPEN = "2025-12-31T14:45:00Z"


def make_broker(sim):
    return AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, timeout=2.0, backoff_seconds=0.01,
                        requests_per_minute=100_000)


def fast_project(project):
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05")
                      .replace("sell_timeout_s: 120", "sell_timeout_s: 1").replace("buy_timeout_s: 120", "buy_timeout_s: 1"))
    return project


def trade(project, broker, day=DAY, pick="drl", mode="real"):
    steps.consolidate_signals(day, root=project, mode="select", pick=pick)
    steps.plan_rebalance(day, root=project, broker=broker)
    steps.check_risk(day, mode=mode, root=project, broker=broker)
    try:
        return steps.execute_orders(day, mode=mode, root=project, broker=broker)
    except OutcomeUnknown:
        return None


def report(project, day):
    return pd.read_csv(project / "data" / "outputs" / f"recon_report_{day:%Y%m%d}.csv", dtype={"key": str})


def alerts(project, day):
    r = report(project, day)
    return r[r["alert"] == True]  # noqa: E712
