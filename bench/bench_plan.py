"""M2 planning cost for a 5,000-asset universe, against a per-row Python loop baseline.

    python bench/bench_plan.py [--assets 5000] [--runs 15] [--no-readme]

Targets, prices and holdings are built in memory (deterministic seed): 5,000 target names with
random weights and prices from $0.50 to $2,000, and 3,000 held positions, 500 of which are not in
the targets (liquidations). Both variants compute the same plan — whole shares rounded down,
cash buffer, minimum trade, sells first, buys cut to the cash — and the run checks that their
orders are identical before it reports anything. Times are the median of `--runs` calls in this
process (the imports are not counted: in the DAG they are paid once per task). Target (issue 4):
the vectorized planner ≤ 100 ms. Both variants produce the same two outputs — the per-symbol
plan table and the orders.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from paper_trading.planning.rebalance import (
    PlanSettings,
    bracket_prices,
    plan_rebalance,
)

REPO = Path(__file__).resolve().parents[1]
README = REPO / "bench" / "README.md"
START, END = "<!-- plan-results:start -->", "<!-- plan-results:end -->"
TARGET_MS = 100.0


def make_case(n_assets: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    gvkeys = [f"{i:06d}" for i in range(1, n_assets + 1)]
    symbols = [f"S{i:05d}" for i in range(1, n_assets + 1)]
    weights = rng.dirichlet(np.ones(n_assets))
    targets = pd.DataFrame({"asset_id": gvkeys, "target_weight": weights})
    mapping = pd.DataFrame({"gvkey": gvkeys, "symbol": symbols})
    prices = dict(zip(symbols + [f"X{i:04d}" for i in range(500)], np.round(rng.uniform(0.5, 2000, n_assets + 500), 2)))
    held = rng.choice(n_assets, size=min(2500, n_assets), replace=False)
    positions = {symbols[i]: float(rng.integers(1, 400)) for i in held}
    positions |= {f"X{i:04d}": float(rng.integers(1, 100)) for i in range(500)}  # not in the targets
    equity = 50_000_000.0
    cash = equity - sum(q * prices[s] for s, q in positions.items())
    return targets, mapping, prices, positions, equity, max(cash, 0.0)


def loop_plan(targets, mapping, prices, positions, equity, cash, s: PlanSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same rules, one symbol at a time, in plain Python (the baseline): the same two outputs,
    the per-symbol plan table and the orders."""
    symbol_of = dict(zip(mapping["gvkey"], mapping["symbol"]))
    weights: dict[str, float] = {}
    for asset, w in zip(targets["asset_id"], targets["target_weight"]):
        if asset in symbol_of:
            weights[symbol_of[asset]] = weights.get(symbol_of[asset], 0.0) + w
    investable = equity * (1 - s.cash_buffer_pct)
    minimum = max(s.min_trade_value, s.min_trade_pct * equity)
    sells, buys, plan_rows = [], [], []
    for symbol in sorted(set(weights) | set(positions)):
        price = prices.get(symbol)
        held = positions.get(symbol, 0.0)
        weight = weights.get(symbol, 0.0)
        row = {"symbol": symbol, "ref_price": price, "current_qty": held, "current_value": held * (price or 0),
               "current_weight": held * (price or 0) / equity, "target_weight": weight,
               "target_value": weight * investable, "target_qty": None, "delta_qty": 0.0, "action": "skip",
               "reason": "no_price"}
        plan_rows.append(row)
        if not price or price <= 0:
            continue
        target_qty = math.floor(weight * investable / price + 1e-9)
        delta = target_qty - held
        row["target_qty"] = target_qty
        liquidation = symbol not in weights and held > 0
        if delta == 0:
            row["action"] = row["reason"] = "hold"
            continue
        if abs(delta) * price < minimum and not liquidation:
            row["reason"] = "below_min_trade"
            continue
        row["action"], row["delta_qty"] = ("sell" if delta < 0 else "buy"), delta
        if delta < 0:
            sells.append([symbol, "sell", -delta, price, "exit" if target_qty == 0 else "reduce"])
        else:
            buys.append([symbol, "buy", delta, price, "new_position" if held == 0 else "increase"])
    budget = cash + sum(o[2] * o[3] for o in sells) - s.cash_buffer_pct * equity
    excess = sum(o[2] * o[3] for o in buys) - max(budget, 0.0)
    for order in sorted(buys, key=lambda o: -o[2] * o[3]):
        if excess <= 1e-9:
            break
        cut = min(order[2], math.ceil(excess / order[3] - 1e-9))
        order[2] -= cut
        excess -= cut * order[3]
        if order[2] <= 0 or order[2] * order[3] < minimum:
            excess -= max(order[2], 0) * order[3]
            order[2] = 0
        order[4] = "cash_limited"
    rows = []
    for order in sells + [b for b in buys if b[2] > 0]:
        symbol, side, qty, price, reason = order
        if side == "buy":
            tp, sl = bracket_prices(np.array([price]), s.take_profit_pct, s.stop_loss_pct)
            rows.append([symbol, side, qty, price, "bracket", float(tp[0]), float(sl[0]), reason])
        else:
            rows.append([symbol, side, qty, price, "market", float("nan"), float("nan"), reason])
    orders = pd.DataFrame(
        rows, columns=["symbol", "side", "qty", "ref_price", "order_type", "tp_price", "sl_price", "reason"]
    )
    return pd.DataFrame(plan_rows), orders


def timed(call, runs: int) -> tuple[float, object]:
    result = call()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    case = make_case(args.assets)
    settings = PlanSettings()
    vec_ms, plan = timed(lambda: plan_rebalance(*case, settings), args.runs)
    loop_ms, baseline = timed(lambda: loop_plan(*case, settings), args.runs)
    ours = plan.orders[["symbol", "side", "qty", "ref_price", "order_type", "tp_price", "sl_price", "reason"]]
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), baseline[1], check_dtype=False)
    assert len(baseline[0]) == len(plan.plan), "both plans list every symbol"
    n_orders = len(ours)
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    import os

    text = "\n".join(
        [
            f"Machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, pandas {pd.__version__}, "
            f"numpy {np.__version__}. {args.assets:,} target names + 500 positions to liquidate, {n_orders:,} orders; "
            f"median of {args.runs} runs in one process; both plans checked identical.",
            "",
            "| variant | compute (ms, median) | speed-up | target |",
            "|---|---:|---:|---|",
            f"| baseline: per-row Python loop | {loop_ms:.1f} | 1.0× | |",
            f"| `rebalance.plan_rebalance` (pandas/numpy) | {vec_ms:.1f} | {loop_ms / vec_ms:.1f}× | "
            f"≤ {TARGET_MS:.0f} ms: {'met' if vec_ms <= TARGET_MS else 'NOT met'} |",
        ]
    )
    print(text)
    if not args.no_readme:
        readme = README.read_text()
        block = f"{START}\n{text}\n{END}"
        if START in readme:
            head, rest = readme.split(START, 1)
            readme = head + block + rest.split(END, 1)[1]
        else:
            readme = (
                readme.rstrip()
                + "\n\n## M2: planning a 5,000-asset universe\n\n"
                + __doc__.split("\n\n", 2)[2].strip()
                + "\n\n"
                + block
                + "\n"
            )
        README.write_text(readme)
    if vec_ms > TARGET_MS:
        sys.exit(1)


if __name__ == "__main__":
    main()
