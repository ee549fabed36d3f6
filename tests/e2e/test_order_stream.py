"""Order updates by stream (issue 26 §1): execution and order sync take the final state of a
cancelled or finished order from Alpaca's `trade_updates` stream instead of reading it back, and
nothing changes in the books, the ledger or what is sent; with the stream off or refused, the same
orders are read back over REST, as before."""

from __future__ import annotations

import datetime as dt
import shutil
from collections import Counter
from pathlib import Path

import pytest

import paper_trading.broker.alpaca as broker_module
from paper_trading import steps
from paper_trading.steps.replay import replay
from tests.conftest import BARS, REPO
from tests.e2e.test_execute import DAY, fast, gate  # noqa: F401 - fast is a fixture
from tests.e2e.test_protection import assert_covered_exactly, held_book
from tests.e2e.test_replay import BOOKS, ledger_rows

START, END = dt.date(2025, 12, 1), dt.date(2025, 12, 3)  # three sessions: exits placed, then cancelled


def requests_by_route(monkeypatch) -> Counter:
    """Every request the adapter sends, by method and path (order ids folded)."""
    routes: Counter = Counter()
    original = broker_module._TimeoutAdapter.send

    def counted(self, request, **kwargs):
        path = request.path_url.partition("?")[0]
        parts = path.split("/")
        if len(parts) > 3 and parts[2] == "orders":
            parts[3] = "{id}"
        routes[f"{request.method} {'/'.join(parts)}"] += 1
        return original(self, request, **kwargs)

    monkeypatch.setattr(broker_module._TimeoutAdapter, "send", counted)
    return routes


def replayed(base: Path, stream: bool, monkeypatch) -> tuple[list, Counter]:
    root = base / ("with-stream" if stream else "without") / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, root / part)
    if not stream:
        config = root / "config" / "config.yaml"
        config.write_text(config.read_text().replace("trade_updates: true", "trade_updates: false"))
    with monkeypatch.context() as m:
        routes = requests_by_route(m)
        result = replay(START, END, mode="real", root=root, bars=BARS)
    workspace = Path(result["workspace"])
    return [ledger_rows(workspace, q) for q in BOOKS], routes


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("stream")
    try:
        return replayed(base, True, monkeypatch), replayed(base, False, monkeypatch)
    finally:
        monkeypatch.undo()


def test_a_replay_hearing_its_orders_keeps_the_same_books_and_ledger_as_one_reading_them(both):
    (books, _), (books_without, _) = both
    assert books[0] and books[-1]  # equity and the orders: there were books to compare
    assert books == books_without


def test_a_replay_hearing_its_orders_sends_the_same_orders_and_cancels(both):
    (_, routes), (_, without) = both
    for route in ("POST /v2/orders", "DELETE /v2/orders/{id}"):
        assert routes[route] == without[route] > 0


def test_a_replay_hearing_its_orders_reads_none_back(both):
    (_, routes), (_, without) = both
    assert without["GET /v2/orders/{id}"] > 0  # without the stream: each cancelled group read back
    assert routes["GET /v2/orders/{id}"] == 0


def count_reads(broker, monkeypatch) -> list:
    reads = []
    original = broker.get_order
    monkeypatch.setattr(broker, "get_order", lambda order_id: reads.append(order_id) or original(order_id))
    return reads


def test_with_the_stream_refused_the_cancelled_exits_are_read_back_and_the_day_ends_covered(
        fast, sim, broker, monkeypatch):
    held_book(sim, broker)
    gate(fast, broker)
    sim.admin("POST", "/sim/faults", {"kind": "error", "method": "GET", "path": "/stream"})
    reads = count_reads(broker, monkeypatch)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    sim.admin("DELETE", "/sim/faults")
    assert reads  # the groups it cancelled (AAPL's two lots, SPY's) were read back
    assert_covered_exactly(sim, broker)


def test_with_the_stream_the_cancelled_exits_are_heard_not_read(fast, sim, broker, monkeypatch):
    held_book(sim, broker)
    gate(fast, broker)
    reads = count_reads(broker, monkeypatch)
    steps.execute_orders(DAY, mode="real", root=fast, broker=broker)
    assert reads == []
    assert_covered_exactly(sim, broker)
    assert broker.final_states([]) == {}  # the run stopped the stream it started
