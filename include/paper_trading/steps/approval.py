"""The person in the loop before money moves: whether a run must wait for an Approve, and the
record of the answer (the ledger's `runs`, and an alert when nothing is sent)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from paper_trading.errors import ConfigError
from paper_trading.steps.common import (
    config_or_defaults,
    load_settings,
    open_ledger,
    project_dir,
    run_step,
)


def approval_policy(root: str | Path | None = None, config_path: str | Path | None = None,
                    asked: str | bool | None = None) -> tuple[bool, dt.timedelta]:
    """(must a person approve, how long to wait): `asked` (the run's param: "yes" / "no", or a
    boolean from code) wins over `execution.require_approval`; None defers to it; the wait is
    `execution.approval_timeout_minutes`."""
    cfg = config_or_defaults(load_settings(project_dir(root), config_path)).execution
    if isinstance(asked, str) and not asked.strip():
        asked = None  # an emptied field: the config's default
    if isinstance(asked, str) and asked.strip().lower() not in ("yes", "no"):
        raise ConfigError(f"require_approval: expected yes, no or empty (the config's default), got {asked!r}")
    required = cfg.require_approval if asked is None else (
        asked.strip().lower() == "yes" if isinstance(asked, str) else bool(asked))
    return required, dt.timedelta(minutes=cfg.approval_timeout_minutes)


def record_approval(trade_date: dt.date, *, approved: bool, by: str | None, required: bool = True,
                    root: str | Path | None = None, config_path: str | Path | None = None, run_id: str = "cli",
                    db_url: str | None = None, mode: str = "real") -> dict:
    """The answer as a `runs` row of step `approval` (outcome approved | rejected | not_required, who
    answered — None: nobody, the deadline passed); a rejection is an `approval_rejected` alert."""
    outcome = "not_required" if not required else ("approved" if approved else "rejected")
    with run_step("approval", trade_date, root=root, config_path=config_path, run_id=run_id) as ctx:
        with open_ledger(ctx, db_url) as ledger:
            ledger.record_run(run_id, trade_date, "approval", mode, outcome, detail=json.dumps({"by": by}))
        if outcome == "rejected":
            from paper_trading.alerts.delivery import raise_alert

            who = f"rejected by {by}" if by else "not answered before the deadline"
            raise_alert(ctx.log_dir, trade_date, run_id, "approval", f"{mode} run {who}: nothing was sent",
                        rule="approval_rejected", key="approval", severity="warning", settings=ctx.cfg.alerts)
        else:
            ctx.log.info("approval: %s%s", outcome, f" by {by}" if by else "")
    return {"outcome": outcome, "by": by}
