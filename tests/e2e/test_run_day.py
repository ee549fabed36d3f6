"""`run` — the whole day once, without Airflow (for cron users) — against the simulator: the same
steps as the DAG in its order, one run id, nothing sent twice, and a clear exit when the day cannot
go on. The clock and the sleep are injected: no test waits."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pandas as pd
import pytest
import requests

from paper_trading import steps
from paper_trading.cli import main
from paper_trading.errors import SignalsNotReady, TradingRefused

DAY = dt.date(2025, 12, 31)
#: The reconcile time of DAY (t0: the close, 16:00 New York, + 15 minutes).
BOOKS_AT = dt.datetime(2025, 12, 31, 21, 15, tzinfo=dt.UTC)
OUTPUTS = ["data/intermediate/targets_consolidated_20251231.parquet", "data/outputs/rebalance_plan_20251231.csv",
           "data/outputs/planned_orders_20251231.csv", "data/outputs/plan_summary_20251231.json",
           "data/outputs/risk_report_20251231.csv", "data/outputs/approved_orders_20251231.csv",
           "data/outputs/execution_log.csv", "data/outputs/recon_report_20251231.csv",
           "data/outputs/positions_eod_20251231.csv", "data/outputs/filled_orders.csv",
           "data/outputs/cash_ledger.csv", "data/reports/pnl_daily_20251231.csv",
           "data/reports/risk_snapshot_20251231.csv", "data/reports/metrics_20251231.json",
           "data/reports/summary_dashboard_20251231.html", "logs/run_20251231.log"]


class Clock:
    """A clock whose sleep moves it on: what `run_day` sees instead of the real time."""

    def __init__(self, at: dt.datetime) -> None:
        self.at, self.slept = at, []

    def now(self) -> dt.datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.at += dt.timedelta(seconds=seconds)


@pytest.fixture
def fast(project):
    """Short polls (the simulator fills on the next read while the market is open)."""
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05")
                      .replace("lock_wait_s: 60", "lock_wait_s: 8").replace("max_backoff_s: 60", "max_backoff_s: 0.2"))
    return project


@pytest.fixture
def apca_env(sim, monkeypatch):
    """The APCA_* variables of the simulator, as a cron user's environment has them."""
    env = {"APCA_API_KEY_ID": sim.key, "APCA_API_SECRET_KEY": sim.secret, "APCA_API_BASE_URL": sim.url,
           "APCA_API_DATA_URL": sim.url}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def broker_orders(sim) -> list[dict]:
    got = requests.get(f"{sim.url}/v2/orders", params={"status": "all", "limit": 500, "nested": "true"},
                       headers=sim.headers, timeout=10)
    got.raise_for_status()
    return got.json()


def entries(sim) -> list[str]:
    """The client_order_ids of the day's entry orders at the broker (not the OCO re-protections)."""
    return sorted(o["client_order_id"] for o in broker_orders(sim)
                  if o["client_order_id"].startswith("pt-20251231-") and "-oco-" not in o["client_order_id"])


def approved_ids(project) -> list[str]:
    approved = pd.read_csv(project / "data" / "outputs" / "approved_orders_20251231.csv")
    return sorted(f"pt-20251231-{r.symbol}-{r.side}-r1" for r in approved.itertuples())


def test_a_dry_day_writes_every_steps_outputs_and_sends_nothing(fast, sim, broker):
    day = steps.run_day(DAY, mode="dry", root=fast, broker=broker, signal_mode="select", pick="drl")
    assert broker_orders(sim) == []
    missing = [p for p in OUTPUTS if not (fast / p).is_file()]
    assert missing == []
    log = pd.read_csv(fast / "data" / "outputs" / "execution_log.csv")
    assert set(log["status"]) == {"dry_run"} and len(log) == len(approved_ids(fast)) > 0
    assert day["books"] == "made" and day["run_id"].startswith("cli-")
    assert [line["step"] for line in day["lines"]] == ["signals", "signal_bus", "plan", "risk", "execute", "fills",
                                                       "close", "reconcile", "report"]
    assert set(pd.read_parquet(fast / OUTPUTS[0])["strategy_set_id"]) == {"drl"}  # the override reached M1
    approved = pd.read_csv(fast / "data" / "outputs" / "approved_orders_20251231.csv")
    assert set(approved["run_id"]) == {day["run_id"]}  # one run id for every step


def test_a_real_day_sends_exactly_the_approved_orders_reconciles_and_reports(fast, sim, broker):
    day = steps.run_day(DAY, mode="real", root=fast, broker=broker, run_id="cli-test")
    assert entries(sim) == approved_ids(fast) != []
    recon = pd.read_csv(fast / "data" / "outputs" / "recon_report_20251231.csv")
    assert set(recon.loc[recon["kind"] == "order", "classification"]) == {"filled"}
    assert (fast / "data" / "reports" / "summary_dashboard_20251231.html").is_file()
    assert day["books"] == "made" and day["steps"]["report"]["sessions"] == 1


def test_running_a_real_day_twice_sends_nothing_twice_and_gives_the_same_outputs(fast, sim, broker):
    steps.run_day(DAY, mode="real", root=fast, broker=broker, run_id="cli-first")
    at_broker = sorted(o["id"] for o in broker_orders(sim))
    # the books, the reports, and the plan and the gate (round 1 was traded by the first run: kept)
    books = {p: (fast / p).read_bytes() for p in OUTPUTS if p.rsplit("/", 1)[1].startswith((
        "recon_report", "positions_eod", "filled_orders", "cash_ledger", "pnl_daily", "risk_snapshot", "metrics",
        "rebalance_plan", "planned_orders", "plan_summary", "risk_report", "approved_orders"))}
    assert len(books) == 12
    log = pd.read_csv(fast / "data" / "outputs" / "execution_log.csv")
    second = steps.run_day(DAY, mode="real", root=fast, broker=broker, run_id="cli-second")
    assert sorted(o["id"] for o in broker_orders(sim)) == at_broker  # nothing sent, cancelled or re-protected
    assert {p: (fast / p).read_bytes() for p in books} == books  # the same files, rewritten
    again = pd.read_csv(fast / "data" / "outputs" / "execution_log.csv")
    assert sorted(again["client_order_id"]) == sorted(log["client_order_id"])
    assert second["steps"]["execute"]["traded_by"] == "cli-first" and second["books"] == "made"


def test_a_non_session_date_does_nothing(fast, sim):
    before = sorted(p.relative_to(fast) for p in fast.rglob("*"))
    day = steps.run_day(dt.date(2026, 1, 1), mode="real", root=fast, broker=lambda: pytest.fail("broker used"))
    assert day["session"] is False and day["lines"][0]["did"] == "2026-01-01 is not an XNYS session: nothing to do"
    assert sorted(p.relative_to(fast) for p in fast.rglob("*")) == before
    assert broker_orders(sim) == []


def test_signals_not_ready_exit_75_naming_what_is_missing(fast, capsys):
    assert main(["run", "--date", "2026-01-02", "--mode", "real", "--root", str(fast)]) == 75
    err = capsys.readouterr().err
    assert err.startswith("error: signals for 2026-01-02 not ready: drl (") and "no rows for 2026-01-02" in err
    assert "run the same command again later" in err
    assert not (fast / "data" / "intermediate").exists()


def test_signals_not_ready_raises_for_library_callers(fast):
    with pytest.raises(SignalsNotReady, match="not ready"):
        steps.run_day(dt.date(2026, 1, 2), mode="dry", root=fast, broker=lambda: pytest.fail("broker used"))


def test_real_mode_with_the_market_closed_exits_non_zero_naming_market_closed_now(fast, sim, apca_env, capsys):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T22:00:00Z"})  # 17:00 New York: the session is over
    assert main(["run", "--date", "2025-12-31", "--mode", "real", "--root", str(fast)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the gate's warnings and its alert
    assert err.startswith("error: the risk gate refused to trade 2025-12-31 in real mode: market_closed_now")
    assert broker_orders(sim) == []
    assert not (fast / "data" / "outputs" / "execution_log.csv").exists()


def test_the_gate_refusal_is_trading_refused_for_library_callers(fast, sim, broker):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T22:00:00Z"})
    with pytest.raises(TradingRefused, match="market_closed_now"):
        steps.run_day(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == []


def test_real_mode_refuses_when_a_person_must_approve_the_orders(fast, sim, broker):
    config = fast / "config" / "config.yaml"
    config.write_text(config.read_text().replace("require_approval: false", "require_approval: true"))
    with pytest.raises(TradingRefused, match="execution.require_approval is true"):
        steps.run_day(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == []


def test_before_the_reconcile_time_the_day_sleeps_until_it_then_makes_the_books(fast, sim, broker):
    clock = Clock(dt.datetime(2025, 12, 31, 14, 50, tzinfo=dt.UTC))  # 09:50 New York
    day = steps.run_day(DAY, mode="dry", root=fast, broker=broker, now=clock.now, sleep=clock.sleep)
    assert clock.at == BOOKS_AT and max(clock.slept) <= 300
    assert day["books"] == "made" and (fast / "data" / "outputs" / "recon_report_20251231.csv").is_file()
    assert "waiting until 2025-12-31 16:15 New York" in next(x["did"] for x in day["lines"] if x["step"] == "close")


def test_no_wait_before_the_reconcile_time_makes_no_books_and_says_when(fast, sim, broker):
    clock = Clock(dt.datetime(2025, 12, 31, 14, 50, tzinfo=dt.UTC))
    day = steps.run_day(DAY, mode="real", root=fast, broker=broker, now=clock.now, sleep=clock.sleep, wait=False)
    assert entries(sim) == approved_ids(fast) != []  # the trading part is done
    assert clock.slept == [] and day["books"] == "deferred"
    assert not (fast / "data" / "outputs" / "recon_report_20251231.csv").exists()
    assert not (fast / "data" / "reports").exists()
    assert "run `reconcile --date 2025-12-31 --mode real` and `report --date 2025-12-31`" in day["lines"][-1]["did"]


def test_the_cli_runs_a_real_day_and_prints_one_line_per_step(fast, sim, apca_env):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})  # 09:45 New York: the market is open
    env = {k: v for k, v in os.environ.items() if k != "PAPER_TRADING_ROOT"} | apca_env
    result = subprocess.run([sys.executable, "-m", "paper_trading", "run", "--date", "2025-12-31", "--mode", "real",
                             "--signal-mode", "blend", "--blend", "drl=0.6,equal=0.4", "--root", str(fast)],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["signals", "signal_bus", "plan", "risk", "execute", "fills",
                                                   "close", "reconcile", "report"]
    assert "drl=0.6+equal=0.4 (blend)  -> data/intermediate/targets_consolidated_20251231.parquet" in lines[1]
    assert lines[-1].endswith("data/reports/summary_dashboard_20251231.html")
    assert entries(sim) == approved_ids(fast) != []
