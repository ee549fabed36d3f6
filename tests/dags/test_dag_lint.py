"""ruff's Airflow rules (AIR, preview ones included: Airflow 3 imports, removed and deprecated names,
implicit XCom outputs) find nothing in the DAG, the plugins or the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ruff_airflow_rules_are_clean():
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "--select", "AIR", "--preview", "--output-format", "concise",
                             "dags", "plugins", "include", "tests"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
