"""The small input files of M2 and the gate, read by their readers: every bad cell is refused with one
line naming the file (relative to the project root), the row and the value; nothing is silently
reinterpreted. The same files through the command line (exit 2, nothing written):
tests/cli/test_input_file_errors.py."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from paper_trading import steps
from paper_trading.errors import InputError
from paper_trading.orders import ORDER_COLUMNS
from paper_trading.planning.inputs import (
    read_instrument_map,
    read_orders,
    read_positions,
    read_prices,
)

DAY = dt.date(2025, 12, 31)


@pytest.fixture
def targets(project):
    return steps.consolidate_signals(DAY, root=project, mode="select", pick="drl")


def write(path, text: str):
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------- instrument map


@pytest.mark.parametrize("cell, message", [
    ("", "gvkey is empty; expected up to 6 digits"),
    ("12a4", "gvkey expected up to 6 digits, got '12a4'"),
    ("1234567", "gvkey expected up to 6 digits, got '1234567'"),
    ("-1690", "gvkey expected up to 6 digits, got '-1690'"),
    ("١٦٩٠", "gvkey expected up to 6 digits, got '١٦٩٠'"),
])
def test_instrument_map_refuses_an_empty_or_non_digit_gvkey_naming_the_row(tmp_path, cell, message):
    path = write(tmp_path / "map.csv", f"gvkey,symbol\n001690,AAPL\n{cell},MSFT\n")
    with pytest.raises(InputError) as err:
        read_instrument_map(path, tmp_path)
    assert str(err.value) == f"map.csv row 3: {message}"


def test_instrument_map_pads_numeric_gvkeys(tmp_path):
    path = write(tmp_path / "map.csv", "gvkey,symbol\n1690,aapl\n12141.0, msft \n")
    frame = read_instrument_map(path, tmp_path)
    assert list(frame["gvkey"]) == ["001690", "012141"] and list(frame["symbol"]) == ["AAPL", "MSFT"]


@pytest.mark.parametrize("symbol", ["AA PL", "AAPL;", "-AAPL", "BRK..B", "BRK.", "ÄPPLE", "A" * 22])
def test_symbols_follow_alpacas_syntax(tmp_path, symbol):
    path = write(tmp_path / "map.csv", f"gvkey,symbol\n001690,AAPL\n012141,{symbol}\n")
    with pytest.raises(InputError, match=r"^map.csv row 3: symbol expected letters and digits"):
        read_instrument_map(path, tmp_path)


@pytest.mark.parametrize("symbol", ["BRK.B", "BTC/USD", "aapl", " MSFT "])
def test_valid_symbols_are_trimmed_and_upper_cased(tmp_path, symbol):
    path = write(tmp_path / "map.csv", f"gvkey,symbol\n001690,{symbol}\n")
    assert read_instrument_map(path, tmp_path)["symbol"].iloc[0] == symbol.strip().upper()


# ------------------------------------------------------------------------------------ prices / positions


@pytest.mark.parametrize("price", ["inf", "-inf", "nan", "0", "-3", "", "1.5.5", "ten", "True"])
def test_offline_prices_must_be_finite_and_positive(tmp_path, price):
    path = write(tmp_path / "prices.csv", f"symbol,price\nAAPL,190.5\nMSFT,{price}\n")
    with pytest.raises(InputError, match=r"^prices.csv row 3: price (is empty|expected a finite number > 0)"):
        read_prices(path, tmp_path)


def test_offline_positions_accept_a_short_with_a_warning(tmp_path, caplog):
    path = write(tmp_path / "positions.csv", "symbol,qty\nAAPL,-5\nMSFT,3\n")
    assert read_positions(path, tmp_path) == {"AAPL": -5.0, "MSFT": 3.0}
    assert "short position(s) AAPL -5; the plan covers them" in caplog.text


def test_an_offline_short_is_covered_by_the_plan_like_the_broker_path_does(project, targets):
    write(project / "positions.csv", "symbol,qty\nSPY,-7\n")
    summary = steps.plan_rebalance(DAY, root=project, equity=10_000, fill_price=100, positions=project / "positions.csv")
    orders = pd.read_csv(summary["orders_path"]).set_index("symbol")
    assert (orders.loc["SPY", "side"], orders.loc["SPY", "qty"], orders.loc["SPY", "reason"]) == ("buy", 7, "cover")


@pytest.mark.parametrize("qty", ["inf", "nan", "", "1e400"])
def test_offline_positions_must_be_finite(tmp_path, qty):
    path = write(tmp_path / "positions.csv", f"symbol,qty\nAAPL,{qty}\n")
    with pytest.raises(InputError, match=r"^positions.csv row 2: qty"):
        read_positions(path, tmp_path)


def test_a_symbol_twice_in_the_prices_file_is_refused(tmp_path):
    path = write(tmp_path / "prices.csv", "symbol,price\nAAPL,1\naapl,2\n")
    with pytest.raises(InputError, match=r"^prices.csv row 3: symbol 'aapl' appears twice$"):
        read_prices(path, tmp_path)


@pytest.mark.parametrize("content, message", [
    ("", "prices file is empty; expected a header with symbol, price"),
    ("symbol\nAAPL\n", "missing column(s) price; the file has symbol"),
    ("symbol,price\n", "prices file has no rows; expected symbol,price rows"),
    ("symbol,price,price\nAAPL,1,2\n", "column(s) price appear more than once in the header"),
])
def test_malformed_prices_files_are_one_clear_line(tmp_path, content, message):
    path = write(tmp_path / "prices.csv", content)
    with pytest.raises(InputError) as err:
        read_prices(path, tmp_path)
    assert str(err.value) == f"prices.csv: {message}"


def test_a_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_bytes("symbol,price\nSOCIÉTÉ,1\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"^prices.csv: cannot read prices CSV"):
        read_prices(path, tmp_path)


# ---------------------------------------------------------------------------------------- orders


ORDERS_HEADER = ",".join(ORDER_COLUMNS)
GOOD = "AAPL,buy,10,190.5,1905,bracket,gtc,200.03,184.78,new_position"


@pytest.mark.parametrize("row, message", [
    ("AAPL,buy,ten,190.5,1905,market,day,,,increase", "qty expected a finite number > 0, got 'ten'"),
    ("AAPL,buy,,190.5,1905,market,day,,,increase", "qty is empty; expected a number"),
    ("AAPL,buy,nan,190.5,1905,market,day,,,increase", "qty expected a finite number > 0, got 'nan'"),
    ("AAPL,buy,5,inf,1905,market,day,,,increase", "ref_price expected a finite number > 0, got 'inf'"),
    ("AAPL,hold,5,190.5,1905,market,day,,,increase", "side expected one of buy, sell, got 'hold'"),
    ("AAPL,buy,5,190.5,952.5,stop,day,,,increase", "order_type expected one of market, bracket, limit, got 'stop'"),
    ("AAPL,buy,5,190.5,952.5,market,ioc,,,increase", "time_in_force expected one of day, gtc, got 'ioc'"),
    ("AAPL,buy,5,190.5,952.5,bracket,gtc,x,184.78,new_position", "tp_price expected a finite number > 0, got 'x'"),
    ("AA PL,buy,5,190.5,1905,market,day,,,increase", "symbol expected letters and digits"),
    ("MSFT,buy,5,100,1,market,day,,,increase", "notional '1' is not qty × ref_price"),
    ("MSFT,buy,5,100,500,market,day,105,97,increase", "tp_price is set on an order that is not a bracket: '105'"),
    ("MSFT,buy,1e13,100,,market,day,,,increase", "qty expected at most 1e+12 shares, got '1e13'"),
])
def test_orders_file_cells_are_checked_naming_file_row_and_value(tmp_path, row, message):
    path = write(tmp_path / "orders.csv", f"{ORDERS_HEADER}\n{GOOD}\n{row}\n")
    with pytest.raises(InputError) as err:
        read_orders(path, ORDER_COLUMNS, tmp_path)
    assert str(err.value).startswith(f"orders.csv row 3: {message}")


@pytest.mark.parametrize("qty", ["0", "-3", "-0.5"])
def test_orders_with_a_quantity_of_zero_or_less_are_filtered_out_and_reported(tmp_path, qty, caplog):
    """The spec (M4 §2.1): rows with planned_qty <= 0 are filtered out, not a failure of the file."""
    path = write(tmp_path / "orders.csv", f"{ORDERS_HEADER}\nMSFT,buy,{qty},400,,market,day,,,increase\n{GOOD}\n")
    orders = read_orders(path, ORDER_COLUMNS, tmp_path)
    assert orders["symbol"].tolist() == ["AAPL"]
    assert f"orders.csv: 1 row(s) with qty <= 0 filtered out (row 2: MSFT {qty})" in caplog.text


def test_a_bad_row_after_a_filtered_one_is_named_by_its_own_row_number(tmp_path):
    path = write(tmp_path / "orders.csv",
                 f"{ORDERS_HEADER}\nMSFT,buy,0,400,,market,day,,,increase\n{GOOD}\nAAPL,hold,5,190.5,,market,day,,,x\n")
    with pytest.raises(InputError, match=r"^orders.csv row 4: side expected one of buy, sell, got 'hold'"):
        read_orders(path, ORDER_COLUMNS, tmp_path)


def test_orders_file_refuses_two_orders_for_one_symbol_and_side(tmp_path):
    path = write(tmp_path / "orders.csv", f"{ORDERS_HEADER}\n{GOOD}\n{GOOD}\n")
    with pytest.raises(InputError, match=r"^orders.csv row 3: a second buy order for AAPL"):
        read_orders(path, ORDER_COLUMNS, tmp_path)


def test_an_orders_file_with_only_its_header_is_no_orders(tmp_path):
    path = write(tmp_path / "orders.csv", f"{ORDERS_HEADER}\n")
    assert read_orders(path, ORDER_COLUMNS, tmp_path).empty


# --------------------------------------------------------------------------------------- targets


def test_two_gvkeys_of_one_symbol_are_summed_with_a_warning(tmp_path, caplog):
    path = write(tmp_path / "map.csv", "gvkey,symbol\n001690,AAPL\n012141,AAPL\n")
    assert list(read_instrument_map(path, tmp_path)["symbol"]) == ["AAPL", "AAPL"]
    assert "symbol AAPL is mapped from 2 gvkeys (001690, 012141): their target weights add up" in caplog.text


def test_a_directory_given_as_a_file_is_not_a_regular_file(tmp_path):
    (tmp_path / "prices.csv").mkdir()
    with pytest.raises(InputError, match=r"^prices.csv: not a regular file; expected the prices CSV$"):
        read_prices(tmp_path / "prices.csv", tmp_path)


def test_a_position_larger_than_any_company_is_refused(tmp_path):
    path = write(tmp_path / "positions.csv", "symbol,qty\nAAPL,1e300\n")
    with pytest.raises(InputError, match=r"^positions.csv row 2: qty expected at most 1e\+12 shares, got '1e300'$"):
        read_positions(path, tmp_path)
