"""Reading strategy files (CSV / XLSX / Parquet) fast, for one trade date, with exact row numbers.

Signal files keep their whole history and grow every day, while a run needs one date. So:

- **Parquet** is read row group by row group: groups whose `trade_date` statistics exclude the
  date are skipped without being decompressed, and only the columns we need are read.
- **CSV** is read once per content and left as an *index* in the cache (`data/cache/signals/`):
  see `csv_index.py`, which also indexes only the appended lines of a file that grew.
- **XLSX** is converted once into a standardized Parquet file in the cache, read as above.

Inside the package: `hashing.py` (the content hash and its memo), `normalize.py` (values made
standard, with the row of the first bad one), `cache.py` (the cache entries, XLSX conversion) and
`csv_index.py` (the CSV index). This module reads a file for a date and point in time; the
package's `__init__` names what the rest of the library may use.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from paper_trading.config import StrategySpec
from paper_trading.errors import InputError
from paper_trading.logging_setup import get_logger
from paper_trading.signals.files.cache import (
    cached_schema,
    cached_table_path,
    check_file,
    missing_columns_error,
    wanted_source_columns,
)
from paper_trading.signals.files.csv_index import open_csv
from paper_trading.signals.files.hashing import file_hash
from paper_trading.signals.files.normalize import (
    DATE_EXPECTED,
    check_type,
    first_bad,
    normalize_dates,
    row_error,
    shown_value,
    standardize,
)

log = get_logger("signal_io")



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
        if not standardized and (err := missing_columns_error(spec, names)):
            raise err
        self.columns = names if standardized else wanted_source_columns(spec, names)
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
        check_type(self.spec, "trade_date", raw)
        dates, bad = normalize_dates(raw)
        rows = self._rows(rg, np.arange(len(raw)))
        if bad.any():
            i = first_bad(bad)
            value = shown_value(raw[i])
            raise row_error(self.spec, int(rows[i]), "trade_date", f"{DATE_EXPECTED}, got {value!r}")
        if dates.null_count:  # a row without a date belongs to no day: say so rather than skip it
            missing = np.asarray(dates.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            raise row_error(self.spec, int(rows[first_bad(missing)]), "trade_date", "is empty")
        return dates, rows

    def _rows(self, rg: int, idx: np.ndarray) -> np.ndarray:
        return (self.offsets[rg] + idx + 1).astype("int64")

    def schema(self) -> pa.Schema:
        """The schema of the standardized rows (of a day without any, too)."""
        return self.pf.schema_arrow if self.standardized else cached_schema(self.spec, self.columns)

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
    check_file(spec)
    if spec.format == "csv":
        return open_csv(spec, cache_dir)
    content = file_hash(spec.abs_path, cache_dir, f"{spec.path} (strategy {spec.id})")
    if spec.format == "parquet":
        return _ParquetSource(spec, spec.abs_path, standardized=False), content
    return _ParquetSource(spec, cached_table_path(spec, content, cache_dir), standardized=True), content


def _mtime_utc(path: Path) -> dt.datetime:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)


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
        if first_later is not None and withheld is None and known_at is not None:  # (only a cut withholds)
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
