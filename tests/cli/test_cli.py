"""The command line, driven as a user drives it: `python -m paper_trading ...` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.unit.signal_files import csv_strategy, write_csv, write_manifest


def cli(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paper_trading", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=120)


def test_help_lists_the_steps():
    result = cli("--help")
    assert result.returncode == 0
    assert "signal-bus" in result.stdout and "signals-ready" in result.stdout


@pytest.mark.parametrize("step", ["signal-bus", "signals-ready"])
def test_every_step_help_says_what_it_reads_and_writes(step):
    result = cli(step, "--help")
    assert result.returncode == 0
    assert "reads:" in result.stdout and "writes:" in result.stdout


def test_signal_bus_select_writes_the_default_output_and_prints_its_path(project):
    result = cli("signal-bus", "--date", "2025-12-31", "--mode", "select", "--pick", "drl", cwd=project)
    assert result.returncode == 0, result.stderr
    out = project / "data" / "intermediate" / "targets_consolidated_20251231.parquet"
    assert result.stdout.strip() == str(out)
    targets = pd.read_parquet(out)
    assert set(targets["strategy_set_id"]) == {"drl"} and abs(targets["target_weight"].sum() - 1) < 1e-9


def test_signal_bus_blend_with_explicit_out_and_compact_date(project):
    out = project / "elsewhere" / "t.parquet"
    result = cli("signal-bus", "--root", str(project), "--date", "20251231", "--mode", "blend",
                 "--blend", "drl=0.6,equal=0.4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert set(pd.read_parquet(out)["strategy_set_id"]) == {"drl=0.6+equal=0.4"}


def test_bad_input_exits_non_zero_with_one_clear_line(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-03-03", "001690", -1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    result = cli("signal-bus", "--root", str(tmp_path), "--date", "2025-03-03", "--mode", "select", "--pick", "a")
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "error: strategy a, data/raw_signals/a.csv row 2: target_weight is negative (-1.0); "
        "short positions are not allowed (asset 001690)"
    )
    assert not (tmp_path / "data" / "intermediate").exists() or not any((tmp_path / "data" / "intermediate").iterdir())


def test_bad_date_argument_is_a_usage_error(project):
    result = cli("signal-bus", "--date", "31/12/2025", "--mode", "select", "--pick", "drl", cwd=project)
    assert result.returncode == 2
    assert "expected a date as YYYY-MM-DD or YYYYMMDD, got '31/12/2025'" in result.stderr


def test_bad_blend_argument_is_a_usage_error(project):
    result = cli("signal-bus", "--date", "2025-12-31", "--mode", "blend", "--blend", "drl=lots", cwd=project)
    assert result.returncode == 2
    assert "weight of 'drl' must be a number, got 'lots'" in result.stderr


def test_signals_ready_exit_codes(project):
    assert cli("signals-ready", "--date", "2025-12-31", cwd=project).returncode == 0
    waiting = cli("signals-ready", "--date", "2026-01-02", cwd=project)
    assert waiting.returncode == 3
    assert "waiting  drl" in waiting.stdout and "no rows for 2026-01-02 yet (latest: 2025-12-31)" in waiting.stdout


def test_artifacts_lists_the_days_targets_and_logs(project):
    assert cli("signal-bus", "--date", "2025-12-31", "--mode", "select", "--pick", "ml", cwd=project).returncode == 0
    result = cli("artifacts", "--date", "2025-12-31", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "targets_consolidated_20251231.parquet" in result.stdout
    assert "weights sum to 1.000000000000, ml (select)" in result.stdout
    assert "signal_bus_20251231.log" in result.stdout
    assert cli("artifacts", "--date", "2025-12-30", cwd=project).returncode == 2


def test_run_help_says_what_it_reads_writes_and_its_exit_codes():
    result = cli("run", "--help")
    assert result.returncode == 0
    assert "reads:" in result.stdout and "writes:" in result.stdout and "exit:" in result.stdout
    assert "--no-wait" in result.stdout and "--signal-mode" in result.stdout
    assert "run" in cli("--help").stdout


def test_run_on_a_non_session_date_exits_0_and_creates_nothing(project):
    before = sorted(project.rglob("*"))
    result = cli("run", "--date", "2026-01-01", "--mode", "real", cwd=project,
                 env={"APCA_API_BASE_URL": "http://127.0.0.1:9"})  # never contacted
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "session    2026-01-01 is not an XNYS session: nothing to do"
    assert sorted(project.rglob("*")) == before


def test_run_with_an_unknown_mode_is_a_usage_error(project):
    result = cli("run", "--date", "2025-12-31", "--mode", "live", cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: python -m paper_trading run: argument --mode: invalid choice: 'live'")
