"""The small input files of M2 and the gate, driven through the command line as a user drives it:
every bad cell is refused with exit 2 and one line naming the file (relative to the project root),
the row and the value; nothing is written. The readers themselves: tests/unit/test_input_files.py."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

from paper_trading import steps
from tests.unit.test_input_files import DAY, targets, write  # noqa: F401 (fixture)


def cli(*args: str, root) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PAPER_TRADING_ROOT"}
    return subprocess.run([sys.executable, "-m", "paper_trading", *args, "--root", str(root)], capture_output=True,
                          text=True, timeout=120, cwd="/", env=env)


def only_error_line(result: subprocess.CompletedProcess) -> str:
    """The whole of stderr, which must be exactly one `error:` line."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.returncode == 2
    return lines[0]


def test_a_symbol_with_a_space_in_the_map_stops_the_plan_before_any_order(project, targets):
    mapping = project / "data" / "mapping" / "instrument_map.csv"
    mapping.write_text(mapping.read_text().replace(",AAPL,", ",AA PL,", 1))
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", root=project)
    assert only_error_line(result).startswith("error: data/mapping/instrument_map.csv row ")
    assert "symbol expected letters and digits" in result.stderr and "'AA PL'" in result.stderr
    assert not (project / "data" / "outputs" / "planned_orders_20251231.csv").exists()


def test_an_infinite_price_is_refused_by_the_plan_step(project, targets):
    write(project / "prices.csv", "symbol,price\nAAPL,inf\n")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--prices", "prices.csv", root=project)
    assert only_error_line(result) == "error: prices.csv row 2: price expected a finite number > 0, got 'inf'"


def test_risk_refuses_a_non_numeric_qty_with_one_line(project, targets):
    steps.plan_rebalance(DAY, root=project, equity=10_000, fill_price=100)
    orders = project / "data" / "outputs" / "planned_orders_20251231.csv"
    lines = orders.read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = "lots"
    orders.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    result = cli("risk", "--date", "2025-12-31", "--fill-price", "100", root=project)
    assert only_error_line(result) == ("error: data/outputs/planned_orders_20251231.csv row 2: "
                                       "qty expected a finite number > 0, got 'lots'")
    assert not (project / "data" / "outputs" / "approved_orders_20251231.csv").exists()


def test_plan_refuses_the_targets_of_another_day(project):
    steps.consolidate_signals(dt.date(2025, 12, 30), root=project, mode="select", pick="drl")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--targets",
                 "data/intermediate/targets_consolidated_20251230.parquet", root=project)
    assert only_error_line(result) == ("error: data/intermediate/targets_consolidated_20251230.parquet row 1: "
                                       "trade_date '2025-12-30' is not the trade date 2025-12-31")


def test_plan_refuses_a_targets_file_that_is_not_parquet(project):
    write(project / "t.parquet", "trade_date,asset_id,target_weight\n")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--targets",
                 "t.parquet", root=project)
    assert only_error_line(result).startswith("error: t.parquet: cannot read the targets as Parquet")
