"""Reading strategy files (CSV / XLSX / Parquet) fast, for one trade date, with exact row numbers.

Signal files keep their whole history and grow every day, while a run needs one date. So:

- **Parquet** is read row group by row group: groups whose `trade_date` statistics exclude the
  date are skipped without being decompressed, and only the columns we need are read.
- **CSV and XLSX** are converted once into a standardized Parquet file in the cache
  (`data/cache/signals/`), keyed on the file's content hash and on the conversion options; every
  later run reads the cache like any Parquet file. A changed file gets a new hash, hence a new
  cache entry. The content hash is memoized per (path, size, mtime, inode), as git's index does,
  so an unchanged file is not re-hashed on every run or sensor poke.

Values are normalized here, on arrow arrays: `trade_date` from ISO dates, `YYYYMMDD` strings or
integers, datetimes and Excel date cells (or serial numbers); `asset_id` (a gvkey) to a 6-digit
zero-padded string even when a reader saw a number (`1690` -> `001690`). Every row keeps its
`source_row` so an error can name it: the line number for CSV (the header is line 1), the row
number a spreadsheet shows for XLSX, the 1-based row for Parquet.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from .atomic import atomic_path, write_text_atomic
from .config import OPTIONAL_SIGNAL_COLUMNS, REQUIRED_SIGNAL_COLUMNS, StrategySpec
from .errors import InputError

#: Bump when the cached layout or the normalization rules change: old cache entries are ignored.
CACHE_VERSION = 1
ROW_GROUP_ROWS = 128 * 1024
CSV_BLOCK_BYTES = 16 << 20
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_FLOAT_COLUMNS = ("target_weight", "confidence", "predicted_return")

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


@dataclass(frozen=True)
class SourceFile:
    """What was read from one strategy file: for lineage and for error messages."""

    strategy_id: str
    path: str
    sha256: str
    date_used: dt.date | None


# --------------------------------------------------------------------------------------- hashing


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """SHA-256 of a file's content, memoized on (size, mtime_ns, inode) in `memo_dir`."""
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    memo_file = memo_dir / "hashes.json" if memo_dir else None
    memo: dict[str, Any] = {}
    if memo_file and memo_file.exists():
        try:
            memo = json.loads(memo_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            memo = {}
    entry = memo.get(str(path))
    if entry and entry.get("stamp") == stamp:
        return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    sha = digest.hexdigest()
    if memo_file:
        memo[str(path)] = {"stamp": stamp, "sha256": sha}
        try:
            write_text_atomic(memo_file, json.dumps(memo, indent=0, sort_keys=True))
        except OSError:
            pass  # the memo only saves time; a read-only cache must not fail a run
    return sha


# ----------------------------------------------------------------------------- normalization


def _row_error(spec: StrategySpec, row: int, column: str, message: str) -> InputError:
    return InputError(f"{spec.path} (strategy {spec.id}) row {row}: {column} {message}")


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _ints_to_dates(values: np.ndarray) -> np.ndarray:
    """int64 -> datetime64[D]: YYYYMMDD (19000101..21001231) or an Excel serial day (1..99999)."""
    out = np.full(values.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    ymd = (values >= 1900_01_01) & (values <= 2100_12_31)
    if ymd.any():
        v = values[ymd]
        parsed = pd.to_datetime(pd.Series(v.astype(str)), format="%Y%m%d", errors="coerce")
        out[ymd] = parsed.to_numpy(dtype="datetime64[D]")
    serial = (values >= 1) & (values < 100_000)
    if serial.any():
        out[serial] = np.datetime64(_EXCEL_EPOCH, "D") + values[serial].astype("timedelta64[D]")
    return out


def normalize_dates(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Any supported date representation -> (date32 array, mask of non-null inputs that failed)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    valid_in = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_date(t):
        out = arr.cast(pa.date32())
    elif pa.types.is_timestamp(t):
        if t.tz is not None:  # an instant: its New York date
            arr = pc.local_timestamp(arr.cast(pa.timestamp(t.unit, "America/New_York")))
        out = pc.cast(pc.floor_temporal(arr, unit="day"), pa.date32())
    elif pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        integral = np.isfinite(values) & (np.floor(values) == values)
        ints = np.where(integral, values, 0).astype("int64")
        dates = _ints_to_dates(ints)
        dates[~integral] = np.datetime64("NaT")
        out = pa.array(dates, type=pa.date32(), from_pandas=True)
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = pc.utf8_trim_whitespace(arr)
        out = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        for fmt in ("%Y%m%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d"):
            missing = pc.and_(pc.is_null(out), pc.is_valid(text))
            if not pc.any(missing).as_py():
                break
            alt = pc.cast(pc.strptime(text, format=fmt, unit="s", error_is_null=True), pa.date32())
            out = pc.if_else(missing, alt, out)
        digits = pc.and_(pc.is_null(out), pc.match_substring_regex(text, pattern=r"^\d{1,5}$"))
        if pc.any(digits).as_py():  # an Excel serial day exported as text
            serial = pc.if_else(digits, text, pa.scalar("0")).cast(pa.int64()).to_numpy(zero_copy_only=False)
            as_dates = pa.array(_ints_to_dates(serial), type=pa.date32(), from_pandas=True)
            out = pc.if_else(digits, as_dates, out)
    else:
        out = pa.nulls(len(arr), pa.date32())
    failed = valid_in & np.asarray(out.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return out, failed


def normalize_gvkeys(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """gvkeys as numbers or strings -> 6-digit zero-padded strings, plus a mask of bad values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    valid_in = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        ok = np.isfinite(values) & (np.floor(values) == values) & (values >= 0) & (values <= 999_999)
        text = pa.array(np.where(ok, values, 0).astype("int64").astype(str), type=pa.string())
        text = pc.if_else(pa.array(ok), text, pa.nulls(len(arr), pa.string()))
    else:
        text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")
        ok_arr = pc.match_substring_regex(text, pattern=r"^\d{1,6}$")
        ok = np.asarray(ok_arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        text = pc.if_else(ok_arr.fill_null(False), text, pa.nulls(len(arr), pa.string()))
    out = pc.utf8_lpad(text, width=6, padding="0")
    return out, valid_in & ~ok


def normalize_asof(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Timestamps (naive = UTC) or ISO-8601 strings -> timestamp[us, UTC], plus a mask of bad values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid_in = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        parsed = pd.to_datetime(arr.to_pandas(), utc=True)
    else:
        text = pd.Series(arr.cast(pa.string()).to_pylist(), dtype="object")
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    out = pa.array(parsed, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    failed = valid_in & np.asarray(out.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return out, failed


def _to_float(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    valid_in = ~np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
        out = arr.cast(pa.float64())
        return out, np.zeros(len(arr), dtype=bool)
    values = pd.to_numeric(pd.Series(arr.to_pylist(), dtype="object"), errors="coerce")
    out = pa.array(values.to_numpy(dtype="float64"), type=pa.float64(), from_pandas=True)
    failed = valid_in & values.isna().to_numpy()
    return out, failed


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
        "trade_date": (normalize_dates, "expected a date (YYYY-MM-DD, YYYYMMDD or a date cell)"),
        "asset_id": (normalize_gvkeys, "expected a gvkey of up to 6 digits"),
        "target_weight": (_to_float, "expected a number"),
        "confidence": (_to_float, "expected a number"),
        "predicted_return": (_to_float, "expected a number"),
        "asof": (normalize_asof, "expected an ISO-8601 timestamp"),
    }
    for name in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
        if name not in table.column_names:
            continue
        if name == "strategy_id":
            columns[name] = table[name].combine_chunks().cast(pa.string())
            continue
        fn, expected = checks[name]
        values, bad = fn(table[name])
        if bad.any():
            i = _first_bad(bad)
            raise _row_error(spec, int(rows[i]), name, f"{expected}, got {table[name][i].as_py()!r}")
        if name in ("trade_date", "asset_id"):
            missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            if missing.any():
                raise _row_error(spec, int(rows[_first_bad(missing)]), name, "is empty")
        columns[name] = values
    columns["source_row"] = pa.array(rows, type=pa.int64())
    if "asof" not in columns and default_asof is not None:
        columns["asof"] = pa.array([default_asof] * n, type=pa.timestamp("us", tz="UTC"))
    fields = [f for f in STANDARD_SCHEMA if f.name in columns]
    return pa.table([columns[f.name] for f in fields], schema=pa.schema(fields))


# ------------------------------------------------------------------------------- source files


def _check_file(spec: StrategySpec) -> None:
    path = spec.abs_path
    shown = spec.path
    if not path.exists():
        raise InputError(f"{shown} (strategy {spec.id}): file not found")
    if not path.is_file():
        raise InputError(f"{shown} (strategy {spec.id}): not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{shown} (strategy {spec.id}): file is not readable")
    if path.stat().st_size == 0:
        raise InputError(f"{shown} (strategy {spec.id}): file is empty")


def _missing_columns_error(spec: StrategySpec, present: list[str]) -> InputError | None:
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


def _wanted_source_columns(spec: StrategySpec, present: list[str]) -> list[str]:
    wanted = []
    for col in present:
        if spec.column_mapping.get(col, col) in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
            wanted.append(col)
    return wanted


def _csv_header(spec: StrategySpec) -> list[str]:
    try:
        with open(spec.abs_path, newline="", encoding="utf-8-sig") as fh:
            return [c.strip() for c in next(csv.reader(fh, delimiter=spec.sep), [])]
    except UnicodeDecodeError:
        raise InputError(f"{spec.path} (strategy {spec.id}): not a UTF-8 text CSV file") from None


def _cache_name(spec: StrategySpec, sha: str) -> str:
    options = json.dumps(
        [CACHE_VERSION, spec.format, spec.sep, spec.sheet, sorted(spec.column_mapping.items())]
    )
    opt_hash = hashlib.sha256(options.encode()).hexdigest()[:12]
    return f"{spec.id}-{sha[:24]}-{opt_hash}.parquet"


def _convert_csv(spec: StrategySpec, dest: Path) -> None:
    header = _csv_header(spec)
    if err := _missing_columns_error(spec, header):
        raise err
    wanted = _wanted_source_columns(spec, header)
    types = {}
    for col in wanted:
        std = spec.column_mapping.get(col, col)
        types[col] = pa.float64() if std in _FLOAT_COLUMNS else pa.string()
    try:
        reader = pa_csv.open_csv(
            spec.abs_path,
            read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding="utf8"),
            parse_options=pa_csv.ParseOptions(delimiter=spec.sep),
            convert_options=pa_csv.ConvertOptions(
                include_columns=wanted, column_types=types, strings_can_be_null=True
            ),
        )
        first_line = 2  # line 1 is the header
        with pq.ParquetWriter(dest, _cached_schema(spec, wanted), compression="zstd") as writer:
            for batch in reader:
                rows = np.arange(first_line, first_line + batch.num_rows, dtype="int64")
                first_line += batch.num_rows
                table = standardize(spec, pa.Table.from_batches([batch]), rows)
                writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
    except pa.ArrowInvalid as exc:
        # The fast typed reader does not say which row is bad: find it with a slow scan.
        raise _locate_bad_csv_value(spec, wanted, str(exc)) from None


def _locate_bad_csv_value(spec: StrategySpec, wanted: list[str], arrow_message: str) -> InputError:
    numeric = [c for c in wanted if spec.column_mapping.get(c, c) in _FLOAT_COLUMNS]
    line = 2
    try:
        chunks = pd.read_csv(spec.abs_path, sep=spec.sep, usecols=numeric, dtype=str, chunksize=500_000,
                             encoding="utf-8-sig")
        for chunk in chunks:
            for col in numeric:
                raw = chunk[col]
                bad = raw.notna() & pd.to_numeric(raw, errors="coerce").isna()
                if bad.any():
                    i = int(np.flatnonzero(bad.to_numpy())[0])
                    std = spec.column_mapping.get(col, col)
                    return _row_error(spec, line + i, std, f"expected a number, got {raw.iloc[i]!r}")
            line += len(chunk)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
        pass  # malformed beyond a bad number: report what arrow said
    reason = arrow_message.splitlines()[0] if arrow_message else "unknown reason"
    return InputError(f"{spec.path} (strategy {spec.id}): cannot be parsed as CSV ({reason})")


def _cached_schema(spec: StrategySpec, wanted: list[str]) -> pa.Schema:
    present = {spec.column_mapping.get(c, c) for c in wanted} | {"source_row"}
    return pa.schema([f for f in STANDARD_SCHEMA if f.name in present])


def _excel_cell_to_text(value: Any) -> Any:
    """Excel cells as pandas gives them (datetime, int, float, str) -> str for the arrow normalizers."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return str(int(value))
    return str(value)


def _convert_xlsx(spec: StrategySpec, dest: Path) -> None:
    try:
        frame = pd.read_excel(spec.abs_path, sheet_name=spec.sheet, dtype=object, engine="openpyxl")
    except ValueError as exc:  # unknown sheet, not a zip/xlsx, ...
        raise InputError(f"{spec.path} (strategy {spec.id}): cannot read as XLSX ({exc})") from None
    except Exception as exc:  # openpyxl raises zipfile/KeyError/... on corrupt files
        raise InputError(
            f"{spec.path} (strategy {spec.id}): cannot read as XLSX ({type(exc).__name__})"
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if err := _missing_columns_error(spec, list(frame.columns)):
        raise err
    wanted = _wanted_source_columns(spec, list(frame.columns))
    arrays = {col: pa.array(frame[col].map(_excel_cell_to_text).tolist(), type=pa.string()) for col in wanted}
    rows = np.arange(2, 2 + len(frame), dtype="int64")
    table = standardize(spec, pa.table(arrays), rows)
    pq.write_table(table, dest, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def cached_table_path(spec: StrategySpec, sha: str, cache_dir: Path) -> Path:
    """The standardized Parquet copy of a CSV/XLSX file, converting it if this content is new."""
    dest = cache_dir / _cache_name(spec, sha)
    if dest.exists():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        if spec.format == "csv":
            _convert_csv(spec, tmp)
        else:
            _convert_xlsx(spec, tmp)
    for stale in cache_dir.glob(f"{spec.id}-*.parquet"):
        if stale != dest and stale.name.split("-")[-1] == dest.name.split("-")[-1]:
            stale.unlink(missing_ok=True)
    return dest


# --------------------------------------------------------------------------- pruned Parquet reads


class _ParquetSource:
    """A Parquet file (source or cache) read by row group, with row-group pruning on trade_date."""

    def __init__(self, spec: StrategySpec, path: Path, standardized: bool) -> None:
        self.spec = spec
        self.path = path
        self.standardized = standardized
        try:
            self.pf = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{spec.path} (strategy {spec.id}): cannot read as Parquet ({exc})"
            ) from None
        names = self.pf.schema_arrow.names
        if not standardized:
            if err := _missing_columns_error(spec, names):
                raise err
        self.columns = names if standardized else _wanted_source_columns(spec, names)
        self.date_col = "trade_date" if standardized else spec.source_for("trade_date")
        self.date_idx = names.index(self.date_col)
        md = self.pf.metadata
        self.offsets = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])

    def _stats(self, rg: int) -> tuple[dt.date, dt.date] | None:
        col = self.pf.metadata.row_group(rg).column(self.date_idx)
        stats = col.statistics
        if stats is None or not stats.has_min_max:
            return None
        lo, hi = stats.min, stats.max
        if isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime) and lo.tzinfo is None:
            return lo.date(), hi.date()
        if isinstance(lo, dt.date) and not isinstance(lo, dt.datetime) and isinstance(hi, dt.date):
            return lo, hi
        return None  # strings, numbers, tz-aware: read the column and decide per row

    def _dates_of(self, rg: int) -> tuple[pa.Array, np.ndarray]:
        raw = self.pf.read_row_group(rg, columns=[self.date_col])[self.date_col]
        dates, bad = normalize_dates(raw)
        rows = self._rows(rg, np.arange(len(raw)))
        if bad.any():
            i = _first_bad(bad)
            raise _row_error(self.spec, int(rows[i]), "trade_date",
                             f"expected a date (YYYY-MM-DD, YYYYMMDD or a date cell), got {raw[i].as_py()!r}")
        return dates, rows

    def _rows(self, rg: int, idx: np.ndarray) -> np.ndarray:
        return (self.offsets[rg] + idx + 1).astype("int64")

    def latest_on_or_before(self, day: dt.date | None) -> dt.date | None:
        """The latest trade_date <= day in the file (the latest overall if day is None)."""
        best: dt.date | None = None
        for rg in range(self.pf.num_row_groups):
            stats = self._stats(rg)
            if stats is not None:
                lo, hi = stats
                if day is not None and lo > day:
                    continue
                if best is not None and hi <= best:
                    continue
                if day is None or hi <= day:
                    best = hi
                    continue
            dates, _ = self._dates_of(rg)
            values = dates if day is None else pc.filter(dates, pc.less_equal(dates, pa.scalar(day, pa.date32())))
            top = pc.max(values).as_py()
            if top is not None and (best is None or top > best):
                best = top
        return best

    def rows_for(self, day: dt.date) -> pa.Table:
        """All rows of `day`, standardized, with their source rows."""
        target = pa.scalar(day, pa.date32())
        parts = []
        for rg in range(self.pf.num_row_groups):
            stats = self._stats(rg)
            if stats is not None and not (stats[0] <= day <= stats[1]):
                continue
            if self.standardized:
                table = self.pf.read_row_group(rg, columns=self.columns)
                mask = pc.equal(table["trade_date"], target)
                if pc.any(mask).as_py():
                    parts.append(table.filter(mask))
                continue
            dates, rows = self._dates_of(rg)
            mask = pc.equal(dates, target).fill_null(False)
            if not pc.any(mask).as_py():
                continue
            table = self.pf.read_row_group(rg, columns=self.columns).filter(mask)
            keep = rows[np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)]
            parts.append(standardize(self.spec, table, keep))
        if not parts:
            schema = _cached_schema(self.spec, self.columns) if not self.standardized else self.pf.schema_arrow
            return schema.empty_table()
        return pa.concat_tables(parts, promote_options="default")


def open_source(spec: StrategySpec, cache_dir: Path) -> tuple[_ParquetSource, str]:
    """Check the file, hash it, and return a pruned reader over it (or over its cached copy)."""
    _check_file(spec)
    sha = file_sha256(spec.abs_path, cache_dir)
    if spec.format == "parquet":
        return _ParquetSource(spec, spec.abs_path, standardized=False), sha
    return _ParquetSource(spec, cached_table_path(spec, sha, cache_dir), standardized=True), sha


def _mtime_utc(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)


def read_strategy_rows(
    spec: StrategySpec, trade_date: dt.date, cache_dir: Path
) -> tuple[pd.DataFrame, SourceFile]:
    """The strategy's rows for `trade_date` (or, for a strategy that does not publish every day,
    its latest rows on or before it), standardized, as a DataFrame with `strategy_id`,
    `source_file` and `source_row` columns. No rows -> an empty frame, not an error."""
    source, sha = open_source(spec, cache_dir)
    day: dt.date | None = trade_date
    if not spec.publishes_every_day:
        day = source.latest_on_or_before(trade_date)
    table = source.rows_for(day) if day is not None else _cached_schema(spec, []).empty_table()
    frame = table.to_pandas(types_mapper=None)
    if "strategy_id" in frame.columns:
        frame = frame[frame["strategy_id"].astype("object").fillna(spec.id) == spec.id]
    frame = frame.assign(strategy_id=spec.id, source_file=spec.path)
    # A file without an asof column published everything at its modification time.
    mtime = pd.Timestamp(_mtime_utc(spec.abs_path))
    asof = frame["asof"] if "asof" in frame.columns else pd.Series(pd.NaT, index=frame.index)
    frame["asof"] = pd.to_datetime(asof, utc=True).fillna(mtime)
    used = day if len(frame) else None
    return frame.reset_index(drop=True), SourceFile(spec.id, spec.path, sha, used)


def latest_date(spec: StrategySpec, cache_dir: Path, on_or_before: dt.date | None = None) -> dt.date | None:
    """The latest trade_date the strategy has published (on or before a date, if given)."""
    source, _ = open_source(spec, cache_dir)
    return source.latest_on_or_before(on_or_before)
