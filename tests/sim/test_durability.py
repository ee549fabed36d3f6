"""State lives in SQLite: a restarted simulator continues with the same account, orders,
positions, activities and clock."""

from __future__ import annotations

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest
from alpaca_sim.server import SimServer

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
