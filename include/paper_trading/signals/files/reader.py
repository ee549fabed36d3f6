"""Reading strategy files (CSV / XLSX / Parquet) fast, for one trade date, with exact row numbers.

Signal files keep their whole history and grow every day, while a run needs one date. So:

- **Parquet** is read row group by row group: groups whose `trade_date` statistics exclude the
  date are skipped without being decompressed, and only the columns we need are read.
- **CSV** is read once per content and left as an *index* in the cache (`data/cache/signals/`):
  see `csv_index.py`, which also indexes only the appended lines of a file that grew.
- **XLSX** is converted once into a standardized Parquet file in the cache, read as above.

Cache entries are keyed on the file's content hash and on the reading options, so a changed file
gets a new entry. The content hash (`blake3-chunks:<hex>`, see `CONTENT_HASH`) is also what the
lineage records; it is memoized per (path, size, mtime, inode), as git's index does, so an
unchanged file is not re-hashed on every run or sensor poke; a CSV read through its index must
still have that stamp, or the run stops instead of reading other bytes than it indexed.

Values are normalized here, on arrow arrays: `trade_date` from ISO dates, `YYYYMMDD` strings or
integers, datetimes and Excel date cells (or serial numbers); `asset_id` (a gvkey) to a 6-digit
zero-padded string even when a reader saw a number (`1690` -> `001690`). Each distinct value is
parsed once (a file repeats a few thousand dates and gvkeys millions of times). Every row keeps
its `source_row` so an error can name it: the line number for CSV (the header is line 1), the
row number a spreadsheet shows for XLSX, the 1-based row for Parquet.

Nothing is reinterpreted: a date that does not exist (2024-02-30) or lies outside 1900..2100 is
refused, not rolled over; a column of the wrong type (a boolean weight) is refused as a whole
with its type; `NA`, `null`, `True` are text, refused where a number or a gvkey is due; only a
blank cell is a missing value, and a missing date, gvkey or asof (in a file with an asof column) is
an error with its row. A weight `-0` is 0.0, and a number too small for a float (`1e-400`) is
refused rather than read as 0.

Everything here is safe to call from several threads at once, one strategy per thread: the
heavy work is in pyarrow and blake3, which release the GIL.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import blake3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from paper_trading.atomic import atomic_path, write_text_atomic
from paper_trading.config import OPTIONAL_SIGNAL_COLUMNS, REQUIRED_SIGNAL_COLUMNS, StrategySpec
from paper_trading.errors import InputError, SignalsNotReady
from paper_trading.logging_setup import get_logger

log = get_logger("signal_io")

#: Bump when the cached layout or the normalization rules change: old cache entries are ignored.
CACHE_VERSION = 4
ROW_GROUP_ROWS = 128 * 1024
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


@dataclass(frozen=True)
class SourceFile:
    """What was read from one strategy file: for lineage and for error messages.

    `content_hash` names its algorithm (`blake3-chunks:<hex>`, see `BlockHasher`), so a reader of
    the lineage never has to guess which function made it.
    """

    strategy_id: str
    path: str
    content_hash: str
    date_used: dt.date | None

    @property
    def sha256(self) -> str:
        """The former name of `content_hash`, kept while callers move; it is NOT a SHA-256."""
        return self.content_hash


# --------------------------------------------------------------------------------------- hashing

#: The content hash of a file: BLAKE3 over the concatenated 32-byte BLAKE3 digests of its
#: consecutive HASH_BLOCK_BYTES blocks (the last one may be shorter), as `blake3-chunks:<hex>`.
#: Blocks sit at fixed offsets, so the hash depends on the content only, never on how the file
#: was read, and a file that grew is hashed again only from its last old block on (csv_index).
#: BLAKE3 runs at ~6 GB/s per core here, SHA-256 at ~1.8 GB/s.
CONTENT_HASH = "blake3-chunks"
HASH_BLOCK_BYTES = 1 << 20

_MEMO_LOCK = threading.Lock()


class BlockHasher:
    """Feeds a file's bytes, in order and in pieces of any size, to the per-block digests."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self._block = blake3.blake3()
        self._filled = 0

    def update(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while len(view):
            take = min(len(view), HASH_BLOCK_BYTES - self._filled)
            self._block.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == HASH_BLOCK_BYTES:
                self.digests.append(self._block.digest())
                self._block, self._filled = blake3.blake3(), 0

    def add_block(self, digest: bytes) -> None:
        """A whole block whose digest is known already (the caller hashed it), at a block boundary."""
        assert self._filled == 0, "add_block between two blocks only"
        self.digests.append(digest)

    def finish(self) -> list[bytes]:
        """The digests of every block (the last, partial one included)."""
        if self._filled:
            self.digests.append(self._block.digest())
            self._block, self._filled = blake3.blake3(), 0
        return self.digests


def content_hash(digests: list[bytes]) -> str:
    """The file's content hash from its block digests (see CONTENT_HASH)."""
    return f"{CONTENT_HASH}:{blake3.blake3(b''.join(digests)).hexdigest()}"


def hash_hex(value: str) -> str:
    """The hex digits of a content hash, without its algorithm's name (for cache file names)."""
    return value.rpartition(":")[2]


def _stamp(st: os.stat_result) -> list[int]:
    """What says a file is unchanged without reading it (git's index uses the same)."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_memo(memo_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((memo_dir / "hashes.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _memo_entry(path: Path, memo_dir: Path | None) -> dict[str, Any]:
    entry = _read_memo(memo_dir).get(str(path)) if memo_dir else None
    if isinstance(entry, dict) and isinstance(entry.get("hash"), str) and entry["hash"].startswith(f"{CONTENT_HASH}:"):
        return entry
    return {}  # none, or one of another algorithm (an older version's sha256)


def memoized_hash(path: Path, stamp: list[int], memo_dir: Path | None) -> str | None:
    """The content hash remembered for `path`, if the file still has the same stamp."""
    entry = _memo_entry(path, memo_dir)
    return entry["hash"] if entry.get("stamp") == stamp else None


def previous_hash(path: Path, memo_dir: Path | None) -> str | None:
    """The content hash `path` had when it was last read, whatever its stamp is now."""
    return _memo_entry(path, memo_dir).get("hash")


def remember_hash(path: Path, stamp: list[int], value: str, memo_dir: Path | None) -> None:
    if memo_dir is None:
        return
    with _MEMO_LOCK:  # re-read under the lock: strategies read in parallel must not drop each other's entry
        memo = _read_memo(memo_dir)
        memo[str(path)] = {"stamp": stamp, "hash": value}
        try:
            write_text_atomic(memo_dir / "hashes.json", json.dumps(memo, indent=0, sort_keys=True))
        except OSError:
            pass  # the memo only saves time; a read-only cache must not fail a run


def file_hash(path: Path, memo_dir: Path | None = None, shown: str | None = None) -> str:
    """The content hash of a file (see CONTENT_HASH), memoized on (size, mtime_ns, inode) in `memo_dir`."""
    stamp = _stamp(path.stat())
    if value := memoized_hash(path, stamp, memo_dir):
        return value
    hasher = BlockHasher()
    buf = bytearray(HASH_BLOCK_BYTES)
    with open(path, "rb") as fh:
        while got := fh.readinto(buf):
            hasher.update(memoryview(buf)[:got])
        if _stamp(os.fstat(fh.fileno())) != stamp:
            raise SignalsNotReady(f"{shown or path}: the file changed while it was being read; try again")
    value = content_hash(hasher.finish())
    remember_hash(path, stamp, value, memo_dir)
    return value


def check_unchanged(spec: StrategySpec, fh: BinaryIO, stamp: list[int]) -> None:
    """Stop if the file is no longer the one hashed (and indexed): its bytes would not match."""
    if _stamp(os.fstat(fh.fileno())) != stamp:
        raise SignalsNotReady(f"{spec.path} (strategy {spec.id}): the file changed while it was being read; try again")


# ----------------------------------------------------------------------------- normalization

#: Trade dates and `asof` instants must fall in these bounds. No strategy trades outside them, so a
#: value there is a typo or a wrong unit (year 0001, 9999-12-31 as "open end", an Excel serial
#: read as a day count from 1970), never a date to act on.
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
#: Excel serial days below 61 are off by one (Excel counts a 1900-02-29 that never was).
_FIRST_EXCEL_SERIAL = 61
_DATE_EXPECTED = f"expected a date (YYYY-MM-DD, YYYYMMDD or a date cell) that exists, from {MIN_DATE} to {MAX_DATE}"
#: A number as text: what every producer writes. Not `True`, `yes`, `NA`, `nan`, `inf`, `1_000`, `0x1F`.
_NUMBER_TEXT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
#: The year, month and day as written, to check what strptime made of them (see _date_values).
_YMD_TEXT = r"^(?P<y>\d{4})[-/]?(?P<m>\d{1,2})[-/]?(?P<d>\d{1,2})(?:$|[T ])"


def _row_error(spec: StrategySpec, row: int, column: str, message: str) -> InputError:
    return InputError(f"{spec.path} (strategy {spec.id}) row {row}: {column} {message}")


def _shown(scalar: pa.Scalar) -> Any:
    """A cell's value for an error message, as the file shows it: a date as ISO text, not Python's repr.

    A date or timestamp Python cannot hold (year 0, -1, 10000) is shown as arrow prints it,
    instead of crashing the error message with an OverflowError.
    """
    try:
        value = scalar.as_py()
    except (OverflowError, ValueError):
        return str(pc.cast(scalar, pa.string()))
    return value.isoformat() if isinstance(value, dt.date) else value


def _first_bad(bad: np.ndarray) -> int:
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


def _trimmed_text(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
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
        text, blank = _trimmed_text(arr)
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
        text, blank = _trimmed_text(arr)
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
        text, blank = _trimmed_text(arr)
        text = pc.if_else(pa.array(blank), pa.nulls(len(text), pa.string()), text)
        parsed = pd.to_datetime(pd.Series(text.to_pylist(), dtype="object"), utc=True, errors="coerce",
                                format="ISO8601")
    out = pa.array(parsed, type=pa.timestamp("us", tz="UTC"), from_pandas=True)
    lo = dt.datetime.combine(MIN_DATE, dt.time(), dt.timezone.utc)
    hi = dt.datetime.combine(MAX_DATE, dt.time.max, dt.timezone.utc)
    out = _in_bounds(out, pa.scalar(lo, out.type), pa.scalar(hi, out.type))
    bad = _failed(arr, out)
    return out, bad if blank is None else bad & ~blank


def _to_float(arr: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Numbers (integer, floating or decimal) or numbers as text -> float64, plus a mask of bad values.

    Booleans, dates and the like never get here (see _check_type). NaN and infinities are bad: a
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
    text, blank = _trimmed_text(arr)
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


def _check_type(spec: StrategySpec, name: str, arr: pa.Array | pa.ChunkedArray) -> None:
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
        "trade_date": (normalize_dates, _DATE_EXPECTED),
        "asset_id": (normalize_gvkeys, "expected a gvkey of up to 6 digits"),
        "target_weight": (_to_float, "expected a number"),
        "confidence": (_to_float, "expected a number"),
        "predicted_return": (_to_float, "expected a number"),
        "asof": (normalize_asof, f"expected an ISO-8601 timestamp from {MIN_DATE} to {MAX_DATE}"),
    }
    for name in REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS:
        if name not in table.column_names:
            continue
        _check_type(spec, name, table[name])
        if name == "strategy_id":
            text = table[name].combine_chunks().cast(pa.string())
            trimmed, blank = _trimmed_text(text)  # a blank cell is the manifest's strategy, as a missing one
            columns[name] = pc.if_else(pa.array(blank), pa.nulls(n, pa.string()), trimmed) if blank.any() else text
            continue
        fn, expected = checks[name]
        values, bad = fn(table[name])
        if bad.any():
            i = _first_bad(bad)
            value = _shown(table[name][i])
            if isinstance(value, str) and re.match(_NUMBER_TEXT, value.strip()) and not np.isfinite(float(value)):
                value = float(value)  # 1e400 in a chunk read as text: said as the typed read says it
            if isinstance(value, float) and not np.isfinite(value):
                expected = expected.replace("a number", "a finite number")
            elif isinstance(value, str) and _underflows(value):
                expected = expected.replace("a number", "a number within the float range")
            raise _row_error(spec, int(rows[i]), name, f"{expected}, got {value!r}")
        # a blank asof in an asof column is no revision time: the file's mtime would make that row
        # beat every real revision (only a file without the column is taken as published at its mtime)
        if name in ("trade_date", "asset_id", "asof") and values.null_count:
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
        raise SignalsNotReady(f"{shown} (strategy {spec.id}): file not found")
    if not path.is_file():
        raise InputError(f"{shown} (strategy {spec.id}): not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{shown} (strategy {spec.id}): file is not readable")
    if path.stat().st_size == 0:
        raise SignalsNotReady(f"{shown} (strategy {spec.id}): file is empty")


def _missing_columns_error(spec: StrategySpec, present: list[str]) -> InputError | None:
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


def _cache_path(spec: StrategySpec, content: str, cache_dir: Path) -> Path:
    return cache_dir / f"{spec.id}-{hash_hex(content)[:24]}-{_options_hash(spec)}.parquet"


def _cache_entry(spec: StrategySpec, content: str, cache_dir: Path, write: Callable[[Path], None]) -> Path:
    """The cache entry of this content (written atomically by `write` if it is new).

    Writing one drops the strategy's entries for older content read with the same options (and
    only the strategy's own: another id may start with this one followed by '-').
    """
    dest = _cache_path(spec, content, cache_dir)
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
    if err := _missing_columns_error(spec, names):
        raise err
    wanted = _wanted_source_columns(spec, names)
    cells = {col: [_excel_cell_to_text(r[names.index(col)]) for r in raw[1:]] for col in wanted}
    rows = np.arange(2, 1 + len(raw), dtype="int64")  # the header is row 1
    arrays = {col: pa.array(values, type=pa.string()) for col, values in cells.items()}
    filled = np.zeros(len(rows), dtype=bool)
    for arr in arrays.values():
        filled |= ~_trimmed_text(arr)[1] & np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    table = pa.table(arrays)
    if not filled.all():
        table, rows = table.filter(pa.array(filled)), rows[filled]
    table = standardize(spec, table, rows)
    pq.write_table(table, dest, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def cached_table_path(spec: StrategySpec, content: str, cache_dir: Path) -> Path:
    """The standardized Parquet copy of an XLSX file, converting it if this content is new."""
    return _cache_entry(spec, content, cache_dir, lambda tmp: _convert_xlsx(spec, tmp))


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
        # the leaf column of trade_date in the row groups' metadata (a nested column before it
        # has several leaves, so the field's position would give another column's statistics)
        leaves = [self.pf.metadata.schema.column(i).path for i in range(self.pf.metadata.num_columns)]
        self.date_idx = leaves.index(self.date_col) if self.date_col in leaves else None
        md = self.pf.metadata
        self.offsets = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])

    def _stats(self, rg: int) -> tuple[dt.date, dt.date] | None:
        if self.date_idx is None:
            return None
        col = self.pf.metadata.row_group(rg).column(self.date_idx)
        stats = col.statistics
        if stats is None or not stats.has_min_max:
            return None
        try:
            lo, hi = stats.min, stats.max
        except (OverflowError, ValueError):  # a year Python cannot hold: the rows will say which one
            return None
        if isinstance(lo, dt.datetime) and isinstance(hi, dt.datetime) and lo.tzinfo is None:
            return lo.date(), hi.date()
        if isinstance(lo, dt.date) and not isinstance(lo, dt.datetime) and isinstance(hi, dt.date):
            return lo, hi
        return None  # strings, numbers, tz-aware: read the column and decide per row

    def _dates_of(self, rg: int) -> tuple[pa.Array, np.ndarray]:
        raw = self.pf.read_row_group(rg, columns=[self.date_col])[self.date_col]
        _check_type(self.spec, "trade_date", raw)
        dates, bad = normalize_dates(raw)
        rows = self._rows(rg, np.arange(len(raw)))
        if bad.any():
            i = _first_bad(bad)
            value = _shown(raw[i])
            raise _row_error(self.spec, int(rows[i]), "trade_date", f"{_DATE_EXPECTED}, got {value!r}")
        if dates.null_count:  # a row without a date belongs to no day: say so rather than skip it
            missing = np.asarray(dates.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            raise _row_error(self.spec, int(rows[_first_bad(missing)]), "trade_date", "is empty")
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


def open_source(spec: StrategySpec, cache_dir: Path) -> tuple[Any, str]:
    """Check the file, hash it, and return a pruned reader over it (or over its cached copy),
    with the file's content hash."""
    _check_file(spec)
    if spec.format == "csv":
        from paper_trading.signals.files.csv_index import open_csv  # csv_index builds on this module: import it when used

        return open_csv(spec, cache_dir)
    content = file_hash(spec.abs_path, cache_dir, f"{spec.path} (strategy {spec.id})")
    if spec.format == "parquet":
        return _ParquetSource(spec, spec.abs_path, standardized=False), content
    return _ParquetSource(spec, cached_table_path(spec, content, cache_dir), standardized=True), content


def _mtime_utc(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc)


def _own_rows(spec: StrategySpec, day: dt.date | None, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` that are this strategy's: its id in `strategy_id`, or a blank cell.

    A file holding several strategies gives each one its own rows; the others' are dropped with a
    warning (once per read, with their count and ids). If the date has rows but none is this
    strategy's, the manifest points at another strategy's file (or the ids are wrong): an error
    that says so, rather than "no rows for the date" next to "its latest date is the date".
    """
    if "strategy_id" not in frame.columns or frame.empty:
        return frame
    ids = frame["strategy_id"].astype("object")
    others = (ids.notna() & (ids != spec.id)).to_numpy()
    if not others.any():
        return frame
    found = sorted({str(i) for i in ids[others]})
    shown = ", ".join(repr(i) for i in found[:10]) + (f" and {len(found) - 10} more" if len(found) > 10 else "")
    column = spec.source_for("strategy_id")
    if others.all():
        raise InputError(
            f"{spec.path} (strategy {spec.id}): the {len(frame)} row(s) for {day} all carry another strategy "
            f"in column {column!r} ({shown}), none {spec.id!r} (a blank cell counts as {spec.id}); "
            "is this the strategy's file?"
        )
    log.warning("strategy %s: %s: dropped %d row(s) for %s of other strategies (column %r: %s)",
                spec.id, spec.path, int(others.sum()), day, column, shown)
    return frame[~others]


def read_strategy_rows(
    spec: StrategySpec, trade_date: dt.date, cache_dir: Path, known_at: dt.datetime | None = None
) -> tuple[pd.DataFrame, SourceFile]:
    """The strategy's rows for `trade_date` (or, for a strategy that does not publish every day,
    its latest rows on or before it), standardized, as a DataFrame with `strategy_id`,
    `source_file` and `source_row` columns. No rows -> an empty frame, not an error.

    `known_at` (aware): only the rows published by then (see `rows_known_at`), so an earlier
    revision is used when the latest one came out later. None reads every row, as a live run does.
    """
    source, content = open_source(spec, cache_dir)
    day, table, _ = rows_known_at(spec, source, trade_date, known_at)
    frame = _own_rows(spec, day, table.to_pandas(types_mapper=None))
    frame = frame.assign(strategy_id=spec.id, source_file=spec.path)
    # A file without an asof column published everything at its modification time. In a file with
    # one, every row has its asof (standardize refused blank cells): none is filled in here.
    if "asof" in frame.columns:
        frame["asof"] = pd.to_datetime(frame["asof"], utc=True)
    else:
        mtime = pd.Timestamp(_mtime_utc(spec.abs_path))
        frame["asof"] = pd.to_datetime(pd.Series(pd.NaT, index=frame.index), utc=True).fillna(mtime)
    used = day if len(frame) else None
    return frame.reset_index(drop=True), SourceFile(spec.id, spec.path, content, used)


# ----------------------------------------------------------------------------- point in time


@dataclass(frozen=True)
class Unpublished:
    """Rows of a date that the file holds but that were published after the cut (`known_at`)."""

    strategy_id: str
    day: dt.date
    published_at: dt.datetime  # the first of them
    known_at: dt.datetime

    @property
    def when(self) -> str:
        """`published at 2025-11-18 11:30 America/New_York, after 09:35` (New York time; the cut's
        date is shown only when it is another day)."""
        from paper_trading.trading_calendar import EXCHANGE_TZ

        at, cut = self.published_at.astimezone(EXCHANGE_TZ), self.known_at.astimezone(EXCHANGE_TZ)
        shown_cut = f"{cut:%H:%M}" if cut.date() == at.date() else f"{cut:%Y-%m-%d %H:%M}"
        return f"published at {at:%Y-%m-%d %H:%M} {EXCHANGE_TZ.key}, after {shown_cut}"

    def __str__(self) -> str:
        return f"{self.strategy_id}: rows for {self.day} {self.when}"


def check_known_at(known_at: dt.datetime | None) -> dt.datetime | None:
    """`known_at` in UTC; a naive instant is refused (which zone would it be in?)."""
    if known_at is None:
        return None
    if known_at.tzinfo is None or known_at.utcoffset() is None:
        raise ValueError(f"known_at must be timezone-aware, got {known_at.isoformat()}")
    return known_at.astimezone(dt.UTC)


def _published_by(table: pa.Table, known_at: dt.datetime | None) -> tuple[pa.Table, dt.datetime | None]:
    """The rows of `table` published by `known_at`, and when the first of the others was published.

    Only a real `asof` column can say a row was not published yet. A file without one has no
    asof in the standardized rows (the file's mtime is filled in later, by `read_strategy_rows`),
    so nothing is cut from it: its mtime is when the file was last written (in a replay, when it
    was copied), which says nothing about when an old row came out; its rows are known as soon as
    the file is there, as in a live run.
    """
    if known_at is None or "asof" not in table.column_names or table.num_rows == 0:
        return table, None
    cut = pa.scalar(known_at.astimezone(dt.UTC), type=table.schema.field("asof").type)
    mask = pc.less_equal(table["asof"], cut)
    if pc.all(mask).as_py():
        return table, None
    later = table.filter(pc.invert(mask))
    return table.filter(mask), pc.min(later["asof"]).as_py()


def rows_known_at(
    spec: StrategySpec, source: Any, trade_date: dt.date, known_at: dt.datetime | None
) -> tuple[dt.date | None, pa.Table, Unpublished | None]:
    """The date a run for `trade_date` reads (the trade date, or a carry-forward strategy's latest
    on or before it), its standardized rows as known at `known_at`, and what was withheld.

    Point in time: a row whose `asof` is after `known_at` was not published yet, so it is left out
    and an earlier revision of the same rows (if one came out in time) is what remains; a
    carry-forward strategy whose latest date is not out yet falls back to the date before it.
    The cut is made on the rows read, after the cache: cache entries and indexes (keyed on the
    file's content) always hold every row, so a read without a cut is never served a cut one.
    `known_at` None: every row, exactly as before the cut existed.
    """
    known_at = check_known_at(known_at)
    day: dt.date | None = trade_date
    if not spec.publishes_every_day:
        day = source.latest_on_or_before(trade_date)
    withheld: Unpublished | None = None
    while day is not None:
        table, first_later = _published_by(source.rows_for(day), known_at)
        if first_later is not None and withheld is None:
            withheld = Unpublished(spec.id, day, first_later, known_at)
        if table.num_rows or spec.publishes_every_day or first_later is None:
            return day, table, withheld
        day = source.latest_on_or_before(day - dt.timedelta(days=1))  # its latest date is not out yet
    return None, source.schema().empty_table(), withheld


def latest_date(
    spec: StrategySpec, cache_dir: Path, on_or_before: dt.date | None = None, known_at: dt.datetime | None = None
) -> dt.date | None:
    """The latest trade_date the strategy has published (on or before a date, if given; as known
    at `known_at`, if given: a date whose rows all came out later is not published yet)."""
    source, _ = open_source(spec, cache_dir)
    day = source.latest_on_or_before(on_or_before)
    if known_at is None:
        return day
    known_at = check_known_at(known_at)
    while day is not None and _published_by(source.rows_for(day), known_at)[0].num_rows == 0:
        day = source.latest_on_or_before(day - dt.timedelta(days=1))
    return day
