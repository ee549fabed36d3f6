"""What a person sees before approving a real run, and the record of the answer."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from paper_trading.errors import ConfigError
from paper_trading.ledger import Ledger, ledger_url
from paper_trading.risk.approval import LARGEST, REJECTED_SHOWN, approval_markdown
from paper_trading.steps.approval import approval_policy, record_approval

DAY = dt.date(2025, 12, 31)


def _report(rows):
    cols = ["symbol", "side", "qty", "ref_price", "notional", "order_type", "time_in_force", "tp_price", "sl_price",
            "reason", "last_price", "verdict", "reasons"]
    return pd.DataFrame([dict(zip(cols, r)) for r in rows], columns=cols)


def test_the_body_says_first_what_approve_sends_its_notional_turnover_and_what_the_gate_rejected():
    report = _report([("AAPL", "buy", 10, 150.0, 1500.0, "bracket", "gtc", 157.5, 145.5, "new", 150.0, "approved", ""),
                      ("MSFT", "sell", 5, 400.0, 2000.0, "market", "day", None, None, "exit", 400.0, "approved", ""),
                      ("TSLA", "buy", 3, 300.0, 900.0, "bracket", "gtc", 315.0, 291.0, "new", 330.0, "rejected",
                       "price_tolerance (ref 300 < last 330 x 0.98)")])
    body = approval_markdown(report, trade_date=DAY, equity=10_000.0)
    first = body.splitlines()[0]
    assert first.startswith("**Approve sends 2 order(s) now** (real, 2025-12-31): 1 buys $1,500.00, 1 sells $2,000.00; "
                            "turnover 35.0%")
    assert "**Reject** (or no answer by the deadline) sends nothing." in first
    assert "1 order(s) rejected by the risk gate:" in body
    assert "price_tolerance (ref 300 < last 330 x 0.98)".replace("<", "&lt;") in body
    assert body.index("| sell | MSFT") < body.index("| buy | AAPL")  # biggest first


def test_text_from_files_cannot_break_the_markdown_table():
    report = _report([("A|B", "buy", 1, 1.0, 1.0, "market", "day", None, None, "x", 1.0, "rejected",
                       "<script>alert(1)</script>\nnext")])
    body = approval_markdown(report, trade_date=DAY, equity=None)
    assert "A\\|B" in body and "<script>" not in body and "equity unknown" in body


def test_thirty_orders_fit_the_panel_the_largest_few_in_four_columns_and_the_rest_in_the_report():
    rows = [(f"S{i:03d}", "buy", 1, float(i), float(i), "bracket", "gtc", i * 1.05, i * 0.97, "n", float(i),
             "approved", "") for i in range(1, 31)]
    rows += [(f"R{i:03d}", "buy", 1, 1.0, 1.0, "market", "day", None, None, "n", 1.0, "rejected", "max_order_notional")
             for i in range(1, 9)]
    body = approval_markdown(_report(rows), trade_date=DAY, equity=1e6, report_path="data/outputs/risk_report.csv")
    tables = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| side")]
    assert len(tables) == LARGEST + REJECTED_SHOWN
    assert all(line.count("|") == 5 for line in tables)  # four columns: no take-profit or stop-loss to cut off
    assert "| buy | S030 |" in body and "| buy | S001 |" not in body
    assert f"… and {30 - LARGEST} smaller order(s)." in body and f"… and {8 - REJECTED_SHOWN} more." in body
    assert body.rstrip().endswith("take-profit and stop-loss: `data/outputs/risk_report.csv`.")
    assert len(body.splitlines()) < 40


def test_the_run_param_overrides_the_config_switch(project):
    assert approval_policy(project)[0] is False
    assert approval_policy(project, asked="yes") == (True, dt.timedelta(minutes=60))
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("require_approval: false", "require_approval: true"))
    assert approval_policy(project)[0] is True and approval_policy(project, asked="no")[0] is False


def test_the_run_param_says_yes_or_no_and_anything_else_is_refused_in_one_line(project):
    assert approval_policy(project, asked=True)[0] is True  # a boolean, from code
    assert approval_policy(project, asked=" ")[0] is False  # an emptied field: the config's default
    with pytest.raises(ConfigError, match="require_approval: expected yes, no or empty"):
        approval_policy(project, asked="maybe")


def test_a_rejection_is_recorded_with_who_answered_and_alerted(project):
    record_approval(DAY, approved=False, by="operator", root=project, run_id="r1")
    record_approval(DAY, approved=False, by=None, root=project, run_id="r2")
    record_approval(DAY, approved=True, by=None, required=False, root=project, run_id="r3")
    with Ledger(ledger_url(project)) as book:
        rows = {r["run_id"]: r for r in book.runs(DAY) if r["step"] == "approval"}
    assert {k: (v["outcome"], json.loads(v["detail"])["by"]) for k, v in rows.items()} == {
        "r1": ("rejected", "operator"), "r2": ("rejected", None), "r3": ("not_required", None)}
    alerts = [json.loads(line) for line in (project / "logs" / "alerts.log").read_text().splitlines()]
    assert [a["rule"] for a in alerts] == ["approval_rejected"]  # one per (date, rule, key)
    assert "rejected by operator" in alerts[0]["message"]
