"""An Airflow timetable that runs once per XNYS trading session, at a New York wall-clock time.

A Mon-Fri cron runs on exchange holidays (Good Friday, Juneteenth, ...), and Airflow's example
workday timetable uses US federal holidays, which are not the NYSE's. This one asks
`exchange_calendars` for the XNYS sessions (holidays and early closes included), and makes each
run's logical date the session's date at `at` in America/New_York, so the trade date of a
scheduled run is simply the New York date of its logical date.

`exchange_calendars` is imported lazily: the scheduler parses DAG files constantly.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

EXCHANGE_TZ = pendulum.timezone("America/New_York")


@lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start="1990-01-01")


def _sessions_from(day: dt.date, count: int = 15) -> list[dt.date]:
    import pandas as pd

    cal = _calendar()
    first = cal.date_to_session(pd.Timestamp(day), direction="next")
    return [ts.date() for ts in cal.sessions_window(first, count)]


class XNYSSessionTimetable(Timetable):
    """One run per XNYS session at `at` (HH:MM, New York time)."""

    def __init__(self, at: str = "09:35") -> None:
        hour, minute = (int(x) for x in at.split(":"))
        self.at = f"{hour:02d}:{minute:02d}"
        self._time = dt.time(hour, minute)

    @property
    def summary(self) -> str:
        return f"XNYS sessions at {self.at} America/New_York"

    @property
    def description(self) -> str:
        return f"Every NYSE trading day (exchange holidays skipped) at {self.at} New York time"

    def serialize(self) -> dict[str, Any]:
        return {"at": self.at}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> XNYSSessionTimetable:
        return cls(data.get("at", "09:35"))

    def validate(self) -> None:
        if not (0 <= self._time.hour < 24):
            raise ValueError(f"at must be HH:MM, got {self.at!r}")

    def _run_at(self, day: dt.date) -> pendulum.DateTime:
        local = pendulum.datetime(day.year, day.month, day.day, self._time.hour, self._time.minute, tz=EXCHANGE_TZ)
        return local.in_timezone("UTC")

    def next_session_run(self, after: pendulum.DateTime, inclusive: bool = True) -> pendulum.DateTime:
        """The first session run at or after (or strictly after) `after`."""
        start = after.in_timezone(EXCHANGE_TZ).date()
        for day in _sessions_from(start):
            moment = self._run_at(day)
            if moment > after or (inclusive and moment == after):
                return moment
        raise RuntimeError(f"no XNYS session found after {after}")  # the window always holds one

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        if last_automated_data_interval is not None:
            moment = self.next_session_run(pendulum.instance(last_automated_data_interval.end), inclusive=False)
        elif restriction.earliest is None:
            return None
        else:
            earliest = pendulum.instance(restriction.earliest)
            if not restriction.catchup:
                earliest = max(earliest, pendulum.now("UTC"))
            moment = self.next_session_run(earliest)
        if restriction.latest is not None and moment > restriction.latest:
            return None
        return DagRunInfo.exact(moment)


class XNYSTimetablePlugin(AirflowPlugin):
    name = "xnys_timetable"
    timetables = [XNYSSessionTimetable]
