"""The XNYS timetable schedules one run per NYSE session, skipping exchange holidays."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.timetables.base import DataInterval, TimeRestriction
from xnys_timetable import XNYSSessionTimetable

NY = pendulum.timezone("America/New_York")


def _next(tt, after_local: pendulum.DateTime):
    last = DataInterval.exact(after_local.in_timezone("UTC"))
    info = tt.next_dagrun_info(last_automated_data_interval=last,
                               restriction=TimeRestriction(earliest=None, latest=None, catchup=True))
    return info.logical_date.in_timezone(NY)


def test_runs_at_the_configured_new_york_time_on_the_next_session():
    tt = XNYSSessionTimetable(at="08:30")
    assert _next(tt, pendulum.datetime(2025, 3, 3, 8, 30, tz=NY)) == pendulum.datetime(2025, 3, 4, 8, 30, tz=NY)


def test_skips_good_friday_and_the_weekend():
    tt = XNYSSessionTimetable(at="08:30")
    assert _next(tt, pendulum.datetime(2025, 4, 17, 8, 30, tz=NY)).date() == dt.date(2025, 4, 21)


def test_keeps_new_york_wall_time_across_daylight_saving():
    tt = XNYSSessionTimetable(at="08:30")
    before = _next(tt, pendulum.datetime(2025, 3, 7, 8, 30, tz=NY))  # Friday before the DST switch
    assert (before.hour, before.minute) == (8, 30) and before.date() == dt.date(2025, 3, 10)
    assert before.in_timezone("UTC").hour == 12  # EDT


def test_first_run_respects_start_date_with_catchup():
    tt = XNYSSessionTimetable(at="08:30")
    info = tt.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=pendulum.datetime(2025, 1, 1, tz=NY), latest=None, catchup=True),
    )
    assert info.logical_date.in_timezone(NY) == pendulum.datetime(2025, 1, 2, 8, 30, tz=NY)


def test_no_run_after_end_date():
    tt = XNYSSessionTimetable(at="08:30")
    info = tt.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=pendulum.datetime(2025, 1, 1, tz=NY),
                                    latest=pendulum.datetime(2025, 1, 1, 23, tz=NY), catchup=True),
    )
    assert info is None


def test_serializes_round_trip():
    tt = XNYSSessionTimetable(at="9:45")
    assert XNYSSessionTimetable.deserialize(tt.serialize()).at == "09:45"
