"""Readers never silently reinterpret a value nor crash on a malformed file (issue #7).

Each test writes a file as a user would, reads it through M1 (`steps.consolidate_signals`) and checks
the exact error: the file as the manifest names it, the row as the user sees it (CSV line with the
header as line 1, XLSX spreadsheet row, 1-based Parquet row) and the bad value. The same errors
through the CLI in a subprocess (the exit code and the one line on stderr):
tests/cli/test_signal_file_errors.py.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paper_trading import steps
from paper_trading.errors import InputError
from paper_trading.signals.bus import read_targets

from .signal_files import CSV_MAPPING, csv_strategy, write_manifest

DAY = dt.date(2025, 3, 3)
D = "2025-03-03"
HEADER = "trade_date,gvkey,weights\n"
DATE_EXPECTED = ("trade_date expected a date (YYYY-MM-DD, YYYYMMDD or a date cell) that exists, "
                 "from 1900-01-01 to 2100-12-31")


def run(root: Path):
    return steps.consolidate_signals(DAY, root=root, mode="select", pick="a")


def error_of(root: Path) -> str:
    with pytest.raises(InputError) as err:
        run(root)
    return str(err.value)


def csv_file(root: Path, content: str | bytes) -> Path:
    path = root / "data" / "raw_signals" / "a.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    write_manifest(root, [csv_strategy("a", "data/raw_signals/a.csv")])
    return path


def parquet_file(root: Path, columns: dict) -> Path:
    path = root / "data" / "raw_signals" / "a.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = columns if isinstance(columns, pa.Table) else pa.table(columns)
    pq.write_table(table, path)
    write_manifest(root, [{"id": "a", "path": "data/raw_signals/a.parquet", "column_mapping": dict(CSV_MAPPING)}])
    return path


def xlsx_file(root: Path, rows: list[list]) -> Path:
    path = root / "data" / "raw_signals" / "a.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    write_manifest(root, [{"id": "a", "path": "data/raw_signals/a.xlsx", "column_mapping": dict(CSV_MAPPING)}])
    return path


XLSX_HEADER = ["trade_date", "gvkey", "weights"]


# ------------------------------------------------------------- 1. impossible dates never roll over


@pytest.mark.parametrize("value", ["2024-02-30", "2025-11-31", "20240230", "2024/02/30", "2024-02-30T00:00:00",
                                   "2024-02-30 10:00:00"])
def test_impossible_calendar_date_in_csv_is_refused_not_rolled_over(tmp_path, value):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{value},012141,1\n")
    assert error_of(tmp_path) == f"data/raw_signals/a.csv (strategy a) row 3: {DATE_EXPECTED}, got {value!r}"


def test_impossible_date_after_iso_dates_is_refused_by_the_csv_date_fast_path(tmp_path):
    # a file of ISO dates is read with arrow's typed date32 path first: it must not accept 02-30
    csv_file(tmp_path, HEADER + "".join(f"{D},{g:06d},1\n" for g in range(1, 50)) + "2024-02-30,000050,1\n")
    assert error_of(tmp_path) == f"data/raw_signals/a.csv (strategy a) row 51: {DATE_EXPECTED}, got '2024-02-30'"


def test_impossible_yyyymmdd_integer_in_parquet_is_refused(tmp_path):
    parquet_file(tmp_path, {"trade_date": [20250303, 20251131], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got 20251131"


def test_impossible_date_in_a_parquet_string_column_is_refused(tmp_path):
    parquet_file(tmp_path, {"trade_date": [D, "2024-02-30"], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got '2024-02-30'"


@pytest.mark.parametrize("serial", [0, -3, 60])
def test_excel_serial_zero_negative_or_before_march_1900_is_refused(tmp_path, serial):
    xlsx_file(tmp_path, [XLSX_HEADER, [45719, "001690", 0.5], [serial, "012141", 0.5]])
    assert error_of(tmp_path) == f"data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, got '{serial}'"


def test_excel_date_cells_and_serials_still_read(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [45719, "001690", 0.5], [dt.datetime(2025, 3, 3), "012141", 0.5]])
    run(tmp_path)
    assert read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")["asset_id"].tolist() == [
        "001690", "012141"]


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "2101-01-01"])
def test_trade_date_out_of_range_is_refused(tmp_path, value):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{value},012141,1\n")
    assert error_of(tmp_path) == f"data/raw_signals/a.csv (strategy a) row 3: {DATE_EXPECTED}, got {value!r}"


def test_trade_date_out_of_range_in_a_parquet_date_column_is_refused(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY, dt.date(9999, 12, 31)], "gvkey": ["001690", "012141"],
                            "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got '9999-12-31'"


def test_time_zone_suffix_on_a_csv_trade_date_is_refused(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n2025-03-03T15:00:00Z,012141,1\n")
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.csv (strategy a) row 3: {DATE_EXPECTED}, got '2025-03-03T15:00:00Z'")


def test_impossible_asof_is_refused(tmp_path):
    csv_file(tmp_path, f"trade_date,gvkey,weights,asof\n{D},001690,1,2025-03-03T10:00:00Z\n"
                       f"{D},012141,1,2024-02-30T10:00:00Z\n")
    assert error_of(tmp_path) == ("data/raw_signals/a.csv (strategy a) row 3: asof expected an ISO-8601 timestamp "
                                  "from 1900-01-01 to 2100-12-31, got '2024-02-30T10:00:00Z'")


def test_asof_of_a_numeric_type_is_refused_with_its_type(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY], "gvkey": ["001690"], "weights": [1.0], "asof": [1700000000]})
    assert error_of(tmp_path) == ("data/raw_signals/a.parquet (strategy a): column 'asof' has type int64; "
                                  "expected timestamps or ISO-8601 text")


def test_parquet_row_without_a_trade_date_is_an_error_not_skipped(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY, None], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == "data/raw_signals/a.parquet (strategy a) row 2: trade_date is empty"


# ------------------------------------------------------------------ 2. weights are numbers, typed


@pytest.mark.parametrize(
    "values",
    [pa.array([dt.datetime(2025, 1, 1)]), pa.array([dt.date(2025, 1, 1)]), pa.array([b"0.5"], pa.binary()),
     pa.array([[0.5]]), pa.array([{"w": 0.5}])],
    ids=["timestamp", "date", "binary", "list", "struct"],
)
def test_non_numeric_weight_column_in_parquet_is_refused_with_its_type(tmp_path, values):
    parquet_file(tmp_path, {"trade_date": [DAY], "gvkey": ["001690"], "weights": values})
    stored = pq.read_schema(tmp_path / "data/raw_signals/a.parquet").field("weights").type
    assert error_of(tmp_path) == (f"data/raw_signals/a.parquet (strategy a): column 'weights' (-> target_weight) "
                                  f"has type {stored}; expected numbers")


def test_boolean_confidence_column_is_refused(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY], "gvkey": ["001690"], "weights": [1.0], "confidence": [True]})
    assert error_of(tmp_path) == ("data/raw_signals/a.parquet (strategy a): column 'confidence' has type bool; "
                                  "expected numbers")


def test_parquet_weights_as_text_are_parsed_strictly(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY, DAY], "gvkey": ["001690", "012141"], "weights": ["0.5", "yes"]})
    assert error_of(tmp_path) == "data/raw_signals/a.parquet (strategy a) row 2: target_weight expected a number, got 'yes'"


def test_parquet_decimal_weights_are_numbers(tmp_path):
    weights = pa.array([decimal.Decimal("0.75"), decimal.Decimal("0.25")], pa.decimal128(10, 4))
    parquet_file(tmp_path, {"trade_date": [DAY, DAY], "gvkey": ["001690", "012141"], "weights": weights})
    run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["target_weight"].tolist() == [0.75, 0.25]


@pytest.mark.parametrize("text", ["True", "yes", "false"])
def test_boolean_text_weight_in_csv_is_refused_not_coerced(tmp_path, text):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n{D},012141,{text}\n")
    assert error_of(tmp_path) == f"data/raw_signals/a.csv (strategy a) row 3: target_weight expected a number, got {text!r}"


def test_boolean_weight_cell_in_xlsx_is_refused_not_read_as_one(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, "012141", True]])
    assert error_of(tmp_path) == "data/raw_signals/a.xlsx (strategy a) row 3: target_weight expected a number, got 'TRUE'"


@pytest.mark.parametrize("text, shown", [("nan", "nan"), ("inf", "inf"), ("1e400", "inf")])
def test_non_finite_weight_is_refused_on_every_row(tmp_path, text, shown):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n2025-02-28,012141,{text}\n")  # not even the run's date
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.csv (strategy a) row 3: target_weight expected a finite number, got {shown}")


# --------------------------------------------------------- 3. blank and NA cells: a row error, never a crash


@pytest.mark.parametrize("text", ["NA", "N/A", "null"])
def test_na_text_in_xlsx_is_refused_not_read_as_missing(tmp_path, text):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, text, 0.5], [D, "012141", text]])
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.xlsx (strategy a) row 3: asset_id expected a gvkey of up to 6 digits, got {text!r}")


@pytest.mark.parametrize("text", ["NA", "N/A", "null"])
def test_na_text_weight_in_xlsx_is_refused(tmp_path, text):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, "012141", text]])
    assert error_of(tmp_path) == f"data/raw_signals/a.xlsx (strategy a) row 3: target_weight expected a number, got {text!r}"


@pytest.mark.parametrize("text", ["NA", "N/A", "null", "NULL", "#N/A"])
def test_na_text_gvkey_in_csv_is_refused_not_read_as_empty(tmp_path, text):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n{D},{text},0.5\n")
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.csv (strategy a) row 3: asset_id expected a gvkey of up to 6 digits, got {text!r}")


@pytest.mark.parametrize("text", ["NA", "N/A", "null"])
def test_na_text_weight_in_csv_is_refused_not_read_as_missing(tmp_path, text):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n{D},012141,{text}\n")
    assert error_of(tmp_path) == f"data/raw_signals/a.csv (strategy a) row 3: target_weight expected a number, got {text!r}"


def test_empty_gvkey_cell_in_csv_is_named(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n{D},,0.5\n")
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a) row 3: asset_id is empty"


def test_blank_strategy_id_cell_in_xlsx_keeps_the_row(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER + ["strategy_id"], [D, "001690", 0.5, "a"], [D, "012141", 0.5, None]])
    run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["asset_id"].tolist() == ["001690", "012141"]


def test_fully_blank_xlsx_row_is_skipped_and_later_rows_keep_their_numbers(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [None, None, None], [D, "AAPL", 0.5]])
    assert error_of(tmp_path) == "data/raw_signals/a.xlsx (strategy a) row 4: asset_id expected a gvkey of up to 6 digits, got 'AAPL'"


# ------------------------------------------------------------------------ 4. gvkeys and file shapes


@pytest.mark.parametrize("value, shown", [(1690.5, "1690.5"), (-1690, "-1690"), (1234567, "1234567")])
def test_impossible_numeric_gvkey_in_parquet_is_refused(tmp_path, value, shown):
    parquet_file(tmp_path, {"trade_date": [DAY, DAY], "gvkey": [1690, value], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.parquet (strategy a) row 2: asset_id expected a gvkey of up to 6 digits, got {shown}")


def test_boolean_gvkey_column_is_refused_with_its_type(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY], "gvkey": [True], "weights": [1.0]})
    assert error_of(tmp_path) == ("data/raw_signals/a.parquet (strategy a): column 'gvkey' (-> asset_id) has type bool; "
                                  "expected gvkeys as integers or text")


def test_time_zone_aware_parquet_trade_date_counts_in_new_york(tmp_path):
    late = pa.array([dt.datetime(2025, 3, 4, 3, 0)], pa.timestamp("us", tz="UTC"))  # 22:00 on 03-03 in New York
    parquet_file(tmp_path, {"trade_date": late, "gvkey": ["001690"], "weights": [1.0]})
    run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["asset_id"].tolist() == ["001690"]


def test_duplicated_csv_column_is_refused(tmp_path):
    csv_file(tmp_path, f"trade_date,gvkey,weights,weights\n{D},001690,0.5,1\n")
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a): column 'weights' appears twice; keep one"


def test_duplicated_xlsx_column_is_refused_not_renamed(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER + ["weights"], [D, "001690", 0.5, 1]])
    assert error_of(tmp_path) == "data/raw_signals/a.xlsx (strategy a): column 'weights' appears twice; keep one"


def test_two_columns_mapped_to_the_same_field_are_refused(tmp_path):
    csv_file(tmp_path, f"trade_date,gvkey,asset_id,weights\n{D},001690,012141,1\n")
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a): columns 'gvkey' and 'asset_id' both give asset_id; keep one"


def test_parquet_trade_date_after_a_nested_column_is_pruned_on_its_own_statistics(tmp_path):
    parquet_file(tmp_path, {"meta": [{"x": 20990101, "y": 1}], "trade_date": [DAY], "gvkey": ["001690"], "weights": [1.0]})
    run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["asset_id"].tolist() == ["001690"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_csv_is_refused(tmp_path, encoding):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n".encode(encoding))
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a): not a UTF-8 text CSV file (UTF-16? save it as UTF-8)"


def test_invalid_utf8_in_a_csv_row_names_its_line(tmp_path):
    csv_file(tmp_path, (f"{HEADER}{D},001690,1\n{D},00169\xe9,1\n").encode("latin-1"))
    assert error_of(tmp_path) == ("data/raw_signals/a.csv (strategy a): cannot be parsed as CSV "
                                  "(In CSV column #1: line 3: CSV conversion error to string: invalid UTF8 data)")


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    csv_file(tmp_path, b"\xef\xbb\xbf" + f"{HEADER}{D},001690,1\n".encode())
    run(tmp_path)
    assert read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")["asset_id"].tolist() == ["001690"]


def test_csv_with_carriage_return_line_ends_names_the_right_line(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{D},AAPL,1\n".replace("\n", "\r"))
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a) row 3: asset_id expected a gvkey of up to 6 digits, got 'AAPL'"


def test_blank_lines_in_a_csv_do_not_shift_the_line_numbers(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n\n\r\n{D},AAPL,0.5\n")
    assert error_of(tmp_path) == "data/raw_signals/a.csv (strategy a) row 5: asset_id expected a gvkey of up to 6 digits, got 'AAPL'"


# ------------------------------------------- 5. years Python cannot hold, blank asof, ids, -0, 1e-400


def test_year_zero_trade_date_in_an_xlsx_text_cell_is_refused(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], ["0000-01-01", "012141", 0.5]])
    assert error_of(tmp_path) == f"data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, got '0000-01-01'"


def test_year_zero_trade_date_in_a_parquet_string_column_is_refused(tmp_path):
    parquet_file(tmp_path, {"trade_date": [D, "0000-01-01"], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got '0000-01-01'"


def test_year_zero_in_a_parquet_date_column_is_refused_with_its_statistics(tmp_path):
    year_zero = -719528  # days from 1970-01-01 to 0000-01-01: no Python date, and the row group's minimum
    parquet_file(tmp_path, {"trade_date": pa.array([(DAY - dt.date(1970, 1, 1)).days, year_zero], pa.date32()),
                            "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert error_of(tmp_path) == f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got '0000-01-01'"


@pytest.mark.parametrize("value", ["0000-01-01T10:00:00Z", "-0001-01-01T00:00:00Z", "10000-01-01T00:00:00Z"],
                         ids=["year-zero", "negative-year", "five-digit-year"])
def test_asof_of_year_zero_negative_or_five_digits_is_refused(tmp_path, value):
    csv_file(tmp_path, f"trade_date,gvkey,weights,asof\n{D},001690,1,2025-03-03T10:00:00Z\n{D},012141,1,{value}\n")
    assert error_of(tmp_path) == ("data/raw_signals/a.csv (strategy a) row 3: asof expected an ISO-8601 timestamp "
                                  f"from 1900-01-01 to 2100-12-31, got {value!r}")


def test_null_asof_in_a_parquet_asof_column_is_refused_not_made_the_latest_revision(tmp_path):
    # an older all-on-one-asset version with a null asof would beat the real revision if it took the mtime
    parquet_file(tmp_path, {"trade_date": [D, D, D], "gvkey": ["001690", "012141", "001690"],
                            "weights": [0.5, 0.5, 1.0], "asof": ["2025-03-03T10:00:00Z", "2025-03-03T10:00:00Z", None]})
    assert error_of(tmp_path) == "data/raw_signals/a.parquet (strategy a) row 3: asof is empty"


def test_blank_asof_cell_in_an_xlsx_asof_column_is_refused(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER + ["asof"], [D, "001690", 0.5, "2025-03-03T10:00:00Z"], [D, "012141", 0.5, None]])
    assert error_of(tmp_path) == "data/raw_signals/a.xlsx (strategy a) row 3: asof is empty"


def test_file_without_an_asof_column_still_takes_its_modification_time(tmp_path):
    path = csv_file(tmp_path, f"{HEADER}{D},001690,1\n")
    run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["asof"].tolist() == [pd.Timestamp(dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC))]


def xlsx_date_cell(root: Path, serial: float, number_format: str = "yyyy-mm-dd") -> None:
    """A sheet whose row 3 trade_date is the number `serial` in a date-formatted cell."""
    path = xlsx_file(root, [XLSX_HEADER, [D, "001690", 0.5], [D, "012141", 0.5]])
    book = openpyxl.load_workbook(path)
    cell = book.active.cell(row=3, column=1)
    cell.value, cell.number_format = serial, number_format
    book.save(path)


def test_date_formatted_xlsx_serial_60_is_excels_missing_leap_day_and_refused(tmp_path):
    xlsx_date_cell(tmp_path, 60)
    assert error_of(tmp_path) == f"data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, got '1900-02-29'"


def test_date_formatted_xlsx_serial_0_is_shown_as_excel_shows_it(tmp_path):
    xlsx_date_cell(tmp_path, 0)
    assert error_of(tmp_path) == f"data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, got '1900-01-00'"


def test_date_formatted_xlsx_serial_59_is_still_1900_02_28(tmp_path):
    xlsx_date_cell(tmp_path, 59)
    path = tmp_path / "data/raw_signals/a.xlsx"
    book = openpyxl.load_workbook(path)
    book.active.cell(row=2, column=1).value = dt.datetime(1900, 2, 28)  # both rows of 1900-02-28
    book.save(path)
    steps.consolidate_signals(dt.date(1900, 2, 28), root=tmp_path, mode="select", pick="a")
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_19000228.parquet")
    assert targets["asset_id"].tolist() == ["001690", "012141"]


def test_xlsx_datetime_cell_in_the_asof_column_keeps_its_time_of_day(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER + ["asof"], [D, "001690", 0.5, dt.datetime(2025, 3, 3, 9, 0)],
                         [D, "001690", 1.0, dt.datetime(2025, 3, 3, 15, 30)]])
    run(tmp_path)  # two revisions on one day: the later one wins, not a tie at midnight
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["asof"].tolist() == [pd.Timestamp("2025-03-03T15:30:00Z")]


def test_xlsx_error_cell_is_refused_with_its_text_not_read_as_blank(tmp_path):
    path = xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, "012141", 0.5]])
    book = openpyxl.load_workbook(path)
    cell = book.active.cell(row=3, column=3)
    cell.value, cell.data_type = "#N/A", "e"
    book.save(path)
    assert error_of(tmp_path) == "data/raw_signals/a.xlsx (strategy a) row 3: target_weight expected a number, got '#N/A'"


def test_rows_of_other_strategy_ids_are_dropped_with_one_warning_naming_count_and_ids(tmp_path, caplog):
    parquet_file(tmp_path, {"trade_date": [D] * 4, "gvkey": ["001690", "012141", "001690", "012141"],
                            "weights": [1.0, 0.3, 0.2, 1.0], "strategy_id": ["a", "drl", "ml", None]})
    with caplog.at_level("WARNING"):
        run(tmp_path)
    targets = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")
    assert targets["target_weight"].tolist() == [0.5, 0.5]
    dropped = [r.getMessage() for r in caplog.records if "of other strategies" in r.getMessage()]
    assert dropped == ["strategy a: data/raw_signals/a.parquet: dropped 2 row(s) for 2025-03-03 of other strategies "
                       "(column 'strategy_id': 'drl', 'ml')"]


def test_negative_zero_weight_is_written_as_zero(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{D},012141,-0\n")
    run(tmp_path)
    weights = read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")["target_weight"]
    assert [math.copysign(1.0, w) for w in weights] == [1.0, 1.0]


@pytest.mark.parametrize("text", ["1e-400", "-2.5E-999"])
def test_weight_too_small_for_a_float_is_refused_not_read_as_zero(tmp_path, text):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{D},012141,{text}\n")
    assert error_of(tmp_path) == (
        f"data/raw_signals/a.csv (strategy a) row 3: target_weight expected a number within the float range, got {text!r}")


def test_zero_written_with_a_large_exponent_is_still_zero(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{D},012141,0e-400\n")
    run(tmp_path)
    assert read_targets(tmp_path / "data/intermediate/targets_consolidated_20250303.parquet")[
        "target_weight"].tolist() == [1.0, 0.0]


_THREE_DIGIT_EXPONENT = re.compile(rb"[eE][+-]?\d{3}")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=40).map(lambda b: bytes(b"eE+-0123456789,.\n"[x % 17] for x in b)),
       st.sampled_from([0, 1, 2048]))
def test_the_exponent_search_finds_exactly_what_the_regular_expression_finds(data, few):
    import paper_trading.signals.files.csv_index as csv_index

    saved, csv_index._FEW_EXPONENTS = csv_index._FEW_EXPONENTS, few  # one by one, or numpy over all
    try:
        expected = _THREE_DIGIT_EXPONENT.search(data) is not None
        assert csv_index.has_big_exponent(data) is expected
        assert csv_index.has_big_exponent(memoryview(bytearray(data))) is expected
    finally:
        csv_index._FEW_EXPONENTS = saved


def test_a_big_exponent_far_into_a_chunk_full_of_small_ones_is_found(tmp_path):
    rows = "".join(f"{D},{i:06d},5.1e-05\n" for i in range(1, 3000)) + f"{D},099999,1e-400\n"
    csv_file(tmp_path, f"{HEADER}{rows}")
    assert error_of(tmp_path) == (
        "data/raw_signals/a.csv (strategy a) row 3001: target_weight expected a number within the float range, "
        "got '1e-400'")
