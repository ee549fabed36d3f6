"""Alerts: conditions a person must look at (market closed in real mode, kill switch, blocked account).

Each alert is one line in `logs/alerts.log` (the spec's file, appended, never rewritten) and an
ERROR line in the step's log. Notification channels (Slack, e-mail, ...) come with M6.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .logging_setup import get_logger, redact

log = get_logger("alerts")


def raise_alert(log_dir: Path, trade_date: dt.date, run_id: str, step: str, message: str) -> None:
    line = redact(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ} ALERT trade_date={trade_date} "
                  f"run_id={run_id} step={step}: {message}")
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "alerts.log", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    log.error("ALERT: %s", message)
