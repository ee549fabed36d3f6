"""A trading halt and a delisting in the sample bars, as Alpaca shows them.

- DIS has no bar on 2025-11-19, a session on which every other name trades: a halt. Orders are
  accepted but nothing fills that session (a DAY order expires at the close as any other); quotes
  and the latest trade stay at the last close (2025-11-18: 84.30).
- XDLX (a fictional name) has its last bar on 2025-11-21. Past that session's close the asset is
  `status: inactive`, `tradable: false` [T Assets: status "active or inactive", tradable "Asset is
  tradable on Alpaca or not"], and new orders are refused with 422. Neither the notes nor the spec
  give Alpaca's body for an order on an inactive asset; the simulator's is
  `{"code": 42210000, "message": "asset XDLX is not active"}`.
"""

from __future__ import annotations

import json

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.enums import AssetStatus, OrderSide, OrderStatus, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

HALT_DAY_OPEN = "2025-11-19T15:00:00Z"  # 10:00 in New York, DIS halted
HALT_DAY_CLOSE = "2025-11-19T21:00:00Z"
NEXT_DAY_OPEN = "2025-11-20T14:30:00Z"
DIS_LAST_CLOSE = 84.30  # 2025-11-18
DIS_NEXT_OPEN = 82.77  # 2025-11-20
LAST_DAY = "2025-11-21T15:00:00Z"  # XDLX's last trading day, market open
LAST_CLOSE = "2025-11-21T21:00:00Z"


def at(sim, clock: str) -> None:
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": clock})


def buy(trading, symbol: str, qty: int = 10, tif: TimeInForce = TimeInForce.DAY):
    return trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=tif))


def rejected(call) -> tuple[int, dict]:
    with pytest.raises(APIError) as err:
        call()
    return err.value.status_code, json.loads(str(err.value))


# ------------------------------------------------------------------------------------ halt


def test_order_for_a_halted_symbol_is_accepted_but_does_not_fill(trading, sim):
    at(sim, HALT_DAY_OPEN)
    order = trading.get_order_by_id(buy(trading, "DIS").id)
    assert order.status == OrderStatus.NEW and float(order.filled_qty) == 0


def test_order_for_a_halted_symbol_stays_unfilled_all_session(trading, sim):
    at(sim, HALT_DAY_OPEN)
    order = buy(trading, "DIS", tif=TimeInForce.GTC)
    sim.admin("POST", "/sim/clock", {"to": "2025-11-19T20:59:00Z"})
    assert trading.get_order_by_id(order.id).status == OrderStatus.NEW


def test_day_order_for_a_halted_symbol_expires_unfilled_at_the_close(trading, sim):
    at(sim, HALT_DAY_OPEN)
    order = buy(trading, "DIS")
    sim.admin("POST", "/sim/clock", {"to": HALT_DAY_CLOSE})
    order = trading.get_order_by_id(order.id)
    assert order.status == OrderStatus.EXPIRED and float(order.filled_qty) == 0
    assert trading.get_all_positions() == []


def test_gtc_order_for_a_halted_symbol_fills_at_the_next_open(trading, sim):
    at(sim, HALT_DAY_OPEN)
    order = buy(trading, "DIS", tif=TimeInForce.GTC)
    sim.admin("POST", "/sim/clock", {"to": NEXT_DAY_OPEN})
    order = trading.get_order_by_id(order.id)
    assert order.status == OrderStatus.FILLED
    assert float(order.filled_avg_price) == pytest.approx(DIS_NEXT_OPEN, abs=0.05)


def test_order_queued_overnight_for_a_halt_day_does_not_fill_at_its_open(trading, sim):
    at(sim, "2025-11-19T12:00:00Z")  # 07:00 in New York, before the open
    order = buy(trading, "DIS", tif=TimeInForce.GTC)
    sim.admin("POST", "/sim/clock", {"to": HALT_DAY_OPEN})
    assert trading.get_order_by_id(order.id).status == OrderStatus.ACCEPTED


def test_other_symbols_fill_on_a_halt_day(trading, sim):
    at(sim, HALT_DAY_OPEN)
    assert trading.get_order_by_id(buy(trading, "AAPL").id).status == OrderStatus.FILLED


def test_halted_symbol_latest_trade_is_its_last_close(trading, sim):
    at(sim, HALT_DAY_OPEN)
    trade = trading.get("/stocks/trades/latest", {"symbols": "DIS"})["trades"]["DIS"]
    assert trade["p"] == DIS_LAST_CLOSE


def test_halted_symbol_quote_straddles_its_last_close(trading, sim):
    at(sim, HALT_DAY_OPEN)
    quote = trading.get("/stocks/snapshots", {"symbols": "DIS"})["DIS"]["latestQuote"]
    assert quote["bp"] < DIS_LAST_CLOSE < quote["ap"] and quote["ap"] - quote["bp"] < 0.05


def test_halted_symbol_snapshot_daily_bar_is_its_last_bar(trading, sim):
    at(sim, HALT_DAY_OPEN)
    snapshot = trading.get("/stocks/snapshots", {"symbols": "DIS"})["DIS"]
    assert (snapshot["dailyBar"]["t"][:10], snapshot["dailyBar"]["c"]) == ("2025-11-18", DIS_LAST_CLOSE)
    assert snapshot["prevDailyBar"]["t"][:10] == "2025-11-17"


def test_halted_symbol_has_no_daily_bar_for_the_halt_day(trading, sim):
    at(sim, NEXT_DAY_OPEN)
    bars = trading.get("/stocks/bars", {"symbols": "DIS", "timeframe": "1Day", "start": "2025-11-18",
                                        "end": "2025-11-19"})["bars"]["DIS"]
    assert [b["t"][:10] for b in bars] == ["2025-11-18"]


# ------------------------------------------------------------------------------- delisting


def test_delisted_asset_is_active_and_tradable_on_its_last_trading_day(trading, sim):
    at(sim, LAST_DAY)
    asset = trading.get_asset("XDLX")
    assert asset.status == AssetStatus.ACTIVE and asset.tradable


def test_delisted_asset_fills_on_its_last_trading_day(trading, sim):
    at(sim, LAST_DAY)
    assert trading.get_order_by_id(buy(trading, "XDLX").id).status == OrderStatus.FILLED


def test_delisted_asset_is_inactive_and_not_tradable_from_its_last_close(trading, sim):
    at(sim, LAST_DAY)
    sim.admin("POST", "/sim/clock", {"to": LAST_CLOSE})
    asset = trading.get_asset("XDLX")
    assert asset.status == AssetStatus.INACTIVE and not asset.tradable


def test_delisted_asset_is_inactive_when_looked_up_by_id(trading, sim):
    at(sim, "2025-11-24T15:00:00Z")
    asset_id = trading.get("/assets/XDLX")["id"]
    assert trading.get(f"/assets/{asset_id}")["status"] == "inactive"


def test_order_for_a_delisted_asset_is_refused_with_422(trading, sim):
    at(sim, "2025-11-24T15:00:00Z")
    status, body = rejected(lambda: buy(trading, "XDLX"))
    assert (status, body) == (422, {"code": 42210000, "message": "asset XDLX is not active"})


def test_sell_of_a_held_delisted_asset_is_refused_too(trading, sim):
    at(sim, LAST_DAY)
    buy(trading, "XDLX")
    sim.admin("POST", "/sim/clock", {"to": "2025-11-24T15:00:00Z"})
    status, body = rejected(lambda: trading.submit_order(MarketOrderRequest(
        symbol="XDLX", qty=10, side=OrderSide.SELL, time_in_force=TimeInForce.DAY)))
    assert status == 422 and body["message"] == "asset XDLX is not active"


def test_held_delisted_asset_is_priced_at_its_last_close(trading, sim):
    at(sim, LAST_DAY)
    buy(trading, "XDLX")
    sim.admin("POST", "/sim/clock", {"to": "2025-11-24T15:00:00Z"})
    [position] = trading.get_all_positions()
    assert position.symbol == "XDLX" and float(position.current_price) == 17.09


def test_asset_with_bars_to_the_end_of_the_data_stays_active_after_it(trading, sim):
    at(sim, "2026-01-02T15:00:00Z")
    asset = trading.get_asset("AAPL")
    assert asset.status == AssetStatus.ACTIVE and asset.tradable


def test_orders_past_the_end_of_the_data_still_fill_at_the_last_close(trading, sim):
    at(sim, "2026-01-02T15:00:00Z")
    assert trading.get_order_by_id(buy(trading, "AAPL").id).status == OrderStatus.FILLED


def test_asset_edits_through_sim_assets_are_kept_apart_from_the_delisting(trading, sim):
    at(sim, "2025-11-24T15:00:00Z")
    sim.admin("PATCH", "/sim/assets/XDLX", {"fractionable": False})
    asset = trading.get("/assets/XDLX")
    assert (asset["fractionable"], asset["status"], asset["tradable"]) == (False, "inactive", False)
    at(sim, LAST_DAY)  # a reset makes the asset as new: active again before its last close
    assert trading.get("/assets/XDLX")["status"] == "active"
