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
    steps.consolidate_signals(DAY, root=project, mode="select", pick="drl")
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


def test_progress_lines_go_to_stderr_with_the_run_context_when_asked(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--root", str(planned),
                 "--verbose")
    assert result.returncode == 0, result.stderr
    assert "INFO trade_date=2025-12-31 run_id=cli paper_trading.plan: plan: equity 10000.00" in result.stderr


def test_a_successful_step_is_quiet_on_stderr_and_logs_everything_to_its_file(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--root", str(planned))
    assert result.returncode == 0 and result.stderr == ""
    assert "plan: equity 10000.00" in (planned / "logs" / "plan_20251231.log").read_text()


def test_a_failing_signal_bus_prints_only_its_error_line(planned):
    drl = planned / "data" / "raw_signals" / "drl_weight.csv"
    drl.write_text(drl.read_text() + "2025-12-31,001690,lots\n")
    result = cli("signal-bus", "--date", "2025-12-31", "--mode", "select", "--pick", "drl", "--root", str(planned))
    assert one_line(result).startswith("error: data/raw_signals/drl_weight.csv (strategy drl) row ")


@pytest.mark.parametrize("args, message", [
    (["--date", "2025-02-30"], "argument --date: expected a date as YYYY-MM-DD or YYYYMMDD, got '2025-02-30'"),
    (["--date", "2025-12-31", "--equity", "abc"], "argument --equity: invalid float value: 'abc'"),
])
def test_a_usage_error_is_one_line(planned, args, message):
    result = cli("plan", *args, "--root", str(planned))
    assert one_line(result) == f"error: python -m paper_trading plan: {message} (see --help)"


@pytest.mark.parametrize("key", ["paths.outputs", "paths.logs"])
def test_a_configured_folder_that_is_a_file_is_one_clear_line(planned, key):
    section, name = key.split(".")
    (planned / "blocker").write_text("a file, not a folder\n")
    config = planned / "config" / "config.yaml"
    config.write_text(config.read_text().replace("  logs: logs", "  logs: blocker" if name == "logs" else "  logs: logs")
                      .replace("  outputs: data/outputs", "  outputs: blocker" if name == "outputs" else
                               "  outputs: data/outputs"))
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--root", str(planned))
    assert one_line(result).startswith("error: blocker")


def test_an_out_path_that_is_a_folder_is_one_clear_line(planned):
    result = cli("signal-bus", "--date", "2025-12-31", "--mode", "select", "--pick", "drl", "--out", "data",
                 "--root", str(planned))
    assert one_line(result).startswith("error: data")


def test_a_config_that_is_not_utf8_is_one_clear_line(planned):
    config = planned / "config" / "config.yaml"
    config.write_bytes(config.read_text().encode("utf-16"))
    result = cli("signal-bus", "--date", "2025-12-31", "--root", str(planned))
    assert one_line(result).startswith("error: config/config.yaml: not UTF-8 text")


def test_prices_and_fill_price_together_are_refused(planned):
    (planned / "prices.csv").write_text("symbol,price\nAAPL,50\n")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--prices", "prices.csv",
                 "--root", str(planned))
    assert one_line(result) == "error: give --prices or --fill-price, not both: which one is meant?"


def test_a_held_position_without_a_price_needs_cash(planned):
    (planned / "prices.csv").write_text("symbol,price\nAAPL,50\n")
    (planned / "positions.csv").write_text("symbol,qty\nZZZZ,5\n")
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--prices", "prices.csv", "--positions",
                 "positions.csv", "--root", str(planned))
    assert one_line(result) == ("error: ZZZZ held but without a price, so the cash cannot be derived from --equity: "
                                "give their prices, or --cash")


def test_the_offline_gate_refuses_a_plan_summary_of_another_day(planned):
    steps.plan_rebalance(DAY, root=planned, equity=10_000, fill_price=100)
    summary = planned / "data" / "outputs" / "plan_summary_20251231.json"
    summary.write_text(summary.read_text().replace('"trade_date": "2025-12-31"', '"trade_date": "2025-12-30"'))
    result = cli("risk", "--date", "2025-12-31", "--fill-price", "100", "--root", str(planned))
    assert one_line(result) == ("error: data/outputs/plan_summary_20251231.json: trade_date '2025-12-30' is not the "
                                "trade date 2025-12-31")


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
    steps.plan_rebalance(DAY, root=planned, equity=10_000, fill_price=100)
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


def test_plan_refuses_a_fill_price_below_alpacas_smallest_tick(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "1e-300", "--root", str(planned))
    assert one_line(result) == "error: --fill-price: expected a price of at least 0.0001 (Alpaca's smallest tick), got 1e-300"


def test_plan_refuses_an_equity_larger_than_any_account(planned):
    result = cli("plan", "--date", "2025-12-31", "--equity", "1e300", "--fill-price", "1", "--root", str(planned))
    assert one_line(result) == "error: --equity: expected an amount of at most 1e+15, got 1e+300"
