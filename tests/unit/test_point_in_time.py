"""The point-in-time cut (`known_at`): readiness and M1 see only the rows published by then."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow.parquet as pq
import pytest

from paper_trading import steps
from paper_trading.signals.bus import read_targets

from .signal_files import csv_strategy, write_csv, write_manifest

NY = ZoneInfo("America/New_York")
DAY = dt.date(2025, 11, 18)
D = "2025-11-18"
RUN = dt.datetime(2025, 11, 18, 9, 35, tzinfo=NY)  # the DAG's run time in New York
EARLY, LATE = "2025-11-18T06:30:00-05:00", "2025-11-18T11:30:00-05:00"


def write_parquet(root, name: str, rows: list[tuple]) -> str:
    """rows: (trade_date, asset_id, target_weight, asof)."""
    path = root / "data" / "raw_signals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=["trade_date", "asset_id", "target_weight", "asof"])
    frame["trade_date"] = pd.to_datetime(frame["trade_date"]).dt.date
    frame["asof"] = pd.to_datetime(frame["asof"], utc=True)
    frame.to_parquet(path, index=False)
    return str(path.relative_to(root))


def ml_only(root, rows: list[tuple], **extra) -> None:
    write_manifest(root, [{"id": "ml", "path": write_parquet(root, "ml.parquet", rows), **extra}])


def readiness(root, known_at=None, day=DAY):
    ready, found = steps.signals_ready(day, root=root, known_at=known_at)
    return ready, {s.strategy_id: s for s in found}


def targets(root, known_at=None, pick="ml", day=DAY) -> dict[str, float]:
    summary = steps.consolidate_signals(day, root=root, mode="select", pick=pick, known_at=known_at)
    frame = read_targets(summary["targets_path"])
    return dict(zip(frame["asset_id"], frame["target_weight"].round(12)))


def lineage(root, day=DAY) -> dict:
    path = root / "data" / "intermediate" / f"targets_consolidated_{day:%Y%m%d}.parquet"
    return json.loads(pq.read_schema(path).metadata[b"paper_trading.lineage"])


def test_rows_published_after_known_at_leave_the_strategy_not_ready_saying_when(tmp_path):
    ml_only(tmp_path, [(D, "001690", 1.0, LATE), ("2025-11-17", "001690", 1.0, "2025-11-17T06:30:00-05:00")])
    ready, found = readiness(tmp_path, RUN)
    assert not ready
    assert found["ml"].reason == "ml: rows for 2025-11-18 published at 2025-11-18 11:30 America/New_York, after 09:35"


def test_rows_published_before_known_at_are_ready(tmp_path):
    ml_only(tmp_path, [(D, "001690", 1.0, EARLY)])
    ready, found = readiness(tmp_path, RUN)
    assert ready and found["ml"].reason == "has rows for 2025-11-18"


def test_the_same_rows_are_ready_at_the_first_check_after_their_publication(tmp_path):
    ml_only(tmp_path, [(D, "001690", 1.0, LATE)])
    assert not readiness(tmp_path, dt.datetime(2025, 11, 18, 11, 29, 59, tzinfo=NY))[0]
    assert readiness(tmp_path, dt.datetime(2025, 11, 18, 11, 30, tzinfo=NY))[0]  # published at: known


def test_m1_uses_the_revision_published_in_time_not_a_later_one(tmp_path):
    ml_only(tmp_path, [(D, "001690", 0.6, EARLY), (D, "012141", 0.4, EARLY),
                       (D, "001690", 0.1, LATE), (D, "012141", 0.9, LATE)])
    ready, found = readiness(tmp_path, RUN)
    assert ready and found["ml"].reason == ("has rows for 2025-11-18 (a revision published at 2025-11-18 11:30 "
                                            "America/New_York, after 09:35: not used)")
    assert targets(tmp_path, RUN) == {"001690": 0.6, "012141": 0.4}
    assert lineage(tmp_path)["known_at"] == "2025-11-18T14:35:00+00:00"


def test_known_at_none_reads_every_row_as_before(tmp_path):
    ml_only(tmp_path, [(D, "001690", 0.6, EARLY), (D, "012141", 0.4, EARLY),
                       (D, "001690", 0.1, LATE), (D, "012141", 0.9, LATE)])
    assert readiness(tmp_path, None)[1]["ml"].reason == "has rows for 2025-11-18"
    assert targets(tmp_path, None) == {"001690": 0.1, "012141": 0.9}
    assert "known_at" not in lineage(tmp_path)
    assert targets(tmp_path) == targets(tmp_path, None)


def test_a_file_without_an_asof_column_is_never_cut(tmp_path):
    """Its rows' asof is the file's mtime (in a replay: when it was copied, i.e. now), not a
    publication time: the cut would drop every row of every day."""
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.6), (D, "012141", 0.4)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    long_ago = dt.datetime(2000, 1, 3, 9, 35, tzinfo=NY)  # long before the file's mtime
    ready, found = readiness(tmp_path, long_ago)
    assert ready and found["a"].reason == "has rows for 2025-11-18"
    assert targets(tmp_path, long_ago, pick="a") == {"001690": 0.6, "012141": 0.4}


def test_a_csv_with_an_asof_column_is_cut_too(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.6, EARLY), (D, "001690", 0.2, LATE), (D, "012141", 0.8, LATE)],
                  columns=("trade_date", "gvkey", "weights", "asof"))
    write_manifest(tmp_path, [csv_strategy("a", a, column_mapping={"trade_date": "trade_date", "gvkey": "asset_id",
                                                                   "weights": "target_weight", "asof": "asof"})])
    assert targets(tmp_path, RUN, pick="a") == {"001690": 1.0}


@pytest.mark.parametrize("first", ["cut", "uncut"])
def test_the_cut_never_reaches_the_cache(tmp_path, first):
    """The index / converted copy is keyed on the file's content: a cut read must not leave a cut
    entry for a read without one (or the reverse)."""
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.6, EARLY), (D, "001690", 0.2, LATE), (D, "012141", 0.8, LATE)],
                  columns=("trade_date", "gvkey", "weights", "asof"))
    write_manifest(tmp_path, [csv_strategy("a", a, column_mapping={"trade_date": "trade_date", "gvkey": "asset_id",
                                                                   "weights": "target_weight", "asof": "asof"})])
    cut, uncut = {"001690": 1.0}, {"001690": 0.2, "012141": 0.8}
    order = [(RUN, cut), (None, uncut)] if first == "cut" else [(None, uncut), (RUN, cut)]
    for known_at, expected in order * 2:
        assert targets(tmp_path, known_at, pick="a") == expected


def test_a_carry_forward_strategy_uses_its_latest_date_published_in_time(tmp_path):
    ml_only(tmp_path, [("2025-11-14", "001690", 1.0, "2025-11-14T06:30:00-05:00"),
                       ("2025-11-17", "012141", 1.0, "2025-11-18T11:00:00-05:00")],  # 11-17's rows came out late
            publishes_every_day=False)
    ready, found = readiness(tmp_path, RUN)
    assert ready and found["ml"].reason == ("latest rows 2025-11-14 (rows for 2025-11-17 published at 2025-11-18 11:00 "
                                            "America/New_York, after 09:35: not used)")
    assert targets(tmp_path, RUN) == {"001690": 1.0}
    assert targets(tmp_path, None) == {"012141": 1.0}


def test_a_naive_known_at_is_refused(tmp_path):
    ml_only(tmp_path, [(D, "001690", 1.0, EARLY)])
    with pytest.raises(ValueError, match="timezone-aware"):
        readiness(tmp_path, dt.datetime(2025, 11, 18, 9, 35))
