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
