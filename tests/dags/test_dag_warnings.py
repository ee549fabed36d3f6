"""Parsing the DAG file (what every task process does first) writes no deprecation warning into the
task logs: none from our task signatures, none from a provider import the DAG causes."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_parsing_the_dag_file_shows_no_deprecation_warning():
    code = ("import sys; sys.path[:0] = ['plugins', 'dags']; import paper_trading_daily; "
            "assert paper_trading_daily.DAG.get_task('wait_for_signals')")
    result = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONWARNINGS": "always"}, timeout=120)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "determine_kwargs" not in output
    assert "Deprecat" not in output, output[-2000:]
