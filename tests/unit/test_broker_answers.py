"""The broker adapter reads Alpaca's JSON answers itself (alpaca-py's `raw_data`): the fields we keep,
as Alpaca writes them (amounts as strings, RFC 3339 times up to nanoseconds, a simple order's empty
order class, legs inside their parent), and a clear refusal of an answer that lacks what we need."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from paper_trading.broker.alpaca import _account, _calendar_day, _clock, _order, _position, _update_order
from paper_trading.errors import BrokerError

BRACKET = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d", "client_order_id": "pt-20251231-AAPL-buy-r1",
    "created_at": "2025-12-31T14:45:00.123456789Z", "submitted_at": "2025-12-31T14:45:00.123456789Z",
    "filled_at": "2025-12-31T14:45:01Z", "expires_at": None, "symbol": "AAPL", "asset_class": "us_equity",
    "qty": "10", "notional": None, "filled_qty": "10", "filled_avg_price": "190.12", "order_class": "bracket",
    "order_type": "market", "type": "market", "side": "buy", "time_in_force": "gtc", "limit_price": None,
    "stop_price": None, "status": "filled", "extended_hours": False,
    "legs": [
        {"id": "b1", "client_order_id": "leg-tp", "symbol": "AAPL", "qty": "10", "filled_qty": "0",
         "order_class": "bracket", "type": "limit", "side": "sell", "limit_price": "199.63", "stop_price": None,
         "status": "new", "submitted_at": "2025-12-31T14:45:01Z", "expires_at": "2026-03-31T20:00:00Z"},
        {"id": "b2", "client_order_id": "leg-sl", "symbol": "AAPL", "qty": "10", "filled_qty": "0",
         "order_class": "bracket", "type": "stop", "side": "sell", "limit_price": None, "stop_price": "184.42",
         "status": "held", "submitted_at": "2025-12-31T14:45:01Z", "legs": None},
    ],
}


def test_an_order_is_read_from_alpacas_json_with_its_legs():
    order = _order(BRACKET)
    assert (order.id, order.client_order_id, order.symbol, order.side, order.order_type, order.order_class,
            order.status) == (BRACKET["id"], "pt-20251231-AAPL-buy-r1", "AAPL", "buy", "market", "bracket", "filled")
    assert (order.qty, order.filled_qty, order.filled_avg_price, order.notional) == \
        (Decimal("10"), Decimal("10"), Decimal("190.12"), None)
    assert order.submitted_at == dt.datetime(2025, 12, 31, 14, 45, 0, 123456, tzinfo=dt.UTC)
    assert [(leg.order_type, leg.status, leg.limit_price, leg.stop_price) for leg in order.legs] == \
        [("limit", "new", Decimal("199.63"), None), ("stop", "held", None, Decimal("184.42"))]
    assert order.legs[0].expires_at == dt.datetime(2026, 3, 31, 20, tzinfo=dt.UTC)


def test_a_simple_orders_empty_order_class_is_simple_and_nothing_filled_is_zero():
    order = _order({**BRACKET, "order_class": "", "legs": None, "filled_qty": None, "filled_avg_price": None})
    assert (order.order_class, order.legs, order.filled_qty, order.filled_avg_price) == ("simple", (), Decimal(0), None)


def test_an_order_without_its_id_or_status_is_refused():
    for field in ("id", "status", "client_order_id"):
        with pytest.raises(KeyError):
            _order({k: v for k, v in BRACKET.items() if k != field})


def test_a_stream_message_that_is_not_a_trade_update_is_ignored():
    assert _update_order({"event": "fill", "order": BRACKET}).status == "filled"
    assert _update_order({"order": BRACKET}) is None  # no event
    assert _update_order({"event": "fill", "order": "not an order"}) is None
    assert _update_order({"event": "fill", "order": {**BRACKET, "qty": "ten"}}) is None


def test_account_position_clock_and_calendar_are_read_from_alpacas_json():
    account = _account({"equity": "100000.5", "cash": "2500", "buying_power": "5000", "status": "ACTIVE",
                        "trading_blocked": False, "account_blocked": True, "trade_suspended_by_user": False})
    assert (account.equity, account.cash, account.status, account.account_blocked) == \
        (Decimal("100000.5"), Decimal("2500"), "ACTIVE", True)
    position = _position({"symbol": "AAPL", "qty": "7", "avg_entry_price": "180.5", "market_value": "1330",
                          "current_price": "190", "qty_available": "0"})
    assert (position.qty, position.avg_entry_price, position.qty_available) == (Decimal(7), Decimal("180.5"), Decimal(0))
    clock = _clock({"timestamp": "2025-12-31T09:45:00.5-05:00", "is_open": True,
                    "next_open": "2026-01-02T09:30:00-05:00", "next_close": "2025-12-31T16:00:00-05:00"})
    assert clock.is_open and clock.timestamp == dt.datetime(2025, 12, 31, 14, 45, 0, 500000, tzinfo=dt.UTC)
    day = _calendar_day({"date": "2025-11-28", "open": "09:30", "close": "13:00", "session_open": "0400"})
    assert (day.date, day.open, day.close) == (dt.date(2025, 11, 28), dt.datetime(2025, 11, 28, 9, 30),
                                               dt.datetime(2025, 11, 28, 13, 0))


def test_an_account_answer_without_its_amounts_or_a_clock_without_its_time_is_a_broker_error():
    with pytest.raises(BrokerError, match="no cash"):
        _account({"equity": "1", "buying_power": "1", "status": "ACTIVE"})
    with pytest.raises(BrokerError, match="no next_close"):
        _clock({"timestamp": "2025-12-31T09:45:00-05:00", "is_open": True, "next_open": "2026-01-02T09:30:00-05:00"})


@pytest.mark.parametrize("body", [
    b'{"id": "x", "qty": "10", "filled_avg_price": 190.12, "legs": [{"a": null, "b": true}], "n": -3}',
    b'[{"latestTrade": {"p": 1e-07, "t": "2025-12-31T15:00:00Z"}}, "\\u00e9\\n", 12345678901234567]',
    b'{"big": 123456789012345678901234567890, "nan": NaN, "inf": Infinity}',  # msgspec refuses: stdlib reads
])
def test_an_answers_json_is_read_as_the_standard_library_reads_it(body):
    import json

    from paper_trading.broker.alpaca import _Answer

    answer = _Answer()
    answer._content, answer.encoding = body, "utf-8"
    assert repr(answer.json()) == repr(json.loads(body))


def test_an_answer_that_is_not_json_raises_requests_own_error():
    import requests

    from paper_trading.broker.alpaca import _Answer

    answer = _Answer()
    answer._content, answer.encoding = b"<html>502 Bad Gateway</html>", "utf-8"
    with pytest.raises(requests.JSONDecodeError):
        answer.json()
