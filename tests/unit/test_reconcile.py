"""M5's rules on plain rows: fills from activities, the cash ledger, end-of-day positions, drift,
and each order's classification in words."""

from __future__ import annotations

import datetime as dt

from paper_trading.books import reconcile as books

DAY = dt.date(2025, 12, 31)


def fill(i, symbol="AAPL", side="buy", qty="10", price="100", when="2025-12-31T15:00:00Z", order="o1"):
    return {"id": f"2025123115000000{i}::x", "activity_type": "FILL", "transaction_time": when, "type": "fill",
            "price": price, "qty": qty, "side": side, "symbol": symbol, "order_id": order}


def order(cid="pt-20251231-AAPL-buy-r1", **kw):
    row = {"client_order_id": cid, "symbol": "AAPL", "side": "buy", "qty": 100.0, "planned_qty": 100.0,
           "status": "filled", "broker_order_id": "o1", "filled_qty": None, "filled_avg_price": None,
           "parent_client_order_id": None, "reason": None, "last_error": None, "ref_price": 100.0,
           "order_type": "bracket"}
    row.update(kw)
    return row


def test_fills_are_keyed_by_activity_id_and_a_repeated_page_is_not_counted_twice():
    same_time = [fill(1), fill(2), fill(1)]  # two fills with one timestamp, the first one listed twice
    assert [f.activity_id for f in books.fills_of(same_time)] == [same_time[0]["id"], same_time[1]["id"]]


def test_a_fill_counts_in_new_york_time():
    late = books.fills_of([fill(1, when="2026-01-01T02:00:00Z")])[0]  # 21:00 in New York on the 31st
    assert late.trade_date == DAY


def test_the_cash_ledger_has_fills_dividends_and_fees_with_their_sign():
    rows = books.cash_rows([fill(1, side="buy", qty="2", price="50"), fill(2, side="sell", qty="1", price="60"),
                            {"id": "d1", "activity_type": "DIV", "date": "2025-12-31", "net_amount": "1.25",
                             "symbol": "AAPL", "per_share_amount": "0.125"},
                            {"id": "f1", "activity_type": "FEE", "date": "2025-12-31", "net_amount": "-0.5"}])
    assert [(r["activity_type"], r["net_amount"]) for r in rows] == [("FILL", -100.0), ("FILL", 60.0), ("DIV", 1.25),
                                                                      ("FEE", -0.5)]


def test_end_of_day_positions_take_out_the_fills_made_after_the_day():
    later = books.fills_of([fill(1, qty="5", when="2026-01-02T15:00:00Z")])
    assert books.positions_at_end_of(DAY, {"AAPL": 15.0, "MSFT": 3.0}, later) == {"AAPL": 10.0, "MSFT": 3.0}


def test_a_position_the_ledger_does_not_imply_is_a_drift_row_with_an_alert():
    rows = books.position_rows(DAY, implied={"AAPL": 10.0}, actual={"AAPL": 12.0}, baseline=False)
    assert (rows[0]["classification"], rows[0]["alert"]) == ("position_drift", True)
    assert rows[0]["message"] == "AAPL: the broker holds 12, the ledger implies 10 (drift +2)"


def test_cash_drift_beyond_a_cent_is_an_alert():
    assert books.cash_row(DAY, implied=1000.0, actual=1000.005)["classification"] == "cash_ok"
    row = books.cash_row(DAY, implied=1000.0, actual=990.0)
    assert (row["classification"], row["alert"]) == ("cash_drift", True)


def test_a_partial_fill_says_what_was_left_and_why():
    fills = books.group_fills(books.fills_of([fill(1, qty="95", price="100.1")]))
    rows = books.classify_orders(DAY, [order(status="expired", order_type="market")], {}, fills, [])
    assert rows[0]["classification"] == "partially_filled"
    assert rows[0]["message"].startswith("buy AAPL: planned 100, filled 95, 5 left when the DAY order expired")


def test_a_refused_submit_lives_only_in_the_ledger_and_keeps_the_brokers_message():
    rows = books.classify_orders(DAY, [order(status="rejected", broker_order_id=None,
                                             last_error="insufficient buying power")], {}, {}, [])
    assert rows[0]["message"] == "buy AAPL: planned 100, rejected by the broker: insufficient buying power"


def test_the_gates_rejections_are_not_submitted_with_its_reasons():
    rows = books.classify_orders(DAY, [], {}, {}, [{"symbol": "TSLA", "side": "buy", "qty": 5.0, "ref_price": 300.0,
                                                    "reasons": "blacklisted"}])
    assert rows[0]["classification"] == "not_submitted"
    assert rows[0]["message"].endswith("not submitted: the risk gate rejected it (blacklisted)")


def test_an_order_nobody_planned_is_a_manual_trade():
    at_broker = {"by-hand": {"status": "filled", "filled_qty": "1", "qty": "1", "symbol": "SPY", "side": "buy",
                             "legs": []}}
    rows = books.classify_orders(DAY, [], at_broker, {}, [])
    assert (rows[0]["classification"], rows[0]["alert"]) == ("manual", True)


def test_slippage_is_positive_when_it_costs_us():
    assert books.slippage_bps("buy", 100.0, 100.1) == 10.0
    assert books.slippage_bps("sell", 100.0, 100.1) == -10.0
