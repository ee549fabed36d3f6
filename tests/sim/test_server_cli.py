"""The simulator's command line: `serve --help`, and `run -- COMMAND` as the demo uses it."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import BARS


def test_serve_help_documents_the_options():
    result = subprocess.run([sys.executable, "-m", "alpaca_sim", "serve", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--host", "--port", "--db", "--bars", "--key", "--secret", "--clock"):
        assert option in result.stdout


def test_run_points_the_command_at_a_fresh_broker_and_passes_its_exit_status(tmp_path):
    script = ("import os, sys; from alpaca.trading.client import TradingClient; "
              "c = TradingClient(os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY'], "
              "url_override=os.environ['APCA_API_BASE_URL']); "
              "assert os.environ['APCA_API_DATA_URL'] == os.environ['APCA_API_BASE_URL'].rstrip('/'); "
              "print(c.get_account().cash, c.get_clock().is_open); sys.exit(7)")
    result = subprocess.run([sys.executable, "-m", "alpaca_sim", "run", "--bars", str(BARS), "--clock",
                             "2025-12-31T09:45:00-05:00", "--", sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 7, result.stderr
    assert result.stdout.splitlines()[-1] == "100000 True"
