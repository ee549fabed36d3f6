"""The trade date is computed in one place, in exchange time, from an exchange calendar."""

from __future__ import annotations

import datetime as dt

import pytest

from paper_trading.trading_calendar import (
    is_session,
    next_session,
    previous_session,
    resolve_trade_date,
)

UTC = dt.UTC


def test_run_date_param_wins():
    assert resolve_trade_date("2025-03-03", dt.datetime(2030, 1, 1, tzinfo=UTC)) == dt.date(2025, 3, 3)


def test_logical_date_is_taken_in_new_york_time():
    # 01:30 UTC on Tuesday is still Monday evening in New York.
    assert resolve_trade_date(None, dt.datetime(2025, 6, 3, 1, 30, tzinfo=UTC)) == dt.date(2025, 6, 2)


def test_manual_run_without_logical_date_uses_run_after():
    assert resolve_trade_date("", None, dt.datetime(2025, 6, 3, 14, 0, tzinfo=UTC)) == dt.date(2025, 6, 3)


def test_no_date_source_is_an_error():
    with pytest.raises(ValueError):
        resolve_trade_date(None, None, None)


@pytest.mark.parametrize(
    "day,expected",
    [
        (dt.date(2025, 4, 18), False),  # Good Friday: a weekday, not a federal holiday, no session
        (dt.date(2025, 6, 19), False),  # Juneteenth
        (dt.date(2025, 7, 3), True),  # early close is still a session
        (dt.date(2025, 1, 9), False),  # national day of mourning (President Carter)
        (dt.date(2025, 3, 8), False),  # Saturday
        (dt.date(2025, 3, 10), True),
    ],
)
def test_sessions_come_from_the_xnys_calendar(day, expected):
    assert is_session(day) is expected


def test_previous_and_next_session_skip_holidays():
    assert previous_session(dt.date(2025, 4, 21)) == dt.date(2025, 4, 17)
    assert next_session(dt.date(2025, 4, 17)) == dt.date(2025, 4, 21)
    assert previous_session(dt.date(2025, 4, 19)) == dt.date(2025, 4, 17)


@pytest.mark.parametrize("run_date", ["2024-02-30", "2025-11-31", "20250231", "31/12/2025"])
def test_an_impossible_run_date_is_a_config_error_not_a_rolled_over_date(run_date):
    from paper_trading.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^run_date: expected a date as YYYY-MM-DD or YYYYMMDD, got '{run_date}'$"):
        resolve_trade_date(run_date)
