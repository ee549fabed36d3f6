"""Exchange time: which date a run trades, and which dates are XNYS sessions.

The trade date is computed here and nowhere else (DESIGN §6): the `run_date` param if given, else
the New York date of the run's logical date, else of `run_after` (manual runs in Airflow 3 may have
no logical date). Sessions, holidays and early closes come from `exchange_calendars`, never from a
weekday check.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import pandas as pd

EXCHANGE = "XNYS"
EXCHANGE_TZ = ZoneInfo("America/New_York")


@lru_cache(maxsize=1)
def xnys():
    """The XNYS calendar, from 1990 to a year ahead (built once per process, ~0.1 s)."""
    import exchange_calendars as xcals

    return xcals.get_calendar(EXCHANGE, start="1990-01-01")


def parse_date(value: object) -> dt.date:
    """A date from `2025-03-03`, `20250303`, a date or a datetime; ValueError otherwise."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"expected a date as YYYY-MM-DD or YYYYMMDD, got {text!r}")


def exchange_date(moment: dt.datetime) -> dt.date:
    """The New York calendar date of an instant (naive instants are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(EXCHANGE_TZ).date()


def resolve_trade_date(
    run_date: object | None = None,
    logical_date: dt.datetime | None = None,
    run_after: dt.datetime | None = None,
) -> dt.date:
    """The run's trade date: `run_date`, else the exchange date of `logical_date`, else of `run_after`."""
    if run_date not in (None, ""):
        try:
            return parse_date(run_date)
        except ValueError as exc:
            from paper_trading.errors import ConfigError

            raise ConfigError(f"run_date: {exc}") from None
    if logical_date is not None:
        return exchange_date(logical_date)
    if run_after is not None:
        return exchange_date(run_after)
    raise ValueError("no run_date, logical_date or run_after to take the trade date from")


def is_session(day: dt.date) -> bool:
    """True if XNYS trades on `day` (early closes count as sessions)."""
    return bool(xnys().is_session(pd.Timestamp(day)))


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """XNYS sessions from `start` to `end`, both included."""
    return [ts.date() for ts in xnys().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))]


def previous_session(day: dt.date) -> dt.date:
    """The last XNYS session strictly before `day`."""
    return xnys().date_to_session(pd.Timestamp(day - dt.timedelta(days=1)), direction="previous").date()


class BooksTiming(Protocol):
    """The config's `reconcile:` section, as far as the time of the books goes (read-only: the
    config's models are frozen)."""

    @property
    def timing(self) -> str: ...
    @property
    def after_close_minutes(self) -> float: ...
    @property
    def before_open_minutes(self) -> float: ...


def books_time(day: dt.date, reconcile: BooksTiming) -> dt.datetime:
    """When the books of `day` are made (an aware UTC instant): after its close — early closes
    included — plus a delay (`timing: t0`), or before the next session's open (`t1`).

    The one answer for the DAG's `books_time` task, `run` and `replay` (which moves the simulator's
    clock there), so a day's books are made at the same instant whichever way it runs."""
    cal = xnys()
    if reconcile.timing == "t1":
        following = next_session(day)
        moment = cal.session_open(pd.Timestamp(following)) - pd.Timedelta(minutes=reconcile.before_open_minutes)
        return max(moment, cal.session_close(pd.Timestamp(day))).to_pydatetime()
    return (cal.session_close(pd.Timestamp(day)) + pd.Timedelta(minutes=reconcile.after_close_minutes)).to_pydatetime()


def next_session(day: dt.date) -> dt.date:
    """The first XNYS session strictly after `day`."""
    return xnys().date_to_session(pd.Timestamp(day + dt.timedelta(days=1)), direction="next").date()
