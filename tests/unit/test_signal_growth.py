"""M1's daily-growth case: a CSV that only gained lines is indexed from its old end, never trusted blindly.

Blocks and chunks are made tiny here so that a small file spans many of both; the counts of
parsed chunks (a spy on the parser), not timings, show which path was taken.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from paper_trading.config import load_manifest
from paper_trading.errors import InputError
from paper_trading.signals import files as signal_io
from paper_trading.signals.files import csv_index, hashing, read_strategy_rows

from .signal_files import csv_strategy, write_manifest

ASSETS = [f"{g:06d}" for g in range(1, 21)]
DAYS = [dt.date(2025, 3, 3) + dt.timedelta(days=i) for i in range(12)]


def lines_of(day: dt.date, weight: str = "0.05") -> str:
    return "".join(f"{day.isoformat()},{a},{weight}\n" for a in ASSETS)


@pytest.fixture
def small_blocks(monkeypatch):
    """256-byte hash blocks and CSV chunks: a 12-day file has dozens of each."""
    monkeypatch.setattr(hashing, "HASH_BLOCK_BYTES", 256)
    monkeypatch.setattr(csv_index, "CSV_CHUNK_BYTES", 256)


@pytest.fixture
def parsed(monkeypatch) -> list[int]:
    """The first line number of every chunk the CSV parser is given, in order."""
    seen: list[int] = []
    real = csv_index._CsvParser.parse

    def spy(self, data, first_line):
        seen.append(first_line)
        return real(self, data, first_line)

    monkeypatch.setattr(csv_index._CsvParser, "parse", spy)
    return seen


@pytest.fixture
def strategy(tmp_path: Path, small_blocks):
    """A CSV strategy of 11 days; returns (spec, path, cache dir)."""
    path = tmp_path / "data" / "raw_signals" / "a.csv"
    path.parent.mkdir(parents=True)
    path.write_text("trade_date,gvkey,weights\n" + "".join(lines_of(d) for d in DAYS[:11]))
    write_manifest(tmp_path, [csv_strategy("a", "data/raw_signals/a.csv")])
    spec = load_manifest(tmp_path / "config" / "strategy_manifest.yaml", tmp_path)[0]
    return spec, path, tmp_path / "data" / "cache" / "signals"


def cold_index(spec, cache_dir):
    """Index the file as it is, with nothing in the cache (a run on a new machine)."""
    for entry in cache_dir.glob("*"):
        entry.unlink()
    return signal_io.open_source(spec, cache_dir)


def test_appended_day_is_read_and_only_the_tail_is_parsed(strategy, parsed):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    old_lines = len(path.read_text().splitlines())
    with open(path, "a") as fh:
        fh.write(lines_of(DAYS[11], "0.07"))
    parsed.clear()
    source, _ = signal_io.open_source(spec, cache)
    assert parsed and min(parsed) == old_lines + 1  # no old line was parsed again
    frame, _ = read_strategy_rows(spec, DAYS[11], cache)
    assert frame["asset_id"].tolist() == ASSETS and set(frame["target_weight"]) == {0.07}
    assert frame["source_row"].tolist() == list(range(old_lines + 1, old_lines + 21))
    earlier, _ = read_strategy_rows(spec, DAYS[0], cache)  # the old chunks still serve the old days
    assert earlier["source_row"].tolist() == list(range(2, 22))


def test_row_edited_in_the_middle_with_the_same_size_and_more_appended_takes_the_cold_path(strategy, parsed):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    text = path.read_text()
    edited = text.replace(f"{DAYS[5].isoformat()},000007,0.05", f"{DAYS[5].isoformat()},000007,0.09")
    assert len(edited) == len(text) and edited != text
    path.write_text(edited + lines_of(DAYS[11]))
    parsed.clear()
    signal_io.open_source(spec, cache)
    assert min(parsed) == 2  # parsed from the first line again
    frame, _ = read_strategy_rows(spec, DAYS[5], cache)
    assert frame.set_index("asset_id").loc["000007", "target_weight"] == 0.09


def test_truncated_file_takes_the_cold_path(strategy, parsed):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    path.write_text("trade_date,gvkey,weights\n" + "".join(lines_of(d) for d in DAYS[:6]))
    parsed.clear()
    source, _ = signal_io.open_source(spec, cache)
    assert min(parsed) == 2
    assert source.latest_on_or_before(None) == DAYS[5]


def test_last_old_line_continued_by_the_append_takes_the_cold_path(strategy, parsed):
    spec, path, cache = strategy
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # the old content ends inside a row
    signal_io.open_source(spec, cache)
    with open(path, "a") as fh:
        fh.write("5\n")  # the last weight becomes 0.055
    parsed.clear()
    signal_io.open_source(spec, cache)
    assert min(parsed) == 2
    frame, _ = read_strategy_rows(spec, DAYS[10], cache)
    assert frame["target_weight"].tolist()[-1] == 0.055


def test_invalid_row_in_the_appended_tail_names_its_line(strategy):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    old_lines = len(path.read_text().splitlines())
    with open(path, "a") as fh:
        fh.write(lines_of(DAYS[11]) + "2025-02-30,000001,0.05\n")
    with pytest.raises(InputError) as err:
        signal_io.open_source(spec, cache)
    assert str(err.value) == (
        f"data/raw_signals/a.csv (strategy a) row {old_lines + 21}: trade_date expected a date (YYYY-MM-DD, "
        "YYYYMMDD or a date cell) that exists, from 1900-01-01 to 2100-12-31, got '2025-02-30'")


def test_invalid_row_in_the_tail_after_blank_lines_names_its_line(strategy):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    old_lines = len(path.read_text().splitlines())
    with open(path, "a") as fh:
        fh.write("\n2025-03-14,AAPL,0.05\n")
    with pytest.raises(InputError, match=rf"row {old_lines + 2}: asset_id expected a gvkey of up to 6 digits, got 'AAPL'"):
        signal_io.open_source(spec, cache)


def test_content_hash_of_a_grown_file_equals_the_hash_of_the_same_content_indexed_cold(strategy):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    for day in DAYS[11:]:
        with open(path, "a") as fh:
            fh.write(lines_of(day))
    _, grown = signal_io.open_source(spec, cache)
    _, cold = cold_index(spec, cache)
    assert grown == cold and grown.startswith("blake3-chunks:")
    assert signal_io.file_hash(path) == cold  # the same function as for Parquet and XLSX files


def test_grown_index_finds_every_day_as_a_cold_one_does(strategy):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    with open(path, "a") as fh:
        fh.write(lines_of(DAYS[11]))
    grown, _ = signal_io.open_source(spec, cache)
    grown_rows = {d: grown.rows_for(d)["source_row"].to_pylist() for d in DAYS}
    cold, _ = cold_index(spec, cache)
    assert grown_rows == {d: cold.rows_for(d)["source_row"].to_pylist() for d in DAYS}
    assert grown.latest_on_or_before(None) == cold.latest_on_or_before(None) == DAYS[11]


def test_only_the_latest_index_of_a_grown_file_is_kept(strategy):
    spec, path, cache = strategy
    signal_io.open_source(spec, cache)
    with open(path, "a") as fh:
        fh.write(lines_of(DAYS[11]))
    signal_io.open_source(spec, cache)
    assert len(list(cache.glob("a-*.parquet"))) == 1
