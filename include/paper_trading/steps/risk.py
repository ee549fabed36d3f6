"""The pre-trade gate step: planned orders + the account now -> risk report and approved orders."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from paper_trading.atomic import atomic_path
from paper_trading.errors import ConfigError, InputError
from paper_trading.planning import account_now
from paper_trading.planning.inputs import check_price, read_orders
from paper_trading.steps.common import (
    StepContext,
    check_round,
    file_sha256,
    open_ledger,
    output_paths,
    resolve_broker,
    run_step,
    traded_round,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker


def _kept(ctx: StepContext, paths: dict, round_no: int, planned, db_url: str | None) -> dict | None:
    """The gate's verdicts this trade date's `round` traded on, if it has traded (see `traded_round`)
    and the planned orders are the ones it judged: judging them again against the cash they spent
    would reject every buy."""
    import pandas as pd

    if not (paths["risk_report"].is_file() and paths["approved"].is_file()) \
            or not (traded := traded_round(ctx, round_no, db_url)):
        return None
    report = pd.read_csv(paths["risk_report"], dtype={"run_id": str, "mode": str})
    if report.empty or set(report["run_id"]) != {traded["run_id"]} or set(report["mode"]) != {"real"}:
        return None
    def orders(frame) -> list:
        return sorted(zip(frame["symbol"].astype(str), frame["side"].astype(str), frame["qty"].astype(float)))
    if orders(report) != orders(planned):
        return None
    from paper_trading.risk.approval import approval_markdown

    ctx.log.info("risk gate: round %d of %s was traded by run %s: the verdicts it traded on are kept", round_no,
                 ctx.trade_date, traded["run_id"])
    equity = _plan_summary(ctx, paths["summary"]).get("equity") if paths["summary"].is_file() else None
    return {"risk_report_path": str(paths["risk_report"]), "approved_path": str(paths["approved"]),
            "approved": int((report["verdict"] == "approved").sum()),
            "rejected": int((report["verdict"] == "rejected").sum()), "preflight": [],
            "approval_md": approval_markdown(report, trade_date=ctx.trade_date, equity=equity, mode="real",
                                             report_path=ctx.shown(paths["risk_report"]))}


def _planned_orders(ctx, paths: dict, orders: str | Path | None):
    """The gate's input (the spec's M4 §1.1): `--orders` if given; else the plan of the date
    (`planned_orders_YYYYMMDD.csv`); else, said in the log, the spec's latest files —
    `planned_orders.csv`, or orders derived from `rebalance_plan.csv` (its action and planned qty)."""
    from paper_trading.orders import ORDER_COLUMNS
    from paper_trading.paths import display_path
    from paper_trading.planning.inputs import read_plan_as_orders
    from paper_trading.planning.rebalance import PlanSettings

    if orders is not None or paths["orders"].exists() or not (
            paths["latest_orders"].exists() or paths["latest_plan"].exists()):
        return read_orders(ctx.path(orders) or paths["orders"], ORDER_COLUMNS, ctx.root, "planned orders")
    missing = display_path(paths["orders"], ctx.root)
    if paths["latest_orders"].exists():
        ctx.log.warning("risk: no %s; the gate reads %s (the latest plan)", missing,
                        display_path(paths["latest_orders"], ctx.root))
        return read_orders(paths["latest_orders"], ORDER_COLUMNS, ctx.root, "planned orders")
    ctx.log.warning("risk: no %s nor planned_orders.csv; the gate derives the orders from %s", missing,
                    display_path(paths["latest_plan"], ctx.root))
    cfg = ctx.cfg
    return read_plan_as_orders(paths["latest_plan"], PlanSettings(
        fractional=cfg.rebalance.fractional, take_profit_pct=cfg.bracket.take_profit_pct,
        stop_loss_pct=cfg.bracket.stop_loss_pct, bracket_time_in_force=cfg.bracket.time_in_force,
        simple_time_in_force=cfg.execution.time_in_force), ctx.root)


def _plan_summary(ctx: StepContext, path: Path) -> dict:
    """The plan's summary (equity, cash, positions of the offline plan), checked."""
    if not path.is_file():
        raise InputError(f"{ctx.shown(path)}: plan summary not found (run plan first)")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{ctx.shown(path)}: not valid JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise InputError(f"{ctx.shown(path)}: expected a JSON object")
    if summary.get("trade_date") != ctx.trade_date.isoformat():
        raise InputError(f"{ctx.shown(path)}: trade_date {summary.get('trade_date')!r} is not the trade date "
                         f"{ctx.trade_date}")
    for key in ("equity", "cash"):
        value = summary.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{ctx.shown(path)}: {key} expected a finite number, got {value!r}")
    positions = summary.get("positions", {})
    if not isinstance(positions, dict) or not all(
            isinstance(q, (int, float)) and not isinstance(q, bool) and math.isfinite(q) for q in positions.values()):
        raise InputError(f"{ctx.shown(path)}: positions expected an object of symbol: finite quantity")
    return summary


def check_risk(
    trade_date: dt.date,
    *,
    mode: str = "dry",
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    round_no: int = 1,
    orders: str | Path | None = None,
    prices: str | Path | None = None,
    fill_price: float | None = None,
    broker: Broker | Callable[[], Broker] | None = None,
    offline: bool = False,
    db_url: str | None = None,
    debug: bool = False,
) -> dict:
    """The pre-trade gate over the planned orders -> risk report and approved orders.

    Online it reads the account, positions, latest prices (and in real mode the clock and the
    calendar; daily bars when the volatility gate is on) from the broker. Offline (dry mode only)
    it takes equity, cash and positions from the plan's summary and prices from `prices` /
    `fill_price`. A real gate of a `round` that has traded keeps the verdicts it traded on.
    """
    from paper_trading.orders import APPROVED_COLUMNS
    from paper_trading.risk.gate import (
        GateContext,
        RiskSettings,
        gate,
        preflight,
        realized_volatility,
    )

    if mode not in ("dry", "real"):
        raise ConfigError(f"mode must be dry or real, got {mode!r}")
    check_round(round_no)
    with run_step("risk", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        rc = ctx.cfg.risk
        paths = output_paths(ctx.root, ctx.settings, trade_date)
        fill_price = check_price(fill_price, "--fill-price")
        planned = _planned_orders(ctx, paths, orders)
        if mode == "real" and (kept := _kept(ctx, paths, round_no, planned, db_url)) is not None:
            return kept
        kill = rc.kill_switch or (ctx.root / rc.kill_switch_file).exists()
        offline = offline or prices is not None or fill_price is not None
        if offline:
            if mode == "real":
                raise ConfigError("real mode needs the broker: no offline prices for the risk gate")
            summary = _plan_summary(ctx, paths["summary"])
            last = account_now.offline_prices(set(planned["symbol"]), prices=ctx.path(prices),
                                              fill_price=fill_price, root=ctx.root)
            now = account_now.AccountNow(float(summary["equity"]), float(summary["cash"]),
                                         dict(summary.get("positions", {})), last, "offline")
            failures = preflight(mode, {}, kill, None, None)
            vols: dict[str, float] = {}
        else:
            broker = resolve_broker(broker, ctx.settings)
            now = account_now.from_broker(broker, set(planned["symbol"]), include_held=False)
            market_open = session_today = is_today = None
            if mode == "real":
                from paper_trading.trading_calendar import exchange_date

                clock = broker.clock()
                market_open = clock.is_open
                is_today = exchange_date(clock.timestamp) == trade_date
                session_today = any(d.date == trade_date for d in broker.calendar(trade_date, trade_date))
            failures = preflight(mode, now.flags, kill, market_open, session_today, is_today)
            vols = _volatilities(broker, planned, rc, trade_date, realized_volatility) \
                if rc.volatility.max_annualized is not None else {}
        report = gate(planned, GateContext(mode, now.equity, now.cash, now.prices, now.positions, vols, failures),
                      RiskSettings(
            max_share_per_order=rc.max_share_per_order, max_notional_per_order=rc.max_notional_per_order,
            price_tolerance_pct=rc.price_tolerance_pct, reject_if_price_missing=rc.reject_if_price_missing,
            max_total_notional=rc.max_total_notional, min_cash_buffer_pct=rc.min_cash_buffer_pct,
            max_turnover_pct=rc.max_turnover_pct, max_weight_per_name=rc.max_weight_per_name,
            max_gross_exposure=rc.max_gross_exposure, max_net_exposure=rc.max_net_exposure,
            max_margin_pct=rc.max_margin_pct,
            blacklist=tuple(s.upper() for s in rc.blacklist), vol_lookback_days=rc.volatility.lookback_days,
            vol_max_annualized=rc.volatility.max_annualized, vol_scope=rc.volatility.scope,
            vol_market_symbol=rc.volatility.market_symbol, reject_batch_on_any=rc.reject_batch_on_any))
        # Which gate approved: execution in real mode takes only a real gate's approvals of its own run.
        report = report.assign(mode=mode, run_id=run_id)
        with atomic_path(paths["risk_report"]) as tmp:
            report.to_csv(tmp, index=False, float_format="%.10g")
        approved = report[report["verdict"] == "approved"][APPROVED_COLUMNS]
        with atomic_path(paths["approved"]) as tmp:
            approved.to_csv(tmp, index=False, float_format="%.10g")
        rejected = int((report["verdict"] == "rejected").sum())
        with open_ledger(ctx, db_url) as ledger:
            ledger.record_run(
                run_id,
                trade_date,
                "risk",
                mode,
                "refused" if failures else "success",
                detail=json.dumps(
                    {
                        "approved_sha256": file_sha256(paths["approved"]),
                        "approved": len(approved),
                        "rejected": rejected,
                        "preflight": list(failures),
                    }
                ),
            )
        if failures:
            from paper_trading.alerts.delivery import raise_alert

            raise_alert(
                ctx.log_dir,
                trade_date,
                run_id,
                "risk",
                f"{mode} run stopped before trading: {', '.join(failures)}; all {len(report)} order(s) rejected",
                rule="trading_refused",
                key=",".join(failures),
                settings=ctx.cfg.alerts,
            )
        refused = report[report["verdict"] == "rejected"]
        for row in refused.itertuples():
            ctx.log.warning("rejected %s %s %g: %s", row.side, row.symbol, row.qty, row.reasons)
        if rejected and not failures and mode == "real":  # a run that trades the rest: green, with a warning
            from paper_trading.alerts.delivery import raise_alerts

            raise_alerts(
                ctx.log_dir,
                trade_date,
                run_id,
                "risk",
                [
                    {
                        "rule": "orders_rejected",
                        "key": f"{r.side}:{r.symbol}",
                        "severity": "warning",
                        "message": f"risk gate rejected {r.side} {r.symbol} {r.qty:g}: {r.reasons}",
                    }
                    for r in refused.itertuples()
                ],
                settings=ctx.cfg.alerts,
            )
        ctx.log.info("risk gate (%s): %d approved, %d rejected", mode, len(approved), rejected)
        from paper_trading.risk.approval import approval_markdown

        return {
            "risk_report_path": str(paths["risk_report"]),
            "approved_path": str(paths["approved"]),
            "approved": len(approved),
            "rejected": rejected,
            "preflight": list(failures),
            "approval_md": approval_markdown(
                report, trade_date=trade_date, equity=now.equity, mode=mode, report_path=ctx.shown(paths["risk_report"])
            ),
        }


def _volatilities(broker: Broker, planned, rc, trade_date: dt.date, realized_volatility) -> dict[str, float]:
    """Realized volatility per symbol to buy (or of the market symbol), from the broker's daily bars."""
    vol = rc.volatility
    symbols = (
        [vol.market_symbol] if vol.scope == "market" else sorted(set(planned.loc[planned["side"] == "buy", "symbol"]))
    )
    if not symbols:
        return {}
    start = trade_date - dt.timedelta(days=int(vol.lookback_days * 1.6) + 10)
    closes = broker.daily_closes(symbols, start, trade_date - dt.timedelta(days=1))
    out = {}
    for symbol, rows in closes.items():
        value = realized_volatility([float(c) for _, c in rows], vol.lookback_days)
        if value is not None:
            out[symbol] = value
    return out
