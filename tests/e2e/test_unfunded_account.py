"""An account with no equity at the broker (the simulator): the plan sends nothing and says why."""

from __future__ import annotations

from paper_trading import steps
from tests.cli.test_cli_errors import DAY, planned  # noqa: F401 (fixture)


def test_an_unfunded_account_plans_nothing_with_a_reason(planned, sim):
    from paper_trading.broker.alpaca import AlpacaBroker

    sim.admin("POST", "/sim/reset", {"cash": "0", "clock": "2025-12-31T14:45:00Z"})
    summary = steps.plan_rebalance(DAY, root=planned, broker=AlpacaBroker(sim.key, sim.secret, sim.url, sim.url))
    assert summary["orders"] == 0 and summary["skipped"] > 0
    assert "the account has no equity (0.00): nothing to trade" in (planned / "logs" / "plan_20251231.log").read_text()
