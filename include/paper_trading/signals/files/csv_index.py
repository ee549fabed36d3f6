"""CSV strategy files read through an index: parsed once per content, then only the day's chunks.

A CSV file is read in ~4 MiB chunks of whole lines, in a single pass that hashes the file (see
`hashing.BlockHasher`), checks every row and leaves an *index* in the cache
(`data/cache/signals/`): each chunk's byte range, first line number and first/last trade_date,
plus the digest of every fixed 1 MiB block of the file. A later run with the same content parses
only the chunk(s) holding its date. No converted copy of the file is written: writing one (even
as tuned, uncompressed Parquet) cost another third of the parse and the file's disk space again,
and once we know where each date is, the CSV is as quick to read.

**A file that grew.** Strategy files gain one day each day, so the daily run meets a changed
file. When the previous index of the path shows that the old content is an exact prefix of the
new one, only the appended tail is parsed and checked and the old chunks are kept. "Exact prefix"
is proved, never assumed: every block of the new file up to the old size is hashed and compared
with the old block digests (the old last, partial block on its old length), and the old content
must have ended with a line break. That reads the whole file: nothing cheaper can tell an
append from a rewrite in place that kept the size of a row, and the lineage's content hash must
cover every byte anyway. The read costs ~0.1 s per 476 MB (page cache, BLAKE3 at ~6 GB/s)
against ~1.2 s for parsing it again; the first mismatching block stops it and takes the cold
path. A file that is shorter, rewritten, edited in the middle, or whose previous index is gone,
is indexed cold. Either way the content hash is the same for the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import blake3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from paper_trading.config import StrategySpec
from paper_trading.errors import InputError
from paper_trading.signals.files import hashing
from paper_trading.signals.files.cache import (
    cache_entry,
    cache_path,
    cached_schema,
    missing_columns_error,
    wanted_source_columns,
)
from paper_trading.signals.files.hashing import (
    BlockHasher,
    check_unchanged,
    content_hash,
    file_stamp,
    memoized_hash,
    previous_hash,
    remember_hash,
)
from paper_trading.signals.files.normalize import standardize

#: A CSV file is parsed in chunks of whole lines of about this size: the full pass one chunk at a
#: time (memory bounded whatever the file size), a run only the one or two holding its date. 4 MiB
#: rather than 1: the cold pass spends ~8 % less CPU on the per-chunk work around arrow's parse
#: (measured on a 476 MB file, 3.05-3.12 against 3.27-3.52 CPU-s), and a warm read of one chunk is
#: still well under 0.1 s.
CSV_CHUNK_BYTES = 4 << 20
_FLOAT_COLUMNS = ("target_weight", "confidence", "predicted_return")


def has_big_exponent(data: bytes | memoryview) -> bool:
    """Whether `data` holds an exponent of three digits or more (`1e-400`, `2E+308`: the bytes
    `[eE][+-]?[0-9]{3}`): rare, and where arrow's float parse would silently turn a number too small
    for a float into 0. Each `e` is looked at where there are few (the usual case: a weight written
    `5.1e-05` here and there), numpy looks at them all where there are many; a regular expression
    took longer than arrow's whole parse of the chunk (3.6 s against 2.1 s for a 476 MB file)."""
    text = data if isinstance(data, bytes) else bytes(data)
    looked = 0
    for letter in (b"e", b"E"):
        at = text.find(letter)  # memchr: the chunk is scanned at memory speed
        while at >= 0:
            after = at + 1 + (text[at + 1:at + 2] in (b"+", b"-"))
            if text[after:after + 3].isdigit() and len(text[after:after + 3]) == 3:
                return True
            looked += 1
            if looked > _FEW_EXPONENTS:
                return _big_exponent_anywhere(text)
            at = text.find(letter, at + 1)
    return False


def _big_exponent_anywhere(text: bytes) -> bool:
    """`has_big_exponent` for a chunk full of `e`s, with numpy over the whole buffer."""
    raw = np.frombuffer(text, dtype=np.uint8)
    n = len(raw)
    at = np.flatnonzero((raw | 0x20) == ord("e")) + 1  # after each e or E (only they are `e` with bit 5 set)
    at = at[at < n]
    at = at + ((raw[at] == ord("+")) | (raw[at] == ord("-")))
    at = at[at + 2 < n]
    digits = [(raw[at + k] >= ord("0")) & (raw[at + k] <= ord("9")) for k in range(3)]
    return bool((digits[0] & digits[1] & digits[2]).any())


#: Up to this many `e`s in a chunk are looked at one by one; beyond, numpy looks at all at once.
_FEW_EXPONENTS = 2048


class _CsvChunk(NamedTuple):
    """A chunk of a CSV file (a run of whole lines), as the file's index records it."""

    offset: int  # byte offset in the file
    length: int  # bytes
    first_row: int  # line number of its first line (the header is line 1)
    first_date: dt.date
    last_date: dt.date


_INDEX_SCHEMA = pa.schema(
    [("offset", pa.int64()), ("length", pa.int64()), ("first_row", pa.int64()),
     ("first_date", pa.date32()), ("last_date", pa.date32())]
)
_HEADER_KEY = b"paper_trading.csv_header"
_SIZE_KEY = b"paper_trading.size"  # bytes indexed
_LINES_KEY = b"paper_trading.next_line"  # the line number the next appended line would have
_BLOCKS_KEY = b"paper_trading.block_digests"  # hex of the concatenated block digests
_HASH_KEY = b"paper_trading.content_hash"


class _CsvParser:
    """Parses chunks of one CSV file (its header given) into standardized tables."""

    def __init__(self, spec: StrategySpec, header: bytes) -> None:
        self.spec = spec
        try:
            if b"\x00" in header:
                raise UnicodeDecodeError("utf-8", header, 0, 1, "NUL byte")
            text = header.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(
                f"{spec.path} (strategy {spec.id}): not a UTF-8 text CSV file (UTF-16? save it as UTF-8)"
            ) from None
        names = [c.strip() for c in next(csv.reader([text.rstrip("\r\n")], delimiter=spec.sep), [])]
        if err := missing_columns_error(spec, names):
            raise err
        self.wanted = wanted_source_columns(spec, names)
        types = {c: pa.float64() if spec.column_mapping.get(c, c) in _FLOAT_COLUMNS else pa.string()
                 for c in self.wanted}
        # Most files write ISO dates, which the CSV parser reads as dates at no extra cost (and
        # refuses 2024-02-30). A chunk with any other spelling fails that read and is read as text
        # and normalized; so are the chunks after it.
        iso_types = {**types, spec.source_for("trade_date"): pa.date32()}
        self.dates_are_iso = True
        # The file-level threads of load_all_strategies keep the cores busy: no threads per chunk.
        self.read_options = pa_csv.ReadOptions(column_names=names, use_threads=False)
        self.parse_options = pa_csv.ParseOptions(delimiter=spec.sep)
        # Only an empty cell is missing: arrow's default null spellings (NA, N/A, null, NaN, ...)
        # would turn a gvkey `NA` into an "empty" one and a weight `null` into a missing one.
        self.convert = {
            kind: pa_csv.ConvertOptions(include_columns=self.wanted, column_types=kind_types, strings_can_be_null=True,
                                        quoted_strings_can_be_null=True, null_values=[""])
            for kind, kind_types in (("iso", iso_types), ("typed", types),
                                     ("text", {c: pa.string() for c in self.wanted}))
        }

    def _read(self, data: bytes | memoryview, kind: str) -> pa.Table:
        return pa_csv.read_csv(pa.py_buffer(data), read_options=self.read_options,
                               parse_options=self.parse_options, convert_options=self.convert[kind])

    def parse(self, data: bytes | memoryview, first_line: int) -> tuple[pa.Table, int]:
        """The rows of `data`, standardized, and how many lines `data` holds (blank ones too);
        `first_line` is the line number of its first line in the file."""
        table = None
        if self.dates_are_iso:
            try:
                table = self._read(data, "iso")
            except pa.ArrowInvalid:
                self.dates_are_iso = False
        if table is None:
            # a value arrow would not convert: read as text, and the normalizers name its row
            with contextlib.suppress(pa.ArrowInvalid):
                table = self._read(data, "typed")
        if table is not None and has_big_exponent(data):
            # arrow reads 1e-400 as 0.0 (and 1e400 as inf): such a chunk is read as text, where a
            # number too small for a float is refused with its row instead of becoming a weight of 0
            table = None
        if table is None:
            try:
                table = self._read(data, "text")
            except pa.ArrowInvalid as exc:
                raise self._error(first_line, exc) from None
        rows, lines = _line_numbers(data, first_line, table.num_rows)
        return standardize(self.spec, table, rows), lines

    def _error(self, first_line: int, exc: pa.ArrowInvalid) -> InputError:
        """The chunk is malformed beyond a bad value (a ragged row, bad UTF-8): say what arrow said."""
        # arrow numbers rows from 1 in the chunk it was given; say the file's line instead
        reason = re.sub(r"Row #(\d+)", lambda m: f"line {first_line + int(m.group(1)) - 1}", str(exc).splitlines()[0])
        return InputError(f"{self.spec.path} (strategy {self.spec.id}): cannot be parsed as CSV ({reason})")


def _line_numbers(data: bytes | memoryview, first_line: int, num_rows: int) -> tuple[np.ndarray, int]:
    """The line number of each row arrow read from `data`, and how many lines `data` holds.

    arrow skips blank lines, so with any the rows after one are not at `first_line + i`. Counting
    the line breaks (numpy, on the buffer as it is) tells whether there are as many lines as rows,
    the common case; only otherwise are the lines split to number the non-blank ones.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = int(np.count_nonzero(raw == 10)) or int(np.count_nonzero(raw == 13))  # \n (or \r-only files)
    lines = breaks + (1 if len(raw) and raw[-1] not in (10, 13) else 0)
    if lines == num_rows:
        return np.arange(first_line, first_line + num_rows, dtype="int64"), num_rows
    split = bytes(data).splitlines()
    filled = np.flatnonzero(np.fromiter((len(line) > 0 for line in split), dtype=bool, count=len(split)))
    if len(filled) != num_rows:  # arrow saw the lines differently: keep its count rather than guess
        return np.arange(first_line, first_line + num_rows, dtype="int64"), num_rows
    return (first_line + filled).astype("int64"), len(split)


def _line_chunks(fh: io.BufferedIOBase, digest: Any | None) -> Iterator[memoryview]:
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
        if digest is not None:
            digest.update(view[len(carry):end])
        cut = buf.rfind(b"\n", 0, end) + 1 or buf.rfind(b"\r", 0, end) + 1
        if cut:
            yield view[:cut]
        carry = bytes(view[cut:end])
    if carry:
        yield memoryview(carry)


def _read_header(fh: io.BufferedIOBase) -> bytes:
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


def _index_chunks(parser: _CsvParser, fh: io.BufferedIOBase, offset: int, first_line: int,
                  digest: Any | None) -> tuple[list[_CsvChunk], int]:
    """Parse (and so check) every row from `offset` to the end: the chunks found and the next line number."""
    index: list[_CsvChunk] = []
    for data in _line_chunks(fh, digest):
        table, lines = parser.parse(data, first_line)
        if table.num_rows:
            bounds = pc.min_max(table["trade_date"])
            index.append(_CsvChunk(offset, len(data), first_line, bounds["min"].as_py(), bounds["max"].as_py()))
        offset += len(data)
        first_line += lines
    return index, first_line


def _index_table(chunks: list[_CsvChunk], header: bytes, size: int, next_line: int, digests: list[bytes],
                 value: str) -> pa.Table:
    table = pa.Table.from_pylist([c._asdict() for c in chunks], schema=_INDEX_SCHEMA)
    return table.replace_schema_metadata({
        _HEADER_KEY: header, _SIZE_KEY: str(size).encode(), _LINES_KEY: str(next_line).encode(),
        _BLOCKS_KEY: b"".join(digests).hex().encode(), _HASH_KEY: value.encode(),
    })


def _index_csv(spec: StrategySpec) -> tuple[list[int], str, pa.Table]:
    """One pass over the file: its stamp, its content hash, and its index (every row checked on the way)."""
    hasher = BlockHasher()
    with open(spec.abs_path, "rb") as fh:
        stamp = file_stamp(os.fstat(fh.fileno()))
        header = _read_header(fh)
        hasher.update(header)
        parser = _CsvParser(spec, header)
        chunks, next_line = _index_chunks(parser, fh, len(header), 2, hasher)
        check_unchanged(spec, fh, stamp)
    digests = hasher.finish()
    value = content_hash(digests)
    return stamp, value, _index_table(chunks, header, stamp[0], next_line, digests, value)


def _block_digests(index: pa.Table) -> list[bytes]:
    raw = bytes.fromhex(index.schema.metadata[_BLOCKS_KEY].decode())
    return [raw[i:i + 32] for i in range(0, len(raw), 32)]


def _extends(fh: io.BufferedIOBase, old_size: int, old_digests: list[bytes], hasher: BlockHasher) -> bool:
    """Whether the file in `fh` starts with the old content (proved block by block), hashing it all.

    Every block up to the old size is hashed and compared with the old digest at its position;
    the block holding the old end is compared on its old length, and the old content must end
    with a line break (else the new bytes continue its last row). Stops at the first difference.
    """
    block = hashing.HASH_BLOCK_BYTES  # read when used: a test makes blocks small
    if len(old_digests) != -(-old_size // block):
        return False
    buf = bytearray(block)
    view = memoryview(buf)
    fh.seek(0)
    for i, old in enumerate(old_digests):
        got = fh.readinto(buf)
        old_len = min(block, old_size - i * block)
        if got < old_len:
            return False
        if blake3.blake3(view[:old_len]).digest() != old:
            return False
        if i == len(old_digests) - 1 and buf[old_len - 1] != ord("\n"):
            return False
        if old_len == block:
            hasher.add_block(old)  # the same bytes: the digest just compared
        else:
            hasher.update(view[:got])
    while got := fh.readinto(buf):  # the rest of the file: hashed only
        hasher.update(view[:got])
    return True


def _grown_index(spec: StrategySpec, old: pa.Table) -> tuple[list[int], str, pa.Table] | None:
    """The index of a file that only grew since `old` was made, parsing only what was appended;
    None if the file is not the old content plus more (then the caller indexes it cold)."""
    meta = old.schema.metadata or {}
    if not all(k in meta for k in (_HEADER_KEY, _SIZE_KEY, _LINES_KEY, _BLOCKS_KEY)):
        return None
    old_size, next_line = int(meta[_SIZE_KEY]), int(meta[_LINES_KEY])
    header = meta[_HEADER_KEY]
    hasher = BlockHasher()
    with open(spec.abs_path, "rb") as fh:
        stamp = file_stamp(os.fstat(fh.fileno()))
        if stamp[0] <= old_size or not _extends(fh, old_size, _block_digests(old), hasher):
            return None
        fh.seek(old_size)
        parser = _CsvParser(spec, header)
        tail, next_line = _index_chunks(parser, fh, old_size, next_line, None)
        check_unchanged(spec, fh, stamp)
    digests = hasher.finish()
    value = content_hash(digests)
    chunks = [_CsvChunk(**row) for row in old.to_pylist()] + tail
    return stamp, value, _index_table(chunks, header, stamp[0], next_line, digests, value)


class CsvSource:
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
                check_unchanged(self.spec, fh, self.stamp)
                yield self.parser.parse(data, chunk.first_row)[0]

    def schema(self) -> pa.Schema:
        """The schema of the standardized rows (of a day without any, too)."""
        return cached_schema(self.spec, self.parser.wanted)

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


def _read_index(path: Path) -> pa.Table | None:
    try:
        return pq.ParquetFile(path).read()
    except (OSError, pa.ArrowException):
        return None  # a damaged cache entry is no index: build it again


def open_csv(spec: StrategySpec, cache_dir: Path) -> tuple[CsvSource, str]:
    """The CSV's indexed reader and content hash: from the cache if this content was indexed
    before, by indexing only the appended lines if the file grew since, else by a full pass."""
    path = spec.abs_path
    stamp = file_stamp(path.stat())
    known = memoized_hash(path, stamp, cache_dir)
    if (
        known
        and (entry := cache_path(spec, known, cache_dir)).exists()
        and (index := _read_index(entry)) is not None
    ):
        return CsvSource(spec, stamp, index), known
    built = None
    before = previous_hash(path, cache_dir)
    if (
        before
        and (entry := cache_path(spec, before, cache_dir)).exists()
        and (old := _read_index(entry)) is not None
    ):
        built = _grown_index(spec, old)
    stamp, value, index = built or _index_csv(spec)
    cache_entry(spec, value, cache_dir, lambda tmp: pq.write_table(index, tmp))
    remember_hash(path, stamp, value, cache_dir)
    return CsvSource(spec, stamp, index), value
