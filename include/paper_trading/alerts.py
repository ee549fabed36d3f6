"""Alerts: conditions a person must look at (market closed in real mode, kill switch, blocked account).

Each alert is one JSON line in `logs/alerts.log` (the spec's file, appended, never rewritten) and an
ERROR line in the step's log. Keys of a line: ts (UTC, ISO 8601), trade_date, run_id, step, rule,
key, severity (error | warning), message. Notification channels (Slack, e-mail, ...) come with M6.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from .logging_setup import get_logger, redact

log = get_logger("alerts")

ALERTS_FILE = "alerts.log"


def raise_alert(log_dir: Path, trade_date: dt.date, run_id: str, step: str, message: str, *,
                rule: str = "other", key: str = "", severity: str = "error") -> dict:
    """Append the alert to `log_dir/alerts.log` and log it; returns the line written."""
    record = {"ts": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}", "trade_date": trade_date.isoformat(),
              "run_id": run_id, "step": step, "rule": rule, "key": key, "severity": severity,
              "message": redact(message)}
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / ALERTS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    (log.error if severity == "error" else log.warning)("ALERT [%s] %s", rule, record["message"])
    return record


def read_alerts(log_dir: Path, *, until: dt.date | None = None, limit: int | None = None) -> list[dict]:
    """The alerts of `log_dir/alerts.log`, oldest first (the last `limit` of them, of trade dates up to
    `until`). A line that is not a JSON object (a hand edit, an older plain-text line) is skipped."""
    path = log_dir / ALERTS_FILE
    if not path.is_file():
        return []
    out: list[dict] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if until is not None and str(record.get("trade_date", "")) > until.isoformat():
            continue
        out.append(record)
    return out[-limit:] if limit else out
