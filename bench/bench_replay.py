"""Replay benchmark (issue 12 §1): a year of sessions × 100 names through `python -m paper_trading
replay` (real mode against the local simulator), with a profile of where the time goes.

A synthetic project is generated (seeded): 100 names (symbols B001..B100, six-digit gvkeys) with
daily bars for 2023-2024 and SPY, and one strategy whose weights move every day (log-weights on a
mean-reverting random walk; the weakest 15 % not held), so most names trade most days, as in the
sample data. The replay runs the 252 XNYS sessions of 2024.

Baseline, in the same run: the HTTP floor — as many requests as the replay sent to the simulator,
each the cheapest one (`GET /v2/clock` through the same alpaca-py client), one after the other. What
the replay takes beyond it is our own work (the steps, the ledger, the simulator's matching).

    .venv/bin/python bench/bench_replay.py [--sessions 252] [--names 100] [--no-readme]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import benchlib  # noqa: E402

README = REPO / "bench" / "README.md"
START, END = "<!-- bench_replay:start -->", "<!-- bench_replay:end -->"
SEED = 20261202
YEAR = ("2024-01-02", "2024-12-31")

#: Where the time goes: the steps of a day (cumulative time of each, from the profile).
PHASES = {
    "signals + M1": ("steps/signals.py", "signals_ready"), "M1": ("steps/signals.py", "signal_bus"),
    "M2 plan": ("steps/plan.py", "plan"), "risk gate": ("steps/risk.py", "risk"),
    "M4 execute": ("steps/execute.py", "execute"), "wait for fills": ("steps/execute.py", "wait_for_fills"),
    "M5 reconcile": ("steps/reconcile.py", "reconcile"), "M6 report (once)": ("steps/report.py", "report"),
    "simulator clock moves": ("steps/replay.py", "sleep"),
}


def make_project(root: Path, names: int) -> None:
    """The synthetic project: config (select the one strategy), manifest, map, bars, signals."""
    from paper_trading.trading_calendar import sessions_between

    rng = np.random.default_rng(SEED)
    shutil.copytree(REPO / "config", root / "config")
    symbols = [f"B{i:03d}" for i in range(1, names + 1)]
    gvkeys = [f"{200000 + i:06d}" for i in range(1, names + 1)]
    (root / "data" / "mapping").mkdir(parents=True)
    pd.DataFrame({"gvkey": gvkeys, "symbol": symbols, "sector": [f"Sector {i % 11}" for i in range(names)],
                  "name": symbols}).to_csv(root / "data" / "mapping" / "instrument_map.csv", index=False)
    days = sessions_between(dt.date(2023, 1, 3), dt.date.fromisoformat(YEAR[1]))
    rows = []
    for symbol in [*symbols, "SPY"]:
        close, sigma = float(rng.uniform(20, 400)), 0.009 if symbol == "SPY" else float(rng.uniform(0.012, 0.024))
        for day in days:
            open_ = close * float(np.exp(rng.normal(0, sigma / 3)))
            close = open_ * float(np.exp(rng.normal(0.0003, sigma)))
            high = max(open_, close) * (1 + abs(float(rng.normal(0, sigma / 2))))
            low = min(open_, close) * (1 - abs(float(rng.normal(0, sigma / 2))))
            o, h, lo, c = (round(x, 2) for x in (open_, high, low, close))
            volume = int(rng.integers(2_000_000, 60_000_000))
            rows.append((symbol, day.isoformat(), o, max(h, o, c), min(lo, o, c), c, volume, volume // 120,
                         round((o + h + lo + c) / 4, 4)))
    (root / "data" / "market").mkdir(parents=True)
    pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume", "trade_count", "vwap"]) \
        .to_csv(root / "data" / "market" / "daily_bars.csv", index=False)
    logits, signal = rng.normal(0, 0.5, names), []
    for day in sessions_between(*(dt.date.fromisoformat(d) for d in YEAR)):
        logits = 0.97 * logits + rng.normal(0, 0.15, names)
        weights = np.exp(logits)
        weights[weights < np.quantile(weights, 0.15)] = 0.0
        weights /= weights.sum()
        signal += [(day.isoformat(), int(g), round(float(w), 8)) for g, w in zip(gvkeys, weights) if w > 0]
    (root / "data" / "raw_signals").mkdir(parents=True)
    pd.DataFrame(signal, columns=["trade_date", "gvkey", "weights"]).to_csv(
        root / "data" / "raw_signals" / "bench.csv", index=False)
    (root / "config" / "strategy_manifest.yaml").write_text(
        "strategies:\n  - id: bench\n    path: data/raw_signals/bench.csv\n    format: csv\n"
        "    column_mapping: {trade_date: trade_date, gvkey: asset_id, weights: target_weight}\n")
    config = root / "config" / "config.yaml"
    config.write_text(config.read_text().replace("mode: blend ", "mode: select").replace("pick: drl", "pick: bench"))


def run(sessions: int, names: int, profiled_run: bool = True) -> dict:
    """The replay twice on fresh projects: once plain (the wall time), once under cProfile (where
    the time goes: cProfile slows the replay by about a third, so its seconds are not the wall's).
    `profiled_run=False`: the plain run only (an A/B of two versions of the code in one sitting)."""
    from paper_trading.trading_calendar import sessions_between

    days = sessions_between(*(dt.date.fromisoformat(d) for d in YEAR))[:sessions]
    plain = replay_once(days, names, profile=None)
    if not profiled_run:
        return {**plain, "sessions": len(days), "names": names, "profiled": None, "phases": {}}
    profile = cProfile.Profile()
    profiled = replay_once(days, names, profile=profile)
    stats = pstats.Stats(profile)
    phases = {}
    for label, (file, function) in PHASES.items():
        phases[label] = sum(v[3] for (f, _, fn), v in stats.stats.items() if f.endswith(file) and fn == function)
    return {**plain, "sessions": len(days), "names": names, "profiled": profiled["seconds"], "phases": phases}


def replay_once(days: list[dt.date], names: int, profile: cProfile.Profile | None) -> dict:
    """One replay of `days` on a fresh synthetic project: its wall time, its requests by route, and
    the HTTP floor for as many requests."""
    import paper_trading.broker.alpaca as broker_module
    from paper_trading.steps.replay import replay

    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        root = Path(tmp) / "project"
        make_project(root, names)
        sent = [0]
        routes: Counter = Counter()
        original = broker_module._TimeoutAdapter.send

        def counted(self, request, **kwargs):
            sent[0] += 1
            routes[route_of(request.method, request.path_url)] += 1
            return original(self, request, **kwargs)

        broker_module._TimeoutAdapter.send = counted
        try:
            began = time.perf_counter()
            if profile is not None:
                profile.enable()
            result = replay(days[0], days[-1], mode="real", root=root)
            if profile is not None:
                profile.disable()
            took = time.perf_counter() - began
        finally:
            broker_module._TimeoutAdapter.send = original
        floor = http_floor(root, sent[0]) if profile is None else None
    return {"seconds": took, "requests": sent[0], "floor": floor, "routes": routes,
            "orders": sum(d["orders"] for d in result["days"]), "filled": sum(d["filled"] for d in result["days"])}


def route_of(method: str, path_url: str) -> str:
    """`GET /v2/orders/{id}`: the request's method and path, ids and symbols folded, query names kept."""
    path, _, query = path_url.partition("?")
    parts = path.split("/")
    for i, part in enumerate(parts):
        if (i >= 3 and parts[i - 1] in {"orders", "positions", "assets", "accounts"}
                or re.fullmatch(r"[0-9a-f-]{36}", part)):
            parts[i] = "{id}"
        elif i >= 3 and parts[i - 1] == "orders:by_client_order_id":
            parts[i] = "{cid}"
    keys = sorted(k.partition("=")[0] for k in query.split("&") if k)
    status = next((k.partition("=")[2] for k in query.split("&") if k.startswith("status=")), "")
    shown = ",".join(f"{k}={status}" if k == "status" else k for k in keys)
    return f"{method} {'/'.join(parts)}" + (f"?{shown}" if shown else "")


def http_floor(root: Path, requests: int) -> float:
    """`requests` × GET /v2/clock, one after the other, on a simulator like the replay's."""
    from alpaca_sim.server import SimServer
    from paper_trading.broker.alpaca import AlpacaBroker

    with SimServer(root / "floor.sqlite", bars=root / "data" / "market" / "daily_bars.csv") as sim:
        sim.admin("POST", "/sim/config", {"rate_limit_per_minute": 600_000, "data_rate_limit_per_minute": 600_000})
        broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=600_000)
        began = time.perf_counter()
        for _ in range(requests):
            broker.clock()
        return time.perf_counter() - began


def table(r: dict, args: argparse.Namespace) -> str:
    per = r["seconds"] / r["sessions"]
    lines = [
        f"Machine: {benchlib.cpu_model()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}. "
        "Command: `.venv/bin/python bench/bench_replay.py"
        f"{'' if args.sessions == 252 else f' --sessions {args.sessions}'}"
        f"{'' if args.names == 100 else f' --names {args.names}'}"
        f"{' --no-profile' if r['profiled'] is None else ''}`. The wall time is of a plain run"
        + (
            "."
            if r["profiled"] is None
            else f"; the breakdown below comes from a second, profiled run (cProfile: {r['profiled']:.1f} s)."
        ),
        "",
        "| case | sessions × names | wall | per session | orders sent (filled) | requests to the simulator | "
        "HTTP floor (same number of GET /v2/clock) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        f"| replay, real mode, 2024 | {r['sessions']} × {r['names']} | {r['seconds']:.1f} s | {per:.2f} s | "
        f"{r['orders']:,} ({r['filled']:,}) | {r['requests']:,} | {r['floor']:.1f} s | ≤ 120 s for 252 × 100: "
        f"{'met' if r['seconds'] <= 120 * r['sessions'] / 252 else '**not met**'} |",
    ]
    if r["profiled"] is not None:
        lines += [
            "",
            "Where the time goes in the profiled run (cumulative time of each step's function; the steps "
            "of a day nest nothing of each other; shares of the profiled run's time):",
            "",
            "| step | seconds | share |",
            "|---|---:|---:|",
        ]
        for label, seconds in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
            lines.append(f"| {label} | {seconds:.1f} | {seconds / r['profiled']:.0%} |")
    lines += ["", "The requests, by route (ids folded):", "", "| request | count | per session |", "|---|---:|---:|"]
    for route, count in r["routes"].most_common():
        lines.append(f"| `{route}` | {count:,} | {count / r['sessions']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=252)
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--no-readme", action="store_true")
    parser.add_argument("--no-profile", action="store_true", help="the plain run only, no profiled second run")
    args = parser.parse_args()
    result = run(args.sessions, args.names, profiled_run=not args.no_profile)
    text = table(result, args)
    print(text)
    if not args.no_readme:
        benchlib.write_readme(README, START, END, text, "bench_replay.py", "Replay: a year of sessions")
        print("written to bench/README.md")


if __name__ == "__main__":
    main()
