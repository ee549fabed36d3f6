"""How the command line fails: exit 2, one line on stderr, nothing created, paths as the user wrote them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from paper_trading import steps

DAY = dt.date(2025, 12, 31)


def cli(*args: str, cwd="/", env=None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "PAPER_TRADING_ROOT"}
    return subprocess.run([sys.executable, "-m", "paper_trading", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**base, **(env or {})})


def one_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def planned(project):
    steps.signal_bus(DAY, root=project, mode="select", pick="drl")
    return project


@pytest.mark.parametrize("step", [["signal-bus"], ["signals-ready"], ["plan", "--equity", "100", "--fill-price", "1"],
                                  ["risk", "--fill-price", "1"], ["artifacts"]])
def test_a_root_that_does_not_exist_is_refused_first_and_nothing_is_created(tmp_path, step):
    missing = tmp_path / "nope"
    result = cli(step[0], "--date", "2025-12-31", *step[1:], "--root", str(missing))
    assert one_line(result) == f"error: --root {missing}: the project root does not exist"
    assert not missing.exists()


def test_a_root_from_the_environment_that_does_not_exist_says_where_it_came_from(tmp_path):
    result = cli("signal-bus", "--date", "2025-12-31", env={"PAPER_TRADING_ROOT": str(tmp_path / "gone")})
    assert one_line(result) == f"error: $PAPER_TRADING_ROOT {tmp_path / 'gone'}: the project root does not exist"


def test_a_failure_is_printed_once_and_logged_in_the_step_file(planned):
    (planned / "data" / "mapping" / "instrument_map.csv").write_text("gvkey,symbol\n,AAPL\n")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--root", str(planned))
    line = one_line(result)
    assert line == "error: data/mapping/instrument_map.csv row 2: gvkey is empty; expected up to 6 digits"
    assert line.removeprefix("error: ") in (planned / "logs" / "plan_20251231.log").read_text()


def test_progress_lines_go_to_stderr_with_the_run_context(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--root", str(planned))
    assert result.returncode == 0, result.stderr
    assert "INFO trade_date=2025-12-31 run_id=cli paper_trading.plan: plan: equity 10000.00" in result.stderr


@pytest.mark.parametrize("equity, message", [
    ("0", "--equity: expected an amount > 0, got 0"),
    ("-5", "--equity: expected an amount > 0, got -5"),
    ("nan", "--equity: expected a finite amount, got nan"),
    ("inf", "--equity: expected a finite amount, got inf"),
])
def test_plan_refuses_an_equity_that_is_not_a_positive_amount(planned, equity, message):
    result = cli("plan", "--date", "2025-12-31", "--equity", equity, "--fill-price", "100", "--root", str(planned))
    assert one_line(result) == f"error: {message}"
    assert not (planned / "data" / "outputs" / "planned_orders_20251231.csv").exists()


@pytest.mark.parametrize("price", ["0", "-1", "nan", "inf"])
def test_plan_refuses_a_fill_price_that_is_not_a_positive_price(planned, price):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", price, "--root", str(planned))
    assert one_line(result) == f"error: --fill-price: expected a finite price > 0, got {float(price)!r}"


@pytest.mark.parametrize("price", ["0", "-1", "nan", "inf"])
def test_risk_refuses_a_fill_price_that_is_not_a_positive_price(planned, price):
    steps.plan(DAY, root=planned, equity=10_000, fill_price=100)
    result = cli("risk", "--date", "2025-12-31", "--fill-price", price, "--root", str(planned))
    assert one_line(result) == f"error: --fill-price: expected a finite price > 0, got {float(price)!r}"
    assert not (planned / "data" / "outputs" / "approved_orders_20251231.csv").exists()


def test_plan_refuses_a_cash_that_is_not_finite(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--cash", "nan", "--fill-price", "1",
                 "--root", str(planned))
    assert one_line(result) == "error: --cash: expected a finite amount, got nan"


def test_offline_only_options_without_equity_are_refused(planned):
    result = cli("plan", "--date", "2025-12-31", "--fill-price", "100", "--root", str(planned))
    assert one_line(result) == ("error: --positions, --cash and --fill-price are for an offline plan: "
                                "give --equity too")


def test_error_paths_are_relative_to_the_root_given_not_the_working_directory(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--prices", "nope.csv", "--root", str(planned))
    assert one_line(result) == "error: nope.csv: prices file not found"


def test_an_unfunded_account_plans_nothing_with_a_reason(planned, sim):
    from paper_trading.broker import AlpacaBroker

    sim.admin("POST", "/sim/reset", {"cash": "0", "clock": "2025-12-31T14:45:00Z"})
    summary = steps.plan(DAY, root=planned, broker=AlpacaBroker(sim.key, sim.secret, sim.url, sim.url))
    assert summary["orders"] == 0 and summary["skipped"] > 0
    assert "the account has no equity (0.00): nothing to trade" in (planned / "logs" / "plan_20251231.log").read_text()


def test_plan_refuses_a_fill_price_below_alpacas_smallest_tick(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "1e-300", "--root", str(planned))
    assert one_line(result) == "error: --fill-price: expected a price of at least 0.0001 (Alpaca's smallest tick), got 1e-300"


def test_plan_refuses_an_equity_larger_than_any_account(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "1e300", "--fill-price", "1", "--root", str(planned))
    assert one_line(result) == "error: --equity: expected an amount of at most 1e+15, got 1e+300"
