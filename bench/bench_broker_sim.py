"""Throughput of the Alpaca simulator through alpaca-py: order submissions and snapshot reads per second.

    python bench/bench_broker_sim.py [--orders 500] [--runs 3] [--no-readme]

One client, one thread, loopback HTTP, the simulator in its own process (as in tests and the
demo). Variants, in the same run:

- baseline: alpaca-py `get_clock()` — the floor of one authenticated round trip through
  alpaca-py, HTTP and the simulator's middleware, with almost no work behind it;
- alpaca-py `submit_order()` of market orders that fill at once (the full order path: validation,
  SQLite transaction, matching, activity);
- `paper_trading.broker.alpaca.AlpacaBroker.submit_order()` (the adapter: timeout adapter, pacing off);
- alpaca-py `get_stock_snapshot()` of 2 symbols.

Each variant's rate is the median over `--runs`; every order is checked to exist and be filled.
The target (issue 3): >= 200 orders/s, so the simulator is never what makes a replay slow
(Alpaca itself allows 200 requests per *minute*).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
START, END = "<!-- sim-results:start -->", "<!-- sim-results:end -->"
TARGET_ORDERS_PER_S = 200


def machine() -> str:
    from benchlib import cpu_model

    cpu = cpu_model()
    import os

    import alpaca
    import fastapi
    import uvicorn

    mem = ""
    try:
        kb = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; Python {platform.python_version()}, "
        f"alpaca-py {alpaca.__version__ if hasattr(alpaca, '__version__') else '0.44.0'}, "
        f"fastapi {fastapi.__version__}, uvicorn {uvicorn.__version__}"
    )


def rate(n: int, call) -> float:
    start = time.perf_counter()
    for i in range(n):
        call(i)
    return n / (time.perf_counter() - start)


def run(orders: int, runs: int) -> list[tuple[str, float, str]]:
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockSnapshotRequest
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import OrderSide, TimeInForce
    from alpaca.trading.requests import MarketOrderRequest

    from alpaca_sim.server import SimServer
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.broker.types import OrderRequest

    results: dict[str, list[float]] = {"clock": [], "alpaca-py": [], "adapter": [], "snapshot": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimServer(
            Path(tmp) / "bench.db", bars=REPO / "data/market/daily_bars.csv", clock="2025-12-30T15:00:00Z"
        ) as sim,
    ):
        trading = TradingClient(sim.key, sim.secret, url_override=sim.url)
        data = StockHistoricalDataClient(sim.key, sim.secret, url_override=sim.url)
        adapter = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=10**9)
        sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 10**9})
        rate(200, lambda i: trading.get_clock())  # warm up: connections, the server's calendar caches
        for r in range(runs):
            sim.admin("POST", "/sim/reset", {"cash": "1000000000", "clock": "2025-12-30T15:00:00Z"})
            sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 10**9})
            results["clock"].append(rate(orders, lambda i: trading.get_clock()))
            results["alpaca-py"].append(
                rate(
                    orders,
                    lambda i: trading.submit_order(
                        MarketOrderRequest(
                            symbol="AAPL",
                            qty=1,
                            side=OrderSide.BUY,
                            time_in_force=TimeInForce.DAY,
                            client_order_id=f"a{r}-{i}",  # noqa: B023 - rate() calls it within this iteration
                        )
                    ),
                )
            )
            results["adapter"].append(
                rate(
                    orders,
                    lambda i: adapter.submit_order(
                        OrderRequest(
                            symbol="MSFT",
                            side="buy",
                            qty=Decimal(1),
                            client_order_id=f"b{r}-{i}",  # noqa: B023 - rate() calls it within this iteration
                        )
                    ),
                )
            )
            results["snapshot"].append(
                rate(
                    orders, lambda i: data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=["AAPL", "MSFT"]))
                )
            )
            placed = adapter.list_orders()  # pages past 500; then check every order exists and filled
            assert len(placed) == 2 * orders, f"expected {2 * orders} orders, found {len(placed)}"
            assert all(o.status == "filled" for o in placed), "an order did not fill"
        info = machine()
    clock = statistics.median(results["clock"])
    rows = [
        ("baseline: alpaca-py get_clock (round-trip floor)", clock, ""),
        ("alpaca-py submit_order (market, fills at once)", statistics.median(results["alpaca-py"]), "orders"),
        ("paper_trading.broker submit_order", statistics.median(results["adapter"]), "orders"),
        ("alpaca-py get_stock_snapshot (2 symbols)", statistics.median(results["snapshot"]), ""),
    ]
    return rows, info


def table(rows, info: str, orders: int, runs: int) -> str:
    clock = rows[0][1]
    lines = [
        f"Machine: {info}. {orders} requests per variant, median of {runs} runs, one client thread, loopback.",
        "",
        "| variant | requests/s | vs. floor | target |",
        "|---|---:|---:|---|",
    ]
    for name, value, kind in rows:
        target = ""
        if kind == "orders":
            target = f"≥ {TARGET_ORDERS_PER_S}/s: {'met' if value >= TARGET_ORDERS_PER_S else 'NOT met'}"
        lines.append(f"| {name} | {value:,.0f} | {value / clock:.2f}× | {target} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{START}\n{text}\n{END}"
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        readme = head + block + rest.split(END, 1)[1]
    else:
        readme = (
            readme.rstrip()
            + "\n\n## alpaca_sim throughput\n\n"
            + __doc__.split("\n\n", 2)[2].strip()
            + "\n\n"
            + block
            + "\n"
        )
    README.write_text(readme)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=500, help="requests per variant and run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md as it is")
    args = parser.parse_args()
    rows, info = run(args.orders, args.runs)
    text = table(rows, info, args.orders, args.runs)
    print(text)
    if not args.no_readme:
        write_readme(text)
        print(f"\nwritten to {README.relative_to(REPO)}")
    if rows[1][1] < TARGET_ORDERS_PER_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
