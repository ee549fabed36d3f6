"""The same trade date run again by another run (a second trigger of the same `run_date`, a cron
job run twice): a round that has traded is history. Its plan and its gate are kept byte for byte,
nothing is sent, and the ledger says which run traded; a new round plans and trades again."""

from __future__ import annotations

import pytest

from paper_trading import steps
from paper_trading.errors import TradingRefused
from tests.e2e.test_execute import DAY, OPEN, broker_orders, fast, gate, ledger  # noqa: F401 (fixture)

OUTPUTS = ("rebalance_plan_20251231.csv", "planned_orders_20251231.csv", "plan_summary_20251231.json",
           "risk_report_20251231.csv", "approved_orders_20251231.csv")


def outputs(project) -> dict[str, bytes]:
    return {name: (project / "data" / "outputs" / name).read_bytes() for name in OUTPUTS}


@pytest.fixture
def traded(fast, sim, broker):
    """Round 1 of DAY traded by run `first`, with the market open."""
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": OPEN})
    gate(fast, broker, run_id="first")
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker, run_id="first")
    return fast


def test_a_second_run_of_a_traded_round_keeps_its_plan_and_gate_and_sends_nothing(traded, sim, broker):
    before, orders = outputs(traded), broker_orders(sim)
    assert any(o["client_order_id"].endswith("-r1") for o in orders)
    gate(traded, broker, run_id="second")
    result = steps.execute_orders(DAY, mode="real", root=traded, broker=broker, run_id="second")
    assert outputs(traded) == before
    assert broker_orders(sim) == orders
    assert result["traded_by"] == "first" and result["orders"] == 0
    with ledger(traded) as book:
        assert {r["run_id"] for r in book.orders(DAY, mode="real")} == {"first"}
        second = book.run("second", DAY, "execute")
    assert second["outcome"] == "success" and '"traded_by": "first"' in second["detail"]


def test_new_approvals_for_a_traded_round_are_refused_naming_the_run_and_the_next_round(traded, sim, broker):
    orders = broker_orders(sim)
    gate(traded, broker, run_id="second", pick="ml")  # other targets: a new plan and gate for round 1
    with pytest.raises(TradingRefused, match="round 1 of 2025-12-31 was traded by run 'first' already.*round 2"):
        steps.execute_orders(DAY, mode="real", root=traded, broker=broker, run_id="second")
    assert broker_orders(sim) == orders


def test_a_new_round_of_a_traded_date_plans_again_from_the_account(traded, sim, broker):
    gate(traded, broker, run_id="second", round_no=2)
    summary = (traded / "data" / "outputs" / "plan_summary_20251231.json").read_text()
    assert '"run_id": "second"' in summary
