"""M2 — the rebalance planner: target weights + prices + holdings -> a plan and share orders.

Pure functions on DataFrames; the broker, files and the CLI are at the edges (`steps/`).

Sizing (spec §3.2, with the rules users of Alpaca learn the hard way, DESIGN §5):

- investable = equity × (1 − cash buffer); target value = weight × investable;
- whole shares, rounded down (fractional shares optional: then orders are simple market DAY
  orders, never brackets, as Alpaca requires);
- positions that are not in the targets, or whose target weight is zero, are liquidated;
- a trade worth less than the minimum — the larger of an absolute amount and a share of equity
  (LEAN's default is 0.1 %) — is skipped with reason `below_min_trade`; liquidations (a position
  that left the targets or whose target is zero) are exempt, so no dust is left behind;
- an account without equity (0 or less) trades nothing: every row is skipped with `no_equity`;
- sells come before buys, and after the planned sells the buys never need more cash than there
  is: they are cut back (largest first, reason `cash_limited`) until cash after the trades is at
  least the buffer, at the reference prices;
- reductions and exits are MARKET sells (a short left over is covered with a MARKET buy); new
  positions and increases are BRACKET buys with
  take-profit / stop-loss at ±percentages of the reference price, priced per Alpaca's rules
  (cents at $1 and above, 4 decimals below; TP >= base + 0.01, SL <= base − 0.01).

Every asset of the targets appears in the plan, traded or with a reason (`unmapped`,
`no_price`, `below_min_trade`, `cash_limited`, `bracket_impossible`, `no_equity`, `hold`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from paper_trading.orders import ORDER_COLUMNS, PLAN_COLUMNS, QTY_DECIMALS


@dataclass(frozen=True)
class PlanSettings:
    cash_buffer_pct: float = 0.02
    min_trade_value: float = 1.0
    min_trade_pct: float = 0.001
    fractional: bool = False
    take_profit_pct: float = 0.05
    stop_loss_pct: float = 0.03
    bracket_time_in_force: str = "gtc"
    simple_time_in_force: str = "day"


@dataclass(frozen=True)
class Plan:
    plan: pd.DataFrame  # one row per symbol (and per unmapped asset)
    orders: pd.DataFrame  # sells first, then buys
    equity: float
    cash: float
    cash_after: float


def price_tick(price: np.ndarray) -> np.ndarray:
    """Alpaca's price increment: $0.01 at $1 and above, $0.0001 below."""
    return np.where(price >= 1.0, 0.01, 0.0001)


def round_to_tick(price: np.ndarray, direction: str) -> np.ndarray:
    """Round to a valid price: up (`ceil`) or down (`floor`), on each price's own tick.

    A tiny epsilon keeps 101.99999999 from flooring to 101.99.
    """
    tick = price_tick(price)
    steps = price / tick
    steps = np.ceil(steps - 1e-9) if direction == "up" else np.floor(steps + 1e-9)
    return np.round(steps * tick, 4)


BRACKET_MIN_GAP = 0.01


def bracket_prices(ref: np.ndarray, tp_pct: float, sl_pct: float) -> tuple[np.ndarray, np.ndarray]:
    """Take-profit >= ref + $0.01 and stop-loss <= ref − $0.01 at every price (Alpaca's rule),
    on valid ticks (cents from $1, 4 decimals below)."""
    tp = np.maximum(round_to_tick(ref * (1 + tp_pct), "up"), round_to_tick(ref + BRACKET_MIN_GAP, "up"))
    sl = np.minimum(round_to_tick(ref * (1 - sl_pct), "down"), round_to_tick(ref - BRACKET_MIN_GAP, "down"))
    return tp, sl


def _floor_qty(qty: np.ndarray, fractional: bool) -> np.ndarray:
    if fractional:
        scale = 10**QTY_DECIMALS
        return np.floor(qty * scale + 1e-6) / scale
    return np.floor(qty + 1e-9)


def plan_rebalance(
    targets: pd.DataFrame,
    mapping: pd.DataFrame,
    prices: dict[str, float] | pd.Series,
    positions: dict[str, float] | pd.Series,
    equity: float,
    cash: float,
    settings: PlanSettings = PlanSettings(),
) -> Plan:
    """The plan for one day. `targets`: asset_id, target_weight (M1's output); `mapping`: gvkey,
    symbol; `prices`: symbol -> reference price; `positions`: symbol -> current quantity."""
    if not (math.isfinite(equity) and math.isfinite(cash)):
        raise ValueError(f"equity and cash must be finite numbers, got {equity} and {cash}")
    prices = pd.Series(prices, dtype="float64")
    positions = pd.Series(positions, dtype="float64")
    positions = positions[positions != 0]

    mapped = targets[["asset_id", "target_weight"]].merge(
        mapping[["gvkey", "symbol"]].rename(columns={"gvkey": "asset_id"}), on="asset_id", how="left")
    unmapped = mapped[mapped["symbol"].isna()]
    mapped = mapped[mapped["symbol"].notna()]
    # Two gvkeys of one symbol (a share-class quirk) add up; the usual one-to-one case stays vectorized.
    shared = mapped["symbol"].duplicated(keep=False)
    asset_ids = mapped.loc[~shared].set_index("symbol")["asset_id"]
    if shared.any():
        joined = mapped.loc[shared].groupby("symbol")["asset_id"].agg(lambda ids: ",".join(sorted(ids)))
        asset_ids = pd.concat([asset_ids, joined])
    by_symbol = pd.DataFrame({"target_weight": mapped.groupby("symbol", sort=True)["target_weight"].sum()})
    by_symbol["asset_id"] = asset_ids.reindex(by_symbol.index)

    symbols = by_symbol.index.union(positions.index)
    frame = pd.DataFrame(index=symbols)
    frame.index.name = "symbol"
    frame["asset_id"] = by_symbol["asset_id"].reindex(symbols).fillna("")
    weight = by_symbol["target_weight"].reindex(symbols)
    frame["in_targets"] = weight.notna().to_numpy()  # (faster than Index.isin on arrow strings)
    frame["target_weight"] = weight.fillna(0.0)
    frame["current_qty"] = positions.reindex(symbols).fillna(0.0)
    frame["ref_price"] = prices.reindex(symbols)
    priced = frame["ref_price"].notna() & (frame["ref_price"] > 0)

    price = frame["ref_price"].to_numpy()
    current_qty = frame["current_qty"].to_numpy()
    investable = equity * (1 - settings.cash_buffer_pct)
    frame["current_value"] = current_qty * price
    frame["current_weight"] = frame["current_value"] / equity if equity > 0 else np.nan
    frame["target_value"] = frame["target_weight"] * investable
    target_qty = np.where(priced, _floor_qty(frame["target_value"].to_numpy() / np.where(priced, price, 1.0),
                                             settings.fractional), np.nan)
    delta = target_qty - current_qty
    if not settings.fractional:  # whole-share mode buys whole shares even when a fraction is held
        delta = np.where(delta > 0, np.floor(delta + 1e-9), delta)
    trade_value = np.abs(delta) * price
    min_trade = max(settings.min_trade_value, settings.min_trade_pct * equity)

    action = np.full(len(frame), "hold", dtype=object)
    reason = np.full(len(frame), "hold", dtype=object)
    # A name left out of the targets, or given a target of zero, is sold (or covered) completely:
    # exempt from the minimum trade, so no dust is left behind.
    liquidation = (~frame["in_targets"].to_numpy() | (frame["target_weight"].to_numpy() == 0)) & (current_qty != 0)
    sell = priced.to_numpy() & (delta < 0)
    buy = priced.to_numpy() & (delta > 0)
    small = (trade_value < min_trade) & ~liquidation
    action[sell & ~small] = "sell"
    reason[sell & ~small] = np.where(target_qty[sell & ~small] == 0, "exit", "reduce")
    action[buy & ~small] = "buy"
    reason[buy & ~small] = np.select([current_qty[buy & ~small] < 0, current_qty[buy & ~small] == 0],
                                     ["cover", "new_position"], "increase")
    action[(sell | buy) & small] = "skip"
    reason[(sell | buy) & small] = "below_min_trade"
    if not settings.fractional:  # an entry is a bracket; below ~$0.0101 no stop-loss fits $0.01 under the price
        _, stop = bracket_prices(np.where(priced, price, 1.0), settings.take_profit_pct, settings.stop_loss_pct)
        impossible = buy & ~small & (current_qty >= 0) & (stop <= 0)
        action[impossible] = "skip"
        reason[impossible] = "bracket_impossible"
    action[~priced.to_numpy()] = "skip"
    reason[~priced.to_numpy()] = "no_price"
    if equity <= 0:  # an unfunded (or wiped-out) account: an outcome to report, not an error
        action[:] = "skip"
        reason[:] = "no_equity"
    frame["target_qty"] = target_qty
    frame["delta_qty"] = np.where(np.isin(action, ["buy", "sell"]), delta, 0.0)
    frame["action"], frame["reason"] = action, reason

    sells_value = float((np.abs(frame["delta_qty"]) * frame["ref_price"])[frame["action"] == "sell"].sum())
    budget = cash + sells_value - settings.cash_buffer_pct * equity
    _fit_buys_to_cash(frame, budget, settings, min_trade)
    buys_value = float((frame["delta_qty"] * frame["ref_price"])[frame["action"] == "buy"].sum())

    plan = frame.reset_index()
    if len(unmapped):
        plan = pd.concat(
            [
                plan,
                pd.DataFrame(
                    {
                        "symbol": "",
                        "asset_id": unmapped["asset_id"].to_numpy(),
                        "target_weight": unmapped["target_weight"].to_numpy(),
                        "current_qty": 0.0,
                        "current_value": 0.0,
                        "current_weight": 0.0,
                        "target_value": 0.0,
                        "target_qty": np.nan,
                        "delta_qty": 0.0,
                        "ref_price": np.nan,
                        "action": "skip",
                        "reason": "unmapped",
                    }
                ),
            ],
            ignore_index=True,
        )
    plan = plan[PLAN_COLUMNS]
    return Plan(plan, orders_from_plan(plan, settings), equity, cash, cash + sells_value - buys_value)


def _fit_buys_to_cash(frame: pd.DataFrame, budget: float, settings: PlanSettings, min_trade: float) -> None:
    """Cut buys back, largest first, until they cost no more than `budget` (in place)."""
    buys = frame.index[frame["action"] == "buy"]
    cost = float((frame.loc[buys, "delta_qty"] * frame.loc[buys, "ref_price"]).sum())
    if cost <= budget + 1e-9:
        return
    order = (frame.loc[buys, "delta_qty"] * frame.loc[buys, "ref_price"]).sort_values(ascending=False).index
    excess = cost - max(budget, 0.0)
    for symbol in order:
        if excess <= 1e-9:
            break
        price = cast(float, frame.at[symbol, "ref_price"])  # (pandas-stubs: any scalar at all)
        qty = cast(float, frame.at[symbol, "delta_qty"])
        cut = min(
            qty,
            math.ceil(excess / price - 1e-9)
            if not settings.fractional
            else math.ceil(excess / price * 10**QTY_DECIMALS) / 10**QTY_DECIMALS,
        )
        new_qty = qty - cut
        excess -= cut * price
        if new_qty <= 0 or new_qty * price < min_trade:
            excess -= new_qty * price if new_qty > 0 else 0.0
            frame.at[symbol, "delta_qty"] = 0.0
            frame.at[symbol, "action"] = "skip"
        else:
            frame.at[symbol, "delta_qty"] = new_qty
        frame.at[symbol, "reason"] = "cash_limited"


def orders_from_plan(plan: pd.DataFrame, settings: PlanSettings) -> pd.DataFrame:
    """The orders of a plan (`symbol, action, delta_qty, ref_price, reason`): sells first, a
    whole-share buy as a bracket on its reference price, everything else at market."""
    trades = plan[plan["action"].isin(["sell", "buy"])].copy()
    trades["side"] = trades["action"]
    trades["qty"] = trades["delta_qty"].abs()
    trades["notional"] = (trades["qty"] * trades["ref_price"]).round(2)
    is_buy = trades["side"].eq("buy").to_numpy()
    # brackets only for whole-share entries: Alpaca refuses fractional brackets and exits (covers)
    whole = np.isclose(trades["qty"].to_numpy(dtype="float64") % 1, 0)
    bracket = is_buy & whole & (trades["reason"] != "cover").to_numpy() & (not settings.fractional)
    tp, sl = bracket_prices(trades["ref_price"].to_numpy(), settings.take_profit_pct, settings.stop_loss_pct)
    trades["order_type"] = np.where(bracket, "bracket", "market")
    trades["time_in_force"] = np.where(
        bracket, settings.bracket_time_in_force, np.where(whole, settings.simple_time_in_force, "day")
    )
    trades["tp_price"] = np.where(bracket, tp, np.nan)
    trades["sl_price"] = np.where(bracket, sl, np.nan)
    trades["side_rank"] = np.where(is_buy, 1, 0)
    trades = trades.sort_values(["side_rank", "symbol"], kind="stable")
    return trades[ORDER_COLUMNS].reset_index(drop=True)
