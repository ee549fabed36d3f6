"""XNYS sessions for the simulator: open and close instants, early closes included.

The simulator answers `/v2/clock` and `/v2/calendar` from the same exchange calendar the
real exchange follows, so a holiday or a 13:00 early close behaves as on Alpaca.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import pandas as pd

NY = ZoneInfo("America/New_York")
UTC = dt.UTC


@dataclass(frozen=True)
class Session:
    date: dt.date
    open: dt.datetime  # UTC
    close: dt.datetime  # UTC

    @property
    def open_ny(self) -> dt.datetime:
        return self.open.astimezone(NY)

    @property
    def close_ny(self) -> dt.datetime:
        return self.close.astimezone(NY)


@lru_cache(maxsize=1)
def _calendar():
    import exchange_calendars as xcals

    return xcals.get_calendar("XNYS", start="1990-01-01")


@lru_cache(maxsize=8192)
def session(day: dt.date) -> Session | None:
    """The session on `day`, or None if XNYS does not trade that day."""
    cal = _calendar()
    ts = pd.Timestamp(day)
    if not cal.is_session(ts):
        return None
    return Session(day, cal.session_open(ts).to_pydatetime(), cal.session_close(ts).to_pydatetime())


def known_session(day: dt.date) -> Session:
    """`session(day)` for a day the calendar gave as a session (so never None)."""
    s = session(day)
    assert s is not None, day
    return s


@lru_cache(maxsize=8192)
def session_on_or_after(day: dt.date) -> Session:
    ts = _calendar().date_to_session(pd.Timestamp(day), direction="next")
    return known_session(ts.date())


@lru_cache(maxsize=8192)
def session_on_or_before(day: dt.date) -> Session:
    ts = _calendar().date_to_session(pd.Timestamp(day), direction="previous")
    return known_session(ts.date())


def sessions_between(start: dt.date, end: dt.date) -> list[Session]:
    return [known_session(ts.date()) for ts in _calendar().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def ny_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(NY).date()


def current_or_next_session(moment: dt.datetime) -> Session:
    """The session open at `moment`, else the next one to open."""
    s = session_on_or_after(ny_date(moment))
    if moment >= s.close:
        s = session_on_or_after(s.date + dt.timedelta(days=1))
    return s


def is_open(moment: dt.datetime) -> bool:
    s = session(ny_date(moment))
    return s is not None and s.open <= moment < s.close


def next_open(moment: dt.datetime) -> dt.datetime:
    s = session_on_or_after(ny_date(moment))
    while s.open <= moment:
        s = session_on_or_after(s.date + dt.timedelta(days=1))
    return s.open


def next_close(moment: dt.datetime) -> dt.datetime:
    s = session_on_or_after(ny_date(moment))
    while s.close <= moment:
        s = session_on_or_after(s.date + dt.timedelta(days=1))
    return s.close


def latest_started_session(moment: dt.datetime) -> Session:
    """The last session whose open is at or before `moment` (today's once it opened)."""
    s = session_on_or_before(ny_date(moment))
    while s.open > moment:
        s = session_on_or_before(s.date - dt.timedelta(days=1))
    return s
