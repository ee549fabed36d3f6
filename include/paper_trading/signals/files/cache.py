"""The cache of standardized strategy files (`data/cache/signals/`), and the checks made before one is read.

Entries are keyed on the file's content hash and on the reading options (`CACHE_VERSION` included),
so a changed file, or a changed rule, gets a new entry; an entry is written atomically and once.
XLSX files are converted here, once per content, into a standardized Parquet file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from paper_trading.atomic import atomic_path
from paper_trading.config import (
    OPTIONAL_SIGNAL_COLUMNS,
    REQUIRED_SIGNAL_COLUMNS,
    StrategySpec,
)
from paper_trading.errors import InputError, SignalsNotReady
from paper_trading.logging_setup import get_logger
from paper_trading.signals.files.hashing import hash_hex
from paper_trading.signals.files.normalize import (
    STANDARD_SCHEMA,
    standardize,
    trimmed_text,
)

log = get_logger("signal_io")

#: Bump when the cached layout or the normalization rules change: old cache entries are ignored.
CACHE_VERSION = 4
ROW_GROUP_ROWS = 128 * 1024


# ------------------------------------------------------------------------------- source files


def check_file(spec: StrategySpec) -> None:
    path = spec.abs_path
    shown = spec.path
    if not path.exists():
        raise SignalsNotReady(f"{shown} (strategy {spec.id}): file not found")
    if not path.is_file():
        raise InputError(f"{shown} (strategy {spec.id}): not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{shown} (strategy {spec.id}): file is not readable")
    if path.stat().st_size == 0:
        raise SignalsNotReady(f"{shown} (strategy {spec.id}): file is empty")


def missing_columns_error(spec: StrategySpec, present: list[str]) -> InputError | None:
    """Say which required columns are missing, or which column is given twice (which one to read?)."""
    seen: dict[str, str] = {}
    for col in present:
        target = spec.column_mapping.get(col, col)
        if target not in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
            continue
        if target in seen:
            twice = f"column {col!r} appears twice" if seen[target] == col else (
                f"columns {seen[target]!r} and {col!r} both give {target}")
            return InputError(f"{spec.path} (strategy {spec.id}): {twice}; keep one")
        seen[target] = col
    available = set(present)
    mapped = {spec.column_mapping.get(c, c) for c in available}
    missing = [c for c in REQUIRED_SIGNAL_COLUMNS if c not in mapped]
    if not missing:
        return None
    wanted = ", ".join(f"{spec.source_for(c)!r}" + (f" (-> {c})" if spec.source_for(c) != c else "") for c in missing)
    return InputError(
        f"{spec.path} (strategy {spec.id}): missing column(s) {wanted} "
        f"after column_mapping; the file has {', '.join(repr(c) for c in present) or 'no columns'}"
    )


def wanted_source_columns(spec: StrategySpec, present: list[str]) -> list[str]:
    wanted = []
    for col in present:
        if spec.column_mapping.get(col, col) in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
            wanted.append(col)
    return wanted


def cached_schema(spec: StrategySpec, wanted: list[str]) -> pa.Schema:
    present = {spec.column_mapping.get(c, c) for c in wanted} | {"source_row"}
    return pa.schema([f for f in STANDARD_SCHEMA if f.name in present])


def _options_hash(spec: StrategySpec) -> str:
    options = json.dumps(
        [CACHE_VERSION, spec.format, spec.sep, spec.sheet, sorted(spec.column_mapping.items())]
    )
    return hashlib.sha256(options.encode()).hexdigest()[:12]


def cache_path(spec: StrategySpec, content: str, cache_dir: Path) -> Path:
    return cache_dir / f"{spec.id}-{hash_hex(content)[:24]}-{_options_hash(spec)}.parquet"


def cache_entry(spec: StrategySpec, content: str, cache_dir: Path, write: Callable[[Path], None]) -> Path:
    """The cache entry of this content (written atomically by `write` if it is new).

    Writing one drops the strategy's entries for older content read with the same options (and
    only the strategy's own: another id may start with this one followed by '-').
    """
    dest = cache_path(spec, content, cache_dir)
    if dest.exists():
        return dest
    with atomic_path(dest) as tmp:
        write(tmp)
    older = re.compile(rf"{re.escape(spec.id)}-[0-9a-f]{{24}}-{_options_hash(spec)}\.parquet")
    for stale in cache_dir.glob(f"{spec.id}-*.parquet"):
        if stale != dest and older.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    return dest


# ---------------------------------------------------------------------------------------- XLSX


def _excel_cell_to_text(value: Any) -> str | None:
    """An Excel cell as openpyxl gives it (datetime, int, float, bool, str) -> text for the normalizers.

    A boolean cell stays `TRUE`/`FALSE` (refused where a number or a gvkey is due, never 1 or 0);
    text cells keep their text (`NA` is not a missing value here, see _convert_xlsx).
    """
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (dt.datetime, pd.Timestamp)):  # the date, and the time of day if it has one
        return value.strftime("%Y-%m-%d") if value == value.replace(hour=0, minute=0, second=0, microsecond=0) \
            else value.isoformat(sep="T", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value)


#: openpyxl workbooks are read one at a time: the warnings filter set around each read is global,
#: and two threads entering and leaving `catch_warnings` together would restore each other's.
#: openpyxl is pure Python (it holds the GIL), so parallel reads would not be faster anyway.
_XLSX_LOCK = threading.Lock()


def _excel_date_text(serial: float, epoch: dt.datetime, number_format: str) -> str:
    """A number in a date-formatted cell as the text Excel shows for it (what the user sees).

    openpyxl would give 1900-02-28 for serial 60 (Excel shows 1900-02-29, a day that never was),
    a time 00:00:00 for serial 0 (Excel shows 1900-01-00) and an error value, with a warning on
    stderr, for a serial beyond Excel's dates (a YYYYMMDD number such as 20251231 formatted as a
    date, which Excel shows as ####). Here those days are what Excel shows, refused by the date
    parser like any impossible date, and a number beyond the dates is shown as the number.
    """
    from openpyxl.styles.numbers import is_datetime
    from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel

    kind = is_datetime(number_format)
    if kind != "time" and epoch == WINDOWS_EPOCH and 0 <= serial < 61 and int(serial) in (0, 60):
        return "1900-01-00" if int(serial) == 0 else "1900-02-29"
    try:
        if not (np.isfinite(serial) and serial >= 0):
            raise ValueError(serial)
        value = from_excel(serial, epoch)
    except (OverflowError, ValueError):
        return f"{_excel_cell_to_text(serial)} (in a date-formatted cell: no such Excel date)"
    if isinstance(value, dt.time):
        return value.isoformat(timespec="seconds")
    return str(_excel_cell_to_text(value))


def _xlsx_rows(spec: StrategySpec) -> list[list[Any]]:
    """The sheet's cells as openpyxl reads them (as pandas would), each row as long as the longest.

    Differences, so no value is reinterpreted: a number in a date-formatted cell is turned into a
    date here (see `_excel_date_text`), not by openpyxl; an error cell (`#N/A`, `#VALUE!`) keeps
    its text, to be refused with its row like `NA`, rather than read as a blank. openpyxl's
    warnings (unsupported extensions, styles, ...) go to the debug log, not to stderr.
    """
    import openpyxl
    from openpyxl.styles.numbers import is_date_format

    with _XLSX_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            book = openpyxl.load_workbook(spec.abs_path, read_only=True, data_only=True, keep_links=False)
        except Exception as exc:  # not a zip/xlsx: openpyxl raises zipfile/KeyError/... on corrupt files
            raise InputError(
                f"{spec.path} (strategy {spec.id}): cannot read as XLSX ({type(exc).__name__})"
            ) from None
        try:
            if isinstance(spec.sheet, int):
                if not 0 <= spec.sheet < len(book.worksheets):
                    raise InputError(f"{spec.path} (strategy {spec.id}): cannot read as XLSX (worksheet index "
                                     f"{spec.sheet} is invalid, {len(book.worksheets)} worksheet(s) found)")
                sheet = book.worksheets[spec.sheet]
            elif spec.sheet in book.sheetnames:
                sheet = book[spec.sheet]
            else:
                raise InputError(f"{spec.path} (strategy {spec.id}): cannot read as XLSX (worksheet named "
                                 f"{spec.sheet!r} not found)")
            # openpyxl converts date-formatted numbers while parsing, losing the number: keep them numbers
            epoch = book.epoch
            book._date_formats, book._timedelta_formats = set(), set()
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # the dimensions a file states may be wrong (pandas does the same)
            rows = []
            for cells in sheet.iter_rows():
                row = []
                for cell in cells:
                    value = cell.value
                    if (cell.data_type == "n" and isinstance(value, (int, float)) and not isinstance(value, bool)
                            and is_date_format(cell.number_format)):
                        value = _excel_date_text(float(value), epoch, cell.number_format)
                    row.append(value)
                rows.append(row)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(
                f"{spec.path} (strategy {spec.id}): cannot read as XLSX ({type(exc).__name__})"
            ) from None
        finally:
            book.close()
    for warning in caught:
        log.debug("%s (strategy %s): openpyxl: %s", spec.path, spec.id, warning.message)
    width = max((len(r) for r in rows), default=0)
    return [r + [None] * (width - len(r)) for r in rows]


def _convert_xlsx(spec: StrategySpec, dest: Path) -> None:
    """The sheet as a standardized Parquet table (every row checked, spreadsheet row numbers kept).

    The header row is read as data (pandas would rename a repeated name to `name.1` and read
    another column than the user meant), and pandas' NA parsing is off: `NA`, `N/A`, `null` are
    text to refuse with their row, not missing values; a blank cell is missing. Fully blank rows
    are skipped, as the CSV reader skips blank lines.
    """
    raw = _xlsx_rows(spec)
    if not raw:
        raise InputError(f"{spec.path} (strategy {spec.id}): the sheet is empty")
    names = [str(_excel_cell_to_text(c) or "").strip() for c in raw[0]]
    if err := missing_columns_error(spec, names):
        raise err
    wanted = wanted_source_columns(spec, names)
    cells = {col: [_excel_cell_to_text(r[names.index(col)]) for r in raw[1:]] for col in wanted}
    rows = np.arange(2, 1 + len(raw), dtype="int64")  # the header is row 1
    arrays = {col: pa.array(values, type=pa.string()) for col, values in cells.items()}
    filled = np.zeros(len(rows), dtype=bool)
    for arr in arrays.values():
        filled |= ~trimmed_text(arr)[1] & np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    table = pa.table(arrays)
    if not filled.all():
        table, rows = table.filter(pa.array(filled)), rows[filled]
    table = standardize(spec, table, rows)
    pq.write_table(table, dest, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def cached_table_path(spec: StrategySpec, content: str, cache_dir: Path) -> Path:
    """The standardized Parquet copy of an XLSX file, converting it if this content is new."""
    return cache_entry(spec, content, cache_dir, lambda tmp: _convert_xlsx(spec, tmp))


