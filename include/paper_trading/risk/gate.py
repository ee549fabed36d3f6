"""The pre-trade risk gate: every planned order is approved or rejected, with reasons.

The gate never changes a quantity — it only says yes or no — and a rejected order never reaches
execution. Checks (the spec's M4 risk rules, §2.3):

- per order: shares and notional limits; the reference price against the latest snapshot price
  (buy: ref <= last × (1 + tol); sell: ref >= last × (1 − tol), and the mirror of each), so a
  plan made on stale prices is not sent; a missing price (`reject_if_price_missing`); bracket
  take-profit / stop-loss valid against the latest price and Alpaca's tick rules; a symbol
  blacklist; the maximum weight of one name after the trade; a volatility gate on new buys (a
  symbol's recent realized volatility, or the market's, above a threshold);
- per batch: total notional; turnover as a share of equity; cash after the approved trades at
  least `min_cash_buffer_pct` of equity (otherwise the buys are rejected);
- pre-flight, rejecting everything: the kill switch (config flag or a file), the account flags
  (`trading_blocked`, `account_blocked`, `trade_suspended_by_user`), and in real mode a closed
  market (spec T3) — we stop with a clear alert instead of queueing orders blind.

`reject_batch_on_any` turns any rejection into a rejection of the whole batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from paper_trading.orders import ORDER_COLUMNS
from paper_trading.planning.rebalance import BRACKET_MIN_GAP, price_tick

REPORT_COLUMNS = ORDER_COLUMNS + ["last_price", "verdict", "reasons"]
TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class RiskSettings:
    max_share_per_order: float = 10_000
    max_notional_per_order: float = 100_000
    price_tolerance_pct: float = 0.02
    reject_if_price_missing: bool = True
    max_total_notional: float = 1_000_000
    min_cash_buffer_pct: float = 0.01
    max_turnover_pct: float = 2.0
    max_weight_per_name: float | None = None
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_margin_pct: float | None = None
    blacklist: tuple[str, ...] = ()
    vol_lookback_days: int = 20
    vol_max_annualized: float | None = None
    vol_scope: str = "symbol"  # symbol: that symbol's buys; market: all buys, from vol_market_symbol
    vol_market_symbol: str = "SPY"
    reject_batch_on_any: bool = False


@dataclass(frozen=True)
class GateContext:
    """What the gate knows about the world when it runs."""

    mode: str  # dry | real
    equity: float
    cash: float
    last_prices: dict[str, float]
    positions: dict[str, float] = field(default_factory=dict)
    realized_vol: dict[str, float] = field(default_factory=dict)
    preflight_failures: tuple[str, ...] = ()  # kill switch, account flags, market closed


def realized_volatility(closes: list[float], lookback: int) -> float | None:
    """Annualized standard deviation of the last `lookback` daily log returns (None if too short)."""
    if len(closes) < lookback + 1:
        return None
    values = np.asarray(closes[-(lookback + 1) :], dtype="float64")
    returns = np.diff(np.log(values))
    return float(np.std(returns, ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR))


def preflight(
    mode: str,
    account_flags: dict[str, bool],
    kill_switch: bool,
    market_open: bool | None,
    session_today: bool | None,
    trade_date_is_today: bool | None = None,
) -> tuple[str, ...]:
    """Reasons that stop the whole batch before any order is looked at. In real mode the market
    must be open now, and the run must be today's: a re-run of an older day never trades today."""
    reasons = []
    if kill_switch:
        reasons.append("kill_switch")
    reasons += [
        flag for flag in ("trading_blocked", "account_blocked", "trade_suspended_by_user") if account_flags.get(flag)
    ]
    if mode == "real":
        if trade_date_is_today is False:
            reasons.append("trade_date_not_today")
        if session_today is False:
            reasons.append("market_closed_today")
        elif market_open is False:
            reasons.append("market_closed_now")
        elif market_open is None:
            reasons.append("market_state_unknown")
    return tuple(reasons)


def gate(orders: pd.DataFrame, ctx: GateContext, settings: RiskSettings = RiskSettings()) -> pd.DataFrame:
    """The risk report: every order with `last_price`, `verdict` (approved | rejected), `reasons`."""
    report = orders.copy()
    report["last_price"] = report["symbol"].map(ctx.last_prices).astype("float64")
    reasons: list[list[str]] = [[] for _ in range(len(report))]

    def reject(mask, text) -> None:
        for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
            reasons[i].append(text if isinstance(text, str) else text(i))

    qty = report["qty"].to_numpy(dtype="float64")
    ref = report["ref_price"].to_numpy(dtype="float64")
    last = report["last_price"].to_numpy(dtype="float64")
    buy = report["side"].eq("buy").to_numpy()
    notional = qty * ref
    tol = settings.price_tolerance_pct

    reject(report["symbol"].isin(settings.blacklist), "blacklisted")
    reject(
        qty > settings.max_share_per_order,
        lambda i: f"max_share_per_order ({qty[i]:g} > {settings.max_share_per_order:g})",
    )
    reject(
        notional > settings.max_notional_per_order,
        lambda i: f"max_notional_per_order ({notional[i]:.2f} > {settings.max_notional_per_order:g})",
    )
    missing = np.isnan(last)
    if settings.reject_if_price_missing:
        reject(missing, "price_missing")
    # The spec's rule (buy: ref <= last × (1 + tol); sell: ref >= last × (1 − tol)) plus its mirror:
    # buying after a spike or selling into a fall is just as much a plan made on stale prices.
    moved = ~missing & (np.abs(ref / np.where(missing, 1.0, last) - 1) > tol + 1e-12)
    reject(moved, lambda i: f"price_moved (ref {ref[i]:g} vs last {last[i]:g}: more than {tol:g} apart)")
    _check_brackets(report, last, reject)
    if ctx.equity > 0 and settings.max_weight_per_name is not None:
        held = report["symbol"].map(ctx.positions).fillna(0.0).to_numpy(dtype="float64")
        price = np.where(missing, ref, last)
        weight_after = (held + qty) * price / ctx.equity
        reject(
            buy & (weight_after > settings.max_weight_per_name + 1e-12),
            lambda i: f"max_weight_per_name ({weight_after[i]:.4f} > {settings.max_weight_per_name:g})",
        )
    _check_volatility(report, buy, ctx, settings, reject)

    rejected_any = [bool(r) for r in reasons]
    approved = np.array([not r for r in rejected_any], dtype=bool)
    value = np.where(missing, notional, qty * last)
    total = float(value[approved].sum())
    batch: list[str] = list(ctx.preflight_failures)
    if total > settings.max_total_notional:
        batch.append(f"max_total_notional ({total:.2f} > {settings.max_total_notional:g})")
    if ctx.equity > 0 and total / ctx.equity > settings.max_turnover_pct:
        batch.append(f"max_turnover_pct ({total / ctx.equity:.4f} > {settings.max_turnover_pct:g})")
    cash_after = ctx.cash + float(value[approved & ~buy].sum()) - float(value[approved & buy].sum())
    floor = settings.min_cash_buffer_pct * ctx.equity
    if cash_after < floor:
        reject(approved & buy, f"cash_buffer (cash after trades {cash_after:.2f} < {floor:.2f})")
    if ctx.equity > 0:
        for name, value_after, bound in exposure_breaches(
            _positions_after(report, approved, buy, ctx), ctx.last_prices, cash_after, ctx.equity, settings
        ):
            reject(approved & buy, f"{name} (after the batch {value_after:.4f} > {bound:g})")
    if batch:
        for r in reasons:
            r.extend(batch)
    if settings.reject_batch_on_any and any(reasons):
        first = next(r[0] for r in reasons if r)
        for r in reasons:
            if not r:
                r.append(f"batch_rejected ({first})")
    report["verdict"] = ["rejected" if r else "approved" for r in reasons]
    report["reasons"] = ["; ".join(r) for r in reasons]
    return report[REPORT_COLUMNS]


def _positions_after(report: pd.DataFrame, approved: np.ndarray, buy: np.ndarray, ctx: GateContext) -> dict[str, float]:
    after = dict(ctx.positions)
    symbols, quantities = report["symbol"].to_numpy()[approved], report["qty"].to_numpy(dtype="float64")[approved]
    for symbol, qty, is_buy in zip(symbols, quantities, buy[approved]):
        after[symbol] = after.get(symbol, 0.0) + (qty if is_buy else -qty)
    return after


def exposures(positions: dict[str, float], prices: dict[str, float], cash: float, equity: float) -> dict[str, float]:
    """Gross and net exposure and borrowed cash, each over equity: what `max_gross_exposure`,
    `max_net_exposure` and `max_margin_pct` bound. Positions without a price count for nothing."""
    long = math.fsum(q * prices[s] for s, q in positions.items() if q > 0 and s in prices)
    short = math.fsum(-q * prices[s] for s, q in positions.items() if q < 0 and s in prices)
    return {
        "max_gross_exposure": (long + short) / equity,
        "max_net_exposure": (long - short) / equity,
        "max_margin_pct": max(-cash, 0.0) / equity,
    }


def exposure_breaches(
    positions: dict[str, float], prices: dict[str, float], cash: float, equity: float, settings
) -> list[tuple[str, float, float]]:
    """[(setting, value, bound)] for each exposure bound that the book crosses."""
    out = []
    for name, value in exposures(positions, prices, cash, equity).items():
        bound = getattr(settings, name)
        if bound is not None and value > bound + 1e-12:
            out.append((name, value, bound))
    return out


def _check_brackets(report: pd.DataFrame, last: np.ndarray, reject) -> None:
    """TP >= base + tick and SL <= base − tick against the latest price; prices on valid ticks."""
    bracket = report["order_type"].eq("bracket").to_numpy()
    if not bracket.any():
        return
    tp = report["tp_price"].to_numpy(dtype="float64")
    sl = report["sl_price"].to_numpy(dtype="float64")
    base = np.where(np.isnan(last), report["ref_price"].to_numpy(dtype="float64"), last)
    gap = BRACKET_MIN_GAP
    reject(bracket & (np.isnan(tp) | np.isnan(sl)), "bracket_invalid (missing take-profit or stop-loss)")
    reject(
        bracket & (tp < base + gap - 1e-9),
        lambda i: f"bracket_invalid (take-profit {tp[i]:g} < base {base[i]:g} + 0.01)",
    )
    reject(
        bracket & (sl > base - gap + 1e-9), lambda i: f"bracket_invalid (stop-loss {sl[i]:g} > base {base[i]:g} − 0.01)"
    )
    qty = report["qty"].to_numpy(dtype="float64")
    reject(bracket & ~np.isclose(qty % 1, 0), "bracket_invalid (fractional quantity)")
    reject(bracket & (sl <= 0), "bracket_invalid (stop-loss must be positive)")
    reject(
        bracket & ~(_on_tick(np.nan_to_num(tp, nan=0.01)) & _on_tick(np.nan_to_num(sl, nan=0.01))),
        "bracket_invalid (sub-penny price)",
    )


def _on_tick(price: np.ndarray) -> np.ndarray:
    """True where a price is a whole number of Alpaca ticks (no sub-penny prices)."""
    tick = price_tick(price)
    return np.isclose(np.round(price / tick) * tick, price, rtol=0, atol=1e-9)


def _check_volatility(report: pd.DataFrame, buy: np.ndarray, ctx: GateContext, settings: RiskSettings, reject) -> None:
    limit = settings.vol_max_annualized
    if limit is None:
        return
    if settings.vol_scope == "market":
        vol = ctx.realized_vol.get(settings.vol_market_symbol)
        if vol is None:
            reject(buy, f"volatility_unknown ({settings.vol_market_symbol})")
        elif vol > limit:
            reject(buy, f"market_volatility ({settings.vol_market_symbol} {vol:.3f} > {limit:g})")
        return
    vols = report["symbol"].map(ctx.realized_vol).to_numpy(dtype="float64")
    reject(buy & np.isnan(vols), "volatility_unknown")
    reject(buy & (vols > limit), lambda i: f"volatility ({vols[i]:.3f} > {limit:g})")
