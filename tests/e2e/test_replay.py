"""Replay (issue 12 §1): the daily pipeline over a range of sessions against the local simulator,
in a workspace of its own, reproducible, and with the broker and the ledger in agreement."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import requests
from sqlalchemy import create_engine, text

from paper_trading.errors import ConfigError
from paper_trading.steps.replay import MARKER, replay
from tests.conftest import BARS

START, END = dt.date(2025, 12, 1), dt.date(2025, 12, 3)  # three sessions


def ledger_rows(workspace: Path, query: str) -> list[tuple]:
    engine = create_engine(f"sqlite:///{workspace / 'data' / 'ledger.sqlite'}")
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(query))]
    engine.dispose()
    return rows


def broker_client_order_ids(workspace: Path) -> set[str]:
    """The simulator's orders, from its database after the replay (started again on it)."""
    from alpaca_sim.server import SimServer

    with SimServer(workspace / "data" / "sim" / "replay.sqlite", bars=BARS, log=workspace / "sim-again.log") as sim:
        got = requests.get(f"{sim.url}/v2/orders", params={"status": "all", "limit": 500, "nested": "true"},
                           headers=sim.headers, timeout=30)
        got.raise_for_status()
        ids = set()
        for order in got.json():
            ids.add(order["client_order_id"])
            ids.update(leg["client_order_id"] for leg in order.get("legs") or [])
        return ids


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """One real-mode replay of three sessions in a copy of the project."""
    import shutil

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("replay") / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    days = []
    result = replay(START, END, mode="real", root=root, bars=BARS, progress=lambda d, n, s: days.append((d, n)))
    return root, result, days


def test_a_replay_trades_every_session_and_reports_the_whole_period(replayed):
    root, result, progress = replayed
    workspace = Path(result["workspace"])
    assert workspace == root / "data" / "replay"
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert [d["date"] for d in result["days"]] == ["2025-12-01", "2025-12-02", "2025-12-03"]
    assert all(d["traded"] and d["orders"] > 0 for d in result["days"])
    assert [r[0] for r in ledger_rows(workspace, "SELECT trade_date FROM equity_daily ORDER BY trade_date")] == \
        ["2025-12-01", "2025-12-02", "2025-12-03"]
    metrics = json.loads(Path(result["report"]["metrics_path"]).read_text())
    assert metrics["first_session"] == "2025-12-01" and metrics["sessions"] == 3
    assert (workspace / "data" / "reports" / "summary_dashboard.html").stat().st_size > 0


def test_the_orders_at_the_simulator_are_exactly_the_ledgers(replayed):
    _, result, _ = replayed
    workspace = Path(result["workspace"])
    ledger = [r[0] for r in ledger_rows(workspace, "SELECT client_order_id FROM orders")]
    assert len(ledger) == len(set(ledger))
    assert broker_client_order_ids(workspace) == set(ledger)


def test_the_bracket_legs_and_the_next_morning_happen_on_the_simulators_clock(replayed):
    _, result, _ = replayed
    workspace = Path(result["workspace"])
    submitted = ledger_rows(workspace, "SELECT trade_date, submitted_at FROM orders WHERE submitted_at IS NOT NULL "
                                       "AND parent_client_order_id IS NULL")
    for day, at in submitted:  # each session's orders were sent on that session's morning, New York time
        moment = pd.Timestamp(at)
        moment = (moment.tz_localize("UTC") if moment.tzinfo is None else moment).tz_convert("America/New_York")
        assert moment.date().isoformat() == day and (moment.hour, moment.minute) >= (9, 35)
    statuses = {r[0] for r in ledger_rows(workspace, "SELECT status FROM orders WHERE parent_client_order_id IS NOT "
                                                     "NULL OR order_class = 'oco'")}
    assert "canceled" in statuses  # yesterday's exits were cancelled before the symbol was traded again


def test_a_replay_leaves_the_projects_own_ledger_outputs_and_reports_alone(replayed):
    root, _, _ = replayed
    assert not (root / "data" / "ledger.sqlite").exists()
    for folder in ("outputs", "reports", "intermediate"):
        assert not (root / "data" / folder).exists()


def test_a_replay_run_again_gives_the_same_books_and_reports(replayed):
    root, first, _ = replayed
    workspace = Path(first["workspace"])
    books = "SELECT trade_date, equity, cash FROM equity_daily ORDER BY trade_date"
    positions = "SELECT trade_date, symbol, qty FROM positions_eod ORDER BY trade_date, symbol"
    before = (ledger_rows(workspace, books), ledger_rows(workspace, positions),
              Path(first["report"]["pnl_daily_path"]).read_bytes())
    again = replay(START, END, mode="real", root=root, bars=BARS)
    assert (ledger_rows(workspace, books), ledger_rows(workspace, positions),
            Path(again["report"]["pnl_daily_path"]).read_bytes()) == before


def test_replayed_alerts_page_nobody(project, monkeypatch):
    """Alert channels of the config and of the environment are off in a replay (and the
    environment is left as it was)."""
    hits = []
    import http.server
    import threading

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    channel = f"json://127.0.0.1:{server.server_port}/alerts"
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("channels: []", f"channels: ['{channel}']")
                      .replace("min_cash_buffer_pct: 0.01", "min_cash_buffer_pct: 0.5"))  # the gate rejects buys: alerts
    monkeypatch.setenv("PAPER_TRADING_ALERT_URLS", channel)
    try:
        result = replay(START, START, mode="real", root=project, bars=BARS)
    finally:
        server.shutdown()
    alerts = (Path(result["workspace"]) / "logs" / "alerts.log").read_text()
    assert "orders_rejected" in alerts  # raised and written ...
    assert hits == []  # ... and sent nowhere
    assert __import__("os").environ["PAPER_TRADING_ALERT_URLS"] == channel


def test_a_session_without_all_its_signals_is_not_traded_but_gets_its_books(project):
    drl = project / "data" / "raw_signals" / "drl_weight.csv"
    frame = pd.read_csv(drl, dtype=str)
    frame[frame["trade_date"] != "2025-12-02"].to_csv(drl, index=False)
    result = replay(START, END, mode="real", root=project, bars=BARS)
    late = result["days"][1]
    assert late["date"] == "2025-12-02" and not late["traded"] and "drl" in late["note"]
    assert late["equity"] is not None
    assert result["days"][0]["traded"] and result["days"][2]["traded"]


def test_a_replay_refuses_a_folder_it_did_not_make_and_deletes_nothing(project):
    with pytest.raises(ConfigError, match="not empty and no replay made it"):
        replay(START, START, root=project, out="data/raw_signals", bars=BARS)
    assert (project / "data" / "raw_signals" / "drl_weight.csv").is_file()
    assert not (project / "data" / "raw_signals" / MARKER).exists()


@pytest.mark.parametrize("out", ["../elsewhere", "/tmp/replay-abs", ".", "data/.."])
def test_a_replay_workspace_stays_a_folder_inside_the_project(project, out):
    with pytest.raises(ConfigError, match="--out"):
        replay(START, START, root=project, out=out, bars=BARS)


def test_the_replay_command_shows_a_summary_with_the_dashboard(project):
    done = subprocess.run([sys.executable, "-m", "paper_trading", "replay", "--start", "2025-12-01", "--end",
                           "2025-12-02", "--mode", "real", "--root", str(project), "--bars", str(BARS)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("replay 2025-12-01 .. 2025-12-02 (real mode against the local simulator): 2 session(s)")
    assert any(line.split() == ["dashboard", "data/replay/data/reports/summary_dashboard.html"] for line in lines)
    assert "2/2" in done.stderr  # the progress bar


def test_the_replay_command_refuses_an_end_before_the_start_in_one_line(project):
    done = subprocess.run([sys.executable, "-m", "paper_trading", "replay", "--start", "2025-12-03", "--end",
                           "2025-12-01", "--root", str(project)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --end 2025-12-01 is before --start 2025-12-03"
