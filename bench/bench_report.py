"""M6 reporting over ten years of daily history for a ledger of ~500 names.

    python bench/bench_report.py [--names 500] [--years 10] [--runs 3] [--no-postgres] [--no-readme] [--quick]

Issue 10 §5: "Ten years of daily history for a ledger of about 500 names: every M6 output ≤ 5 s,
side by side with quantstats' or empyrical's own full tear-sheet computation on the same series in
the same run."

The ledger (deterministic seed) is what ten years of daily reconciliations leave, written in bulk
(untimed): the XNYS sessions of the ten years up to 2025-12-31 (exchange_calendars, as the project
does), 500 names held every day (two names swapped for two new ones every 21 sessions, so some
positions close), ~33 orders a day (80 % filled in one fill, 15 % in two, 5 % partly filled then
cancelled: ~40 fills a day), each fill also a FILL row of the cash ledger, quarterly dividends per
name, a monthly fee, quarterly deposits and a yearly withdrawal (the external flows), one
`equity_daily` row per session, the end-of-day positions of every session (`positions_eod`), and
the reconciliation rows every session writes (`recon`: one per order, one per position held — the
step's `position_rows` — and one for cash), plus the `orders` themselves. Prices: SPY a random walk,
each name beta × SPY + its own noise, so alpha, beta and correlation are meaningful.

SPY's closes come from the production path: `AlpacaBroker.daily_closes` against the local
simulator (`alpaca_sim`, a child process) loaded with a bars CSV of SPY for the whole period.

Timed, per backend (SQLite file in WAL mode; PostgreSQL at 127.0.0.1:5432 in a schema of its own
in database `test`, dropped at the end): `steps.write_report(END_DAY, root=..., broker=..., db_url=...)`
from its call to its return — one untimed warm-up call first (its time, which includes the first
imports of empyrical and friends, is shown for information), then `--runs` timed calls. Inside the
timed calls the time is split by wrapping, from outside the library, the ledger reads
(`Ledger.table`, `Ledger.equity_on`), opening the ledger, the broker's `daily_closes`, the
instrument map, each `analytics` function, the CSV text, the file writes, and the dashboard (every
public function of `paper_trading.reporting.dashboard`, once that module exists); each piece is its own
time, nested pieces subtracted.

Baseline in the same run: quantstats' full tear-sheet on the same two return series (the portfolio's
and SPY's daily returns as the step wrote them to `pnl_daily_*.csv`):
`quantstats.reports.metrics(returns, benchmark, mode="full", display=False)` and
`quantstats.reports.html(returns, benchmark, output=file)`, one untimed warm-up each, then `--runs`
timed calls.

Then one SQLite run under cProfile: where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import functools
import importlib
import io
import json
import logging
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import benchlib
from benchlib import pg_available

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
START, END = "<!-- report-results:start -->", "<!-- report-results:end -->"
END_DAY = dt.date(2025, 12, 31)
TARGET_S = 5.0
UTC = dt.UTC
SECTORS = ["Information Technology", "Health Care", "Financials", "Consumer Discretionary", "Communication Services",
           "Industrials", "Consumer Staples", "Energy", "Utilities", "Real Estate", "Materials"]
STANDARD_OUTPUTS = ("pnl_daily", "risk_snapshot", "metrics")


# ------------------------------------------------------------------------------------ machine


def machine() -> dict[str, str]:
    import subprocess

    import numpy
    import pandas
    import sqlalchemy

    try:
        import psycopg

        pg = psycopg.__version__
    except ImportError:
        pg = "-"
    from importlib import metadata

    try:
        qs = metadata.version("quantstats")  # not imported here: the baseline times its import
    except metadata.PackageNotFoundError:
        qs = "-"
    import empyrical

    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "include"], capture_output=True,
                               text=True, check=True).stdout.strip()
        commit += " (library modified)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    try:
        ram = f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 1e9:.1f} GB"
    except (ValueError, OSError):
        ram = "?"
    return {"cpu": benchlib.cpu_model(), "cores": str(os.cpu_count()), "ram": ram, "python": platform.python_version(),
            "commit": commit, "sqlalchemy": sqlalchemy.__version__, "psycopg": pg,
            "sqlite": __import__("sqlite3").sqlite_version, "pandas": pandas.__version__, "numpy": numpy.__version__,
            "empyrical": getattr(empyrical, "__version__", "?"), "quantstats": qs,
            "date": dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "load": _load()}


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


# ------------------------------------------------------------------------------------ the ledger


@dataclass
class Case:
    names: int
    years: int
    orders_per_day: float
    seed: int
    sessions: list[dt.date] = field(default_factory=list)
    spy: list[tuple[dt.date, float]] = field(default_factory=list)  # with a few sessions before the first
    symbols: list[str] = field(default_factory=list)
    sectors: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def make_case(names: int, years: int, orders_per_day: float, seed: int = 10) -> Case:
    import numpy as np

    from paper_trading.trading_calendar import xnys

    cal = xnys()
    first = END_DAY.replace(year=END_DAY.year - years) + dt.timedelta(days=1)
    all_sessions = [d.date() for d in cal.sessions_in_range(first - dt.timedelta(days=30), END_DAY)]
    sessions = [d for d in all_sessions if d >= first]
    pre = len(all_sessions) - len(sessions)
    case = Case(names, years, orders_per_day, seed, sessions=sessions)
    rng = np.random.default_rng(seed)
    market = rng.normal(0.00045, 0.011, len(all_sessions))
    spy = 200.0 * np.cumprod(1.0 + market)
    case.spy = [(d, round(float(c), 2)) for d, c in zip(all_sessions, spy)]
    n_swaps = (len(sessions) // 21) * 2
    case.symbols = [f"N{i:04d}" for i in range(names + n_swaps)]
    case.sectors = {s: SECTORS[int(rng.integers(len(SECTORS)))] for s in case.symbols}
    case._market = market[pre:]  # type: ignore[attr-defined]
    return case


def days(case: Case):
    """The books, one session at a time: {table: rows} as the ledger stores them."""
    import numpy as np

    rng = np.random.default_rng(case.seed + 1)
    n_univ, n_days = len(case.symbols), len(case.sessions)
    beta = rng.uniform(0.6, 1.4, n_univ)
    idio = rng.uniform(0.008, 0.022, n_univ)
    returns = case._market[:, None] * beta[None, :] + rng.normal(0.0001, 1.0, (n_days, n_univ)) * idio[None, :]
    prices = np.round(rng.uniform(15, 400, n_univ)[None, :] * np.cumprod(1.0 + returns, axis=0), 2)
    div_offset = rng.integers(0, 63, n_univ)
    symbols = case.symbols
    held: dict[int, float] = {}
    next_new = case.names
    cash = 0.0
    equity = 0.0

    def aid(t: dt.datetime) -> str:
        return f"{t:%Y%m%d%H%M%S}{t.microsecond // 1000:03d}::{new_uuid()}"

    def new_uuid() -> uuid.UUID:
        return uuid.UUID(int=int(rng.integers(2**63)) << 64 | int(rng.integers(2**63)))

    for i, day in enumerate(case.sessions):
        close = prices[i]
        ref = prices[i - 1] if i else prices[0]
        books: dict[str, list] = {"fills": [], "cash_ledger": [], "positions_eod": [], "equity_daily": [], "recon": [],
                                  "orders": []}
        t0 = dt.datetime.combine(day, dt.time(12, 0), UTC)

        def cash_row(kind: str, amount: float, symbol: str | None = None, qty=None, price=None, desc=None, *,
                     books: dict[str, list] = books, t0: dt.datetime = t0, day: dt.date = day) -> None:
            nonlocal cash
            cash += amount
            books["cash_ledger"].append({"activity_id": aid(t0 + dt.timedelta(milliseconds=len(books["cash_ledger"]))),
                                         "date": day, "activity_type": kind, "symbol": symbol, "qty": qty,
                                         "price": price, "net_amount": round(amount, 6), "description": desc or kind})

        # external flows, dividends, fees (dated the session)
        if i == 0:
            cash_row("CSD", 50_000_000.0, desc="initial deposit")
        elif i % 63 == 0:
            cash_row("CSD", 250_000.0, desc="quarterly deposit")
        if i and i % 252 == 100:
            cash_row("CSW", -400_000.0, desc="yearly withdrawal")
        if i and i % 21 == 5:
            cash_row("FEE", -round(float(rng.uniform(5, 60)), 2), desc="monthly platform fee")
        for k in [k for k in held if (i + div_offset[k]) % 63 == 0 and i]:
            per_share = round(float(ref[k]) * 0.004, 4)
            cash_row("DIV", round(held[k] * per_share, 2), symbols[k], held[k], per_share,
                     f"cash dividend {symbols[k]}")

        # the day's orders: (index, side, qty)
        orders: list[tuple[int, str, float]] = []
        if i == 0:
            budget = 50_000_000.0 * 0.97 / case.names
            orders = [(k, "buy", float(max(1, int(budget / ref[k])))) for k in range(case.names)]
        else:
            picks = rng.choice(sorted(held), size=min(len(held), int(rng.poisson(case.orders_per_day))), replace=False)
            for k in picks:
                side = "buy" if rng.random() < 0.5 else "sell"
                qty = float(max(1, round(held[k] * abs(rng.normal(0, 0.04)))))
                if side == "sell":
                    qty = min(qty, held[k] - 1)
                if qty >= 1:
                    orders.append((int(k), side, qty))
            if i % 21 == 0:  # two names out, two new names in
                picked = {o[0] for o in orders}
                out = [k for k in rng.choice(sorted(held), size=6, replace=False) if k not in picked][:2]
                orders += [(int(k), "sell", held[k]) for k in out]
                for _ in range(len(out)):
                    orders.append((next_new, "buy", float(max(1, int(equity / case.names / ref[next_new])))))
                    next_new += 1

        t = dt.datetime.combine(day, dt.time(14, 31), UTC)
        for k, side, qty in orders:
            sym = symbols[k]
            cid = f"pt-{day:%Y%m%d}-{sym}-{side}-r1"
            oid = str(new_uuid())
            roll = rng.random()
            if roll < 0.80:
                parts, status = [qty], "filled"
            elif roll < 0.95 and qty >= 2:
                parts, status = [float(qty // 2), qty - qty // 2], "filled"
            elif qty >= 2 and side == "buy":
                parts, status = [float(qty // 2)], "canceled"
            else:
                parts, status = [qty], "filled"
            filled, notional = 0.0, 0.0
            for j, q in enumerate(parts):
                t = t + dt.timedelta(seconds=int(rng.integers(1, 60)), milliseconds=int(rng.integers(0, 999)))
                price = round(float(close[k]) * (1 + float(rng.normal(0, 0.0008))), 2)
                a = aid(t)
                signed = q if side == "buy" else -q
                books["fills"].append({"activity_id": a, "trade_date": day, "transaction_time": t, "order_id": oid,
                                       "client_order_id": cid, "symbol": sym, "side": side, "qty": q, "price": price,
                                       "fill_type": "fill" if j == len(parts) - 1 and status == "filled"
                                       else "partial_fill"})
                cash -= signed * price
                books["cash_ledger"].append({"activity_id": a, "date": day, "activity_type": "FILL", "symbol": sym,
                                             "qty": signed, "price": price, "net_amount": round(-signed * price, 6),
                                             "description": f"{side} {q:g} @ {price:g}"})
                filled += q
                notional += q * price
                held[k] = held.get(k, 0.0) + signed
            if held.get(k) == 0:
                del held[k]
            avg = round(notional / filled, 6)
            r = float(ref[k])
            slip = round((1.0 if side == "buy" else -1.0) * (avg - r) / r * 1e4, 3)
            books["orders"].append({
                "client_order_id": cid, "trade_date": day, "round": 1, "run_id": "bench", "mode": "real",
                "env": "paper", "symbol": sym, "side": side, "qty": qty, "planned_qty": qty, "order_type": "market",
                "order_class": "simple", "time_in_force": "day", "tp_price": None, "sl_price": None, "ref_price": r,
                "notional": round(qty * r, 2), "status": status, "broker_order_id": oid,
                "parent_client_order_id": None, "filled_qty": filled, "filled_avg_price": avg,
                "submitted_at": t, "updated_at": t, "reason": None, "last_error": None})
            label = "filled" if status == "filled" else "partially_filled"
            books["recon"].append(_recon(day, cid, "order", sym, side, qty, qty, filled, qty - filled, status, label,
                                         r, avg, slip, f"{sym} {side}: planned {qty:g}, filled {filled:g} at {avg:g} "
                                         f"({slip:+.1f} bps vs the reference {r:g})"))
        long_value = 0.0
        for k in sorted(held):
            q, c = held[k], float(close[k])
            long_value += q * c
            books["positions_eod"].append({"trade_date": day, "symbol": symbols[k], "qty": q, "close_price": c,
                                           "market_value": q * c, "implied_qty": q})
            books["recon"].append(_recon(day, f"position:{symbols[k]}", "position", symbols[k], None, q, None, q, 0.0,
                                         "ok", "position_ok", None, None, None,
                                         f"{symbols[k]}: {q:g} held, as the ledger implies"))
        books["recon"].append(_recon(day, "cash", "cash", None, None, round(cash, 2), None, round(cash, 2), 0.0, "ok",
                                     "cash_ok", None, None, None, f"cash {cash:,.2f}, as the ledger implies"))
        equity = cash + long_value
        books["equity_daily"].append({"trade_date": day, "equity": round(equity, 2), "cash": round(cash, 2),
                                      "long_market_value": round(long_value, 2), "short_market_value": 0.0,
                                      "source": "account + daily closes"})
        for name, rows in books.items():
            case.counts[name] += len(rows)
        yield books


def _recon(day, key, kind, symbol, side, planned, sent, filled, remaining, status, label, ref, avg, slip, message):
    return {"trade_date": day, "key": key, "kind": kind, "symbol": symbol, "side": side, "planned_qty": planned,
            "sent_qty": sent, "filled_qty": filled, "remaining_qty": remaining, "status": status,
            "classification": label, "ref_price": ref, "avg_fill_price": avg, "slippage_bps": slip,
            "message": message, "alert": False}


class Sink:
    """Bulk writes, untimed: SQLAlchemy Core executemany on SQLite, COPY on PostgreSQL."""

    def __init__(self, ledger, batch: int = 50_000) -> None:
        from paper_trading.ledger import schema

        self.ledger, self.batch, self.schema = ledger, batch, schema
        self.pending: dict[str, list[dict]] = defaultdict(list)

    def add(self, books: dict[str, list[dict]]) -> None:
        for name, rows in books.items():
            self.pending[name] += rows
            if len(self.pending[name]) >= self.batch:
                self.flush(name)

    def flush(self, name: str | None = None) -> None:
        for table_name in [name] if name else list(self.pending):
            rows = self.pending.pop(table_name, [])
            if not rows:
                continue
            table = self.schema.metadata.tables[table_name]
            if self.ledger.backend == "postgresql":
                columns = [c.name for c in table.columns if c.name in rows[0]]
                raw = self.ledger.engine.raw_connection()
                try:
                    conn = raw.driver_connection
                    quoted = ", ".join(f'"{c}"' for c in columns)
                    with conn.cursor() as cur, cur.copy(f"COPY {table_name} ({quoted}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row([row[c] for c in columns])
                    conn.commit()
                finally:
                    raw.close()
            else:
                from sqlalchemy import insert

                with self.ledger.engine.begin() as conn:
                    conn.execute(insert(table), rows)


def populate(url: str, case: Case) -> float:
    from paper_trading.ledger.store import Ledger

    t = time.perf_counter()
    case.counts.clear()
    with Ledger(url) as ledger:
        sink = Sink(ledger)
        for books in days(case):
            sink.add(books)
        sink.flush()
        if ledger.backend == "postgresql":
            with ledger.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t


def write_inputs(root: Path, case: Case, bars: Path) -> None:
    """The instrument map with sectors (the risk snapshot's sectors) and SPY's bars for the simulator."""
    mapping = root / "data" / "mapping" / "instrument_map.csv"
    mapping.parent.mkdir(parents=True, exist_ok=True)
    mapping.write_text("gvkey,symbol,sector\n" + "".join(f"{100001 + i:06d},{s},{case.sectors[s]}\n"
                                                        for i, s in enumerate(case.symbols)))
    lines = ["symbol,date,open,high,low,close,volume,trade_count,vwap"]
    for d, c in case.spy:
        lines.append(f"SPY,{d.isoformat()},{c:.2f},{c * 1.004:.2f},{c * 0.996:.2f},{c:.2f},80000000,600000,{c:.2f}")
    bars.write_text("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------ backends


# ------------------------------------------------------------------------------------ timing

LEDGER_READS = "ledger reads (`Ledger.table`, `equity_on`)"
LEDGER_OPEN = "opening the ledger (engine, migration check)"
BROKER = "SPY closes: `broker.daily_closes` (HTTP to alpaca_sim)"
IMAP = "instrument map (sectors)"
CSV_TEXT = "CSV text (`_csv_text`)"
WRITES = "file writes (`write_text_atomic`)"
DASHBOARD = "dashboard (`paper_trading.reporting.dashboard`)"
TARGETS = "M1 targets of the day (`_targets`, for the dashboard)"
ALERTS = "alerts log (`read_alerts`, for the dashboard)"
OTHER = "the rest (frames in the step, JSON, logging, run set-up)"


class Phases:
    """Exclusive time per piece of the step, by wrapping functions from outside the library: a piece
    called inside another is subtracted from the outer one."""

    def __init__(self, broker, report_mod=None) -> None:
        self.broker = broker
        self.report_mod = report_mod
        self.spent: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.stack: list[list] = []
        self.saved: list[tuple[object, str, object]] = []

    def _wrap(self, owner, attr: str, label: str) -> None:
        original = getattr(owner, attr)
        phases = self

        @functools.wraps(original)
        def timed(*args, **kwargs):
            phases._enter(label)
            try:
                return original(*args, **kwargs)
            finally:
                phases._exit()

        self.saved.append((owner, attr, original))
        setattr(owner, attr, timed)

    def _enter(self, label: str) -> None:
        now = time.perf_counter()
        if self.stack:
            self.spent[self.stack[-1][0]] += now - self.stack[-1][1]
        self.stack.append([label, now])
        self.calls[label] += 1

    def _exit(self) -> None:
        now = time.perf_counter()
        label, started = self.stack.pop()
        self.spent[label] += now - started
        if self.stack:
            self.stack[-1][1] = now

    def __enter__(self) -> Phases:
        from paper_trading.ledger.store import Ledger
        from paper_trading.planning import inputs
        from paper_trading.reporting import analytics

        report_mod = self.report_mod or importlib.import_module("paper_trading.steps.report")
        self._wrap(Ledger, "table", LEDGER_READS)
        self._wrap(Ledger, "equity_on", LEDGER_READS)
        self._wrap(Ledger, "__init__", LEDGER_OPEN)
        for name in public_functions(analytics):
            self._wrap(analytics, name, f"`analytics.{name}`")
        self._wrap(inputs, "read_instrument_map", IMAP)
        if hasattr(report_mod, "_targets"):
            self._wrap(report_mod, "_targets", TARGETS)
        if hasattr(report_mod, "write_dashboard"):
            self._wrap(report_mod, "write_dashboard", DASHBOARD)
        try:
            alerts = importlib.import_module("paper_trading.alerts.delivery")
            if hasattr(alerts, "read_alerts"):
                self._wrap(alerts, "read_alerts", ALERTS)
        except ImportError:
            pass
        if hasattr(report_mod, "_csv_text"):
            self._wrap(report_mod, "_csv_text", CSV_TEXT)
        if hasattr(report_mod, "write_text_atomic"):
            self._wrap(report_mod, "write_text_atomic", WRITES)
        self._wrap(self.broker, "daily_closes", BROKER)
        dashboard = dashboard_module()
        if dashboard is not None:
            for name in public_functions(dashboard):
                if getattr(report_mod, name, None) is getattr(dashboard, name):
                    self._wrap(report_mod, name, DASHBOARD)
                self._wrap(dashboard, name, DASHBOARD)
        return self

    def __exit__(self, *exc) -> None:
        for owner, attr, original in reversed(self.saved):
            if owner is self.broker:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)


def public_functions(module) -> list[str]:
    """The functions a module defines itself (not the ones it imports), not starting with `_`."""
    return [name for name, obj in vars(module).items() if not name.startswith("_") and callable(obj)
            and not isinstance(obj, type) and getattr(obj, "__module__", None) == module.__name__]


def dashboard_module():
    try:
        return importlib.import_module("paper_trading.reporting.dashboard")
    except ImportError:
        return None


def make_broker(sim):
    from paper_trading.broker.alpaca import AlpacaBroker

    return AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=10**6)


def report(root: Path, url: str, broker, module=None) -> dict:
    step = module.write_report if module is not None else importlib.import_module("paper_trading.steps").write_report
    return step(END_DAY, root=root, broker=broker, db_url=url, run_id="bench")


def timed_calls(root: Path, url: str, broker, runs: int, label: str,
                module=None) -> tuple[list[float], dict]:
    totals, inner = [], []
    for r in range(runs):
        with Phases(broker, module) as ph:
            t = time.perf_counter()
            report(root, url, broker, module)
            totals.append(time.perf_counter() - t)
        spent = dict(ph.spent)
        spent[OTHER] = totals[-1] - sum(spent.values())
        inner.append(spent)
        print(f"   {label} run {r + 1}: {totals[-1]:.2f} s (" + ", ".join(
            f"{k.split(' (')[0].strip('`')} {v:.2f}" for k, v in sorted(spent.items(), key=lambda kv: -kv[1])[:4])
            + ")", flush=True)
    labels = sorted({k for p in inner for k in p})
    return totals, {k: statistics.median([p.get(k, 0.0) for p in inner]) for k in labels}


def outputs_of(root: Path) -> dict[str, int]:
    """Every file of the reports folder (name -> bytes)."""
    folder = root / "data" / "reports"
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")} if folder.is_dir() else {}  # not `.dashboard.lock`


def check_outputs(root: Path, case: Case) -> dict:
    import pandas as pd

    folder = root / "data" / "reports"
    stamp = f"{END_DAY:%Y%m%d}"
    pnl = pd.read_csv(folder / f"pnl_daily_{stamp}.csv")
    if len(pnl) != len(case.sessions):
        raise SystemExit(f"pnl_daily has {len(pnl)} rows, expected {len(case.sessions)}")
    if pnl["benchmark_close"].isna().any():
        raise SystemExit("pnl_daily: sessions without a SPY close")
    risk = pd.read_csv(folder / f"risk_snapshot_{stamp}.csv")
    if (risk["kind"] == "position").sum() != case.names:
        raise SystemExit(f"risk_snapshot: {(risk['kind'] == 'position').sum()} positions, expected {case.names}")
    metrics = json.loads((folder / f"metrics_{stamp}.json").read_text())
    for key in ("sharpe_ratio", "alpha", "beta", "max_drawdown", "sortino_ratio"):
        if metrics.get(key) is None:
            raise SystemExit(f"metrics: {key} is null ({metrics['reasons'].get(key)})")
    return {"pnl": pnl, "metrics": metrics}


def one_backend(backend: str, tmp: Path, case: Case, sim, runs: int) -> dict:
    dbs = benchlib.Databases(backend, tmp, "bench_report")
    root = tmp / f"root-{backend}"
    write_inputs(root, case, tmp / f"bars-{backend}.csv")
    try:
        url = dbs.fresh()
        fill_s = populate(url, case)
        counts = dict(case.counts)
        print(f"   {backend}: ledger written in {fill_s:.1f} s (untimed): "
              + ", ".join(f"{k} {v:,}" for k, v in counts.items()), flush=True)
        broker = make_broker(sim)
        t = time.perf_counter()
        report(root, url, broker)
        warmup = time.perf_counter() - t
        print(f"   {backend}: warm-up (first call in the process) {warmup:.2f} s", flush=True)
        totals, inner = timed_calls(root, url, broker, runs, backend)
        result = None
        checked = check_outputs(root, case)
        proposed, why_not = proposed_module()
        projection = {"skipped": why_not}
        if proposed is not None:
            other = tmp / f"root-{backend}-proposed"
            write_inputs(other, case, tmp / f"bars-{backend}-proposed.csv")
            report(other, url, broker, proposed)  # warm-up
            p_totals, p_inner = timed_calls(other, url, broker, runs, f"{backend} (recommended reads)", proposed)
            same = check_outputs(other, case)
            projection = {"totals": p_totals, "inner": p_inner,
                          "same": same["pnl"].equals(checked["pnl"]) and same["metrics"] == checked["metrics"]}
        narrow = narrow_reads(url, runs)
        if narrow:
            print(f"   {backend}: the reads pushed into SQL (reference): table {narrow['table']:.2f} s, "
                  f"frame {narrow['frame']:.2f} s", flush=True)
        files = outputs_of(root)
        size = os.path.getsize(url.split("sqlite:///", 1)[1]) if backend == "sqlite" else None
    finally:
        dbs.drop()
    return {"backend": backend, "warmup": warmup, "totals": totals, "counts": counts, "fill_s": fill_s,
            "inner": inner, "projection": projection,
            "files": files, "result": result, "pnl": checked["pnl"], "metrics": checked["metrics"], "db_bytes": size,
            "root": root, "url": url, "narrow": narrow}


# ------------------------------------------------------------------------------------ reference reads

#: What the step needs of the books, pushed into SQL with `Ledger.table`'s filters (`until`, equality
#: on `kind`, `columns`): the reads report.py would make with the change recommended in the README.
NARROW_READS = (
    ("equity_daily", {"until": END_DAY}),
    ("positions_eod", {"trade_date": END_DAY}),
    ("cash_ledger", {"until": END_DAY, "activity_type": ["CFEE", "CSD", "CSW", "FEE", "JNLC", "JNLS", "PTC", "ACATC",
                                                          "ACATS"],  # analytics.FEE_TYPES | FLOW_TYPES
                     "columns": ["activity_id", "date", "activity_type", "net_amount"]}),
    ("fills", {"until": END_DAY, "columns": ["activity_id", "trade_date", "transaction_time", "symbol", "side", "qty",
                                             "price"]}),
    ("recon", {"until": END_DAY, "kind": "order", "columns": ["trade_date", "kind", "planned_qty", "filled_qty",
                                                              "ref_price", "avg_fill_price", "slippage_bps"]}),
    ("recon", {"trade_date": END_DAY}),
)


SHORT = {"columns": "the columns used", "activity_type": "fees and flows"}


def shown_read(name: str, kwargs: dict) -> str:
    args = [f'"{name}"'] + [f"{k}=day" if isinstance(v, dt.date) else f"{k}={v!r}" if k not in SHORT
                            else f"{k}=<{SHORT[k]}>" for k, v in kwargs.items()]
    return f"table({', '.join(args)})"


#: report.py's reads now -> the recommended ones (the same as NARROW_READS); applied to a copy of the
#: step's source in memory for the projection row, never to the library.
PROPOSED = [
    ('equity_rows = [r for r in ledger.table("equity_daily") if r["trade_date"] <= trade_date]',
     'equity_rows = ledger.table("equity_daily", until=trade_date)'),
    ('cash = [c for c in ledger.table("cash_ledger") if c["date"] <= trade_date]',
     'cash = ledger.table("cash_ledger", until=trade_date, activity_type=analytics.FEE_TYPES | analytics.FLOW_TYPES, '
     'columns=["activity_id", "date", "activity_type", "net_amount"])'),
    ('fills = [f for f in ledger.table("fills") if f["trade_date"] <= trade_date]',
     'fills = ledger.table("fills", until=trade_date, columns=["activity_id", "trade_date", "transaction_time", '
     '"symbol", "side", "qty", "price"])'),
    ('recon = [r for r in ledger.table("recon") if r["trade_date"] <= trade_date]',
     'recon = ledger.table("recon", until=trade_date, kind="order", columns=["trade_date", "kind", "planned_qty", '
     '"filled_qty", "ref_price", "avg_fill_price", "slippage_bps"])\n'
     '            recon_day = ledger.table("recon", trade_date=trade_date)'),
    ('recon=[r for r in recon if r["trade_date"] == trade_date]', 'recon=recon_day'),
    # the same on the step as it reads since it adopted `until`/`kind` (2026-12-02): what is left
    ('cash = ledger.table("cash_ledger", until=trade_date)\n',
     'cash = ledger.table("cash_ledger", until=trade_date, activity_type=analytics.FEE_TYPES | analytics.FLOW_TYPES, '
     'columns=["activity_id", "date", "activity_type", "net_amount"])\n'),
    ('fills = ledger.table("fills", until=trade_date)\n',
     'fills = ledger.table("fills", until=trade_date, columns=["activity_id", "trade_date", "transaction_time", '
     '"symbol", "side", "qty", "price"])\n'),
    ('recon = ledger.table("recon", until=trade_date, kind="order")',
     'recon = ledger.table("recon", until=trade_date, kind="order", columns=["trade_date", "kind", "planned_qty", '
     '"filled_qty", "ref_price", "avg_fill_price", "slippage_bps"])'),
]


def proposed_module():
    """A copy of `steps/report.py` with PROPOSED applied, loaded as `paper_trading.steps.report_proposed`
    (so its relative imports resolve); (None, why) when the step no longer has those lines."""
    import importlib.util

    path = Path(importlib.import_module("paper_trading.steps.report").__file__)
    src = path.read_text()
    applied = [(old, new) for old, new in PROPOSED if old in src]
    if not applied:
        return None, "`steps/report.py` reads as recommended already"
    for old, new in applied:
        src = src.replace(old, new)
    name = "paper_trading.steps.report_proposed"
    spec = importlib.util.spec_from_loader(name, loader=None, origin=str(path))
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "paper_trading.steps"
    sys.modules[name] = module
    exec(compile(src, f"{path} (proposed reads)", "exec"), module.__dict__)
    return module, None


def narrow_reads(url: str, runs: int) -> dict:
    """The reads of NARROW_READS (plus `equity_on`), on a ledger opened outside the clock: as dicts
    (`Ledger.table`) and as DataFrames (`Ledger.frame`); median seconds and rows."""
    from paper_trading.ledger.store import Ledger

    out = {}
    with Ledger(url) as ledger:
        if not hasattr(ledger, "frame"):
            return {}
        for how in ("table", "frame"):
            read = getattr(ledger, how)
            times, each = [], defaultdict(list)
            for _ in range(runs + 1):  # the first is a warm-up
                t = time.perf_counter()
                rows = {}
                for name, kwargs in NARROW_READS:
                    t1 = time.perf_counter()
                    rows[shown_read(name, kwargs)] = len(read(name, **kwargs))
                    each[shown_read(name, kwargs)].append(time.perf_counter() - t1)
                ledger.equity_on(END_DAY)
                times.append(time.perf_counter() - t)
            out[how] = statistics.median(times[1:])
            out[f"{how}_each"] = {k: statistics.median(v[1:]) for k, v in each.items()}
            out["rows"] = rows
    return out


# ------------------------------------------------------------------------------------ baseline


def quantstats_baseline(pnl, tmp: Path, runs: int) -> dict:
    """quantstats' full tear-sheet on the portfolio's and SPY's daily returns as the step wrote them."""
    import warnings

    import pandas as pd

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    t = time.perf_counter()
    try:
        import quantstats as qs
    except ImportError as exc:
        return {"skipped": f"quantstats is not installed ({exc})"}
    imported = time.perf_counter() - t
    index = pd.DatetimeIndex(pd.to_datetime(pnl["date"]))
    returns = pd.Series(pnl["daily_return"].to_numpy(float), index=index, name="Strategy").dropna()
    bench = pd.Series(pnl["benchmark_return"].to_numpy(float), index=index, name="SPY").dropna()
    out: dict = {"import": imported, "n": len(returns)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, call in (("metrics", lambda: qs.reports.metrics(returns, bench, mode="full", display=False)),
                          ("html", lambda: qs.reports.html(returns, bench, output=str(tmp / "quantstats.html"),
                                                           title="bench"))):
            t = time.perf_counter()
            value = call()
            warm = time.perf_counter() - t
            timed = []
            for _ in range(runs):
                t = time.perf_counter()
                value = call()
                timed.append(time.perf_counter() - t)
            out[key] = {"warmup": warm, "times": timed}
            if key == "metrics":
                out["rows"] = len(value)
                out["table"] = value
            print(f"   quantstats {key}: warm-up {warm:.2f} s, then " + ", ".join(f"{x:.2f}" for x in timed)
                  + " s", flush=True)
    out["html_bytes"] = (tmp / "quantstats.html").stat().st_size
    import matplotlib.pyplot as plt

    plt.close("all")
    return out


def agreement(metrics: dict, qs_table) -> list[str]:
    """A few figures both compute, side by side (a sanity check that the two ran on the same series)."""
    pairs = [("sharpe_ratio", "Sharpe"), ("max_drawdown", "Max Drawdown"), ("annual_volatility", "Volatility (ann.)"),
             ("cum_returns_final", "Cumulative Return"), ("sortino_ratio", "Sortino")]
    out = []
    for ours, theirs in pairs:
        try:
            value = float(qs_table.loc[theirs, "Strategy"])
        except (KeyError, ValueError, TypeError):
            continue
        if metrics.get(ours) is not None:
            out.append(f"{ours} {metrics[ours]:.4f} vs quantstats' {theirs} {value:.4f}")
    return out


# ------------------------------------------------------------------------------------ profile


def profile(root: Path, url: str, broker, top: int) -> str:
    prof = cProfile.Profile()
    prof.enable()
    report(root, url, broker)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------------------------ report


def table(info: dict, case: Case, results: list[dict], qs: dict, runs: int, skipped: str | None,
          broker_note: str) -> str:
    med = statistics.median
    counts = results[0]["counts"]
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram']} RAM; Python {info['python']}, pandas "
        f"{info['pandas']}, numpy {info['numpy']}, empyrical-reloaded {info['empyrical']}, quantstats "
        f"{info['quantstats']}, SQLAlchemy {info['sqlalchemy']}, SQLite {info['sqlite']}, psycopg {info['psycopg']}; "
        f"library at {info['commit']}; run {info['date']}; 1-minute load average {info['load']} at the start, "
        f"{_load()} at the end.",
        "",
        f"The ledger: {len(case.sessions):,} XNYS sessions ({case.sessions[0]}..{case.sessions[-1]}), {case.names} "
        f"names held each session ({len(case.symbols)} over the period), rows: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        + (f"; SQLite file {results[0]['db_bytes'] / 1e6:,.0f} MB" if results[0].get("db_bytes") else "")
        + f". SPY closes: {broker_note}. Report date {END_DAY}. `steps.write_report` end to end, "
        f"median of {runs} calls after one untimed warm-up call per backend; quantstats on the same two return "
        f"series ({qs.get('n', 0):,} daily returns each), median of {runs} after a warm-up.",
        "",
        "| backend | what | seconds (median; min–max) | outputs | target |",
        "|---|---|---:|---|---|",
    ]
    for res in results:
        s = res["totals"]
        files = ", ".join(f"`{n}` {b / 1e3:,.0f} kB" for n, b in res["files"].items())
        ok = med(s) <= TARGET_S and max(s) <= TARGET_S
        lines.append(
            f"| {res['backend']} | **`steps.write_report`**, every M6 output of the day | {med(s):.2f} "
            f"({min(s):.2f}–{max(s):.2f}) | {files} | ≤ {TARGET_S:g} s: {'met' if ok else 'NOT met'} |"
        )
        lines.append(
            f"| {res['backend']} | the first call in the process (imports of pandas' and empyrical's "
            f"modules on first use included; for information) | {res['warmup']:.2f} | | |"
        )
        proj = res["projection"]
        if "totals" in proj:
            p = proj["totals"]
            ok = med(p) <= TARGET_S and max(p) <= TARGET_S
            lines.append(
                f"| {res['backend']} | projection, not the library: the step with the recommended reads "
                f"(`steps/report.py` patched in memory by the benchmark, see below) | {med(p):.2f} "
                f"({min(p):.2f}–{max(p):.2f}) | the same files; P&L table and metrics "
                f"{'identical' if proj['same'] else 'DIFFERENT'} | ≤ {TARGET_S:g} s: "
                f"{'would be met' if ok else 'NOT met'} |"
            )
        elif proj.get("skipped"):
            lines.append(
                f"| {res['backend']} | projection with the recommended reads: not run, {proj['skipped']} | | | |"
            )
    if skipped:
        lines.append(f"| postgresql | not measured: {skipped} | | | |")
    if "skipped" in qs:
        lines.append(f"| — | baseline not measured: {qs['skipped']} | | | |")
    else:
        m, h = qs["metrics"]["times"], qs["html"]["times"]
        lines.append(
            f'| — | baseline: `quantstats.reports.metrics(returns, benchmark, mode="full", display=False)` '
            f"({qs['rows']} figures × 2 series) | {med(m):.2f} ({min(m):.2f}–{max(m):.2f}) | a DataFrame | |"
        )
        lines.append(
            f"| — | baseline: `quantstats.reports.html(returns, benchmark, output=...)` (full tear-sheet, "
            f"plots included) | {med(h):.2f} ({min(h):.2f}–{max(h):.2f}) | "
            f"`quantstats.html` {qs['html_bytes'] / 1e3:,.0f} kB | |"
        )
        lines.append(f"| — | reference: `import quantstats` (once per process) | {qs['import']:.2f} | | |")
    dash = [n for n in results[0]["files"] if not n.startswith(STANDARD_OUTPUTS)]
    cols = [(r["backend"], r["inner"], med(r["totals"])) for r in results]
    cols += [
        (f"{r['backend']}, recommended reads", r["projection"]["inner"], med(r["projection"]["totals"]))
        for r in results
        if "inner" in r["projection"]
    ]
    lines += [
        "",
        "Where the step's time goes (median per piece over the timed calls; each piece its own time, pieces called "
        "inside another subtracted from it)"
        + (
            ""
            if dash or any(DASHBOARD in r["inner"] for r in results)
            else "; no dashboard yet: `paper_trading.reporting.dashboard` is not in the library, "
            "its row appears once the step writes it"
        )
        + ":",
        "",
        "| piece | " + " | ".join(f"{c[0]} (s)" for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    labels = sorted({k for c in cols for k in c[1]}, key=lambda k: -results[0]["inner"].get(k, 0.0))
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(f"{c[1].get(label, 0.0):.3f}" for c in cols) + " |")
    lines.append("| **total** | " + " | ".join(f"**{c[2]:.3f}**" for c in cols) + " |")
    if all(r.get("narrow") for r in results):
        rows = results[0]["narrow"]["rows"]
        lines += [
            "",
            "The recommended reads one by one (`Ledger.table` / `Ledger.frame` with the filters in SQL; `day` = "
            f"{END_DAY}; the lists in `NARROW_READS` of the script), median of {runs} after a "
            "warm-up, on a ledger opened outside the clock:",
            "",
            "| read | rows | "
            + " | ".join(f"{r['backend']}, dicts (s) | {r['backend']}, DataFrame (s)" for r in results)
            + " |",
            "|---|---:|" + "---:|---:|" * len(results),
        ]
        for key, n in rows.items():
            lines.append(
                f"| `{key}` | {n:,} | "
                + " | ".join(
                    f"{r['narrow']['table_each'][key]:.3f} | {r['narrow']['frame_each'][key]:.3f}" for r in results
                )
                + " |"
            )
        lines.append(
            "| **all of them** (+ `equity_on`) | | "
            + " | ".join(f"**{r['narrow']['table']:.3f}** | **{r['narrow']['frame']:.3f}**" for r in results)
            + " |"
        )
    if "table" in qs:
        agree = agreement(results[0]["metrics"], qs["table"])
        if agree:
            lines += ["", "Same series, same figures (sanity check): " + "; ".join(agree) + "."]
    return "\n".join(lines)


def write_readme(text: str) -> None:
    benchlib.write_readme(README, START, END, text, "bench_report.py", "M6 reporting over ten years")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", type=int, default=500)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--orders-per-day", type=float, default=33.0)
    parser.add_argument("--runs", type=int, default=3, help="timed calls per backend (after one warm-up)")
    parser.add_argument("--profile-top", type=int, default=35, help="lines of the cProfile listing (0: no profile)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-quantstats", action="store_true")
    parser.add_argument("--no-readme", action="store_true", help="print only; leave bench/README.md as it is")
    parser.add_argument("--quick", action="store_true", help="50 names, 1 year, one run; README untouched")
    args = parser.parse_args()
    if args.quick:
        args.names, args.years, args.runs, args.no_readme = 50, 1, 1, True

    from alpaca_sim.server import SimServer

    info = machine()
    t = time.perf_counter()
    case = make_case(args.names, args.years, args.orders_per_day)
    print(
        f"-- {len(case.sessions):,} sessions, {args.names} names (built in {time.perf_counter() - t:.1f} s)", flush=True
    )
    skipped = "--no-postgres" if args.no_postgres else pg_available()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp_name:
        tmp = Path(tmp_name)
        bars = tmp / "spy_bars.csv"
        write_inputs(tmp / "inputs", case, bars)
        clock = f"{END_DAY}T21:30:00Z"
        with SimServer(tmp / "sim.db", bars=bars, clock=clock) as sim:
            sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 10**9, "data_rate_limit_per_minute": 10**9})
            broker_note = (
                f"from `alpaca_sim` over HTTP through `AlpacaBroker.daily_closes` (the production path; "
                f"{len(case.spy):,} daily bars of SPY loaded from a CSV)"
            )
            for backend in ("sqlite",) + (() if skipped else ("postgresql",)):
                print(f"-- {backend}", flush=True)
                results.append(one_backend(backend, tmp, case, sim, args.runs))
            listing = ""
            if args.profile_top:
                print("-- cProfile of one SQLite call", flush=True)
                listing = profile(results[0]["root"], results[0]["url"], make_broker(sim), args.profile_top)
        qs = {"skipped": "--no-quantstats"} if args.no_quantstats else {}
        if not qs:
            print("-- baseline: quantstats", flush=True)
            qs = quantstats_baseline(results[0]["pnl"], tmp, args.runs)
    text = table(info, case, results, qs, args.runs, skipped, broker_note)
    print()
    print(text)
    if listing:
        print("\n-- cProfile of one SQLite call\n" + listing)
    if not args.no_readme:
        write_readme(text)
        print(f"\nwritten to {README.relative_to(REPO)}")
    for res in results:
        if statistics.median(res["totals"]) > TARGET_S:
            print(f"note: {res['backend']}: the target (≤ {TARGET_S:g} s) is not met", file=sys.stderr)


if __name__ == "__main__":
    main()
