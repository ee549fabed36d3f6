"""M4 against the simulator over real HTTP: the orders at the broker are exactly the approved
orders — none twice, none missing — whatever the broker answers, and the ledger and
execution_log.csv agree with the broker."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import requests

from paper_trading import steps
from paper_trading.broker.types import OrderRequest
from paper_trading.errors import OutcomeUnknown, TradingRefused
from paper_trading.ledger import Ledger, ledger_url

DAY = dt.date(2025, 12, 31)
OPEN = "2025-12-31T14:45:00Z"  # 09:45 New York


@pytest.fixture
def fast(project):
    """Short waits: the simulator fills on the next read while the market is open."""
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("poll_interval_s: 1", "poll_interval_s: 0.05")
                      .replace("lock_wait_s: 60", "lock_wait_s: 8").replace("lock_lease_s: 180", "lock_lease_s: 3")
                      .replace("max_backoff_s: 60", "max_backoff_s: 0.2"))
    return project


def gate(project, broker, mode="real", run_id="cli", pick="drl", round_no=1):
    steps.consolidate_signals(DAY, root=project, mode="select", pick=pick, run_id=run_id)
    steps.plan_rebalance(DAY, root=project, broker=broker, run_id=run_id, round_no=round_no)
    return steps.check_risk(DAY, mode=mode, root=project, broker=broker, run_id=run_id, round_no=round_no)


def broker_orders(sim) -> list[dict]:
    got = requests.get(f"{sim.url}/v2/orders", params={"status": "all", "limit": 500, "nested": "true"},
                       headers=sim.headers, timeout=10)
    got.raise_for_status()
    return got.json()


def approved(project) -> pd.DataFrame:
    return pd.read_csv(project / "data" / "outputs" / "approved_orders_20251231.csv")


def ledger(project) -> Ledger:
    return Ledger(ledger_url(project))


def assert_exactly_the_approved_orders(project, sim, round_no=1):
    """None twice, none missing; the ledger and the CSV say what the broker has."""
    entries = [o for o in broker_orders(sim) if o["client_order_id"].startswith("pt-20251231-")
               and o["client_order_id"].endswith(f"-r{round_no}") and "-oco-" not in o["client_order_id"]]
    ids = [o["client_order_id"] for o in entries]
    assert len(ids) == len(set(ids))
    wanted = {f"pt-20251231-{r.symbol}-{r.side}-r{round_no}" for r in approved(project).itertuples()}
    assert set(ids) == wanted
    with ledger(project) as book:
        rows = {r["client_order_id"]: r for r in book.orders(DAY, mode="real")}
    for order in entries:
        assert rows[order["client_order_id"]]["broker_order_id"] == order["id"]
    log = pd.read_csv(project / "data" / "outputs" / "execution_log.csv")
    assert log["client_order_id"].is_unique
    assert set(wanted) <= set(log["client_order_id"])


def test_T4_real_mode_sends_exactly_the_approved_orders_as_brackets(fast, sim, broker):
    gate(fast, broker)
    summary = steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert summary["orders"] == len(approved(fast)) > 0
    assert_exactly_the_approved_orders(fast, sim)
    entries = broker_orders(sim)
    assert {o["order_class"] for o in entries} == {"bracket"}
    assert all(len(o["legs"]) == 2 for o in entries)
    with ledger(fast) as book:
        legs = [r for r in book.orders(DAY) if r["parent_client_order_id"]]
    assert len(legs) == 2 * len(entries)


def test_a_second_run_sends_nothing_and_adds_no_row(fast, sim, broker):
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    first = broker_orders(sim)
    log_before = (fast / "data" / "outputs" / "execution_log.csv").read_text().splitlines()
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert [o["id"] for o in broker_orders(sim)] == [o["id"] for o in first]
    assert len((fast / "data" / "outputs" / "execution_log.csv").read_text().splitlines()) == len(log_before)
    assert_exactly_the_approved_orders(fast, sim)


def test_dry_mode_records_every_order_and_sends_none(fast, sim, broker):
    gate(fast, broker, mode="dry")
    summary = steps.execute_orders(DAY, mode="dry", root=fast, broker=broker)
    assert broker_orders(sim) == []
    assert summary["counts"] == {"dry_run": len(approved(fast))}
    log = pd.read_csv(fast / "data" / "outputs" / "execution_log.csv")
    assert set(log["status"]) == {"dry_run"} and set(log["mode"]) == {"dry"}
    assert log["client_order_id"].str.startswith("dry-20251231-").all()


def test_real_execution_refuses_the_approvals_of_a_dry_gate(fast, sim, broker):
    gate(fast, broker, mode="dry")
    with pytest.raises(TradingRefused, match="approved by a dry-mode gate"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == []


def test_real_execution_refuses_the_approvals_of_another_run(fast, sim, broker):
    gate(fast, broker, run_id="manual__1")
    with pytest.raises(TradingRefused, match="no risk gate run 'scheduled__2'"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker, run_id="scheduled__2")
    assert broker_orders(sim) == []


def test_real_execution_refuses_an_approved_file_changed_after_the_gate(fast, sim, broker):
    gate(fast, broker)
    path = fast / "data" / "outputs" / "approved_orders_20251231.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n")  # only the first order left
    with pytest.raises(TradingRefused, match="not the one the real-mode gate of run 'cli' wrote"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == []


def test_T3_market_closed_at_execution_refuses_and_alerts(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T21:30:00Z"})  # after the close (T3)
    with pytest.raises(TradingRefused, match="market_closed_now"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert broker_orders(sim) == []
    assert "real execution refused to trade: market_closed_now" in (fast / "logs" / "alerts.log").read_text()


@pytest.mark.parametrize("fault", [
    {"kind": "ambiguous", "status": 504},
    {"kind": "ambiguous", "status": 500},
    {"kind": "ambiguous", "drop": True},
    {"kind": "error", "status": 429},
    {"kind": "error", "status": 503},
], ids=["504-after-accepting", "500-after-accepting", "dropped-after-accepting", "429", "503"])
def test_faults_on_submit_never_duplicate_or_lose_an_order(fast, sim, broker, fault):
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {**fault, "method": "POST", "path": "/v2/orders", "times": 3})
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)


def test_a_burst_of_5xx_on_reads_is_ridden_out(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "error", "status": 503, "method": "GET", "path": "/v2/orders*",
                                      "times": 2})
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)


def test_an_outcome_still_unknown_raises_a_transient_error_and_a_rerun_finishes(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "error", "status": 503, "method": "POST", "path": "/v2/orders"})
    with pytest.raises(OutcomeUnknown, match="run again: nothing is sent twice"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    sim.admin("DELETE", "/sim/faults")
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)


def test_sells_go_first_and_the_legs_holding_the_shares_are_cancelled(fast, sim, broker):
    # yesterday's bracket on a name that leaves the targets: its legs hold the shares
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    broker.submit_order(OrderRequest(symbol="SPY", side="buy", qty=10, client_order_id="pt-20251230-SPY-buy-r1",
                                     time_in_force="gtc", take_profit=800, stop_loss=500))
    broker.positions()
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    orders = approved(fast)
    assert ("SPY", "sell") in set(zip(orders["symbol"], orders["side"]))
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)
    spy = [o for o in broker_orders(sim) if o["client_order_id"] == "pt-20251231-SPY-sell-r1"][0]
    assert spy["status"] == "filled"
    old = [o for o in broker_orders(sim) if o["client_order_id"] == "pt-20251230-SPY-buy-r1"][0]
    assert {leg["status"] for leg in old["legs"]} == {"canceled"}
    assert not [p for p in broker.positions() if p.symbol == "SPY"]


def cli_execute(project, sim, *extra: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "APCA_API_KEY_ID": sim.key, "APCA_API_SECRET_KEY": sim.secret, "APCA_API_BASE_URL": sim.url,
           "APCA_API_DATA_URL": sim.url}
    env.pop("PAPER_TRADING_ROOT", None)
    return subprocess.Popen([sys.executable, "-m", "paper_trading", "execute", "--date", "2025-12-31", "--mode", "real",
                             "--root", str(project), *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_a_runner_killed_mid_batch_and_run_again_sends_each_order_once(fast, sim, broker):
    import signal
    import time

    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "latency", "seconds": 0.15, "method": "POST", "path": "/v2/orders"})
    runner = cli_execute(fast, sim)
    deadline = time.monotonic() + 30
    while len(broker_orders(sim)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=30)
    sent_before = len(broker_orders(sim))
    assert 0 < sent_before < len(approved(fast))  # killed in the middle of the batch
    sim.admin("DELETE", "/sim/faults")
    again = cli_execute(fast, sim)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert_exactly_the_approved_orders(fast, sim)


def test_the_orders_of_a_phase_are_journaled_before_its_first_post(fast, sim, broker, monkeypatch):
    """One transaction journals a phase's orders `submitting` before the first of them is sent (not
    one per order): from then on each row says "look it up first", which a killed runner's next run
    does (the test above)."""
    gate(fast, broker)
    orders = approved(fast)
    first_side = "sell" if (orders["side"] == "sell").any() else "buy"
    phase = {f"pt-20251231-{r.symbol}-{r.side}-r1" for r in orders.itertuples() if r.side == first_side}
    at_first_post: list[dict] = []
    submit = broker.submit_order

    def looking(order):
        if not at_first_post:
            with ledger(fast) as book:
                at_first_post.append({r["client_order_id"]: r["status"] for r in book.orders(DAY, mode="real")})
        return submit(order)

    monkeypatch.setattr(broker, "submit_order", looking)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert phase and {cid for cid, status in at_first_post[0].items() if status == "submitting"} == phase
    assert_exactly_the_approved_orders(fast, sim)


def test_an_order_whose_answer_was_lost_is_looked_up_first_and_recorded_as_the_broker_has_it(
        fast, sim, broker, monkeypatch):
    """An id the ledger journaled without an answer (`unknown`), missed by the opening listing, is
    looked up before anything is written or sent: recorded as the broker has it, not journaled
    `submitting` and not sent again; the run ends with every outcome known."""
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    first = broker_orders(sim)
    with ledger(fast) as book:
        row = next(r for r in book.orders(DAY, mode="real") if r["side"] == "buy" and not r["parent_client_order_id"])
        book.upsert_orders([{**row, "status": "unknown", "broker_order_id": None, "filled_qty": None}])
    monkeypatch.setattr(broker, "list_orders", lambda *args, **kwargs: [])  # the listing misses it
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)  # no OutcomeUnknown: all known
    assert [o["id"] for o in broker_orders(sim)] == [o["id"] for o in first]
    with ledger(fast) as book:
        again = {r["client_order_id"]: r for r in book.orders(DAY, mode="real")}[row["client_order_id"]]
    at_broker = next(o for o in first if o["client_order_id"] == row["client_order_id"])
    assert (again["status"], again["broker_order_id"]) == (at_broker["status"], at_broker["id"])


def test_two_runs_of_one_date_at_once_send_each_order_once(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "latency", "seconds": 0.05, "method": "POST", "path": "/v2/orders"})
    first, second = cli_execute(fast, sim), cli_execute(fast, sim)
    results = [(p.wait(timeout=120), p.stderr.read()) for p in (first, second)]
    assert {code for code, _ in results} <= {0, 75}, results
    assert 0 in {code for code, _ in results}
    busy = [err for code, err in results if code == 75]
    assert all("ledger lock 'execute:real:20251231' is held by run 'cli'" in err for err in busy) or not busy
    assert_exactly_the_approved_orders(fast, sim)


def test_buys_are_scaled_down_when_cash_is_short_and_say_why(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/reset", {"cash": "50000", "clock": OPEN})  # half the cash the plan assumed
    summary = steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert summary["counts"].get("filled", 0) > 0
    with ledger(fast) as book:
        rows = [r for r in book.orders(DAY, mode="real") if not r["parent_client_order_id"] and r["side"] == "buy"]
    scaled = [r for r in rows if r["reason"] and r["reason"].startswith("scaled for cash: planned")]
    assert scaled and all(r["qty"] <= r["planned_qty"] for r in rows)
    assert float(broker.account().cash) >= 0


def test_a_new_round_trades_again_and_an_old_rounds_ids_are_final(fast, sim, broker):
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    with pytest.raises(TradingRefused, match="executed in round 1 already; for round 2 run plan and risk again"):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker, round_no=2)
    gate(fast, broker, run_id="round-2", pick="ml", round_no=2)  # a new plan and gate: another strategy's targets
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker, round_no=2, run_id="round-2")
    ids = [o["client_order_id"] for o in broker_orders(sim)]
    assert len(ids) == len(set(ids))
    assert any(i.endswith("-r2") for i in ids) and any(i.endswith("-r1") for i in ids)


def test_a_reduced_position_keeps_one_take_profit_stop_loss_pair(fast, sim, broker):
    """Yesterday's bracket on a name whose target shrinks: its legs are cancelled, the sell goes
    through, and the rest of the position gets one OCO over its whole quantity."""
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    price = float(broker.latest_prices(["AAPL"])[0]["AAPL"].price)
    broker.submit_order(OrderRequest(symbol="AAPL", side="buy", qty=200, client_order_id="pt-20251230-AAPL-buy-r1",
                                     time_in_force="gtc", take_profit=round(price * 1.5, 2),
                                     stop_loss=round(price * 0.5, 2)))
    broker.positions()
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    orders = approved(fast).set_index("symbol")
    assert orders.loc["AAPL", "side"] == "sell"
    summary = steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert "AAPL" in summary["reprotected"]
    held = {p.symbol: float(p.qty) for p in broker.positions()}
    live = [o for o in broker_orders(sim) if o["symbol"] == "AAPL" and o["status"] in ("new", "held", "accepted")]
    pairs = [o for o in live if o["order_class"] == "oco" and o["side"] == "sell"]
    assert len(pairs) == 1 and float(pairs[0]["qty"]) == held["AAPL"]


def test_a_runner_that_dies_after_sending_a_reprotection_records_it_with_its_legs_when_run_again(
        fast, sim, broker, monkeypatch):
    """The OCO re-protection reached the broker, its answer never reached the ledger (the runner
    died in between): the run again finds it working, sends no second one, and records it — its
    broker id and its legs — so the ledger equals the broker."""
    from paper_trading.execution import Executor

    class Died(BaseException):
        pass

    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    price = float(broker.latest_prices(["AAPL"])[0]["AAPL"].price)
    broker.submit_order(OrderRequest(symbol="AAPL", side="buy", qty=200, client_order_id="pt-20251230-AAPL-buy-r1",
                                     time_in_force="gtc", take_profit=round(price * 1.5, 2),
                                     stop_loss=round(price * 0.5, 2)))
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    record = Executor._record

    def dies_after_the_oco_is_sent(self, intent, info=None):
        if intent.form == "oco" and info is not None:
            raise Died("killed between the POST of the re-protection and its record")
        return record(self, intent, info)

    monkeypatch.setattr(Executor, "_record", dies_after_the_oco_is_sent)
    with pytest.raises(Died):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    monkeypatch.setattr(Executor, "_record", record)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)

    ocos = [o for o in broker_orders(sim) if o["client_order_id"] == "pt-20251231-AAPL-oco-r1"]
    assert len(ocos) == 1 and len(ocos[0]["legs"]) == 1
    with ledger(fast) as book:
        by_broker_id = {r["broker_order_id"]: r for r in book.orders(DAY, mode="real")}
    for order in (ocos[0], *ocos[0]["legs"]):
        assert by_broker_id[order["id"]]["status"] == order["status"]


def test_execution_on_a_postgresql_ledger_sends_each_order_once(fast, sim, broker, postgres_ledger):
    gate(fast, broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert not (fast / "data" / "ledger.sqlite").exists()
    assert_exactly_the_approved_orders(fast, sim)


def test_a_read_hanging_past_the_timeout_is_retried_and_nothing_is_duplicated(fast, sim, broker):
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "hang", "seconds": 3, "method": "GET",
                                      "path": "/v2/orders:by_client_order_id", "times": 2})
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert_exactly_the_approved_orders(fast, sim)


def test_a_buy_without_a_price_at_execution_is_not_sent_and_says_why(fast, sim, broker, tmp_path):
    from tests.conftest import BARS

    gate(fast, broker)
    symbol = approved(fast).query("side == 'buy'")["symbol"].iloc[0]
    bars = pd.read_csv(BARS)
    without = tmp_path / "bars.csv"
    bars[bars["symbol"] != symbol].to_csv(without, index=False)
    sim.admin("POST", "/sim/bars", {"path": str(without), "replace": True})
    try:
        summary = steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    finally:
        sim.admin("POST", "/sim/bars", {"path": str(BARS), "replace": True})
    assert summary["counts"]["not_sent"] == 1
    with ledger(fast) as book:
        row = book.order(f"pt-20251231-{symbol}-buy-r1")
    assert row["status"] == "not_sent" and row["reason"] == "no price now for the symbol: not sent"
    assert f"pt-20251231-{symbol}-buy-r1" not in {o["client_order_id"] for o in broker_orders(sim)}


def test_a_sell_is_capped_to_what_is_held_now_and_never_opens_a_short(fast, sim, broker):
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    broker.submit_order(OrderRequest(symbol="SPY", side="buy", qty=50, client_order_id="seed-spy"))
    broker.positions()
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    assert approved(fast).set_index("symbol").loc["SPY", "qty"] == 50
    broker.submit_order(OrderRequest(symbol="SPY", side="sell", qty=30, client_order_id="manual-sell"))  # after the plan
    broker.positions()
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    with ledger(fast) as book:
        row = book.order("pt-20251231-SPY-sell-r1")
    assert (row["qty"], row["planned_qty"], row["reason"]) == (20, 50, "capped to the 20 held now (planned 50)")
    assert "SPY" not in {p.symbol for p in broker.positions()}


def test_a_held_name_whose_buy_is_not_sent_keeps_its_protection(fast, sim, broker):
    """Per lot, an increase leaves the name's exits working; when the buy then cannot go (no cash
    left), the position ends the run with the bracket legs it had, untouched."""
    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    price = float(broker.latest_prices(["AAPL"])[0]["AAPL"].price)
    broker.submit_order(OrderRequest(symbol="AAPL", side="buy", qty=10, client_order_id="pt-20251230-AAPL-buy-r1",
                                     time_in_force="gtc", take_profit=round(price * 1.5, 2),
                                     stop_loss=round(price * 0.5, 2)))
    broker.positions()
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    assert approved(fast).set_index("symbol").loc["AAPL", "side"] == "buy"
    spy = float(broker.latest_prices(["SPY"])[0]["SPY"].price)  # the cash goes elsewhere after the plan
    broker.submit_order(OrderRequest(symbol="SPY", side="buy", qty=int(float(broker.account().cash) * 0.97 // spy),
                                     client_order_id="manual-spy"))
    broker.positions()
    summary = steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    with ledger(fast) as book:
        assert book.order("pt-20251231-AAPL-buy-r1")["status"] == "not_sent"
    assert summary["cancelled"] == 0
    [lot] = [o for o in broker_orders(sim) if o["client_order_id"] == "pt-20251230-AAPL-buy-r1"]
    assert sorted((leg["status"], float(leg["qty"])) for leg in lot["legs"]) == [("held", 10.0), ("new", 10.0)]
    assert not [o for o in broker_orders(sim) if o["symbol"] == "AAPL" and o["order_class"] == "oco"]


def test_a_refusal_carries_the_http_status_and_alpacas_code_into_execution_log(fast, sim, broker, monkeypatch):
    """The spec (§M4 2.5: each request and its response): execution_log.csv's `error` is the
    broker's answer, `403 40310000: insufficient qty available ...`."""
    from paper_trading.errors import OrderRejected

    sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": "2025-12-30T15:00:00Z"})
    price = float(broker.latest_prices(["SPY"])[0]["SPY"].price)
    broker.submit_order(OrderRequest(symbol="SPY", side="buy", qty=10, client_order_id="by-hand-bracket",
                                     time_in_force="gtc", take_profit=round(price * 1.5, 2),
                                     stop_loss=round(price * 0.5, 2)))
    with pytest.raises(OrderRejected) as refused:
        broker.submit_order(OrderRequest(symbol="SPY", side="sell", qty=10, client_order_id="by-hand-sell"))
    assert str(refused.value).endswith(": 403 40310000: insufficient qty available for order (requested: 10, "
                                       "available: 0)")
    sim.admin("POST", "/sim/clock", {"to": OPEN})
    gate(fast, broker)
    monkeypatch.setattr("paper_trading.execution.Executor._cancel_conflicts", lambda self, symbols: ([], set()))
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)  # the legs still hold SPY: the sell is refused
    log = pd.read_csv(fast / "data" / "outputs" / "execution_log.csv").set_index("client_order_id")
    assert log.loc["pt-20251231-SPY-sell-r1", "status"] == "rejected"
    assert "403 40310000: insufficient qty available for order (requested: 10, available: 0)" in \
        log.loc["pt-20251231-SPY-sell-r1", "error"]


def test_a_refusal_is_in_the_ledger_before_anything_else_so_a_runner_killed_next_never_sends_it_again(
        fast, sim, broker, monkeypatch):
    """The broker keeps nothing of an order it refused: the ledger's `rejected` is the only record that
    it must not be sent again in the round, so it is written at once, not with the next order's."""
    from paper_trading.execution import Executor

    class Died(BaseException):
        pass

    gate(fast, broker)
    buys = approved(fast).query("side == 'buy'")["symbol"].tolist()
    assert len(buys) >= 2
    sim.admin("POST", "/sim/faults", {"kind": "error", "status": 422, "method": "POST", "path": "/v2/orders",
                                      "times": 1})
    place = Executor._place
    placed: list[str] = []

    def dies_on_the_second_order(self, intent, request, **kwargs):
        if placed:
            raise Died("killed before the second order")
        placed.append(intent.cid)
        return place(self, intent, request, **kwargs)

    monkeypatch.setattr(Executor, "_place", dies_on_the_second_order)
    monkeypatch.setattr(Executor, "_finish", lambda self, quietly=False, flush=True: None)  # a kill cleans nothing up
    with pytest.raises(Died):
        steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    sim.admin("DELETE", "/sim/faults")
    with ledger(fast) as book:
        assert book.order(placed[0])["status"] == "rejected"
