"""Helpers the CLI and the DAG share: a run's note."""

from __future__ import annotations

import datetime as dt

from paper_trading.steps.common import run_note


def test_a_runs_note_names_its_trade_date_mode_and_round():
    triggered = dt.datetime(2026, 1, 4, 15, 0, tzinfo=dt.UTC)  # a Sunday: the date comes from run_date
    assert run_note({"run_date": "2025-12-31", "mode": "real", "round": 2}, triggered, triggered) == \
        "2025-12-31 · real · round 2"


def test_a_scheduled_runs_note_takes_the_new_york_date_of_its_logical_date_and_the_default_mode():
    at = dt.datetime(2025, 12, 31, 14, 35, tzinfo=dt.UTC)  # 09:35 in New York
    assert run_note({}, at, at, default_mode="dry") == "2025-12-31 · dry · round 1"
