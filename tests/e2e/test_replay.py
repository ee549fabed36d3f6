"""Replay (issue 12 §1): the daily pipeline over a range of sessions against the local simulator,
in a workspace of its own, reproducible, and with the broker and the ledger in agreement."""

from __future__ import annotations

import datetime as dt
import json
import os
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
#: A replay's books: equity and cash, positions, fills, cash other than fills (dividends), and every
#: order's final state.
BOOKS = (
    "SELECT trade_date, equity, cash FROM equity_daily ORDER BY trade_date",
    "SELECT trade_date, symbol, qty, market_value FROM positions_eod ORDER BY trade_date, symbol",
    "SELECT trade_date, symbol, side, qty, price FROM fills ORDER BY trade_date, symbol, side, qty, price",
    "SELECT date, activity_type, symbol, qty, price, net_amount FROM cash_ledger WHERE activity_type != 'FILL' "
    "ORDER BY date, activity_type, symbol, net_amount",
    # a leg's client_order_id is the broker's (a new uuid each replay): legs by their parent and type
    "SELECT COALESCE(parent_client_order_id, client_order_id) AS o, order_type, side, status, filled_qty, "
    "filled_avg_price, reason FROM orders ORDER BY o, order_type, side, status, filled_qty, filled_avg_price, reason",
)


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
        def do_POST(self):
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


# ------------------------------------------------------------------------------ point in time

NY = "America/New_York"
AAPL, MSFT, AMZN, GOOGL = "001690", "012141", "064768", "160329"
FIRST_FIVE = [AAPL, MSFT, AMZN, GOOGL, "170617"]  # ... META: 0.2 each, within risk.max_weight_per_name
NEXT_FIVE = ["117768", "002968", "006266", "004503", "008762"]  # NVDA, JPM, JNJ, XOM, PG


def equal_weights(day: str, asof: str, gvkeys: list[str]) -> list[tuple]:
    return [(day, gvkey, 1 / len(gvkeys), asof) for gvkey in gvkeys]


def ml_project(root: Path, rows: list[tuple]) -> Path:
    """A copy of the project's config and instrument map with one strategy of our own, `ml`: a
    Parquet file of (trade_date, asset_id, target_weight, asof in New York time) rows."""
    import shutil

    from tests.conftest import REPO

    for part in ("config", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    frame = pd.DataFrame(rows, columns=["trade_date", "asset_id", "target_weight", "asof"])
    frame["trade_date"] = pd.to_datetime(frame["trade_date"]).dt.date
    frame["asof"] = pd.to_datetime(frame["asof"]).dt.tz_localize(NY).dt.tz_convert("UTC")
    (root / "data" / "raw_signals").mkdir(parents=True)
    frame.to_parquet(root / "data" / "raw_signals" / "ml.parquet", index=False)
    (root / "config" / "strategy_manifest.yaml").write_text(
        "strategies:\n  - id: ml\n    path: data/raw_signals/ml.parquet\n    format: parquet\n    column_mapping: {}\n")
    return root


def ml_replay(root: Path, start: dt.date, end: dt.date, mode: str = "real") -> dict:
    return replay(start, end, mode=mode, root=root, bars=BARS, signal_mode="select", pick="ml")


def targets_of(result: dict, day: dt.date) -> dict[str, float]:
    path = Path(result["workspace"]) / "data" / "intermediate" / f"targets_consolidated_{day:%Y%m%d}.parquet"
    frame = pd.read_parquet(path)
    return dict(zip(frame["asset_id"], frame["target_weight"].round(12)))


def submitted_at_new_york(workspace: Path, day: dt.date) -> set[str]:
    """HH:MM (New York) at which the day's entry orders were sent."""
    rows = ledger_rows(workspace, "SELECT submitted_at FROM orders WHERE submitted_at IS NOT NULL AND "
                                  f"parent_client_order_id IS NULL AND trade_date = '{day.isoformat()}'")
    times = set()
    for (at,) in rows:
        moment = pd.Timestamp(at)
        moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment
        times.add(f"{moment.tz_convert(NY):%H:%M}")
    return times


def test_a_revision_published_after_the_runs_time_is_not_used_in_replay(tmp_path):
    root = ml_project(tmp_path / "project", [
        ("2025-12-01", AAPL, 0.5, "2025-12-01 06:30"), ("2025-12-01", MSFT, 0.5, "2025-12-01 06:30"),
        ("2025-12-01", AAPL, 0.2, "2025-12-01 11:30"), ("2025-12-01", MSFT, 0.8, "2025-12-01 11:30"),  # revised later
    ])
    result = ml_replay(root, START, START, mode="dry")
    assert result["days"][0]["traded"] and result["days"][0]["signals_at"] == "09:35"
    assert targets_of(result, START) == {AAPL: 0.5, MSFT: 0.5}


@pytest.fixture(scope="module")
def late_replay(tmp_path_factory):
    """A real-mode replay of two sessions: 12-01's rows came out at 06:30, 12-02's only at 11:32
    (12-03's never: the sensor's timeout passes)."""
    root = ml_project(tmp_path_factory.mktemp("late") / "project",
                      equal_weights("2025-12-01", "2025-12-01 06:30", FIRST_FIVE)
                      + equal_weights("2025-12-02", "2025-12-02 11:32", NEXT_FIVE)
                      + equal_weights("2025-12-03", "2025-12-03 15:36", FIRST_FIVE))  # after 09:35 + 6 h

    return ml_replay(root, START, END)


def test_rows_published_on_time_are_traded_at_the_dags_schedule(late_replay):
    first = late_replay["days"][0]
    assert first["traded"] and first["signals_at"] == "09:35" and first["waited_s"] == 0
    assert submitted_at_new_york(Path(late_replay["workspace"]), START) == {"09:35"}


def test_rows_published_at_1132_make_replay_trade_at_the_first_poke_after_them(late_replay):
    late = late_replay["days"][1]
    assert late["traded"] and late["orders"] > 0
    assert late["signals_at"] == "11:35" and late["waited_s"] == 2 * 3600  # 09:35 + 24 pokes of 5 min
    assert submitted_at_new_york(Path(late_replay["workspace"]), dt.date(2025, 12, 2)) == {"11:35"}
    assert set(targets_of(late_replay, dt.date(2025, 12, 2))) == set(NEXT_FIVE)


def test_a_late_day_says_in_its_summary_that_it_waited_and_how_long(late_replay):
    from paper_trading.steps.replay import summary_lines

    assert late_replay["days"][1]["note"] == "signals late: traded at 11:35 New York after waiting 2 h 00 min"
    assert "  late       1 session(s) waited for their signals, as the DAG's sensor would: " \
           "2025-12-02 at 11:35 (2 h 00 min)" in summary_lines(late_replay)


def test_a_day_whose_rows_never_arrive_by_the_sensors_timeout_is_not_traded(late_replay):
    never = late_replay["days"][2]
    assert not never["traded"] and never["orders"] == 0 and never["equity"] is not None  # its books are made
    assert never["waited_s"] == 6 * 3600
    assert never["note"].startswith("signals for 2025-12-03 not ready after waiting 6 h 00 min (73 checks, the "
                                    "sensor's timeout is 6 h 00 min): ml (data/raw_signals/ml.parquet: ml: rows "
                                    "for 2025-12-03 published at 2025-12-03 15:36 America/New_York, after 15:35)")
    assert submitted_at_new_york(Path(late_replay["workspace"]), END) == set()


def test_a_day_whose_rows_arrive_after_an_early_close_is_not_traded_in_real_mode(tmp_path):
    """2025-11-28 closes at 13:00: the gate refuses to send orders at 13:05 (the DAG's would too);
    the replay goes on and the day still gets its books."""
    friday = dt.date(2025, 11, 28)
    root = ml_project(tmp_path / "project", equal_weights("2025-11-28", "2025-11-28 13:02", FIRST_FIVE))
    day = ml_replay(root, friday, friday)["days"][0]
    assert not day["traded"] and day["signals_at"] == "13:05" and day["equity"] == 100_000
    assert day["note"].startswith("signals late: ready at 13:05 New York after waiting 3 h 30 min; the risk gate "
                                  "refused to trade 2025-11-28 in real mode: market_closed_now")


# ------------------------------------------------------------------ the sample data's story

STORY = dt.date(2025, 11, 6), dt.date(2025, 11, 20)  # XDLX's target vanishes, a late day, a halt, dividends


@pytest.fixture(scope="module")
def story(tmp_path_factory):
    """A real-mode replay of the committed sample data over the sessions where it tells its story:
    XDLX (fictional) leaves the strategies after 2025-11-14 and is delisted after 11-21; ml_alpha
    publishes 2025-11-18 at 11:30 New York; DIS is halted on 2025-11-19; JNJ (ex 11-07) and XOM
    (ex 11-11) pay dividends on 11-18 and 11-20."""
    import shutil

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("story") / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    result = replay(*STORY, mode="real", root=root, bars=BARS)
    return root / "data" / "replay", {d["date"]: d for d in result["days"]}


GOLDEN_BOOKS = Path(__file__).parent / "golden" / "story_books.json"


def test_the_storys_books_are_the_committed_ones_to_the_cent(story):
    """The story's books (equity, cash, positions, fills, every order's final state and reason)
    are the ones committed in `golden/story_books.json`, written by efdbeb1 and the same as eade6eb's
    (the code before all of issue 26's replay work): a change made for speed that moves a cent, a
    fill or an order's end fails here.
    A change that means to move them writes the file again (PAPER_TRADING_WRITE_GOLDEN=1 and this
    test) and says why in its commit."""
    workspace, _ = story
    books = {query: [list(row) for row in ledger_rows(workspace, query)] for query in BOOKS}
    if os.environ.get("PAPER_TRADING_WRITE_GOLDEN") == "1":
        GOLDEN_BOOKS.parent.mkdir(exist_ok=True)
        GOLDEN_BOOKS.write_text("{\n" + ",\n".join(  # a row a line, so a diff shows the rows that moved
            f"{json.dumps(query)}: [\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]"
            for query, rows in books.items()) + "\n}\n")
    assert all(books.values())
    assert books == json.loads(GOLDEN_BOOKS.read_text())


def test_the_delisted_names_position_is_sold_once_its_target_vanishes(story):
    workspace, _ = story
    sells = ledger_rows(workspace, "SELECT trade_date, status FROM orders WHERE symbol = 'XDLX' AND side = 'sell' "
                                   "AND parent_client_order_id IS NULL AND order_type = 'market'")
    assert ("2025-11-17", "filled") in sells
    held = ledger_rows(workspace, "SELECT qty FROM positions_eod WHERE symbol = 'XDLX' AND trade_date >= '2025-11-17'")
    assert all(q == 0 for (q,) in held)


def test_the_late_publishing_day_is_traded_when_its_signals_come_out(story):
    _, days = story
    assert days["2025-11-18"]["traded"] and days["2025-11-18"]["signals_at"] == "11:30"
    assert days["2025-11-17"]["signals_at"] == "09:35"


def test_a_halted_symbols_order_rests_until_the_close_and_the_replay_goes_on(story):
    workspace, days = story
    assert "execution incomplete" in days["2025-11-19"]["note"] and "DIS" in days["2025-11-19"]["note"]
    assert ledger_rows(workspace, "SELECT status FROM orders WHERE client_order_id = 'pt-20251119-DIS-sell-r1'") == \
        [("expired",)]
    assert days["2025-11-20"]["traded"] and days["2025-11-20"]["equity"]


def test_dividends_land_in_the_cash_ledger_for_the_shares_held_on_the_ex_date(story):
    workspace, _ = story
    paid = ledger_rows(workspace, "SELECT date, symbol, qty, net_amount FROM cash_ledger WHERE activity_type = 'DIV' "
                                  "ORDER BY date")
    assert [(d, s) for d, s, _, _ in paid] == [("2025-11-18", "JNJ"), ("2025-11-20", "XOM")]
    for _date, symbol, qty, amount in paid:
        per_share = {"JNJ": 1.19, "XOM": 0.95}[symbol]
        assert qty > 0 and amount == pytest.approx(round(qty * per_share, 2))


def test_the_ledger_has_every_orders_final_state_as_the_broker_says_it(story):
    """Legs that triggered days later and DAY orders that expired are in the ledger as they are at
    the broker (reconcile syncs them), not as they were when sent."""
    workspace, _ = story
    ledger = dict(ledger_rows(workspace, "SELECT client_order_id, status FROM orders WHERE mode = 'real'"))
    sim = create_engine(f"sqlite:///{workspace / 'data' / 'sim' / 'replay.sqlite'}")
    with sim.connect() as conn:
        broker = dict(tuple(r) for r in conn.execute(text("SELECT client_order_id, status FROM orders")))
    sim.dispose()
    assert ledger == broker
    assert {"filled", "canceled", "expired", "new", "held"} <= set(broker.values())


def test_the_whole_history_exports_hold_every_order_and_fill_of_the_replay(story):
    """Written once, at the end of the replay (not after every session), and complete."""
    workspace, _ = story
    outputs = workspace / "data" / "outputs"
    log = pd.read_csv(outputs / "execution_log.csv")
    assert len(log) == ledger_rows(workspace, "SELECT COUNT(*) FROM orders")[0][0]
    (filled,) = ledger_rows(workspace, "SELECT COUNT(DISTINCT order_id) FROM fills")[0]
    assert len(pd.read_csv(outputs / "filled_orders.csv")) == filled
    assert "pt-20251119-DIS-sell-r1" in set(log["client_order_id"])
