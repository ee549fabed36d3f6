"""Step logs: one file per step and date, the run context on every line, never a secret."""

from __future__ import annotations

import contextlib
import datetime as dt

from paper_trading import steps
from paper_trading.logging_setup import (
    get_logger,
    redact,
    register_secret,
    step_logging,
)

DAY = dt.date(2025, 12, 31)


def test_step_writes_its_log_with_trade_date_and_run_id_on_every_line(project):
    steps.consolidate_signals(DAY, root=project, run_id="scheduled__2025-12-31T13:30:00+00:00")
    lines = (project / "logs" / "signal_bus_20251231.log").read_text().splitlines()
    assert len(lines) >= 3
    assert all("trade_date=2025-12-31 run_id=scheduled__2025-12-31T13:30:00+00:00" in line for line in lines)


def test_secrets_from_the_environment_never_reach_the_log(tmp_path, monkeypatch):
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s3cr3t-value-123")
    monkeypatch.setenv("APCA_API_KEY_ID", "PKTESTKEY42")
    with step_logging("demo", DAY, "r1", tmp_path):
        get_logger("demo").info("connecting with key PKTESTKEY42 and secret s3cr3t-value-123")
    text = (tmp_path / "demo_20251231.log").read_text()
    assert "s3cr3t-value-123" not in text and "PKTESTKEY42" not in text
    assert "connecting with key *** and secret ***" in text


def test_registered_secrets_are_masked():
    register_secret("conn-password-xyz")
    assert redact("login failed for conn-password-xyz") == "login failed for ***"


def test_a_secret_set_in_the_environment_after_the_first_log_line_is_masked_too(monkeypatch):
    assert redact("token Wq7vLateTokenZ9") == "token Wq7vLateTokenZ9"
    monkeypatch.setenv("WEBHOOK_TOKEN", "Wq7vLateTokenZ9")
    assert redact("token Wq7vLateTokenZ9") == "token ***"
    monkeypatch.setenv("WEBHOOK_TOKEN", "Kp3xChangedTokenY4")
    assert redact("token Wq7vLateTokenZ9 Kp3xChangedTokenY4") == "token Wq7vLateTokenZ9 ***"


def test_handlers_are_removed_after_the_step(tmp_path):
    with step_logging("one", DAY, "r1", tmp_path):
        get_logger("one").info("first")
    get_logger("one").info("after the step")
    assert "after the step" not in (tmp_path / "one_20251231.log").read_text()


def test_a_failed_step_logs_its_error_line(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "strategy_manifest.yaml").write_text("strategies: []\n")
    with contextlib.suppress(Exception):
        steps.consolidate_signals(DAY, root=tmp_path, mode="select", pick="x")
    text = (tmp_path / "logs" / "signal_bus_20251231.log").read_text()
    assert "ERROR" in text and "config/strategy_manifest.yaml: strategies: List should have at least 1 item" in text
