"""M4 execution against the rate limit: the real `Executor` sending a rebalance to the simulator.

    python bench/bench_execute.py [--orders 300] [--no-readme] [--quick] [--full-alpaca]

Issue §6: "300 orders against the simulator with its limit set to 1,200/min: sustained rate
≥ 90 % of the limit with zero 429 responses; the same at Alpaca's 200/min (time scaled if
needed); ledger overhead per order (with vs without the journal)".

The orders: a synthetic universe (`S0001`, `S0002`, ...; each a copy of one of the sample names'
last 30 daily bars, so prices are real ones), one order per symbol and side, round 1. Half of
them are **sells** that liquidate a held position (10 shares, bought before the run, untimed),
half are **buys of new names as brackets** (1–10 shares, market entry + take-profit + stop-loss):
a daily rebalance that rotates half the book. Cash is 10⁹, so nothing is scaled; the simulated
clock is 2025-12-31T14:45:00Z (market open) and does not move, so market orders fill at once.

Each rate-limit case is one fresh run of `paper_trading.execution.Executor` (mode `real`, the
SQLite ledger), preceded by the step's pre-flight reads (account, clock, calendar), through
`AlpacaBroker(requests_per_minute=N)` with N = 95 % of the simulator's limit, as the project
configures 190 for Alpaca's 200. The simulator's trading *and* data buckets are both set to the
limit (Alpaca counts them separately; the adapter's pacer counts both together). Before a case
the positions are bought with the limit off, the limit is set, and the simulator is restarted
(same database) so that the case starts with empty rate windows.

Every HTTP request is counted from outside the library: the script wraps `request` of the
adapter's two `requests` sessions (send time, method, path, status), and the pacer's `sleep`.
Reported per case: wall time, requests (by kind), 429 responses, orders/s, the most requests in
any 60 s (sliding, by send time) against the limit, and the sustained rate — requests in each
complete 60 s window from the first request, over the limit. A run shorter than 60 s has no
complete window: it is not rate-bound (it never waited for the limit), and says so.

Ledger overhead: the same 300 orders against the simulator with no rate limit, the Executor with
the real ledger against the same Executor whose ledger's `upsert_orders` is a no-op (no journal
row before each POST, no record after it; reads unchanged), alternating, each run on a fresh
account and a fresh ledger; ms/order = difference of the medians / orders, and the time spent
inside `upsert_orders` per order, timed directly. On SQLite (a file, WAL) and, when a server
answers at 127.0.0.1:5432 and psycopg is installed, PostgreSQL (a schema of its own in database
`test`, dropped at the end).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import benchlib
from benchlib import pg_available

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
START, END = "<!-- execute-results:start -->", "<!-- execute-results:end -->"
BARS = REPO / "data" / "market" / "daily_bars.csv"
CLOCK = "2025-12-31T14:45:00Z"
TRADE_DATE = dt.date(2025, 12, 31)
CASH = "1000000000"
HELD_QTY = 10
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_SHARE = 0.90
UNLIMITED = 10**9


# ------------------------------------------------------------------------------------ machine


def machine() -> dict[str, str]:
    from benchlib import cpu_model

    cpu = cpu_model()
    import alpaca
    import sqlalchemy

    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "alpaca-py": getattr(alpaca, "__version__", "?"), "sqlalchemy": sqlalchemy.__version__,
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": _load()}


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


# --------------------------------------------------------------------------------- the orders


def make_bars(n: int, path: Path) -> dict[str, float]:
    """`n` synthetic symbols, each a copy of a sample name's last 30 bars; returns the last closes."""
    by_symbol: dict[str, list[dict]] = {}
    with open(BARS, newline="") as f:
        for row in csv.DictReader(f):
            by_symbol.setdefault(row["symbol"], []).append(row)
    sources = sorted(by_symbol)
    closes: dict[str, float] = {}
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(by_symbol[sources[0]][0]))
        writer.writeheader()
        for i in range(n):
            symbol = f"S{i + 1:04d}"
            rows = sorted(by_symbol[sources[i % len(sources)]], key=lambda r: r["date"])[-30:]
            for r in rows:
                writer.writerow({**r, "symbol": symbol})
            closes[symbol] = float(rows[-1]["close"])
    return closes


def approved_orders(n_orders: int, closes: dict[str, float]):
    """Half sells (liquidate a held 10-share position), half bracket buys of new names."""
    import pandas as pd

    symbols = sorted(closes)[:n_orders]
    n_sell = n_orders // 2
    rows = []
    for i, s in enumerate(symbols):
        price = closes[s]
        if i < n_sell:
            rows.append({"symbol": s, "side": "sell", "qty": float(HELD_QTY), "ref_price": price,
                         "notional": round(HELD_QTY * price, 2), "order_type": "market", "time_in_force": "day",
                         "tp_price": float("nan"), "sl_price": float("nan"), "reason": "exit"})
        else:
            qty = float(1 + i % 10)
            rows.append({"symbol": s, "side": "buy", "qty": qty, "ref_price": price,
                         "notional": round(qty * price, 2), "order_type": "bracket", "time_in_force": "gtc",
                         "tp_price": round(price * 1.05, 2), "sl_price": round(price * 0.97, 2), "reason": "new"})
    frame = pd.DataFrame(rows)
    frame["mode"], frame["run_id"] = "real", "bench"
    return frame, symbols[:n_sell]


# -------------------------------------------------------------------------------- the simulator


def prepare_account(sim, held: list[str], limit: int | None) -> None:
    """A fresh account holding `held` (bought with the limit off), then the limit for the run."""
    import requests

    sim.admin("POST", "/sim/reset", {"cash": CASH, "clock": CLOCK})
    sim.admin("POST", "/sim/config", {"rate_limit_per_minute": UNLIMITED, "data_rate_limit_per_minute": None})
    with requests.Session() as s:
        s.headers.update(sim.headers)
        for symbol in held:
            r = s.post(f"{sim.url}/v2/orders", json={"symbol": symbol, "qty": str(HELD_QTY), "side": "buy",
                                                     "type": "market", "time_in_force": "day",
                                                     "client_order_id": f"setup-{symbol}"}, timeout=30)
            r.raise_for_status()
    if limit is not None:
        sim.admin("POST", "/sim/config", {"rate_limit_per_minute": limit, "data_rate_limit_per_minute": limit})
        sim.stop()  # the rate windows live in the server's memory: a restart empties them (the DB stays)
        sim.start()


class Requests:
    """Every request of an AlpacaBroker, counted from outside: its two sessions' `request` wrapped."""

    def __init__(self, broker) -> None:
        self.rows: list[tuple[float, str, str, int | None]] = []
        self.pacer_waits: list[float] = []
        for client in (broker._trading, broker._data):
            self._wrap(client._session)
        pacer = broker._pacer
        sleep = pacer.sleep

        def counted_sleep(seconds: float) -> None:
            self.pacer_waits.append(seconds)
            sleep(seconds)

        pacer.sleep = counted_sleep

    def _wrap(self, session) -> None:
        original = session.request

        def request(method, url, *args, **kwargs):
            sent = time.perf_counter()
            status = None
            try:
                response = original(method, url, *args, **kwargs)
                status = response.status_code
                return response
            finally:
                self.rows.append((sent, method, url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0], status))

        session.request = request

    @staticmethod
    def kind(method: str, path: str) -> str:
        if path.startswith("v2/stocks"):
            return "market data"
        if "orders:by_client_order_id" in path:
            return "look-up by client_order_id"
        if path.startswith("v2/orders") and method == "POST":
            return "submit"
        if path.startswith("v2/orders") and method == "DELETE":
            return "cancel"
        if path.startswith("v2/orders"):
            return "list orders"
        return "account/positions/clock/calendar"


def window_stats(times: list[float]) -> tuple[int, list[int], float]:
    """(most requests in any 60 s, counts of the complete 60 s windows from the first request, span s)."""
    times = sorted(times)
    peak, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 60:
            lo += 1
        peak = max(peak, hi - lo + 1)
    span = times[-1] - times[0] if times else 0.0
    complete = int(span // 60)
    counts = [sum(1 for t in times if k * 60 <= t - times[0] < (k + 1) * 60) for k in range(complete)]
    return peak, counts, span


# ------------------------------------------------------------------------------- rate-limit cases


def rate_case(sim, tmp: Path, closes: dict[str, float], n_orders: int, limit: int, label: str) -> dict:
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.execution import ExecutionSettings, Executor
    from paper_trading.ledger.store import Ledger

    approved, held = approved_orders(n_orders, closes)
    prepare_account(sim, held, limit)
    pacer_n = math.floor(limit * 0.95)
    broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=pacer_n)
    counter = Requests(broker)
    db = tmp / f"ledger-{uuid.uuid4().hex[:8]}.sqlite"
    with Ledger(f"sqlite:///{db}") as ledger:
        start = time.perf_counter()
        broker.account(), broker.clock(), broker.calendar(TRADE_DATE, TRADE_DATE)  # the step's pre-flight reads
        result = Executor(broker, ledger, ExecutionSettings(), mode="real", trade_date=TRADE_DATE, round_no=1,
                          run_id="bench", env="paper").run(approved)
        wall = time.perf_counter() - start
    counts = result.counts()
    bad = {s: n for s, n in counts.items() if s != "filled"}
    if bad:
        raise SystemExit(f"{label}: not every order filled: {counts}")
    sent = [r for r in counter.rows]
    statuses = Counter(r[3] for r in sent)
    kinds = Counter(Requests.kind(r[1], r[2]) for r in sent)
    submits_ok = sum(1 for r in sent if Requests.kind(r[1], r[2]) == "submit" and r[3] is not None and r[3] < 300)
    peak, windows, span = window_stats([r[0] for r in sent])
    return {"label": label, "orders": n_orders, "limit": limit, "pacer": pacer_n, "wall": wall,
            "requests": len(sent), "429": statuses.get(429, 0), "errors": sum(n for s, n in statuses.items()
                                                                              if s is None or s >= 400),
            "kinds": dict(kinds), "submits": submits_ok, "peak": peak, "windows": windows, "span": span,
            "pacer_waits": len(counter.pacer_waits), "pacer_wait_s": sum(counter.pacer_waits),
            "sells": len(held), "buys": n_orders - len(held)}


# ------------------------------------------------------------------------------- ledger overhead



class _Schema:
    """A PostgreSQL schema of this benchmark's own, so nothing else in database `test` is touched."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine

        self.name = f"bench_execute_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.engine = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")

    def fresh(self) -> str:
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{self.name}"')
        return f"{PG_BASE}?options=-csearch_path%3D{self.name}"

    def drop(self) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        self.engine.dispose()


def overhead(sim, tmp: Path, closes: dict[str, float], n_orders: int, repeats: int, backend: str) -> dict:
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.execution import ExecutionSettings, Executor
    from paper_trading.ledger.store import Ledger

    class NoWrites(Ledger):
        def upsert_orders(self, rows) -> None:  # no journal row, no record: reads unchanged
            return None

    approved, held = approved_orders(n_orders, closes)
    schema = _Schema() if backend == "postgresql" else None
    times: dict[str, list[float]] = {"with": [], "without": []}
    inside: list[float] = []
    calls: list[int] = []
    try:
        for r in range(repeats + 1):  # the first pair is a warm-up, not counted
            for variant in ("with", "without") if r % 2 == 0 else ("without", "with"):
                prepare_account(sim, held, None)
                url = schema.fresh() if schema else f"sqlite:///{tmp / f'ledger-{uuid.uuid4().hex[:8]}.sqlite'}"
                broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=UNLIMITED)
                broker.clock()  # open the connection outside the timing
                ledger = (Ledger if variant == "with" else NoWrites)(url)
                spent = [0.0, 0]
                upsert = ledger.upsert_orders

                def timed(rows, _upsert=upsert, _spent=spent):
                    t = time.perf_counter()
                    _upsert(rows)
                    _spent[0] += time.perf_counter() - t
                    _spent[1] += 1

                ledger.upsert_orders = timed
                try:
                    start = time.perf_counter()
                    result = Executor(broker, ledger, ExecutionSettings(), mode="real", trade_date=TRADE_DATE,
                                      round_no=1, run_id="bench", env="paper").run(approved)
                    elapsed = time.perf_counter() - start
                finally:
                    ledger.close()
                if set(result.counts()) != {"filled"}:
                    raise SystemExit(f"ledger overhead ({backend}, {variant}): not every order filled: "
                                     f"{result.counts()}")
                if r == 0:
                    continue
                times[variant].append(elapsed)
                if variant == "with":
                    inside.append(spent[0])
                    calls.append(spent[1])
    finally:
        if schema:
            schema.drop()
    med_with, med_without = statistics.median(times["with"]), statistics.median(times["without"])
    return {"backend": backend, "orders": n_orders, "repeats": repeats, "with": med_with, "without": med_without,
            "with_range": (min(times["with"]), max(times["with"])),
            "without_range": (min(times["without"]), max(times["without"])),
            "diff_ms": (med_with - med_without) / n_orders * 1000,
            "diff_min_ms": (min(times["with"]) - min(times["without"])) / n_orders * 1000,
            "inside_ms": statistics.median(inside) / n_orders * 1000,
            "writes_per_order": statistics.median(calls) / n_orders}


# -------------------------------------------------------------------------------------- report


def report(info: dict, cases: list[dict], ledgers: list[dict], skipped: str | None, args) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores; Python {info['python']}, alpaca-py {info['alpaca-py']}, "
        f"SQLAlchemy {info['sqlalchemy']}; run {info['date']}; 1-minute load average {info['load']} at the start, "
        f"{_load()} at the end (other work on the machine slows the unpaced runs, not the paced ones). "
        "Orders: half sells liquidating a held position, half bracket buys of new names, one per symbol, round 1; "
        "the real `Executor` (mode real, SQLite ledger) after the step's 3 pre-flight reads; the simulator's trading "
        "and data buckets both at the limit, the adapter's pacer at 95 % of it.",
        "",
        "| case | orders | limit/min (pacer) | wall (s) | requests | per order | 429s | orders/s "
        "| most in any 60 s | sustained (complete 60 s windows) | ≥ 90 % of the limit, zero 429s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in cases:
        if c["windows"]:
            share = statistics.mean(c["windows"]) / c["limit"]
            sustained = f"{', '.join(str(n) for n in c['windows'])} req → {share:.0%} of the limit"
            verdict = "met" if share >= TARGET_SHARE and c["429"] == 0 else "NOT met"
        else:
            sustained = (
                f"none: {c['span']:.1f} s of requests, under one window; not rate-bound "
                f"({c['requests'] / c['limit']:.0%} of one minute's allowance)"
            )
            verdict = "n/a (not rate-bound); zero 429s" if c["429"] == 0 else f"NOT met: {c['429']} 429s"
        lines.append(
            f"| {c['label']} | {c['orders']} ({c['sells']} sells + {c['buys']} buys) | {c['limit']:,} ({c['pacer']:,}) "
            f"| {c['wall']:.1f} | {c['requests']:,} | {c['requests'] / c['orders']:.2f} | {c['429']} "
            f"| {c['orders'] / c['wall']:.1f} | {c['peak']:,} ({c['peak'] / c['limit']:.0%}) | {sustained} "
            f"| {verdict} |"
        )
    lines += [
        "",
        "Requests by kind (the same runs):",
        "",
        "| case | " + " | ".join(KINDS) + " | pacer waits |",
        "|---|" + "---:|" * (len(KINDS) + 1),
    ]
    for c in cases:
        lines.append(
            f"| {c['label']} | "
            + " | ".join(f"{c['kinds'].get(k, 0):,}" for k in KINDS)
            + f" | {c['pacer_waits']} ({c['pacer_wait_s']:.1f} s) |"
        )
    lines += [
        "",
        f"Ledger overhead: {args.orders} orders against the simulator with no rate limit, median of "
        f"{args.overhead_repeats} runs per variant (alternating, after one warm-up pair), each on a fresh "
        "account and a fresh ledger.",
        "",
        "| ledger | with writes (s) | `upsert_orders` a no-op (s) | difference per order (medians) "
        "| difference per order (fastest runs) | inside `upsert_orders` per order | writes per order |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for o in ledgers:
        lines.append(
            f"| {o['backend']} | {o['with']:.3f} ({o['with_range'][0]:.3f}–{o['with_range'][1]:.3f}) "
            f"| {o['without']:.3f} ({o['without_range'][0]:.3f}–{o['without_range'][1]:.3f}) "
            f"| {o['diff_ms']:.2f} ms | {o['diff_min_ms']:.2f} ms | {o['inside_ms']:.2f} ms "
            f"| {o['writes_per_order']:.2f} |"
        )
    if skipped:
        lines.append(f"| postgresql | skipped: {skipped} | | | | | |")
    return "\n".join(lines)


KINDS = [
    "look-up by client_order_id",
    "submit",
    "list orders",
    "cancel",
    "market data",
    "account/positions/clock/calendar",
]


def write_readme(text: str) -> None:
    benchlib.write_readme(README, START, END, text, "bench_execute.py", "M4 execution against the rate limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300, help="orders of the 1,200/min case and of the ledger runs")
    parser.add_argument("--limit", type=int, default=1200, help="the simulator's limit of the first cases")
    parser.add_argument(
        "--window-orders",
        type=int,
        default=700,
        help="orders of the case that spans two windows at --limit (its sustained rate)",
    )
    parser.add_argument(
        "--alpaca-orders", type=int, default=120, help="orders at Alpaca's 200/min (120: ~1 minute; 300: ~4)"
    )
    parser.add_argument("--full-alpaca", action="store_true", help="also run --orders at 200/min (~4 more minutes)")
    parser.add_argument("--overhead-repeats", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run in seconds: 40 orders, no window-spanning cases; README untouched",
    )
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md as it is")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.window_orders, args.alpaca_orders, args.overhead_repeats, args.no_readme = 40, 0, 0, 1, True

    from alpaca_sim.server import SimServer

    info = machine()
    skipped = "--no-postgres" if args.no_postgres else pg_available()
    with tempfile.TemporaryDirectory(prefix="bench-execute-") as tmp_name:
        tmp = Path(tmp_name)
        n_symbols = max(args.orders, args.window_orders, args.alpaca_orders)
        closes = make_bars(n_symbols, tmp / "bars.csv")
        cases, ledgers = [], []
        with SimServer(tmp / "sim.db", bars=tmp / "bars.csv", clock=CLOCK, log=tmp / "sim.log") as sim:
            plan = [(args.orders, args.limit, f"{args.limit:,}/min, {args.orders} orders")]
            if args.window_orders:
                plan.append(
                    (
                        args.window_orders,
                        args.limit,
                        f"{args.limit:,}/min, {args.window_orders} orders (spans two windows)",
                    )
                )
            if args.alpaca_orders:
                plan.append((args.alpaca_orders, 200, f"Alpaca's 200/min, {args.alpaca_orders} orders"))
            if args.full_alpaca:
                plan.append((args.orders, 200, f"Alpaca's 200/min, {args.orders} orders"))
            for n, limit, label in plan:
                print(f"-- {label} ...", flush=True)
                cases.append(rate_case(sim, tmp, closes, n, limit, label))
                c = cases[-1]
                print(
                    f"   {c['wall']:.1f} s, {c['requests']} requests, {c['429']} 429s, windows {c['windows']}, "
                    f"peak {c['peak']}",
                    flush=True,
                )
            for backend in ["sqlite"] + ([] if skipped else ["postgresql"]):
                print(f"-- ledger overhead, {backend} ...", flush=True)
                ledgers.append(overhead(sim, tmp, closes, args.orders, args.overhead_repeats, backend))
    text = report(info, cases, ledgers, skipped, args)
    print(text)
    if not args.no_readme:
        write_readme(text)
        print(f"\nwritten to {README.relative_to(REPO)}")
    if any(c["429"] for c in cases):
        sys.exit(1)


if __name__ == "__main__":
    main()
