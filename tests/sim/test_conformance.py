"""Every endpoint, driven through alpaca-py; the `recorded` fixture validates each response body
against Alpaca's OpenAPI specs (trading-api.json, market-data-api.json)."""

from __future__ import annotations

import datetime as dt

from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestBarRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame
from alpaca.trading.enums import (
    OrderClass,
    OrderSide,
    OrderStatus,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)


def buy(trading, symbol="AAPL", qty=10, **kw):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY,
                                                   time_in_force=TimeInForce.DAY, **kw))


def test_account(trading):
    account = trading.get_account()
    assert account.cash == "100000" and account.equity == "100000" and account.trading_blocked is False


def test_clock_and_calendar(trading):
    clock = trading.get_clock()
    assert clock.is_open and clock.timestamp.hour == 10
    days = trading.get_calendar(GetCalendarRequest(start=dt.date(2025, 12, 22), end=dt.date(2026, 1, 2)))
    by_date = {d.date: d for d in days}
    assert dt.date(2025, 12, 25) not in by_date  # Christmas
    assert by_date[dt.date(2025, 12, 24)].close.hour == 13  # early close
    assert by_date[dt.date(2025, 12, 23)].close.hour == 16


def test_orders_and_positions_round_trip(trading):
    order = buy(trading, client_order_id="pt-20251230-AAPL-buy-0")
    assert trading.get_order_by_id(order.id).status == OrderStatus.FILLED
    assert trading.get_order_by_client_id("pt-20251230-AAPL-buy-0").id == order.id
    assert trading.get_order_by_id(order.id, GetOrderByIdRequest(nested=True)).filled_qty == "10"
    positions = trading.get_all_positions()
    assert [(p.symbol, p.qty) for p in positions] == [("AAPL", "10")]
    assert trading.get_open_position("AAPL").qty_available == "10"
    closing = trading.close_position("AAPL", ClosePositionRequest(qty="4"))
    assert closing.side == OrderSide.SELL and closing.qty == "4"
    assert trading.get_open_position("AAPL").qty == "6"


def test_list_orders_with_every_filter(trading):
    buy(trading, "AAPL")
    buy(trading, "MSFT", qty=2)
    limit = trading.submit_order(LimitOrderRequest(symbol="KO", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                                   time_in_force=TimeInForce.GTC))
    everything = trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=500, direction="asc",
                                                     nested=True, after=dt.datetime(2025, 1, 1),
                                                     until=dt.datetime(2026, 1, 1)))
    assert [o.symbol for o in everything] == ["AAPL", "MSFT", "KO"]
    assert [o.id for o in trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN))] == [limit.id]
    assert [o.symbol for o in trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.CLOSED,
                                                                  symbols=["MSFT"], side=OrderSide.BUY))] == ["MSFT"]
    assert len(trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL, limit=1))) == 1


def test_cancel_one_and_all(trading):
    a = trading.submit_order(LimitOrderRequest(symbol="KO", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                               time_in_force=TimeInForce.GTC))
    trading.submit_order(LimitOrderRequest(symbol="PEP", qty=1, side=OrderSide.BUY, limit_price=1.0,
                                           time_in_force=TimeInForce.GTC))
    trading.cancel_order_by_id(a.id)
    assert trading.get_order_by_id(a.id).status == OrderStatus.CANCELED
    statuses = trading.cancel_orders()
    assert [s.status for s in statuses] == [200]
    assert trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.OPEN)) == []


def test_bracket_order_nested_legs(trading):
    order = trading.submit_order(MarketOrderRequest(
        symbol="MSFT", qty=3, side=OrderSide.BUY, time_in_force=TimeInForce.GTC, order_class=OrderClass.BRACKET,
        take_profit=TakeProfitRequest(limit_price=999), stop_loss=StopLossRequest(stop_price=100, limit_price=99.5)))
    assert order.order_class == OrderClass.BRACKET and len(order.legs) == 2
    nested = trading.get_order_by_id(order.id, GetOrderByIdRequest(nested=True))
    assert sorted(leg.status for leg in nested.legs) == [OrderStatus.HELD, OrderStatus.NEW]


def test_asset(trading):
    asset = trading.get_asset("AAPL")
    assert asset.symbol == "AAPL" and asset.tradable and asset.fractionable


def test_activities_and_portfolio_history(trading, sim):
    buy(trading)
    sim.admin("POST", "/sim/activities", {"activity_type": "DIV", "net_amount": "2.40", "symbol": "AAPL",
                                          "qty": "10", "per_share_amount": "0.24"})
    sim.admin("POST", "/sim/activities", {"activity_type": "FEE", "net_amount": "-1.00"})
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T22:00:00Z"})
    activities = trading.get("/account/activities")
    assert [a["activity_type"] for a in activities] == ["FEE", "DIV", "FILL"]
    assert [a["activity_type"] for a in trading.get("/account/activities/FILL")] == ["FILL"]
    history = trading.get("/account/portfolio/history", {"period": "1W"})
    assert len(history["equity"]) == 2 and history["timeframe"] == "1D"


def test_market_data(data):
    snaps = data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "SPY", "NOPE"]))
    assert set(snaps) == {"AAPL", "SPY"}
    assert snaps["AAPL"].latest_quote.ask_price > snaps["AAPL"].latest_quote.bid_price
    assert data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))["AAPL"].price > 0
    assert data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols="AAPL"))["AAPL"].close > 0
    bars = data.get_stock_bars(StockBarsRequest(symbol_or_symbols=["AAPL", "SPY"], timeframe=TimeFrame.Day,
                                                start=dt.datetime(2025, 12, 1)))
    assert len(bars.data["AAPL"]) == len(bars.data["SPY"]) == 21  # 20 closed sessions + today's partial bar


def test_single_symbol_snapshot_route(data, trading):
    snap = trading.get("/stocks/AAPL/snapshot")  # same host; alpaca-py has no method for this route
    assert snap["latestTrade"]["p"] > 0 and snap["dailyBar"]["o"] > 0


def test_bars_pages_count_the_limit_across_symbols(trading):
    params = {"symbols": "SPY,AAPL", "timeframe": "1Day", "start": "2025-12-01", "end": "2025-12-12", "limit": 7}
    pages, token = [], None
    while True:
        page = trading.get("/stocks/bars", {**params, **({"page_token": token} if token else {})})
        pages.append(page)
        token = page["next_page_token"]
        if token is None:
            break
    sizes = [sum(len(v) for v in p["bars"].values()) for p in pages]
    assert sizes == [7, 7, 6]  # 2 symbols x 10 sessions, sorted by symbol then time
    assert list(pages[0]["bars"]) == ["AAPL"] and list(pages[1]["bars"]) == ["AAPL", "SPY"]


def test_no_bar_after_the_simulated_clock(trading):
    bars = trading.get("/stocks/bars", {"symbols": "AAPL", "timeframe": "1Day", "start": "2025-12-29"})["bars"]["AAPL"]
    assert [b["t"][:10] for b in bars] == ["2025-12-29", "2025-12-30"]  # today's bar is partial
