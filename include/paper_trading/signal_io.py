"""Reading strategy files (CSV / XLSX / Parquet) fast, for one trade date, with exact row numbers.

Signal files keep their whole history and grow every day, while a run needs one date. So:

- **Parquet** is read row group by row group: groups whose `trade_date` statistics exclude the
  date are skipped without being decompressed, and only the columns we need are read.
- **CSV** is read once per content, in ~1 MiB chunks of whole lines, in a single pass that hashes
  the file, checks every row and leaves an *index* in the cache (`data/cache/signals/`): each
  chunk's byte range, first row number and first/last trade_date. A later run with the same
  content parses only the chunk(s) holding its date. No converted copy of the file is written:
  writing one (even as tuned, uncompressed Parquet) cost another third of the parse and the
  file's disk space again, and once we know where each date is, the CSV is as quick to read.
- **XLSX** is converted once into a standardized Parquet file in the cache, read as above.

Cache entries are keyed on the file's content hash and on the reading options, so a changed file
gets a new entry. The content hash is memoized per (path, size, mtime, inode), as git's index
does, so an unchanged file is not re-hashed on every run or sensor poke; a CSV read through its
index must still have that stamp, or the run stops instead of reading other bytes than it indexed.

Values are normalized here, on arrow arrays: `trade_date` from ISO dates, `YYYYMMDD` strings or
integers, datetimes and Excel date cells (or serial numbers); `asset_id` (a gvkey) to a 6-digit
zero-padded string even when a reader saw a number (`1690` -> `001690`). Each distinct value is
parsed once (a file repeats a few thousand dates and gvkeys millions of times). Every row keeps
its `source_row` so an error can name it: the line number for CSV (the header is line 1), the
row number a spreadsheet shows for XLSX, the 1-based row for Parquet.

Everything here is safe to call from several threads at once, one strategy per thread: the
heavy work is in pyarrow and hashlib, which release the GIL.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

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
CACHE_VERSION = 2
ROW_GROUP_ROWS = 128 * 1024
#: A CSV file is parsed in chunks of whole lines of about this size: the full pass one chunk at a
#: time (memory bounded whatever the file size), a run only the one or two holding its date.
CSV_CHUNK_BYTES = 1 << 20
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

_MEMO_LOCK = threading.Lock()


def _stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged without reading it (git's index uses the same)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_memo(memo_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((memo_dir / "hashes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _memoized_sha256(path: Path, stamp: list[int], memo_dir: Path | None) -> str | None:
    """The content hash remembered for `path`, if the file still has the same stamp."""
    entry = _read_memo(memo_dir).get(str(path)) if memo_dir else None
    if isinstance(entry, dict) and entry.get("stamp") == stamp:
        return entry.get("sha256")
    return None


def _remember_sha256(path: Path, stamp: list[int], sha: str, memo_dir: Path | None) -> None:
    if memo_dir is None:
        return
    with _MEMO_LOCK:  # re-read under the lock: strategies read in parallel must not drop each other's entry
        memo = _read_memo(memo_dir)
        memo[str(path)] = {"stamp": stamp, "sha256": sha}
        try:
            write_text_atomic(memo_dir / "hashes.json", json.dumps(memo, indent=0, sort_keys=True))
        except OSError:
            pass  # the memo only saves time; a read-only cache must not fail a run


def file_sha256(path: Path, memo_dir: Path | None = None) -> str:
    """SHA-256 of a file's content, memoized on (size, mtime_ns, inode) in `memo_dir`."""
    stamp = _stamp(path.stat())
    if sha := _memoized_sha256(path, stamp, memo_dir):
        return sha
    with open(path, "rb") as fh:
        sha = hashlib.file_digest(fh, "sha256").hexdigest()
    _remember_sha256(path, stamp, sha, memo_dir)
    return sha


def _check_unchanged(spec: StrategySpec, fh: BinaryIO, stamp: list[int]) -> None:
    """Stop if the file is no longer the one hashed (and indexed): its bytes would not match."""
    if _stamp(os.fstat(fh.fileno())) != stamp:
        raise InputError(f"{spec.path} (strategy {spec.id}): the file changed while it was being read; try again")


# ----------------------------------------------------------------------------- normalization


def _row_error(spec: StrategySpec, row: int, column: str, message: str) -> InputError:
    return InputError(f"{spec.path} (strategy {spec.id}) row {row}: {column} {message}")


def _first_bad(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def _combined(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


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
    return _on_distinct(_date_values, arr)


def _date_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    t = arr.type
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
    return out, _failed(arr, out)


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
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        values = arr.to_numpy(zero_copy_only=False).astype("float64")
        ok = np.isfinite(values) & (np.floor(values) == values) & (values >= 0) & (values <= 999_999)
        text = pa.array(np.where(ok, values, 0).astype("int64").astype(str), type=pa.string())
        text = pc.if_else(pa.array(ok), text, pa.nulls(len(arr), pa.string()))
    else:
        text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        text = pc.replace_substring_regex(text, pattern=r"\.0+$", replacement="")
        ok = pc.match_substring_regex(text, pattern=r"^\d{1,6}$").fill_null(False)
        text = pc.if_else(ok, text, pa.nulls(len(arr), pa.string()))
    out = pc.utf8_lpad(text, width=6, padding="0")
    return out, _failed(arr, out)


def normalize_asof(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Timestamps (naive = UTC) or ISO-8601 strings -> timestamp[us, UTC], plus a mask of bad values."""
    return _on_distinct(_asof_values, arr)


def _asof_values(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        parsed = pd.to_datetime(arr.to_pandas(), utc=True)
    else:
        text = pd.Series(arr.cast(pa.string()).to_pylist(), dtype="object")
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    out = pa.array(parsed, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    return out, _failed(arr, out)


def _to_float(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    arr = _combined(arr)
    if pa.types.is_floating(arr.type) or pa.types.is_integer(arr.type):
        return arr.cast(pa.float64()), np.zeros(len(arr), dtype=bool)
    values = pd.to_numeric(pd.Series(arr.to_pylist(), dtype="object"), errors="coerce")
    out = pa.array(values.to_numpy(dtype="float64"), type=pa.float64(), from_pandas=True)
    return out, _failed(arr, out)


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
        if name in ("trade_date", "asset_id") and values.null_count:
            missing = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
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


def _cached_schema(spec: StrategySpec, wanted: list[str]) -> pa.Schema:
    present = {spec.column_mapping.get(c, c) for c in wanted} | {"source_row"}
    return pa.schema([f for f in STANDARD_SCHEMA if f.name in present])


def _options_hash(spec: StrategySpec) -> str:
    options = json.dumps(
        [CACHE_VERSION, spec.format, spec.sep, spec.sheet, sorted(spec.column_mapping.items())]
    )
    return hashlib.sha256(options.encode()).hexdigest()[:12]


def _cache_path(spec: StrategySpec, sha: str, cache_dir: Path) -> Path:
    return cache_dir / f"{spec.id}-{sha[:24]}-{_options_hash(spec)}.parquet"


def _cache_entry(spec: StrategySpec, sha: str, cache_dir: Path, write: Callable[[Path], None]) -> Path:
    """The cache entry of this content (written atomically by `write` if it is new).

    Writing one drops the strategy's entries for older content read with the same options (and
    only the strategy's own: another id may start with this one followed by '-').
    """
    dest = _cache_path(spec, sha, cache_dir)
    if dest.exists():
        return dest
    with atomic_path(dest) as tmp:
        write(tmp)
    older = re.compile(rf"{re.escape(spec.id)}-[0-9a-f]{{24}}-{_options_hash(spec)}\.parquet")
    for stale in cache_dir.glob(f"{spec.id}-*.parquet"):
        if stale != dest and older.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    return dest


# ----------------------------------------------------------------------------------------- CSV


class _CsvChunk(NamedTuple):
    """A chunk of a CSV file (a run of whole lines), as the file's index records it."""

    offset: int  # byte offset in the file
    length: int  # bytes
    first_row: int  # line number of its first row (the header is line 1)
    first_date: dt.date
    last_date: dt.date


_INDEX_SCHEMA = pa.schema(
    [("offset", pa.int64()), ("length", pa.int64()), ("first_row", pa.int64()),
     ("first_date", pa.date32()), ("last_date", pa.date32())]
)
_HEADER_KEY = b"paper_trading.csv_header"


class _CsvParser:
    """Parses chunks of one CSV file (its header given) into standardized tables."""

    def __init__(self, spec: StrategySpec, header: bytes) -> None:
        self.spec = spec
        try:
            text = header.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{spec.path} (strategy {spec.id}): not a UTF-8 text CSV file") from None
        names = [c.strip() for c in next(csv.reader([text.rstrip("\r\n")], delimiter=spec.sep), [])]
        if err := _missing_columns_error(spec, names):
            raise err
        self.wanted = _wanted_source_columns(spec, names)
        self.types = {c: pa.float64() if spec.column_mapping.get(c, c) in _FLOAT_COLUMNS else pa.string()
                      for c in self.wanted}
        # Most files write ISO dates, which the CSV parser reads as dates at no extra cost. A chunk
        # with any other spelling fails that read and is read as text and normalized; so are the
        # chunks after it.
        self.iso_types = {**self.types, spec.source_for("trade_date"): pa.date32()}
        self.dates_are_iso = True
        # The file-level threads of load_all_strategies keep the cores busy: no threads per chunk.
        self.read_options = pa_csv.ReadOptions(column_names=names, use_threads=False)
        self.parse_options = pa_csv.ParseOptions(delimiter=spec.sep)

    def _read(self, data: bytes | memoryview, types: dict[str, pa.DataType]) -> pa.Table:
        convert = pa_csv.ConvertOptions(include_columns=self.wanted, column_types=types, strings_can_be_null=True)
        return pa_csv.read_csv(pa.py_buffer(data), read_options=self.read_options,
                               parse_options=self.parse_options, convert_options=convert)

    def parse(self, data: bytes | memoryview, first_row: int) -> pa.Table:
        """The rows of `data`, standardized; `first_row` is the line number of its first row."""
        table = None
        if self.dates_are_iso:
            try:
                table = self._read(data, self.iso_types)
            except pa.ArrowInvalid:
                self.dates_are_iso = False
        if table is None:
            try:
                table = self._read(data, self.types)
            except pa.ArrowInvalid as exc:
                raise self._error(data, first_row, exc) from None
        return standardize(self.spec, table, np.arange(first_row, first_row + table.num_rows, dtype="int64"))

    def _error(self, data: bytes | memoryview, first_row: int, exc: pa.ArrowInvalid) -> InputError:
        """The typed read failed: name the row of the first bad value, or say why this is not CSV."""
        try:
            text = self._read(data, {c: pa.string() for c in self.wanted})
            standardize(self.spec, text, np.arange(first_row, first_row + text.num_rows, dtype="int64"))
        except InputError as err:
            return err
        except pa.ArrowInvalid:
            pass  # malformed beyond a bad value: report what arrow said
        # arrow numbers rows from 1 in the chunk it was given; say the file's row instead
        reason = re.sub(r"Row #(\d+)", lambda m: f"row {first_row + int(m.group(1)) - 1}", str(exc).splitlines()[0])
        return InputError(f"{self.spec.path} (strategy {self.spec.id}): cannot be parsed as CSV ({reason})")


def _line_chunks(fh: BinaryIO, digest: Any) -> Iterator[memoryview]:
    """The rest of `fh` in chunks of whole lines of about CSV_CHUNK_BYTES; every byte also goes to `digest`.

    A chunk ends after its last line break, so no row is split between two chunks: as in the CSV
    reader's default (`newlines_in_values=False`), a line break always ends a row. A file with
    `\\r` line ends only is cut at a `\\r`.
    """
    carry = b""
    while True:
        buf = bytearray(len(carry) + CSV_CHUNK_BYTES)
        buf[: len(carry)] = carry
        view = memoryview(buf)
        got = fh.readinto(view[len(carry):])
        if not got:
            break
        end = len(carry) + got
        digest.update(view[len(carry):end])
        cut = buf.rfind(b"\n", 0, end) + 1 or buf.rfind(b"\r", 0, end) + 1
        if cut:
            yield view[:cut]
        carry = bytes(view[cut:end])
    if carry:
        yield memoryview(carry)


def _read_header(fh: BinaryIO) -> bytes:
    """The first line of the file with its line break (`\\n`, `\\r\\n` or `\\r`); `fh` is left after it."""
    data = b""
    while b"\n" not in data and b"\r" not in data and (block := fh.read(1 << 16)):
        data += block
    breaks = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    end = min(breaks) + 1 if breaks else len(data)
    if data[end - 1:end + 1] == b"\r\n":
        end += 1
    fh.seek(end)
    return data[:end]


def _index_csv(spec: StrategySpec) -> tuple[list[int], str, pa.Table]:
    """One pass over the file: its stamp, its sha256, and its index (every row checked on the way)."""
    digest = hashlib.sha256()
    index: list[_CsvChunk] = []
    with open(spec.abs_path, "rb") as fh:
        stamp = _stamp(os.fstat(fh.fileno()))
        header = _read_header(fh)
        digest.update(header)
        parser = _CsvParser(spec, header)
        offset, first_row = len(header), 2
        for data in _line_chunks(fh, digest):
            table = parser.parse(data, first_row)
            if table.num_rows:
                bounds = pc.min_max(table["trade_date"])
                index.append(_CsvChunk(offset, len(data), first_row, bounds["min"].as_py(), bounds["max"].as_py()))
            offset += len(data)
            first_row += table.num_rows
        _check_unchanged(spec, fh, stamp)
    table = pa.Table.from_pylist([c._asdict() for c in index], schema=_INDEX_SCHEMA)
    return stamp, digest.hexdigest(), table.replace_schema_metadata({_HEADER_KEY: header})


class _CsvSource:
    """A CSV file read through its index: only the chunks whose dates cover the day are parsed."""

    def __init__(self, spec: StrategySpec, stamp: list[int], index: pa.Table) -> None:
        self.spec = spec
        self.stamp = stamp
        self.parser = _CsvParser(spec, index.schema.metadata[_HEADER_KEY])
        self.chunks = [_CsvChunk(**row) for row in index.to_pylist()]

    def _parsed(self, chunks: list[_CsvChunk]) -> Iterator[pa.Table]:
        """The standardized rows of each chunk, one chunk at a time, read from the indexed file."""
        with open(self.spec.abs_path, "rb") as fh:
            for chunk in chunks:
                fh.seek(chunk.offset)
                data = fh.read(chunk.length)
                _check_unchanged(self.spec, fh, self.stamp)
                yield self.parser.parse(data, chunk.first_row)

    def schema(self) -> pa.Schema:
        """The schema of the standardized rows (of a day without any, too)."""
        return _cached_schema(self.spec, self.parser.wanted)

    def latest_on_or_before(self, day: dt.date | None) -> dt.date | None:
        """The latest trade_date <= day in the file (the latest overall if day is None)."""
        ends = [c.last_date for c in self.chunks if day is None or c.last_date <= day]
        best = max(ends, default=None)
        if day is None or best == day:
            return best
        straddling = [c for c in self.chunks if c.first_date <= day < c.last_date]
        for table in self._parsed(straddling):
            dates = table["trade_date"]
            top = pc.max(pc.filter(dates, pc.less_equal(dates, pa.scalar(day, pa.date32())))).as_py()
            if top is not None and (best is None or top > best):
                best = top
        return best

    def rows_for(self, day: dt.date) -> pa.Table:
        """All rows of `day`, standardized, with their source rows."""
        target = pa.scalar(day, pa.date32())
        covering = [c for c in self.chunks if c.first_date <= day <= c.last_date]
        parts = [t.filter(pc.equal(t["trade_date"], target)) for t in self._parsed(covering)]
        parts = [p for p in parts if p.num_rows]
        return pa.concat_tables(parts) if parts else self.schema().empty_table()


def _open_csv(spec: StrategySpec, cache_dir: Path) -> tuple[_CsvSource, str]:
    """The CSV's indexed reader and sha256, from the cache if this content was indexed before."""
    stamp = _stamp(spec.abs_path.stat())
    sha = _memoized_sha256(spec.abs_path, stamp, cache_dir)
    if sha and (entry := _cache_path(spec, sha, cache_dir)).exists():
        return _CsvSource(spec, stamp, pq.ParquetFile(entry).read()), sha
    stamp, sha, index = _index_csv(spec)
    _cache_entry(spec, sha, cache_dir, lambda tmp: pq.write_table(index, tmp))
    _remember_sha256(spec.abs_path, stamp, sha, cache_dir)
    return _CsvSource(spec, stamp, index), sha


# ---------------------------------------------------------------------------------------- XLSX


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
    """The standardized Parquet copy of an XLSX file, converting it if this content is new."""
    return _cache_entry(spec, sha, cache_dir, lambda tmp: _convert_xlsx(spec, tmp))


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

    def schema(self) -> pa.Schema:
        """The schema of the standardized rows (of a day without any, too)."""
        return self.pf.schema_arrow if self.standardized else _cached_schema(self.spec, self.columns)

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
            return self.schema().empty_table()
        return pa.concat_tables(parts, promote_options="default")


def open_source(spec: StrategySpec, cache_dir: Path) -> tuple[_ParquetSource | _CsvSource, str]:
    """Check the file, hash it, and return a pruned reader over it (or over its cached copy)."""
    _check_file(spec)
    if spec.format == "csv":
        return _open_csv(spec, cache_dir)
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
    table = source.rows_for(day) if day is not None else source.schema().empty_table()
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
