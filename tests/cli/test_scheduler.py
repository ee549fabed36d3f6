"""The spec's M3 without Airflow: `run --once` (T5) runs the day and exits; `run --daemon
--skip-weekends` (T6) stays resident and runs the day at `scheduler.time` on every session, by the
broker's clock (the simulator's, moved by the test), until SIGTERM. Both write logs/scheduler.log."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def env_for(sim) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "PAPER_TRADING_ROOT"))}
    return {**env, "APCA_API_KEY_ID": sim.key, "APCA_API_SECRET_KEY": sim.secret, "APCA_API_BASE_URL": sim.url,
            "APCA_API_DATA_URL": sim.url}


def fast(project: Path) -> Path:
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05"))
    return project


def wait_for(path: Path, pattern: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{pattern!r} not in {path}:\n{text}")


def test_T5_run_once_runs_the_day_and_exits(project, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})
    result = subprocess.run([sys.executable, "-m", "paper_trading", "run", "--config", "config/config.yaml",
                             "--date", "2025-12-31", "--once", "--debug"], cwd=fast(project), env=env_for(sim),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^report .*summary_dashboard_20251231\.html", result.stdout, re.M)
    log = (project / "logs" / "scheduler.log").read_text()
    assert "INFO once: 2025-12-31, mode dry, started " in log and log.rstrip().endswith("INFO once: done")
    logs = project / "logs"  # the spec's §1 log files, beside each step's own
    assert "paper_trading.signal_bus" in (logs / "signal_bus_20251231.log").read_text()
    execution = (logs / "execution_20251231.log").read_text()
    assert all(f"paper_trading.{step}:" in execution for step in ("plan", "risk", "execute"))
    assert (logs / "plan_20251231.log").exists() and (logs / "execute_20251231.log").exists()


def test_T6_the_resident_scheduler_runs_every_session_at_its_time_and_skips_the_weekend(project, sim):
    shutil.copytree(REPO / "data" / "market", project / "data" / "market")
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-26T09:00:00-05:00"})  # a Friday
    daemon = subprocess.Popen([sys.executable, "-m", "paper_trading", "run", "--config", "config/config.yaml",
                               "--daemon", "--skip-weekends", "--debug", "--poll-s", "0.2"], cwd=fast(project),
                              env=env_for(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = project / "logs" / "scheduler.log"
    try:
        wait_for(log, r"next run: 2025-12-26 at 2025-12-26 09:35 EST")
        assert not (project / "data" / "outputs").exists()  # 09:00: nothing runs before scheduler.time
        sim.admin("POST", "/sim/clock", {"to": "2025-12-26T09:36:00-05:00"})
        wait_for(log, r"2025-12-26: run starts")
        sim.admin("POST", "/sim/clock", {"to": "2025-12-26T16:30:00-05:00"})  # the books wait for the close
        wait_for(log, r"2025-12-26: run done \(books made\)")
        wait_for(log, r"next run: 2025-12-29 at 2025-12-29 09:35 EST")  # Monday: the weekend is skipped
        sim.admin("POST", "/sim/clock", {"to": "2025-12-27T12:00:00-05:00"})  # Saturday
        time.sleep(1.5)
        assert "2025-12-27" not in log.read_text()
        sim.admin("POST", "/sim/clock", {"to": "2025-12-29T09:36:00-05:00"})
        wait_for(log, r"2025-12-29: run starts")
        sim.admin("POST", "/sim/clock", {"to": "2025-12-29T16:30:00-05:00"})
        wait_for(log, r"2025-12-29: run done \(books made\)")
    finally:
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, err
    text = log.read_text()
    assert text.rstrip().endswith("INFO daemon stopped after 2 run(s)")
    assert [line.split("INFO ")[1] for line in text.splitlines() if "run starts" in line] == [
        "2025-12-26: run starts (mode dry; it is 2025-12-26 09:36 New York)",
        "2025-12-29: run starts (mode dry; it is 2025-12-29 09:36 New York)"]
    runs = sorted(p.name for p in (project / "data" / "reports").glob("metrics_*.json"))
    assert runs == ["metrics_20251226.json", "metrics_20251229.json"]


def test_the_daemon_takes_no_date(project):
    result = subprocess.run([sys.executable, "-m", "paper_trading", "run", "--daemon", "--date", "2025-12-31"],
                            cwd=project, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "PAPER_TRADING_ROOT"})
    assert (result.returncode, result.stderr.strip()) == (
        2, "error: run --daemon runs every session from now on: --date is for --once")
