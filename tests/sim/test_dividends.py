"""Cash dividends: data/market/dividends.csv, loaded from next to the bars, paid as the clock moves.

The position at the close before the ex-date is entitled; on the pay date (at its open) a `DIV`
activity [T NonTradeActivities; notes §2.5: net_amount, symbol, qty, per_share_amount] moves the
cash by qty x amount. In the sample data KO goes ex on 2025-12-09 (0.485 a share, paid 12-18).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest

from alpaca_sim.market import BarsFile, Dividend, load_bars_file, load_dividends_file

BEFORE_EX = "2025-12-08T15:00:00Z"  # Monday, the session before KO's ex-date
EX_DAY = "2025-12-09T15:00:00Z"
DAY_BEFORE_PAY = "2025-12-17T20:00:00Z"
PAY_DAY = "2025-12-18T15:00:00Z"


def at(sim, clock: str) -> None:
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": clock})


def move(sim, clock: str) -> None:
    sim.admin("POST", "/sim/clock", {"to": clock})


def order(trading, side: OrderSide, qty: int, symbol: str = "KO") -> None:
    trading.submit_order(MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=TimeInForce.DAY))


def dividends(trading) -> list[dict]:
    return trading.get("/account/activities", {"activity_types": "DIV"})


def test_holder_at_the_close_before_the_ex_date_is_paid_on_the_pay_date(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 100)
    move(sim, PAY_DAY)
    [div] = dividends(trading)
    assert {k: div[k] for k in ("activity_type", "symbol", "qty", "per_share_amount", "net_amount", "date",
                                "status")} == {
        "activity_type": "DIV", "symbol": "KO", "qty": "100", "per_share_amount": "0.485", "net_amount": "48.5",
        "date": "2025-12-18", "status": "executed"}


def test_dividend_moves_the_cash_on_the_pay_date(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 100)
    move(sim, DAY_BEFORE_PAY)
    cash = Decimal(trading.get_account().cash)
    move(sim, PAY_DAY)
    assert Decimal(trading.get_account().cash) - cash == Decimal("48.5")


def test_no_dividend_is_paid_before_the_pay_date(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 100)
    move(sim, DAY_BEFORE_PAY)
    assert dividends(trading) == []


def test_position_bought_on_the_ex_date_gets_no_dividend(trading, sim):
    at(sim, EX_DAY)
    order(trading, OrderSide.BUY, 100)
    move(sim, PAY_DAY)
    assert dividends(trading) == []


def test_position_sold_on_the_ex_date_still_gets_the_dividend(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 100)
    move(sim, EX_DAY)
    order(trading, OrderSide.SELL, 100)
    move(sim, PAY_DAY)
    assert [d["net_amount"] for d in dividends(trading)] == ["48.5"]


def test_short_position_at_the_ex_date_pays_the_dividend(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.SELL, 10)
    move(sim, PAY_DAY)
    assert [(d["qty"], d["net_amount"]) for d in dividends(trading)] == [("-10", "-4.85")]


def test_names_without_a_dividend_get_none(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 10, symbol="AAPL")
    move(sim, PAY_DAY)
    assert dividends(trading) == []


def test_a_reset_forgets_the_dividends_due(trading, sim):
    at(sim, BEFORE_EX)
    order(trading, OrderSide.BUY, 100)
    move(sim, EX_DAY)
    at(sim, EX_DAY)
    move(sim, PAY_DAY)
    assert dividends(trading) == []


# ----------------------------------------------------------------------------- the file


def write(tmp_path, text: str):
    path = tmp_path / "dividends.csv"
    path.write_text(text)
    return path


def test_dividends_file_is_read_with_dates_and_decimal_amounts(tmp_path):
    path = write(tmp_path, "symbol,ex_date,pay_date,amount\nKO,2025-12-09,2025-12-18,0.485\n")
    assert load_dividends_file(path) == [Dividend("KO", dt.date(2025, 12, 9), dt.date(2025, 12, 18), Decimal("0.485"))]


@pytest.mark.parametrize("row, message", [
    ("KO,2025-12-9x,2025-12-18,0.485", "row 1: ex_date expected a date YYYY-MM-DD, got '2025-12-9x'"),
    ("KO,2025-12-09,,0.485", "row 1: pay_date expected a date YYYY-MM-DD, got ''"),
    ("KO,2025-12-09,2025-12-01,0.485",
     "row 1: pay_date expected a date on or after the ex_date 2025-12-09, got '2025-12-01'"),
    ("KO,2025-12-09,2025-12-18,-1", "row 1: amount expected a cash amount per share > 0, got '-1'"),
    ("KO,2025-12-09,2025-12-18,abc", "row 1: amount expected a cash amount per share > 0, got 'abc'"),
    (",2025-12-09,2025-12-18,0.5", "row 1: symbol expected a symbol, got ''"),
])
def test_bad_dividend_row_is_refused_naming_file_row_and_field(tmp_path, row, message):
    path = write(tmp_path, f"symbol,ex_date,pay_date,amount\n{row}\n")
    with pytest.raises(ValueError) as err:
        load_dividends_file(path)
    assert str(err.value) == f"{path} {message}"


def test_dividends_file_without_an_amount_column_is_refused(tmp_path):
    path = write(tmp_path, "symbol,ex_date,pay_date\nKO,2025-12-09,2025-12-18\n")
    with pytest.raises(ValueError, match=r"dividends.csv: missing column\(s\) amount$"):
        load_dividends_file(path)


def test_bars_file_brings_the_dividends_file_next_to_it(tmp_path):
    (tmp_path / "bars.csv").write_text("symbol,date,open,high,low,close,volume\nKO,2025-12-08,60,61,59,60.5,1000\n")
    write(tmp_path, "symbol,ex_date,pay_date,amount\nKO,2025-12-09,2025-12-18,0.485\n")
    bars = load_bars_file(tmp_path / "bars.csv")
    assert isinstance(bars, BarsFile) and [d.symbol for d in bars.dividends] == ["KO"]


def test_bars_file_alone_has_no_dividends(tmp_path):
    (tmp_path / "bars.csv").write_text("symbol,date,open,high,low,close,volume\nKO,2025-12-08,60,61,59,60.5,1000\n")
    assert load_bars_file(tmp_path / "bars.csv").dividends is None
