"""The specification's own run examples (§8), as a user types them, through `python -m paper_trading`
in a subprocess, on a copy of the project: each runs as written (the spec's `src/*.py` scripts are
our CLI's steps), and writes the files the spec names."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "PAPER_TRADING_ROOT"))}
    return subprocess.run([sys.executable, "-m", "paper_trading", *args], capture_output=True, text=True,
                          cwd=project, env=env, timeout=120)


@pytest.fixture
def spec_project(project: Path) -> Path:
    """The project copy with the local daily bars (the offline plan's prices)."""
    shutil.copytree(REPO / "data" / "market", project / "data" / "market")
    return project


def m1(project: Path, date: str = "2025-03-03") -> Path:
    stamp = date.replace("-", "")
    out = f"data/intermediate/targets_consolidated_{stamp}.parquet"
    result = cli(project, "signal-bus", "--manifest", "config/strategy_manifest.yaml", "--date", date,
                 "--mode", "select", "--pick", "equal", "--out", out)
    assert result.returncode == 0, result.stderr
    return project / out


def test_the_m1_example_runs_as_written(spec_project):
    targets = pd.read_parquet(m1(spec_project))
    assert set(targets["trade_date"].astype(str)) == {"2025-03-03"}
    assert abs(targets["target_weight"].sum() - 1) < 1e-9


def test_the_m2_one_click_dry_run_needs_no_date_and_no_alpaca(spec_project):
    m1(spec_project)
    result = cli(spec_project, "plan", "--config", "config/config.yaml",
                 "--targets", "data/intermediate/targets_consolidated_20250303.parquet", "--equity", "10000", "--debug")
    assert result.returncode == 0, result.stderr
    out = spec_project / "data" / "outputs"
    assert result.stdout.splitlines() == [str(out / "planned_orders_20250303.csv")]
    assert "plan: prices the last close on or before 2025-03-03 in data/market/daily_bars.csv" in result.stderr
    orders = pd.read_csv(out / "planned_orders_20250303.csv")
    bars = pd.read_csv(spec_project / "data" / "market" / "daily_bars.csv")
    last = bars[bars["date"] <= "2025-03-03"].sort_values("date").groupby("symbol")["close"].last()
    assert len(orders) and (orders["ref_price"] == orders["symbol"].map(last)).all()


def test_the_m2_example_with_one_fill_price_prices_every_symbol_at_it(spec_project):
    m1(spec_project)
    result = cli(spec_project, "plan", "--config", "config/config.yaml",
                 "--targets", "data/intermediate/targets_consolidated_20250303.parquet", "--equity", "10000",
                 "--fill-price", "100", "--debug")
    assert result.returncode == 0, result.stderr
    assert "plan: prices --fill-price 100 for every symbol" in result.stderr
    orders = pd.read_csv(spec_project / "data" / "outputs" / "planned_orders_20250303.csv")
    assert set(orders["ref_price"]) == {100}


def test_m2_writes_the_specs_planned_orders_and_rebalance_plan_as_the_latest_plan(spec_project):
    m1(spec_project)
    assert cli(spec_project, "plan", "--targets", "data/intermediate/targets_consolidated_20250303.parquet",
               "--equity", "10000").returncode == 0
    out = spec_project / "data" / "outputs"
    assert (out / "planned_orders.csv").read_bytes() == (out / "planned_orders_20250303.csv").read_bytes()
    assert (out / "rebalance_plan.csv").read_bytes() == (out / "rebalance_plan_20250303.csv").read_bytes()
    assert not list(out.glob("*.tmp*"))


def test_a_targets_file_without_a_date_anywhere_asks_for_date(spec_project):
    targets = pd.read_parquet(m1(spec_project)).drop(columns=["trade_date"])
    targets.to_parquet(spec_project / "data" / "intermediate" / "mine.parquet")
    result = cli(spec_project, "plan", "--targets", "data/intermediate/mine.parquet", "--equity", "10000")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: data/intermediate/mine.parquet: no trade date in the file (trade_date "
                                     "column) or its name (YYYYMMDD); give --date")
    assert not (spec_project / "data" / "outputs").exists()


def test_plan_without_date_or_targets_is_one_clear_line(spec_project):
    result = cli(spec_project, "plan", "--equity", "10000")
    assert (result.returncode, result.stderr.strip()) == (
        2, "error: plan: give --date, or --targets (its trade date is read from the file)")


@pytest.mark.parametrize("keep", ["planned_orders.csv", "rebalance_plan.csv"])
def test_the_gate_discovers_its_input_as_the_spec_says(spec_project, keep):
    """No dated plan: the gate reads planned_orders.csv, else derives the orders from
    rebalance_plan.csv (its action and planned quantity) — the same orders either way."""
    m1(spec_project)
    assert cli(spec_project, "plan", "--date", "2025-03-03", "--equity", "10000").returncode == 0
    out = spec_project / "data" / "outputs"
    expected = pd.read_csv(out / "planned_orders_20250303.csv")
    for name in ("planned_orders_20250303.csv", "planned_orders.csv", "rebalance_plan.csv"):
        if name != keep:
            (out / name).unlink()
    result = cli(spec_project, "risk", "--date", "2025-03-03", "--fill-price", "100", "-v")
    assert result.returncode == 0, result.stderr
    assert f"the gate {'reads' if keep == 'planned_orders.csv' else 'derives the orders from'} data/outputs/{keep}" \
        in result.stderr
    report = pd.read_csv(out / "risk_report_20250303.csv")
    assert sorted(zip(report["symbol"], report["side"], report["qty"])) == \
        sorted(zip(expected["symbol"], expected["side"], expected["qty"]))
