"""The sensor's question: has every strategy published rows for the trade date?"""

from __future__ import annotations

import datetime as dt

import pytest

from paper_trading import steps
from paper_trading.errors import InputError

from .signal_files import csv_strategy, write_csv, write_manifest

DAY = dt.date(2025, 3, 3)


def statuses(root):
    ready, found = steps.signals_ready(DAY, root=root)
    return ready, {s.strategy_id: s for s in found}


def test_ready_when_every_file_has_rows_for_the_date(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-03-03", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    ready, found = statuses(tmp_path)
    assert ready and found["a"].reason == "has rows for 2025-03-03"


def test_yesterdays_file_is_not_ready(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-02-28", "001690", 1.0)])
    b = write_csv(tmp_path, "b.csv", [("2025-03-03", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a), csv_strategy("b", b)])
    ready, found = statuses(tmp_path)
    assert not ready
    assert not found["a"].ready and found["a"].reason == "no rows for 2025-03-03 yet (latest: 2025-02-28)"
    assert found["b"].ready


def test_missing_or_empty_file_is_waited_for_not_an_error(tmp_path):
    write_manifest(tmp_path, [csv_strategy("a", "data/raw_signals/a.csv")])
    ready, found = statuses(tmp_path)
    assert not ready and found["a"].reason == "file not published yet"
    (tmp_path / "data" / "raw_signals").mkdir(parents=True)
    (tmp_path / "data" / "raw_signals" / "a.csv").write_text("")
    ready, found = statuses(tmp_path)
    assert not ready and found["a"].reason == "file is empty (being written?)"


def test_a_published_file_that_cannot_be_read_fails_at_once(tmp_path):
    path = tmp_path / "data" / "raw_signals" / "p.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1\x00\x00not parquet")
    write_manifest(tmp_path, [{"id": "p", "path": "data/raw_signals/p.parquet"}])
    with pytest.raises(InputError, match=r"^data/raw_signals/p.parquet \(strategy p\): cannot read as Parquet"):
        statuses(tmp_path)


def test_a_published_file_with_a_bad_row_fails_at_once_naming_the_row(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-03-03", "001690", 1.0), ("2025-03-03", "001691", "lots")])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"^data/raw_signals/a.csv \(strategy a\) row 3: target_weight"):
        statuses(tmp_path)


def test_readiness_paths_are_relative_to_the_project_root_given(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    a = write_csv(tmp_path, "a.csv", [("2025-03-03", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    _, found = statuses(tmp_path)
    assert found["a"].path == "data/raw_signals/a.csv"


def test_date_check_can_be_switched_off_per_strategy(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-02-03", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a, publishes_every_day=False)])
    ready, found = statuses(tmp_path)
    assert ready and found["a"].reason == "latest rows 2025-02-03"


def test_the_check_does_not_look_at_future_rows(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-03-04", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a, publishes_every_day=False)])
    ready, found = statuses(tmp_path)
    assert not ready and found["a"].reason == "no rows on or before the date yet"
