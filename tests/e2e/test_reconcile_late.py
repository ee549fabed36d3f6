import datetime as dt

import pytest

from paper_trading import steps
from tests.e2e.recon_helpers import fast_project, make_broker, report, trade

D1, D2 = dt.date(2025, 12, 29), dt.date(2025, 12, 30)


@pytest.fixture
def fast(project, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T14:45:00Z"})
    return fast_project(project)


def test_G_a_trade_date_executed_late_flags_its_own_orders_as_manual(fast, sim):
    broker = make_broker(sim)
    trade(fast, broker, day=D1)  # D1's run, caught up on the morning of D2
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T21:30:00Z"})
    steps.reconcile_books(D1, root=fast, broker=broker)
    r1 = report(fast, D1)
    print(r1[r1.kind == "order"][["key", "classification", "message"]].head(5).to_string())
    steps.reconcile_books(D2, root=fast, broker=broker)
    r = report(fast, D2)
    manual = r[r["kind"] == "manual"]
    print(len(manual), manual[["key", "message"]].head(5).to_string())
    assert manual.empty
