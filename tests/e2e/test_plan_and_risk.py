"""M1 -> M2 -> risk gate as steps, the broker being the simulator over real HTTP (spec T3 included)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pandas as pd
import pytest

from paper_trading import steps
from paper_trading.broker.alpaca import AlpacaBroker
from paper_trading.broker.types import OrderRequest
from paper_trading.errors import InputError

DAY = dt.date(2025, 12, 31)


@pytest.fixture
def broker(sim) -> AlpacaBroker:
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})  # 09:45 New York, market open
    return AlpacaBroker(sim.key, sim.secret, sim.url, sim.url)


@pytest.fixture
def targets(project):
    return steps.consolidate_signals(DAY, root=project, mode="select", pick="drl")


def outputs(project):
    return project / "data" / "outputs"


def test_plan_from_the_broker_sells_what_left_the_targets(project, targets, broker):
    broker.submit_order(OrderRequest(symbol="SPY", side="buy", qty=50, client_order_id="seed-spy"))  # not a target
    summary = steps.plan_rebalance(DAY, root=project, broker=broker)
    orders = pd.read_csv(summary["orders_path"])
    first = orders.iloc[0]
    assert (first["symbol"], first["side"], first["qty"], first["order_type"], first["reason"]) == (
        "SPY", "sell", 50, "market", "exit")
    assert (orders["side"].iloc[1:] == "buy").all() and (orders["order_type"].iloc[1:] == "bracket").all()
    plan = json.loads((outputs(project) / "plan_summary_20251231.json").read_text())
    assert plan["source"] == "broker" and plan["positions"] == {"SPY": 50.0}
    assert plan["equity"] == pytest.approx(float(broker.account().equity))


def test_risk_gate_in_real_mode_rejects_everything_when_the_market_is_closed(project, targets, broker, sim):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})  # 16:30 New York: closed (T3)
    summary = steps.check_risk(DAY, mode="real", root=project, broker=broker)
    report = pd.read_csv(summary["risk_report_path"])
    assert summary["approved"] == 0 and set(report["verdict"]) == {"rejected"}
    assert report["reasons"].str.contains("market_closed_now").all()
    assert pd.read_csv(summary["approved_path"]).empty
    alert = json.loads((project / "logs" / "alerts.log").read_text().splitlines()[-1])
    assert alert["trade_date"] == "2025-12-31" and alert["step"] == "risk" and "market_closed_now" in alert["message"]


def test_real_mode_refuses_to_trade_an_older_days_plan(project, targets, broker, sim):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2026-01-02T15:00:00Z"})  # the next session, market open
    summary = steps.check_risk(DAY, mode="real", root=project, broker=broker)
    assert summary["approved"] == 0 and summary["preflight"] == ["trade_date_not_today"]


def test_risk_gate_in_dry_mode_ignores_the_closed_market(project, targets, broker, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})  # plan and gate after the close
    steps.plan_rebalance(DAY, root=project, broker=broker)
    assert steps.check_risk(DAY, mode="dry", root=project, broker=broker)["rejected"] == 0


def test_real_mode_approves_when_the_market_is_open(project, targets, broker):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    summary = steps.check_risk(DAY, mode="real", root=project, broker=broker)
    assert summary["rejected"] == 0 and summary["approved"] > 0


def test_kill_switch_file_stops_all_orders(project, targets, broker):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    (project / "config" / "KILL_SWITCH").write_text("stop\n")
    summary = steps.check_risk(DAY, root=project, broker=broker)
    assert summary["approved"] == 0 and summary["preflight"] == ["kill_switch"]


def test_blocked_account_stops_all_orders(project, targets, broker, sim):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    sim.admin("PATCH", "/sim/account", {"trading_blocked": True})
    assert steps.check_risk(DAY, root=project, broker=broker)["preflight"] == ["trading_blocked"]


def test_volatility_gate_reads_daily_bars_from_the_broker(project, targets, broker):
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("max_annualized: null", "max_annualized: 0.0001"))
    steps.plan_rebalance(DAY, root=project, broker=broker)
    report = pd.read_csv(steps.check_risk(DAY, root=project, broker=broker)["risk_report_path"])
    assert report["reasons"].str.startswith("volatility (").all()


def test_price_moves_after_planning_are_caught(project, targets, broker, sim):
    steps.plan_rebalance(DAY, root=project, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2026-01-30T15:00:00Z"})  # a month later: prices moved
    report = pd.read_csv(steps.check_risk(DAY, root=project, broker=broker)["risk_report_path"])
    assert report["reasons"].str.contains("price_moved").any()


def test_rerunning_plan_and_risk_gives_the_same_files(project, targets, broker):
    first = {}
    for _ in range(2):
        steps.plan_rebalance(DAY, root=project, broker=broker)
        steps.check_risk(DAY, root=project, broker=broker)
        files = {p.name: p.read_bytes() for p in outputs(project).glob("*.csv")}
        assert not first or files == first
        first = files


def test_offline_dry_run_without_alpaca_from_the_command_line(project, targets):
    """The spec's one-click dry run: plan --equity 10000 --fill-price 100 --debug, then the gate."""
    run = lambda *a: subprocess.run([sys.executable, "-m", "paper_trading", *a, "--root", str(project)],  # noqa: E731
                                    capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    planned = run("plan", "--date", "2025-12-31", "--equity", "10000", "--fill-price", "100", "--debug")
    assert planned.returncode == 0, planned.stderr
    orders = pd.read_csv(planned.stdout.strip())
    assert (orders["ref_price"] == 100).all() and orders["qty"].sum() * 100 <= 10000 * 0.98
    gated = run("risk", "--date", "2025-12-31", "--fill-price", "100")
    assert gated.returncode == 0, gated.stderr
    assert set(pd.read_csv(gated.stdout.strip())["symbol"]) == set(orders["symbol"])
    assert run("risk", "--date", "2025-12-31", "--fill-price", "100", "--mode", "real").returncode == 2


def test_bad_positions_file_names_the_row(project, targets):
    bad = project / "positions.csv"
    bad.write_text("symbol,qty\nAAPL,10\nMSFT,ten\n")
    with pytest.raises(InputError, match=r"^positions.csv row 3: qty expected a finite number, got 'ten'$"):
        steps.plan_rebalance(DAY, root=project, equity=10_000, fill_price=100, positions=bad)
    assert not (outputs(project) / "planned_orders_20251231.csv").exists()


def test_a_real_gate_that_rejects_some_orders_warns_and_approves_the_rest(project, targets, broker):
    config = project / "config" / "config.yaml"
    plan = steps.plan_rebalance(DAY, root=project, broker=broker)
    first = pd.read_csv(plan["orders_path"])["symbol"].iloc[0]
    config.write_text(config.read_text().replace("  blacklist: []", f"  blacklist: [{first}]"))
    summary = steps.check_risk(DAY, mode="real", root=project, broker=broker)
    assert summary["rejected"] == 1 and summary["approved"] > 0 and summary["preflight"] == []
    alerts = [json.loads(line) for line in (project / "logs" / "alerts.log").read_text().splitlines()]
    assert [(a["rule"], a["severity"], a["key"]) for a in alerts] == [("orders_rejected", "warning", f"buy:{first}")]
    assert "order(s) now" in summary["approval_md"] and first in summary["approval_md"]
