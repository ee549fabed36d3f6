"""State lives in SQLite: a restarted simulator continues with the same account, orders,
positions, activities and clock."""

from __future__ import annotations

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from alpaca_sim.server import SimServer
from alpaca_sim.store import Store

from ..conftest import BARS, OPEN_CLOCK


def test_a_restarted_server_continues_where_it_stopped(tmp_path):
    server = SimServer(tmp_path / "sim.db", bars=BARS, clock=OPEN_CLOCK).start()
    try:
        client = TradingClient(server.key, server.secret, paper=True, url_override=server.url)
        client.submit_order(MarketOrderRequest(symbol="AAPL", qty=7, side=OrderSide.BUY, time_in_force=TimeInForce.DAY,
                                               client_order_id="pt-keep-1"))
        resting = client.submit_order(LimitOrderRequest(symbol="KO", qty=3, side=OrderSide.BUY, limit_price=1.0,
                                                        time_in_force=TimeInForce.GTC))
        server.admin("POST", "/sim/clock", {"advance_seconds": 600})
        before = (client.get_account().cash, client.get_clock().timestamp)
    finally:
        server.stop()

    again = SimServer(tmp_path / "sim.db", port=server.port, key=server.key, secret=server.secret).start()
    try:
        client = TradingClient(again.key, again.secret, paper=True, url_override=again.url)
        assert (client.get_account().cash, client.get_clock().timestamp) == before
        assert [(p.symbol, p.qty) for p in client.get_all_positions()] == [("AAPL", "7")]
        assert client.get_order_by_client_id("pt-keep-1").status.value == "filled"
        assert client.get_order_by_id(resting.id).status.value == "new"
        assert len(client.get("/account/activities")) == 1
    finally:
        again.stop()


def test_the_in_memory_copies_of_meta_assets_and_positions_follow_a_rolled_back_transaction(tmp_path):
    """The store keeps what it reads on every request in memory; a transaction that fails leaves
    neither the file nor those copies changed."""
    store = Store(tmp_path / "sim.db")
    with store.tx():
        store.put("cash", "100")
        store.put_asset("AAPL", {"symbol": "AAPL", "marginable": True, "attributes": []})
        store.set_position("AAPL", "5", "500")
    assert (store.get("cash"), store.asset_field("AAPL", "marginable"), store.position("AAPL")) == \
        ("100", True, ("5", "500"))

    with pytest.raises(RuntimeError), store.tx():
        store.put("cash", "0")
        store.put_asset("AAPL", {"symbol": "AAPL", "marginable": False, "attributes": []})
        store.set_position("AAPL", "9", "900")
        assert (store.get("cash"), store.asset_field("AAPL", "marginable"), store.position("AAPL")) == \
            ("0", False, ("9", "900"))
        raise RuntimeError("the request failed half-way")

    assert (store.get("cash"), store.asset_field("AAPL", "marginable"), store.position("AAPL")) == \
        ("100", True, ("5", "500"))
    reopened = Store(tmp_path / "sim.db")
    assert (reopened.get("cash"), reopened.asset("AAPL")["marginable"], reopened.positions()) == \
        ("100", True, {"AAPL": ("5", "500")})


def test_a_document_the_store_hands_out_can_be_changed_without_changing_the_store(tmp_path):
    store = Store(tmp_path / "sim.db")
    with store.tx():
        store.put("account", {"trading_blocked": False})
        store.put_asset("KO", {"symbol": "KO", "status": "active", "attributes": ["has_options"]})
        store.set_position("KO", "3", "180")
    store.get("account")["trading_blocked"] = True
    asset = store.asset("KO")
    asset["status"] = "inactive"
    asset["attributes"].append("ptp_no_exception")
    store.positions()["KO"] = ("0", "0")
    assert store.get("account") == {"trading_blocked": False}
    assert store.asset("KO") == {"symbol": "KO", "status": "active", "attributes": ["has_options"]}
    assert store.position("KO") == ("3", "180")


def test_a_file_from_before_the_opens_column_gains_it_with_its_orders_classified(tmp_path):
    """The buying-power check reads only the open orders that can hold buying power (`opens`, an
    indexed column SQLite computes from the document); a file written before that column existed
    gets it when the simulator opens it, computed for the orders it already holds."""
    import sqlite3

    from alpaca_sim.common import dumps
    from alpaca_sim.store import SCHEMA

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(SCHEMA)
        for n, (side, intent) in enumerate([("buy", None), ("sell", None), ("sell", "sell_to_open"),
                                            ("sell", "sell_to_close")]):
            doc = {"id": f"o{n}", "side": side, "position_intent": intent}
            old.execute("INSERT INTO orders (id, client_order_id, parent_id, symbol, status, open, submitted_at, doc) "
                        "VALUES (?, ?, NULL, 'AAPL', 'new', 1, '2025-01-02T15:00:00Z', ?)", (f"o{n}", f"c{n}", dumps(doc)))
    assert "opens" not in {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_xinfo(orders)")}

    store = Store(path)
    assert [row["id"] for row in store.order_rows("open = 1 AND opens = 1")] == ["o0", "o2"]
    store.conn.close()
    assert [row["id"] for row in Store(path).order_rows("open = 1 AND opens = 1")] == ["o0", "o2"]  # opened again
