"""State lives in SQLite: a restarted simulator continues with the same account, orders,
positions, activities and clock."""

from __future__ import annotations

import pytest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

from alpaca_sim.common import loads
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


def test_the_open_orders_of_a_reopened_file_are_read_back_with_what_can_hold_buying_power(tmp_path):
    """The open orders are kept in memory; a file opened again (a restarted simulator, or one an
    earlier version wrote) reads them back, each classified: a buy or a sell to open can hold
    buying power, a sell to close cannot."""
    import sqlite3

    from alpaca_sim.common import dumps
    from alpaca_sim.store import SCHEMA

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(SCHEMA)
        for n, (side, intent, is_open) in enumerate([("buy", None, 1), ("sell", None, 1), ("sell", "sell_to_open", 1),
                                                     ("sell", "sell_to_close", 1), ("buy", None, 0)]):
            doc = {"id": f"o{n}", "side": side, "position_intent": intent}
            old.execute("INSERT INTO orders (id, client_order_id, parent_id, symbol, status, open, submitted_at, doc) "
                        "VALUES (?, ?, NULL, 'AAPL', 'new', ?, '2025-01-02T15:00:00Z', ?)",
                        (f"o{n}", f"c{n}", is_open, dumps(doc)))

    store = Store(path)
    assert [row["id"] for row in store.open_orders()] == ["o0", "o1", "o2", "o3"]
    assert [row["id"] for row in store.open_orders(opening=True)] == ["o0", "o2"]
    store.conn.close()
    assert [row["id"] for row in Store(path).open_orders(opening=True)] == ["o0", "o2"]  # opened again


def test_a_rolled_back_transaction_leaves_the_open_orders_as_the_file_has_them(tmp_path):
    store = Store(tmp_path / "sim.db")
    order = {"id": "o1", "client_order_id": "c1", "symbol": "KO", "status": "new", "side": "buy",
             "submitted_at": "2025-01-02T15:00:00Z"}
    with store.tx():
        store.insert_order(order, None, True)
    assert [row["id"] for row in store.open_orders()] == ["o1"]
    with pytest.raises(RuntimeError), store.tx():
        store.update_order({**order, "status": "filled"}, False)
        store.insert_order({**order, "id": "o2", "client_order_id": "c2"}, None, True)
        assert [row["id"] for row in store.open_orders()] == ["o2"]
        raise RuntimeError("the request failed")
    assert [(row["id"], loads(row["doc"])["status"]) for row in store.open_orders()] == [("o1", "new")]
    assert store.open_order("o2") is None


def test_the_open_orders_and_positions_in_memory_stay_what_the_file_says_through_a_month_of_trading(tmp_path):
    """Matching, buying power and the wash-trade check read the open orders and the positions from
    memory: after every request of a month of brackets, OCOs, limits that rest, partial fills,
    cancels, sells and session closes, what memory holds is what a fresh read of the file gives."""
    import datetime as dt
    import random

    from alpaca_sim.common import SimError
    from alpaca_sim.engine import Engine, parse_time
    from alpaca_sim.market import load_bars_file

    path = tmp_path / "sim.db"
    engine = Engine(Store(path), bars=load_bars_file(BARS), clock=parse_time("2024-01-02T14:00:00Z"))
    engine.configure(partial_fill_probability=0.3, exit_partial_fill_probability=0.3)
    rng = random.Random(7)
    symbols = ["AAPL", "MSFT", "KO", "JPM"]

    def the_book(store: Store) -> list[tuple]:
        return [(row["seq"], row["id"], row["parent_id"], row["symbol"], bool(row["opens"]), loads(row["doc"]))
                for row in store.open_orders()], list(store.positions().items())

    checked = 0
    for _ in range(22):
        for _request in range(6):
            symbol, kind = rng.choice(symbols), rng.choice(["bracket", "oco", "limit", "sell", "cancel"])
            price = engine.market.mid(symbol, engine.now())
            if price is None:
                continue
            try:
                if kind == "bracket":
                    engine.submit({"symbol": symbol, "qty": str(rng.randint(1, 20)), "side": "buy", "type": "market",
                                   "time_in_force": "gtc", "order_class": "bracket",
                                   "take_profit": {"limit_price": str(round(price * 11 / 10, 2))},
                                   "stop_loss": {"stop_price": str(round(price * 9 / 10, 2))}})
                elif kind == "oco":
                    engine.submit({"symbol": symbol, "qty": "1", "side": "sell", "type": "limit",
                                   "time_in_force": "gtc", "order_class": "oco",
                                   "take_profit": {"limit_price": str(round(price * 21 / 20, 2))},
                                   "stop_loss": {"stop_price": str(round(price * 19 / 20, 2))}})
                elif kind == "limit":
                    engine.submit({"symbol": symbol, "qty": "2", "side": "buy", "type": "limit",
                                   "limit_price": str(round(price * 99 / 100, 2)), "time_in_force": "day"})
                elif kind == "sell":
                    engine.submit({"symbol": symbol, "qty": "1", "side": "sell", "type": "market",
                                   "time_in_force": "day"})
                else:
                    open_ids = [row["id"] for row in engine.store.open_orders(symbol)]
                    if open_ids:
                        engine.cancel(rng.choice(open_ids))
            except SimError:
                pass  # refused (no shares, wash trade, buying power...): a rolled-back request
            assert the_book(engine.store) == the_book(Store(path))
            checked += 1
        engine.set_clock(engine.now() + dt.timedelta(days=1))
        assert the_book(engine.store) == the_book(Store(path))
    assert checked > 100
    assert engine.store.order_rows("open = 0")  # orders did finish on the way
