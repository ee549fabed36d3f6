"""`python -m alpaca_sim orders`: what a simulator received, read from its database file by a
person who does not have its random keys, while it runs."""

from __future__ import annotations

import json
import subprocess
import sys

import requests


def orders_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "alpaca_sim", "orders", *args], capture_output=True, text=True,
                          timeout=60)


def send(sim, cid: str, symbol: str = "AAPL", **extra) -> dict:
    body = {"symbol": symbol, "qty": "2", "side": "buy", "type": "market", "time_in_force": "day",
            "client_order_id": cid, **extra}
    answer = requests.post(f"{sim.url}/v2/orders", headers=sim.headers, json=body, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_orders_of_a_running_simulator_are_listed_with_their_legs_and_new_york_times(sim):
    send(sim, "pt-20251231-AAPL-buy-r1")
    send(sim, "pt-20251231-KO-buy-r1", symbol="KO", order_class="bracket", take_profit={"limit_price": "999"},
         stop_loss={"stop_price": "1"})
    listed = orders_cli("--db", str(sim.db))
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("submitted (New York)  client_order_id")
    assert "pt-20251231-AAPL-buy-r1" in lines[1] and "filled" in lines[1]
    legs = [line for line in lines if line.rstrip().endswith("pt-20251231-KO-buy-r1")]
    assert len(legs) == 2  # the bracket's take-profit and stop-loss, each naming its parent
    assert lines[1].startswith("2025-12-30 10:00:00")  # the simulator's clock, in New York


def test_the_listing_filters_by_status_and_symbol_and_speaks_json(sim):
    send(sim, "pt-a")
    send(sim, "pt-b", symbol="KO", type="limit", limit_price="1.00")
    open_ko = orders_cli("--db", str(sim.db), "--status", "open", "--symbol", "ko", "--json")
    docs = [json.loads(line) for line in open_ko.stdout.splitlines()]
    assert [(d["client_order_id"], d["status"]) for d in docs] == [("pt-b", "new")]
    assert all(not k.startswith("_") for d in docs for k in d)


def test_a_missing_database_is_one_line_on_stderr_and_a_failure(tmp_path):
    result = orders_cli("--db", str(tmp_path / "nope.sqlite"))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.sqlite'}: no simulator database here "
                                                  "(make airflow uses data/sim/airflow.sqlite)"]
