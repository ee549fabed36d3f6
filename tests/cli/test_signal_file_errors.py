"""A malformed strategy file through the command line (issue #7): `python -m paper_trading signal-bus`
in a subprocess exits 2 with exactly one `error:` line naming the file as the manifest names it, the
row as the user sees it and the bad value; no traceback. The files are written by the helpers of
tests/unit/test_signal_io_hardening.py, which checks the same readers in-process.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from tests.cli.test_cli import cli
from tests.unit.test_signal_io_hardening import (
    DATE_EXPECTED,
    DAY,
    HEADER,
    XLSX_HEADER,
    D,
    csv_file,
    parquet_file,
    xlsx_date_cell,
    xlsx_file,
)


def assert_cli_error(root: Path, expected: str) -> None:
    """Exit status 2 and exactly one error line on stderr (logging may add INFO lines, no traceback)."""
    result = cli("signal-bus", "--root", str(root), "--date", D, "--mode", "select", "--pick", "a")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {expected}"]
    assert result.stderr.splitlines()[-1] == f"error: {expected}"
    assert "Traceback" not in result.stderr


def test_impossible_date_in_an_xlsx_text_cell_is_refused_through_the_cli(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], ["2024-02-30", "012141", 0.5]])
    assert_cli_error(tmp_path, f"data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, got '2024-02-30'")


def test_boolean_weight_column_in_parquet_is_refused_through_the_cli(tmp_path):
    parquet_file(tmp_path, {"trade_date": [DAY, DAY], "gvkey": ["001690", "012141"], "weights": [True, False]})
    assert_cli_error(tmp_path, "data/raw_signals/a.parquet (strategy a): column 'weights' (-> target_weight) "
                               "has type bool; expected numbers")


def test_blank_asset_cell_in_xlsx_is_named_through_the_cli(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, None, 0.5]])
    assert_cli_error(tmp_path, "data/raw_signals/a.xlsx (strategy a) row 3: asset_id is empty")


def test_blank_weight_cell_in_xlsx_is_a_missing_weight_with_its_row(tmp_path):
    xlsx_file(tmp_path, [XLSX_HEADER, [D, "001690", 0.5], [D, "012141", None]])
    assert_cli_error(tmp_path, "strategy a, data/raw_signals/a.xlsx row 3: target_weight is missing or NaN (asset 012141)")


def test_duplicated_parquet_column_is_refused(tmp_path):
    table = pa.Table.from_arrays([pa.array([DAY]), pa.array(["001690"]), pa.array([1.0]), pa.array([2.0])],
                                 names=["trade_date", "gvkey", "weights", "weights"])
    parquet_file(tmp_path, table)
    assert_cli_error(tmp_path, "data/raw_signals/a.parquet (strategy a): column 'weights' appears twice; keep one")


def test_ragged_csv_row_names_its_line(tmp_path):
    csv_file(tmp_path, f"{HEADER}{D},001690,0.5\n{D},012141,0.5,9\n")
    assert_cli_error(tmp_path, "data/raw_signals/a.csv (strategy a): cannot be parsed as CSV "
                               "(CSV parse error: line 3: Expected 3 columns, got 4: 2025-03-03,012141,0.5,9)")


def test_header_only_csv_has_no_rows_for_the_date(tmp_path):
    csv_file(tmp_path, HEADER)
    assert_cli_error(tmp_path, "strategy a has no rows for 2025-03-03 in data/raw_signals/a.csv")


@pytest.mark.parametrize("value", ["0000-01-01", "00000101", "0000-01-01T00:00:00", "-0001-01-01", "10000-01-01"])
def test_year_zero_negative_or_five_digit_trade_date_in_csv_is_refused_through_the_cli(tmp_path, value):
    csv_file(tmp_path, f"{HEADER}{D},001690,1\n{value},012141,1\n")
    assert_cli_error(tmp_path, f"data/raw_signals/a.csv (strategy a) row 3: {DATE_EXPECTED}, got {value!r}")


def test_huge_float_trade_date_in_parquet_is_refused_without_a_numpy_warning(tmp_path):
    parquet_file(tmp_path, {"trade_date": [20250303.0, 1e300], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0]})
    assert_cli_error(tmp_path, f"data/raw_signals/a.parquet (strategy a) row 2: {DATE_EXPECTED}, got 1e+300")


def test_blank_asof_cell_in_a_csv_asof_column_is_refused_not_given_the_mtime(tmp_path):
    csv_file(tmp_path, f"trade_date,gvkey,weights,asof\n{D},001690,1,2025-03-03T10:00:00Z\n{D},012141,1,\n")
    assert_cli_error(tmp_path, "data/raw_signals/a.csv (strategy a) row 3: asof is empty")


def test_yyyymmdd_number_in_a_date_formatted_xlsx_cell_is_refused_with_its_value_and_no_warning(tmp_path):
    xlsx_date_cell(tmp_path, 20251231)
    result = cli("signal-bus", "--root", str(tmp_path), "--date", D, "--mode", "select", "--pick", "a")
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: data/raw_signals/a.xlsx (strategy a) row 3: {DATE_EXPECTED}, "
                                     "got '20251231 (in a date-formatted cell: no such Excel date)'")


def test_parquet_rows_of_the_date_all_of_another_strategy_id_are_named_as_such(tmp_path):
    parquet_file(tmp_path, {"trade_date": [D, D], "gvkey": ["001690", "012141"], "weights": [1.0, 1.0],
                            "strategy_id": ["drl", "drl"]})
    assert_cli_error(tmp_path, "data/raw_signals/a.parquet (strategy a): the 2 row(s) for 2025-03-03 all carry another "
                               "strategy in column 'strategy_id' ('drl'), none 'a' (a blank cell counts as a); "
                               "is this the strategy's file?")
