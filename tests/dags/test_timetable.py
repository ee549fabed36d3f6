"""The XNYS timetable schedules one run per NYSE session, skipping exchange holidays.

The clock is the module's `_now()` seam, set by the `clock` fixture: no test reads the real time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pendulum
import pytest
import xnys_timetable
from airflow.timetables.base import DataInterval, TimeRestriction
from xnys_timetable import XNYSSessionTimetable

REPO = Path(__file__).resolve().parents[2]

NY = pendulum.timezone("America/New_York")


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """Set the timetable's clock with `clock(new_york_datetime)`; reading it unset fails the test."""

    def unset() -> pendulum.DateTime:
        raise AssertionError("this test reads the clock: set it with the `clock` fixture")

    monkeypatch.setattr(xnys_timetable, "_now", unset)

    def set_clock(moment: pendulum.DateTime) -> None:
        monkeypatch.setattr(xnys_timetable, "_now", lambda: moment.in_timezone("UTC"))

    return set_clock


def _ny(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz=NY)


def _after_run(tt, last_run_local, *, catchup, earliest=None, latest=None):
    """What the scheduler asks once a scheduled run exists: the run after `last_run_local`."""
    last = DataInterval.exact(last_run_local.in_timezone("UTC"))
    info = tt.next_dagrun_info(last_automated_data_interval=last,
                               restriction=TimeRestriction(earliest=earliest, latest=latest, catchup=catchup))
    return None if info is None else info.logical_date.in_timezone(NY)


def _first_run(tt, *, earliest, catchup, latest=None):
    info = tt.next_dagrun_info(last_automated_data_interval=None,
                               restriction=TimeRestriction(earliest=earliest, latest=latest, catchup=catchup))
    return None if info is None else info.logical_date.in_timezone(NY)


def _next(tt, after_local: pendulum.DateTime):
    return _after_run(tt, after_local, catchup=True)


# --- sessions and wall-clock time --------------------------------------------------------------


def test_runs_at_the_configured_new_york_time_on_the_next_session():
    tt = XNYSSessionTimetable(at="08:30")
    assert _next(tt, _ny(2025, 3, 3, 8, 30)) == _ny(2025, 3, 4, 8, 30)


def test_skips_good_friday_and_the_weekend():
    tt = XNYSSessionTimetable(at="08:30")
    assert _next(tt, _ny(2025, 4, 17, 8, 30)).date() == dt.date(2025, 4, 21)


def test_keeps_new_york_wall_time_across_daylight_saving():
    tt = XNYSSessionTimetable(at="08:30")
    before = _next(tt, _ny(2025, 3, 7, 8, 30))  # Friday before the DST switch
    assert (before.hour, before.minute) == (8, 30) and before.date() == dt.date(2025, 3, 10)
    assert before.in_timezone("UTC").hour == 12  # EDT


def test_a_0935_run_in_january_is_1435_utc():
    info = _next(XNYSSessionTimetable(at="09:35"), _ny(2026, 1, 14, 9, 35))
    assert info.in_timezone("UTC") == pendulum.datetime(2026, 1, 15, 14, 35, tz="UTC")  # EST, UTC-5


def test_a_0935_run_in_july_is_1335_utc():
    info = _next(XNYSSessionTimetable(at="09:35"), _ny(2026, 7, 14, 9, 35))
    assert info.in_timezone("UTC") == pendulum.datetime(2026, 7, 15, 13, 35, tz="UTC")  # EDT, UTC-4


# --- catchup=False after a scheduler downtime (issue #7 §5) ------------------------------------


def test_without_catchup_a_weekend_downtime_resumes_today_when_back_before_the_run_time(clock):
    clock(_ny(2026, 10, 20, 8, 0))  # Tuesday morning; last run Friday, Monday missed
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 10, 16, 9, 35), catchup=False) == _ny(2026, 10, 20, 9, 35)


def test_without_catchup_a_weekend_downtime_runs_today_late_when_back_after_the_run_time(clock):
    clock(_ny(2026, 10, 20, 10, 5))  # Tuesday, market open: today's run is late, not stale
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 10, 16, 9, 35), catchup=False) == _ny(2026, 10, 20, 9, 35)


def test_without_catchup_a_downtime_past_the_close_waits_for_the_next_session(clock):
    clock(_ny(2026, 10, 20, 16, 30))  # Tuesday after the close: today is stale too
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 10, 16, 9, 35), catchup=False) == _ny(2026, 10, 21, 9, 35)


def test_without_catchup_an_early_close_ends_the_day(clock):
    clock(_ny(2026, 11, 27, 13, 30))  # day after Thanksgiving closes at 13:00
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 11, 16, 9, 35), catchup=False) == _ny(2026, 11, 30, 9, 35)


def test_without_catchup_a_downtime_over_thanksgiving_resumes_at_the_next_session(clock):
    clock(_ny(2026, 11, 26, 10, 0))  # Thanksgiving, an XNYS holiday; last run 10 days ago
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 11, 16, 9, 35), catchup=False) == _ny(2026, 11, 27, 9, 35)


def test_without_catchup_a_slot_just_due_is_not_skipped_by_a_reparse(clock):
    clock(_ny(2026, 10, 20, 9, 35, 30))  # the dag processor recomputes before the scheduler creates the run
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 10, 19, 9, 35), catchup=False) == _ny(2026, 10, 20, 9, 35)


def test_without_catchup_the_session_just_run_is_not_run_again(clock):
    clock(_ny(2026, 10, 20, 9, 35, 2))  # right after today's run was created
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 10, 20, 9, 35), catchup=False) == _ny(2026, 10, 21, 9, 35)


# --- catchup=True ------------------------------------------------------------------------------


def test_with_catchup_a_downtime_runs_the_backlog_from_the_session_after_the_last_run(clock):
    clock(_ny(2026, 11, 26, 10, 0))
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 11, 16, 9, 35), catchup=True) == _ny(2026, 11, 17, 9, 35)


def test_with_catchup_the_backlog_skips_thanksgiving(clock):
    clock(_ny(2026, 11, 30, 10, 0))
    assert _after_run(XNYSSessionTimetable(), _ny(2026, 11, 25, 9, 35), catchup=True) == _ny(2026, 11, 27, 9, 35)


# --- first run (no scheduled run yet) ----------------------------------------------------------


def test_first_run_respects_start_date_with_catchup():
    tt = XNYSSessionTimetable(at="08:30")
    assert _first_run(tt, earliest=_ny(2025, 1, 1), catchup=True) == _ny(2025, 1, 2, 8, 30)


def test_first_run_without_catchup_is_the_current_session_not_the_start_date(clock):
    clock(_ny(2026, 11, 24, 8, 0))
    assert _first_run(XNYSSessionTimetable(), earliest=_ny(2025, 1, 1), catchup=False) == _ny(2026, 11, 24, 9, 35)


def test_first_run_without_catchup_waits_for_a_future_start_date(clock):
    clock(_ny(2026, 11, 24, 8, 0))
    assert _first_run(XNYSSessionTimetable(), earliest=_ny(2026, 12, 5), catchup=False) == _ny(2026, 12, 7, 9, 35)


def test_first_run_without_a_start_date_is_not_scheduled(clock):
    clock(_ny(2026, 11, 24, 8, 0))
    assert _first_run(XNYSSessionTimetable(), earliest=None, catchup=False) is None


# --- end date (restriction.latest) -------------------------------------------------------------


def test_no_run_after_end_date():
    tt = XNYSSessionTimetable(at="08:30")
    assert _first_run(tt, earliest=_ny(2025, 1, 1), latest=_ny(2025, 1, 1, 23), catchup=True) is None


def test_without_catchup_no_run_after_end_date_after_a_downtime(clock):
    clock(_ny(2026, 10, 20, 8, 0))
    last_run, end = _ny(2026, 10, 16, 9, 35), _ny(2026, 10, 19, 23, 0)
    assert _after_run(XNYSSessionTimetable(), last_run, catchup=False, latest=end) is None


def test_end_date_is_inclusive(clock):
    clock(_ny(2026, 10, 20, 8, 0))
    last_run, end = _ny(2026, 10, 16, 9, 35), _ny(2026, 10, 20, 9, 35)
    assert _after_run(XNYSSessionTimetable(), last_run, catchup=False, latest=end) == end


# --- serialization -----------------------------------------------------------------------------


def test_serializes_round_trip():
    tt = XNYSSessionTimetable(at="9:45")
    assert XNYSSessionTimetable.deserialize(tt.serialize()).at == "09:45"


def test_the_timetable_runs_at_the_configs_scheduler_time(tmp_path, monkeypatch):
    """`scheduler.time` of config.yaml (the spec's M3 key) is the DAG's time of day."""
    from airflow.models import DagBag

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text('scheduler:\n  time: "10:05"\n')
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(tmp_path))
    dag = DagBag(dag_folder=str(REPO / "dags")).dags["paper_trading_daily"]
    assert dag.timetable.serialize() == {"at": "10:05"}


def test_a_scheduler_time_that_is_not_hh_mm_names_the_file_and_key(tmp_path):
    from paper_trading.paths import scheduler_time

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("scheduler:\n  time: 935\n")
    with pytest.raises(ValueError, match=r"^config/config.yaml: scheduler.time: expected HH:MM \(New York time\), "
                                         r"got 935$"):
        scheduler_time(tmp_path)
