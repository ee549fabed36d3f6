"""Values of a strategy file made standard, on arrow arrays, with the row of the first bad one.

`trade_date` from ISO dates, `YYYYMMDD` strings or integers, datetimes and Excel date cells (or
serial numbers); `asset_id` (a gvkey) to a 6-digit zero-padded string even when a reader saw a
number (`1690` -> `001690`). Each distinct value is parsed once (a file repeats a few thousand dates
and gvkeys millions of times). Nothing is reinterpreted: a date that does not exist or lies outside
1900..2100 is refused, a column of the wrong type is refused as a whole with its type, only a blank
cell is a missing value, and a number too small for a float (`1e-400`) is refused rather than read
as 0. `standardize` gives the table `STANDARD_SCHEMA`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from paper_trading.config import (
    OPTIONAL_SIGNAL_COLUMNS,
    REQUIRED_SIGNAL_COLUMNS,
    StrategySpec,
)
from paper_trading.errors import InputError

_EXCEL_EPOCH = dt.date(1899, 12, 30)

STANDARD_SCHEMA = pa.schema(
    [
        ("trade_date", pa.date32()),
        ("asset_id", pa.string()),
        ("target_weight", pa.float64()),
        ("source_row", pa.int64()),
        ("strategy_id", pa.string()),
        ("asof", pa.timestamp("us", tz="UTC")),
        ("confidence", pa.float64()),
        ("predicted_return", pa.float64()),
    ]
)


# ----------------------------------------------------------------------------- normalization

#: Trade dates and `asof` instants must fall in these bounds. No strategy trades outside them, so a
#: value there is a typo or a wrong unit (year 0001, 9999-12-31 as "open end", an Excel serial
#: read as a day count from 1970), never a date to act on.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
#: Excel serial days below 61 are off by one (Excel counts a 1900-02-29 that never was).
_FIRST_EXCEL_SERIAL = 61
DATE_EXPECTED = f"expected a date (YYYY-MM-DD, YYYYMMDD or a date cell) that exists, from {MIN_DATE} to {MAX_DATE}"
#: A number as text: what every producer writes. Not `True`, `yes`, `NA`, `nan`, `inf`, `1_000`, `0x1F`.
_NUMBER_TEXT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
#: The year, month and day as written, to check what strptime made of them (see _date_values).
_YMD_TEXT = r"^(?P<y>\d{4})[-/]?(?P<m>\d{1,2})[-/]?(?P<d>\d{1,2})(?:$|[T ])"


def row_error(spec: StrategySpec, row: int, column: str, message: str) -> InputError:
    return InputError(f"{spec.path} (strategy {spec.id}) row {row}: {column} {message}")


def shown_value(scalar: pa.Scalar) -> Any:
    """A cell's value for an error message, as the file shows it: a date as ISO text, not Python's repr.

    A date or timestamp Python cannot hold (year 0, -1, 10000) is shown as arrow prints it,
    instead of crashing the error message with an OverflowError.
    """
    try:
        value = scalar.as_py()
    except (OverflowError, ValueError):
        return str(pc.cast(scalar, pa.string()))
    return value.isoformat() if isinstance(value, dt.date) else value


def first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _mask(arr: pa.Array) -> np.ndarray:
    """A boolean arrow array as a numpy mask, null counting as False."""
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _on_distinct(
    normalize: Callable[[pa.Array], tuple[pa.Array, np.ndarray]], arr: pa.Array | pa.ChunkedArray
) -> tuple[pa.Array, np.ndarray]:
    """`normalize` run once per distinct value, its result (values and bad mask) expanded to every row.

    Text and numbers are dictionary-encoded first; dates and timestamps need no parsing and go
    through as they are. The expanded mask keeps row positions, so errors still name the row.
    """
    arr = _combined(arr)
    if not pa.types.is_dictionary(arr.type):
        t = arr.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                or pa.types.is_floating(t)):
            return normalize(arr)
        arr = pc.dictionary_encode(arr)
    values, bad = normalize(arr.dictionary)
    indices = arr.indices
    rows_bad = bad[indices.fill_null(0).to_numpy()] if len(bad) else np.zeros(len(arr), dtype=bool)
    if indices.null_count:  # a null has no distinct value to blame
        rows_bad &= np.asarray(indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return values.take(indices), rows_bad


def _failed(arr: pa.Array, out: pa.Array) -> np.ndarray:
    """The values present in `arr` that could not be normalized (null in `out`).

    Every normalizer keeps nulls null, so when the null counts agree nothing failed: the common
    case, answered without building two masks.
    """
    if out.null_count == arr.null_count:
        return np.zeros(len(arr), dtype=bool)
    present = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return present & np.asarray(out.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def trimmed_text(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Text without surrounding blanks, and the mask of blank cells (empty or spaces only).

    A blank cell is a missing value, reported as such ("is empty", "is missing"), never as a
    bad value; `NA`, `null`, `N/A` are text like any other and are refused where a value is due.
    """
    text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
    return text, _mask(pc.equal(text, ""))


def _in_bounds(out: pa.Array, lo: pa.Scalar, hi: pa.Scalar) -> pa.Array:
    """`out` with the values outside [lo, hi] made null (so they count as failed)."""
    bounds = pc.min_max(out)  # compared in arrow: year 0 or -1 has no Python date (as_py would overflow)
    if bounds["min"].is_valid and (pc.less(bounds["min"], lo).as_py() or pc.greater(bounds["max"], hi).as_py()):
        outside = pc.or_(pc.less(out, lo), pc.greater(out, hi))
        out = pc.if_else(outside, pa.nulls(len(out), out.type), out)
    return out


def _ints_to_dates(values: np.ndarray) -> np.ndarray:
    """int64 -> datetime64[D]: YYYYMMDD (19000101..21001231) or an Excel serial day (61..99999).

    pandas' `%Y%m%d` parse is strict (20240230 is NaT, not March 1st).
    """
    out = np.full(values.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ymd = (values >= 1900_01_01) & (values <= 2100_12_31)
    if ymd.any():
        v = values[ymd]
        parsed = pd.to_datetime(pd.Series(v.astype(str)), format="%Y%m%d", errors="coerce")
        out[ymd] = parsed.to_numpy(dtype="datetime64[D]")
    serial = (values >= _FIRST_EXCEL_SERIAL) & (values < 100_000)
    if serial.any():
        out[serial] = np.datetime64(_EXCEL_EPOCH, "D") + values[serial].astype("timedelta64[D]")
    return out


def normalize_dates(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Any supported date representation -> (date32 array, mask of non-null inputs that failed)."""
    return _on_distinct(_date_values, arr)


def _date_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    t = arr.type
    blank = None
    if pa.types.is_date(t):
        out = arr.cast(pa.date32())
    elif pa.types.is_timestamp(t):
        if t.tz is not None:  # an instant: its New York date
            arr = pc.local_timestamp(arr.cast(pa.timestamp(t.unit, "America/New_York")))
        out = pc.cast(pc.floor_temporal(arr, unit="day"), pa.date32())
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        # beyond 1e9 no YYYYMMDD nor serial: left out before the int64 cast (1e300 would not fit)
        integral = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < 1e9)
        ints = np.where(integral, values, 0).astype("int64")
        dates = _ints_to_dates(ints)
        dates[~integral] = np.datetime64("NaT")
        out = pa.array(dates, type=pa.date32(), from_pandas=True)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text, blank = trimmed_text(arr)
        out = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        for fmt in ("%Y%m%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d"):
            missing = pc.and_(pc.is_null(out), pc.is_valid(text))
            if not pc.any(missing).as_py():
                break
            alt = pc.cast(pc.strptime(text, format=fmt, unit="s", error_is_null=True), pa.date32())
            out = pc.if_else(missing, alt, out)
        # arrow's strptime rolls an impossible day over (2024-02-30 -> 2024-03-01, 20251131 ->
        # 2025-12-01): keep a parsed date only if it has the year, month and day that were written.
        if out.null_count < len(out):
            ymd = pc.extract_regex(text, pattern=_YMD_TEXT)
            matched = ymd.is_valid()

            def written(part: str) -> pa.Array:  # a row that did not match has "" there: make it 0
                return pc.if_else(matched, ymd.field(part), pa.scalar("0")).cast(pa.int64())

            same = pc.and_(matched, pc.and_(pc.equal(pc.year(out), written("y")),
                                            pc.and_(pc.equal(pc.month(out), written("m")),
                                                    pc.equal(pc.day(out), written("d")))))
            out = pc.if_else(same.fill_null(False), out, pa.nulls(len(out), pa.date32()))
        digits = pc.and_(pc.is_null(out), pc.match_substring_regex(text, pattern=r"^\d{1,5}$"))
        if pc.any(digits).as_py():  # an Excel serial day exported as text
            serial = pc.if_else(digits, text, pa.scalar("0")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            as_dates = pa.array(_ints_to_dates(serial), type=pa.date32(), from_pandas=True)
            out = pc.if_else(digits, as_dates, out)
    else:
        out = pa.nulls(len(arr), pa.date32())
    out = _in_bounds(out, pa.scalar(MIN_DATE, pa.date32()), pa.scalar(MAX_DATE, pa.date32()))
    bad = _failed(arr, out)
    return out, bad if blank is None else bad & ~blank


def _already_gvkeys(arr: pa.Array) -> bool:
    """Whether every value is a string of exactly six ASCII digits: already what we want.

    That is the common case, and checking it on the raw offsets and bytes with numpy is far
    cheaper than any string kernel, so a large well-formed file skips normalization altogether.
    """
    if not pa.types.is_string(arr.type) or arr.null_count or len(arr) == 0:
        return False
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    if not np.all(np.diff(offsets) == 6):
        return False
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    return bool(np.all((data >= ord("0")) & (data <= ord("9"))))


def normalize_gvkeys(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """gvkeys as numbers or strings -> 6-digit zero-padded strings, plus a mask of bad values."""
    arr = _combined(arr)
    if _already_gvkeys(arr):
        return arr, np.zeros(len(arr), dtype=bool)
    return _on_distinct(_gvkey_values, arr)


def _gvkey_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    t = arr.type
    blank = None
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        ok = np.isfinite(values) & (np.floor(values) == values) & (values >= 0) & (values <= 999_999)
        text = pa.array(np.where(ok, values, 0).astype("int64").astype(str), type=pa.string())
        text = pc.if_else(pa.array(ok), text, pa.nulls(len(arr), pa.string()))
    else:
        text, blank = trimmed_text(arr)
        text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")
        ok = pc.match_substring_regex(text, pattern=r"^\d{1,6}$").fill_null(False)
        text = pc.if_else(ok, text, pa.nulls(len(arr), pa.string()))
    out = pc.utf8_lpad(text, width=6, padding="0")
    bad = _failed(arr, out)
    return out, bad if blank is None else bad & ~blank


def normalize_asof(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Timestamps (naive = UTC) or ISO-8601 strings -> timestamp[us, UTC], plus a mask of bad values.

    pandas' ISO-8601 parse is strict (2024-02-30T10:00:00Z fails); a blank cell comes back null,
    and `standardize` refuses it with its row ("asof is empty").
    """
    return _on_distinct(_asof_values, arr)


def _asof_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    blank = None
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        parsed = pd.to_datetime(arr.to_pandas(), utc=True)
    else:
        text, blank = trimmed_text(arr)
        text = pc.if_else(pa.array(blank), pa.nulls(len(text), pa.string()), text)
        parsed = pd.to_datetime(pd.Series(text.to_pylist(), dtype="object"), utc=True, errors="coerce",
                                format="ISO8601")
    out = pa.array(parsed, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    lo = dt.datetime.combine(MIN_DATE, dt.time(), dt.UTC)
    hi = dt.datetime.combine(MAX_DATE, dt.time.max, dt.UTC)
    out = _in_bounds(out, pa.scalar(lo, out.type), pa.scalar(hi, out.type))
    bad = _failed(arr, out)
    return out, bad if blank is None else bad & ~blank


def _to_float(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Numbers (integer, floating or decimal) or numbers as text -> float64, plus a mask of bad values.

    Booleans, dates and the like never get here (see check_type). NaN and infinities are bad: a
    weight must be a finite number, whichever way it was written.
    """
    arr = _combined(arr)
    value_type = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return _on_distinct(_text_numbers, arr)
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.float64()), np.zeros(len(arr), dtype=bool)
    out = _no_negative_zero(arr.cast(pa.float64()))
    return out, _not_finite(out)


def _no_negative_zero(out: pa.Array) -> pa.Array:
    """-0.0 as 0.0 (IEEE: -0.0 + 0.0 is +0.0), so a weight `-0` is never written as a target of -0.0."""
    return pc.add(out, pa.scalar(0.0, pa.float64()))


#: A written number whose digits are not all zero (`1e-400`, `-0.000e5` is not one).
_NONZERO_NUMBER_TEXT = r"^[+-]?0*\.?0*[1-9]"


def _underflows(text: str) -> bool:
    """Whether a number written as text is not zero but too small for a float (`1e-400` -> 0.0)."""
    return bool(re.match(_NUMBER_TEXT, text.strip())) and bool(re.match(_NONZERO_NUMBER_TEXT, text.strip())) \
        and float(text) == 0.0


def _not_finite(out: pa.Array) -> np.ndarray:
    finite = pc.is_finite(out)
    if pc.all(finite).as_py() is not False:
        return np.zeros(len(out), dtype=bool)
    return _mask(pc.invert(finite))


def _text_numbers(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    text, blank = trimmed_text(arr)
    ok = pc.match_substring_regex(text, pattern=_NUMBER_TEXT).fill_null(False)
    out = pc.if_else(ok, text, pa.nulls(len(text), pa.string())).cast(pa.float64())
    # a number written with digits that are not all zero but read as 0 (1e-400) is no number we can hold
    zero = pc.equal(out, pa.scalar(0.0, pa.float64()))
    if pc.any(zero).as_py():
        nonzero_text = pc.match_substring_regex(text, pattern=_NONZERO_NUMBER_TEXT)
        out = pc.if_else(pc.and_(zero, nonzero_text).fill_null(False), pa.nulls(len(out), pa.float64()), out)
    return _no_negative_zero(out), (_failed(arr, out) & ~blank) | _not_finite(out)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t)


#: What each column may hold in a typed source (Parquet, or the standardized copy of an XLSX):
#: anything else is refused as a whole, with its type, before a value is looked at. Text is
#: always accepted and parsed strictly, value by value (it is what CSV and XLSX cells are).
_ACCEPTED_TYPES: dict[str, tuple[Callable[[pa.DataType], bool], str]] = {
    "trade_date": (lambda t: pa.types.is_date(t) or pa.types.is_timestamp(t) or _is_number(t) or _is_text(t),
                   "dates, timestamps, YYYYMMDD or Excel serial integers, or text"),
    "asset_id": (lambda t: _is_number(t) or _is_text(t), "gvkeys as integers or text"),
    "target_weight": (lambda t: _is_number(t) or pa.types.is_decimal(t) or _is_text(t), "numbers"),
    "confidence": (lambda t: _is_number(t) or pa.types.is_decimal(t) or _is_text(t), "numbers"),
    "predicted_return": (lambda t: _is_number(t) or pa.types.is_decimal(t) or _is_text(t), "numbers"),
    "asof": (lambda t: pa.types.is_timestamp(t) or pa.types.is_date(t) or _is_text(t), "timestamps or ISO-8601 text"),
    "strategy_id": (lambda t: pa.types.is_integer(t) or _is_text(t), "text"),
}


def check_type(spec: StrategySpec, name: str, arr: pa.Array | pa.ChunkedArray) -> None:
    """Refuse a column whose type cannot hold the values it should (a boolean weight is not 1 or 0)."""
    t = arr.type.value_type if pa.types.is_dictionary(arr.type) else arr.type
    accepted, what = _ACCEPTED_TYPES[name]
    if pa.types.is_null(t) or accepted(t):
        return
    source = spec.source_for(name)
    shown = repr(source) + (f" (-> {name})" if source != name else "")
    raise InputError(f"{spec.path} (strategy {spec.id}): column {shown} has type {t}; expected {what}")


def standardize(
    spec: StrategySpec, table: pa.Table, rows: np.ndarray, default_asof: dt.datetime | None = None
) -> pa.Table:
    """Rename mapped columns to ours and normalize them; raise InputError naming the first bad row.

    Idempotent: a table that is already standard comes back unchanged, so the same function serves
    the cache conversion and the final read.
    """
    rename = {src: dst for src, dst in spec.column_mapping.items() if src in table.column_names}
    table = table.rename_columns([rename.get(c, c) for c in table.column_names])
    n = table.num_rows
    columns: dict[str, pa.Array] = {}

    checks = {
        "trade_date": (normalize_dates, DATE_EXPECTED),
        "asset_id": (normalize_gvkeys, "expected a gvkey of up to 6 digits"),
        "target_weight": (_to_float, "expected a number"),
        "confidence": (_to_float, "expected a number"),
        "predicted_return": (_to_float, "expected a number"),
        "asof": (normalize_asof, f"expected an ISO-8601 timestamp from {MIN_DATE} to {MAX_DATE}"),
    }
    for name in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
        if name not in table.column_names:
            continue
        check_type(spec, name, table[name])
        if name == "strategy_id":
            text = table[name].combine_chunks().cast(pa.string())
            trimmed, blank = trimmed_text(text)  # a blank cell is the manifest's strategy, as a missing one
            columns[name] = pc.if_else(pa.array(blank), pa.nulls(n, pa.string()), trimmed) if blank.any() else text
            continue
        fn, expected = checks[name]
        values, bad = fn(table[name])
        if bad.any():
            i = first_bad(bad)
            value = shown_value(table[name][i])
            if isinstance(value, str) and re.match(_NUMBER_TEXT, value.strip()) and not np.isfinite(float(value)):
                value = float(value)  # 1e400 in a chunk read as text: said as the typed read says it
            if isinstance(value, float) and not np.isfinite(value):
                expected = expected.replace("a number", "a finite number")
            elif isinstance(value, str) and _underflows(value):
                expected = expected.replace("a number", "a number within the float range")
            raise row_error(spec, int(rows[i]), name, f"{expected}, got {value!r}")
        # a blank asof in an asof column is no revision time: the file's mtime would make that row
        # beat every real revision (only a file without the column is taken as published at its mtime)
        if name in ("trade_date", "asset_id", "asof") and values.null_count:
            missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            raise row_error(spec, int(rows[first_bad(missing)]), name, "is empty")
        columns[name] = values
    columns["source_row"] = pa.array(rows, type=pa.int64())
    if "asof" not in columns and default_asof is not None:
        columns["asof"] = pa.array([default_asof] * n, type=pa.timestamp("us", tz="UTC"))
    fields = [f for f in STANDARD_SCHEMA if f.name in columns]
    return pa.table([columns[f.name] for f in fields], schema=pa.schema(fields))


