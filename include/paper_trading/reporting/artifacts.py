"""What a run left behind for a trade date: each artifact with a one-line summary.

The demo prints this after running the DAG, and a user can ask for it any time
(`python -m paper_trading artifacts --date ...`) instead of hunting through folders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class Artifact:
    label: str
    path: Path
    summary: str


def _targets_summary(path: Path) -> str:
    table = pq.read_table(path, columns=["target_weight", "strategy_set_id", "blend_mode", "run_id"])
    weights = table["target_weight"].to_pylist()
    return (
        f"{len(weights)} assets, weights sum to {sum(weights):.12f}, "
        f"{table['strategy_set_id'][0]} ({table['blend_mode'][0]}), run {table['run_id'][0]}"
    )


def _plan_summary(path: Path) -> str:
    import pandas as pd

    plan = pd.read_csv(path)
    counts = plan["action"].value_counts()
    return ", ".join(f"{n} {action}" for action, n in counts.items())


def _orders_summary(path: Path) -> str:
    import pandas as pd

    orders = pd.read_csv(path)
    if orders.empty:
        return "no orders"
    notional = (orders["qty"] * orders["ref_price"]).sum()
    return f"{(orders['side'] == 'sell').sum()} sells, {(orders['side'] == 'buy').sum()} buys, notional {notional:,.2f}"


def _risk_summary(path: Path) -> str:
    import pandas as pd

    report = pd.read_csv(path)
    counts = report["verdict"].value_counts()
    return f"{counts.get('approved', 0)} approved, {counts.get('rejected', 0)} rejected"


def _execution_summary(path: Path, trade_date: dt.date) -> str:
    import pandas as pd

    log = pd.read_csv(path, dtype=str, keep_default_na=False)
    day = log[log["client_order_id"].str.contains(f"-{trade_date:%Y%m%d}-", regex=False)]
    if day.empty:
        return f"no order of {trade_date} (the file holds every date's orders)"
    counts = day["status"].value_counts()
    return f"{', '.join(f'{n} {s}' for s, n in counts.items())} ({', '.join(sorted(set(day['mode'])))})"


def _recon_summary(path: Path) -> str:
    import pandas as pd

    rows = pd.read_csv(path, dtype=str, keep_default_na=False)
    counts = rows["classification"].value_counts()
    alerts = int((rows["alert"] == "True").sum())
    return f"{', '.join(f'{n} {c}' for c, n in counts.items())}; {alerts} alert(s)"


def list_artifacts(root: Path, trade_date: dt.date) -> list[Artifact]:
    """The artifacts of `trade_date` that exist under `root`, in pipeline order."""
    stamp = f"{trade_date:%Y%m%d}"
    found: list[Artifact] = []
    targets = root / "data" / "intermediate" / f"targets_consolidated_{stamp}.parquet"
    if targets.exists():
        found.append(Artifact("M1 targets", targets, _targets_summary(targets)))
    outputs = root / "data" / "outputs"
    for label, name, summarize in (
        ("M2 plan", f"rebalance_plan_{stamp}.csv", _plan_summary),
        ("M2 orders", f"planned_orders_{stamp}.csv", _orders_summary),
        ("risk report", f"risk_report_{stamp}.csv", _risk_summary),
        ("approved", f"approved_orders_{stamp}.csv", _orders_summary),
    ):
        if (outputs / name).exists():
            found.append(Artifact(label, outputs / name, summarize(outputs / name)))
    recon = outputs / f"recon_report_{stamp}.csv"
    if recon.exists():
        found.append(Artifact("M5 recon", recon, _recon_summary(recon)))
    execution_log = outputs / "execution_log.csv"
    if execution_log.exists():
        found.append(Artifact("M4 orders", execution_log, _execution_summary(execution_log, trade_date)))
    for log in sorted((root / "logs").glob(f"*_{stamp}.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        found.append(Artifact("log", log, f"{len(lines)} lines"))
    return found
