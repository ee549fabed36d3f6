"""The M5 step: the broker's orders, fills, activities, positions and cash -> the books of a trade
date in the ledger, and the spec's CSV exports."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from paper_trading.atomic import write_text_atomic
from paper_trading.steps.common import (
    StepContext,
    open_ledger,
    output_paths,
    resolve_broker,
    run_step,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker

#: The spec's columns (§M4 3.2) in its order, then ours.
FILLED_ORDERS_COLUMNS = ["datetime", "env", "symbol", "side", "filled_qty", "avg_fill_price", "order_id", "status",
                         "client_order_id"]
RECON_COLUMNS = ["trade_date", "kind", "key", "symbol", "side", "planned_qty", "sent_qty", "filled_qty",
                 "remaining_qty", "status", "classification", "ref_price", "avg_fill_price", "slippage_bps", "alert",
                 "message"]


def _start_of(day: dt.date) -> dt.datetime:
    """Midnight in New York of `day`, as an aware instant."""
    from paper_trading.trading_calendar import EXCHANGE_TZ

    return dt.datetime.combine(day, dt.time(0), tzinfo=EXCHANGE_TZ)


def _gate_rejections(ctx: StepContext, path: Path) -> list[dict]:
    import pandas as pd

    if not path.is_file():
        return []
    report = pd.read_csv(path, dtype={"symbol": str}, keep_default_na=False)
    if "verdict" not in report.columns:
        return []
    rejected = report[report["verdict"] == "rejected"]
    return [{"symbol": r["symbol"], "side": r["side"], "qty": float(r["qty"]), "ref_price": float(r["ref_price"]),
             "reasons": r.get("reasons", "")} for _, r in rejected.iterrows()]


def _snapshot(broker: Broker, after: dt.datetime, attempts: int = 3):
    """Account, positions and activities that belong together: the account is read again after the
    activities, and the whole read repeated if anything moved in between (an order filling while we
    read would otherwise be counted in one and not the other)."""
    from paper_trading.errors import BrokerUnavailable

    for _ in range(attempts):
        account = broker.account()
        held = {p.symbol: float(p.qty) for p in broker.positions()}
        activities = broker.activities(after=after)
        again = broker.account()
        if again.cash == account.cash and again.equity == account.equity:
            return again, held, activities
    raise BrokerUnavailable(f"the account kept changing while it was read ({attempts} tries): orders are still "
                            "filling; reconcile again later")


def _closes(broker: Broker, day: dt.date, positions: dict[str, float]) -> tuple[dict[str, float], list[dict]]:
    """Each held symbol's close of `day` (else its latest close before it, with an alert row: a
    halted symbol or a late bar must not value a position at zero unnoticed)."""
    from paper_trading.books.reconcile import closes_of_day

    if not positions:
        return {}, []
    return closes_of_day(
        day, sorted(positions), broker.daily_closes(sorted(positions), day - dt.timedelta(days=10), day)
    )


def _csv(rows: list[dict], columns: list[str]) -> str:
    import csv

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: ("" if row.get(c) is None else f"{row[c]:.10g}" if isinstance(row.get(c), float) else row.get(c))
                for c in columns
            }
        )
    return out.getvalue()


def reconcile_books(
    trade_date: dt.date,
    *,
    mode: str = "real",
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    debug: bool = False,
    export_history: bool = True,
) -> dict:
    """M5 for one trade date (see `reconcile.py`). `export_history` False: only the day's own files
    are written, not the whole-history ones (`filled_orders.csv`, `cash_ledger.csv`,
    `execution_log.csv`): a replay writes those once, at its end. A failed broker read fails the step (it is never
    read as "no positions"); the books of the date are written in one transaction, so a re-run
    rewrites them and a kill leaves the ledger as it was."""
    from paper_trading.alerts.delivery import raise_alerts
    from paper_trading.alerts.rules import evaluate_books
    from paper_trading.books import reconcile as books
    from paper_trading.books.order_sync import sync_orders
    from paper_trading.trading_calendar import exchange_date

    with run_step("reconcile", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        paths = output_paths(ctx.root, ctx.settings, trade_date)
        outputs = paths["execution_log"].parent
        broker = resolve_broker(broker, ctx.settings)
        with open_ledger(ctx, db_url) as ledger:
            if mode == "real":
                sync_orders(broker, ledger)  # legs that triggered, orders that expired
            prev_day, prev_positions = ledger.positions_before(trade_date)
            # from the start of the previous reconciled day: an activity dated then but posted after
            # its reconcile (a fee at 22:00) is still found, and counted now
            since = _start_of(prev_day) if prev_day else _start_of(trade_date)
            account, held_now, activities = _snapshot(broker, since - dt.timedelta(microseconds=1))
            all_fills = books.fills_of(activities)
            cash_all = books.cash_rows(activities)
            known_cash = {c["activity_id"] for c in ledger.table("cash_ledger", date=prev_day)} if prev_day else set()
            known_fills = {f["activity_id"] for f in ledger.table("fills", trade_date=prev_day)} if prev_day else set()
            late_cash = [
                c for c in cash_all if prev_day and c["date"] <= prev_day and c["activity_id"] not in known_cash
            ]
            day_orders = [
                o
                for o in broker.list_orders(status="all", after=_start_of(trade_date) - dt.timedelta(days=1))
                if o.submitted_at is not None and exchange_date(o.submitted_at) == trade_date
            ]
            ours = ledger.orders(trade_date, mode=mode)
            # only the orders this day's fills and listing name: a read of the whole ledger here grew
            # with every day of history
            by_broker_id = ledger.broker_ids({f.order_id for f in all_fills})
            day_cids = {o.client_order_id for o in day_orders} | {
                leg.client_order_id for o in day_orders for leg in o.legs
            }
            known_cids = set(ledger.orders_by_id(sorted(day_cids))) | {r["client_order_id"] for r in ours}

            positions = books.positions_at_end_of(trade_date, held_now, all_fills)
            later_cash = sum(c["net_amount"] for c in cash_all if c["date"] > trade_date)
            cash = float(account.cash) - later_cash
            baseline = prev_day is None
            window_fills = [
                f
                for f in all_fills
                if (prev_day is None and f.trade_date == trade_date)
                or (
                    prev_day is not None
                    and (
                        prev_day < f.trade_date <= trade_date
                        or (f.trade_date <= prev_day and f.activity_id not in known_fills)
                    )
                )
            ]
            implied = books.implied_positions(prev_positions, window_fills) if not baseline else positions
            prev_equity = ledger.equity_on(prev_day) if prev_day else None
            implied_cash = (
                None
                if prev_equity is None
                else prev_equity["cash"]
                + sum(c["net_amount"] for c in cash_all if prev_day < c["date"] <= trade_date)
                + sum(c["net_amount"] for c in late_cash)
            )
            close, price_rows = _closes(broker, trade_date, positions)
            long_value = sum(q * close[s] for s, q in positions.items() if q > 0 and s in close)
            short_value = sum(q * close[s] for s, q in positions.items() if q < 0 and s in close)

            broker_by_cid = {
                o.client_order_id: {
                    "status": o.status,
                    "filled_qty": o.filled_qty,
                    "qty": o.qty,
                    "filled_avg_price": o.filled_avg_price,
                    "symbol": o.symbol,
                    "side": o.side,
                    "legs": [{"client_order_id": leg.client_order_id} for leg in o.legs],
                }
                for o in day_orders
            }
            for order in day_orders:
                for leg in order.legs:
                    broker_by_cid.setdefault(
                        leg.client_order_id,
                        {
                            "status": leg.status,
                            "filled_qty": leg.filled_qty,
                            "qty": leg.qty,
                            "filled_avg_price": leg.filled_avg_price,
                            "symbol": leg.symbol,
                            "side": leg.side,
                            "legs": [],
                        },
                    )
            of_day = {o.id for o in day_orders} | {leg.id for o in day_orders for leg in o.legs}
            of_day |= {r["broker_order_id"] for r in ours if r["broker_order_id"]}
            day_fills = [f for f in all_fills if f.trade_date == trade_date]
            rows = books.classify_orders(
                trade_date,
                ours,
                broker_by_cid,
                books.group_fills(day_fills),
                _gate_rejections(ctx, paths["risk_report"]),
                later_fills_by_order=books.group_fills(f for f in all_fills if f.trade_date > trade_date),
                known_elsewhere=known_cids,
            )
            rows += books.earlier_order_fill_rows(trade_date, day_fills, of_day, by_broker_id)
            rows += books.position_rows(trade_date, implied, positions, baseline)
            rows += price_rows
            rows.append(books.cash_row(trade_date, implied_cash, round(cash, 2)))

            fill_rows = [
                {
                    "activity_id": f.activity_id,
                    "trade_date": f.trade_date,
                    "transaction_time": f.transaction_time,
                    "order_id": f.order_id,
                    "client_order_id": (by_broker_id.get(f.order_id) or {}).get("client_order_id"),
                    "symbol": f.symbol,
                    "side": f.side,
                    "qty": f.qty,
                    "price": f.price,
                    "fill_type": f.fill_type,
                }
                for f in all_fills
                if f.trade_date <= trade_date
            ]
            position_rows = [
                {
                    "trade_date": trade_date,
                    "symbol": s,
                    "qty": q,
                    "close_price": close.get(s),
                    "market_value": q * close[s] if s in close else None,
                    "implied_qty": implied.get(s, 0.0),
                }
                for s, q in sorted(positions.items())
            ]
            equity = {
                "trade_date": trade_date,
                "cash": round(cash, 2),
                "long_market_value": round(long_value, 2),
                "short_market_value": round(short_value, 2),
                "equity": round(cash + long_value + short_value, 2),
                "source": "account + daily closes",
            }
            ledger.write_books(
                trade_date,
                fill_rows=fill_rows,
                cash_rows=[c for c in cash_all if c["date"] <= trade_date],
                positions=position_rows,
                equity=equity,
                recon_rows=rows,
            )
            ledger.record_run(
                run_id,
                trade_date,
                "reconcile",
                mode,
                "success",
                detail=json.dumps(
                    {
                        "orders": sum(r["kind"] in ("order", "leg", "manual") for r in rows),
                        "alerts": sum(bool(r["alert"]) for r in rows),
                    }
                ),
            )
            _export(ledger, trade_date, outputs, getattr(broker, "env", "paper"), history=export_history)
        alerts = [r for r in rows if r["alert"]]
        # every flagged row under its rule, plus plan vs actual and the cash buffer (alerts/rules.py);
        # a re-run of the day raises none of them again (alerts.py: de-duplicated per date, rule, key)
        from paper_trading.risk.gate import exposure_breaches

        breaches = (
            exposure_breaches(positions, close, equity["cash"], equity["equity"], ctx.cfg.risk)
            if equity["equity"] > 0
            else []
        )
        raised = raise_alerts(
            ctx.log_dir,
            trade_date,
            run_id,
            "reconcile",
            evaluate_books(
                rows,
                equity=equity["equity"],
                cash=equity["cash"],
                min_cash_buffer_pct=ctx.cfg.risk.min_cash_buffer_pct,
                plan_deviation_pct=ctx.cfg.alerts.plan_deviation_pct,
                exposure=breaches,
            ),
            settings=ctx.cfg.alerts,
        )
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["classification"]] = counts.get(r["classification"], 0) + 1
        ctx.log.info(
            "reconcile %s: %s; equity %.2f, cash %.2f, %d position(s)",
            trade_date,
            ", ".join(f"{n} {c}" for c, n in sorted(counts.items())),
            equity["equity"],
            equity["cash"],
            len(positions),
        )
        return {
            "recon_report_path": str(outputs / f"recon_report_{trade_date:%Y%m%d}.csv"),
            "counts": counts,
            "alerts": len(alerts),
            "alerts_raised": len(raised),
            "equity": equity["equity"],
            "positions": len(positions),
        }


def _export(ledger, day: dt.date, outputs: Path, env: str, history: bool = True) -> None:
    """The spec's CSVs, each an export of the ledger written atomically: the day's own files, and
    with `history` the whole-history ones."""
    stamp = f"{day:%Y%m%d}"
    write_text_atomic(
        outputs / f"positions_eod_{stamp}.csv",
        _csv(
            ledger.table("positions_eod", trade_date=day),
            ["trade_date", "symbol", "qty", "close_price", "market_value", "implied_qty"],
        ),
    )
    write_text_atomic(
        outputs / f"recon_report_{stamp}.csv",
        _csv(sorted(ledger.table("recon", trade_date=day), key=lambda r: (r["kind"], r["key"])), RECON_COLUMNS),
    )
    if not history:
        return
    ledger.export_execution_log(outputs / "execution_log.csv")
    by_broker_id = ledger.broker_ids()
    by_order: dict[str, dict] = {}
    statuses = {i: (r["client_order_id"], r["status"]) for i, r in by_broker_id.items()}
    for f in ledger.table("fills"):
        o = by_order.setdefault(
            f["order_id"],
            {
                "datetime": f["transaction_time"],
                "env": env,
                "symbol": f["symbol"],
                "side": f["side"],
                "filled_qty": 0.0,
                "notional": 0.0,
                "order_id": f["order_id"],
            },
        )
        o["filled_qty"] += f["qty"]
        o["notional"] += f["qty"] * f["price"]
        o["datetime"] = max(o["datetime"], f["transaction_time"])
    for order_id, o in by_order.items():
        o["avg_fill_price"] = round(o["notional"] / o["filled_qty"], 6) if o["filled_qty"] else None
        o["client_order_id"], o["status"] = statuses.get(order_id, ("", "manual"))
        o["datetime"] = o["datetime"].isoformat() if hasattr(o["datetime"], "isoformat") else o["datetime"]
    write_text_atomic(
        outputs / "filled_orders.csv",
        _csv(sorted(by_order.values(), key=lambda o: (o["datetime"], o["order_id"])), FILLED_ORDERS_COLUMNS),
    )
    write_text_atomic(
        outputs / "cash_ledger.csv",
        _csv(
            sorted(ledger.table("cash_ledger"), key=lambda r: (r["date"], r["activity_id"])),
            ["date", "activity_id", "activity_type", "symbol", "qty", "price", "net_amount", "description"],
        ),
    )
