"""An Airflow timetable that runs once per XNYS trading session, at a New York wall-clock time.

A Mon-Fri cron runs on exchange holidays (Good Friday, Juneteenth, ...), and Airflow's example
workday timetable uses US federal holidays, which are not the NYSE's. This one asks
`exchange_calendars` for the XNYS sessions (holidays and early closes included), and makes each
run's logical date the session's date at `at` in America/New_York, so the trade date of a
scheduled run is simply the New York date of its logical date.

Catchup. With `catchup=True` every session from the start date (or after the last scheduled run)
is run, in order. With `catchup=False` the timetable never goes back to a stale trading day, even
after a scheduler downtime with scheduled runs already in the database. The next run
is the latest of:

* the next session after the last scheduled run (never twice the same session);
* the first session at or after the DAG's start date;
* the *current* slot: the run of the latest session at or before now, if that session is still
  open (now is before its close, early closes included; for an `at` at or after the close: before
  the end of that New York day), else the first session run after now.

Airflow's own `CronTriggerTimetable` (3.3.2, `airflow/timetables/trigger.py`,
`_TriggerTimetable.next_dagrun_info`) takes the same maximum with `catchup=False`, but its
"current" candidate is `_align_to_prev(utcnow())`, the latest past cron time whatever its age.
After a downtime it would thus run the most recent missed slot: scheduler back on Tuesday at
08:00 New York after a stop on Friday → a run for Monday 09:35, a stale trading day. Its
`run_immediately` option (True / False / timedelta / None = 10% of the gap, at least 5 minutes)
only applies to a DAG's first run without a start date, so it doesn't help either. Here the
missed slot is kept only while its own session is open: it is still today's trade (and the dag
processor, which recomputes the next run on every parse, can't skip the slot that is just due
but not yet created by the scheduler); once the session has closed, the run waits for the next
session. A skipped session can be run on purpose with a manual run (`run_date` param).

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


def _now() -> pendulum.DateTime:
    """The current time (UTC); the tests monkeypatch this seam."""
    return pendulum.now("UTC")


@lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start="1990-01-01")


def _sessions_from(day: dt.date, count: int = 15) -> list[dt.date]:
    import pandas as pd

    cal = _calendar()
    first = cal.date_to_session(pd.Timestamp(day), direction="next")
    return [ts.date() for ts in cal.sessions_window(first, count)]


def _sessions_until(day: dt.date, count: int = 15) -> list[dt.date]:
    """The `count` sessions up to `day` (included if it is a session), latest first."""
    import pandas as pd

    cal = _calendar()
    last = cal.date_to_session(pd.Timestamp(day), direction="previous")
    return [ts.date() for ts in reversed(cal.sessions_window(last, -count))]


def _session_close(day: dt.date) -> pendulum.DateTime:
    import pandas as pd

    return pendulum.instance(_calendar().session_close(pd.Timestamp(day)).to_pydatetime()).in_timezone("UTC")


class XNYSSessionTimetable(Timetable):
    """One run per XNYS session at `at` (HH:MM, New York time).

    `catchup=True`: the backlog of sessions is run in order, one run per session.
    `catchup=False`: no stale trading day is ever scheduled, even after a scheduler downtime with
    earlier scheduled runs: the next run is the current session's run if that session is still open
    (a late start still trades today), else the next session's run. Unlike `CronTriggerTimetable`,
    which schedules the latest missed slot whatever its age (see the module docstring).
    """

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

    def previous_session_run(self, before: pendulum.DateTime) -> tuple[dt.date, pendulum.DateTime]:
        """The latest session run at or before `before`, with its session date."""
        end = before.in_timezone(EXCHANGE_TZ).date()
        for day in _sessions_until(end):
            moment = self._run_at(day)
            if moment <= before:
                return day, moment
        raise RuntimeError(f"no XNYS session found before {before}")  # the window always holds one

    def _still_open(self, day: dt.date, moment: pendulum.DateTime, now: pendulum.DateTime) -> bool:
        """Whether a run of session `day` (due at `moment`) still trades that day if started `now`."""
        close = _session_close(day)
        if moment >= close:  # a run after the bell (reporting): until the end of that New York day
            close = pendulum.datetime(day.year, day.month, day.day, tz=EXCHANGE_TZ).add(days=1).in_timezone("UTC")
        return now < close

    def current_session_run(self, now: pendulum.DateTime) -> pendulum.DateTime:
        """The run that is not stale at `now`: the latest one if its session is still open, else the next."""
        day, moment = self.previous_session_run(now)
        if self._still_open(day, moment, now):
            return moment
        return self.next_session_run(now, inclusive=False)

    def infer_manual_data_interval(self, *, run_after: pendulum.DateTime) -> DataInterval:
        return DataInterval.exact(run_after)

    def next_dagrun_info(
        self,
        *,
        last_automated_data_interval: DataInterval | None,
        restriction: TimeRestriction,
    ) -> DagRunInfo | None:
        candidates: list[pendulum.DateTime] = []
        if last_automated_data_interval is not None:
            candidates.append(
                self.next_session_run(pendulum.instance(last_automated_data_interval.end), inclusive=False)
            )
        elif restriction.earliest is None:
            return None  # no start date and no run yet: nothing to anchor the schedule on
        if restriction.earliest is not None and (not restriction.catchup or last_automated_data_interval is None):
            candidates.append(self.next_session_run(pendulum.instance(restriction.earliest)))
        if not restriction.catchup:
            candidates.append(self.current_session_run(pendulum.instance(_now()).in_timezone("UTC")))
        moment = max(candidates)
        if restriction.latest is not None and moment > restriction.latest:
            return None
        return DagRunInfo.exact(moment)


class XNYSTimetablePlugin(AirflowPlugin):
    name = "xnys_timetable"
    timetables = [XNYSSessionTimetable]
