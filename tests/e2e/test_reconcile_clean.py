import datetime as dt
from decimal import Decimal

import pytest

from paper_trading import steps
from paper_trading.broker.types import OrderRequest
from paper_trading.ledger import Ledger, ledger_url
from tests.e2e.recon_helpers import alerts, fast_project, make_broker, report

D1, D2, D3 = dt.date(2025, 12, 29), dt.date(2025, 12, 30), dt.date(2025, 12, 31)


@pytest.fixture
def fast(project, sim):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-29T14:35:00Z"})
    return fast_project(project)


def test_no_drift_is_invented(fast, sim):
    broker = make_broker(sim)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-29T15:00:00Z"})
    broker.submit_order(OrderRequest(symbol="AAPL", side="buy", qty=Decimal(10), client_order_id="a1"))
    broker.submit_order(OrderRequest(symbol="MSFT", side="buy", qty=Decimal("0.123456789"), client_order_id="a2"))
    broker.positions()
    sim.admin("POST", "/sim/clock", {"to": "2025-12-29T21:30:00Z"})
    steps.reconcile_books(D1, root=fast, broker=broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T15:00:00Z"})
    sim.admin("POST", "/sim/config", {"partial_fill_probability": 1.0, "seed": 5})
    broker.submit_order(OrderRequest(symbol="AAPL", side="sell", qty=Decimal(10), client_order_id="b1"))
    try:
        broker.submit_order(OrderRequest(symbol="KO", side="sell", qty=Decimal(5), client_order_id="b2"))
    except Exception as e:
        print("short refused", e)
    broker.submit_order(OrderRequest(symbol="MSFT", side="buy", qty=Decimal("0.333333333"), client_order_id="b3"))
    for _i in range(130):
        sim.admin("POST", "/sim/activities", {"activity_type": "CSD", "net_amount": "0.01"})
    sim.admin("POST", "/sim/activities", {"activity_type": "DIV", "symbol": "AAPL", "net_amount": "3.33",
                                          "qty": "10", "per_share_amount": "0.333"})
    sim.admin("POST", "/sim/activities", {"activity_type": "FEE", "net_amount": "-0.07"})
    for _m in range(1, 30):
        sim.admin("POST", "/sim/clock", {"advance_seconds": 600})
        broker.positions()
    sim.admin("POST", "/sim/clock", {"to": "2025-12-30T21:30:00Z"})
    steps.reconcile_books(D2, root=fast, broker=broker)
    r = report(fast, D2)
    print(r[["kind", "key", "classification", "message"]].to_string())
    print({p.symbol: p.qty for p in broker.positions()}, broker.account().cash)
    assert alerts(fast, D2)[lambda a: a["kind"].isin(["cash", "position"])].empty
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})
    steps.reconcile_books(D3, root=fast, broker=broker)
    assert alerts(fast, D3)[lambda a: a["kind"].isin(["cash", "position"])].empty
    with Ledger(ledger_url(fast)) as book:
        assert book.equity_on(D3)["cash"] == pytest.approx(float(broker.account().cash), abs=0.01)
        pos = {r["symbol"]: r["qty"] for r in book.table("positions_eod", trade_date=D3)}
    assert pos == {p.symbol: float(p.qty) for p in broker.positions()}
    # older date after newer: re-run D2, then D1, then D3 again
    {t: None for t in ()}
    steps.reconcile_books(D1, root=fast, broker=broker)
    steps.reconcile_books(D2, root=fast, broker=broker)
    assert alerts(fast, D2)[lambda a: a["kind"].isin(["cash", "position"])].empty
