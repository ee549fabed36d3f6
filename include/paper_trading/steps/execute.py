"""The M4 step: the risk gate's approved orders -> orders at the broker (real) or in the ledger (dry)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paper_trading.errors import (
    ConfigError,
    OutcomeUnknown,
    PaperTradingError,
    TradingRefused,
)
from paper_trading.planning.inputs import read_orders
from paper_trading.steps.common import (
    StepContext,
    check_round,
    file_sha256,
    open_ledger,
    output_paths,
    resolve_broker,
    round_trader,
    run_step,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker


def _check_approvals(ctx: StepContext, ledger, approved, path: Path, run_id: str) -> None:
    """Real execution takes only the approvals a real-mode gate wrote for this same run."""
    gate = ledger.run(run_id, ctx.trade_date, "risk")
    shown = ctx.shown(path)
    if gate is None:
        raise TradingRefused(f"{shown}: no risk gate run {run_id!r} for {ctx.trade_date} in the ledger; real execution "
                             f"sends only what a real-mode gate of the same run approved (run: risk --mode real "
                             f"--run-id {run_id})")
    if gate["mode"] != "real":
        raise TradingRefused(f"{shown}: approved by a {gate['mode']}-mode gate (run {run_id!r}); real execution needs "
                             "the approvals of a real-mode gate")
    recorded = json.loads(gate["detail"] or "{}").get("approved_sha256")
    if recorded != file_sha256(path):
        raise TradingRefused(f"{shown}: the file is not the one the real-mode gate of run {run_id!r} wrote (changed or "
                             "rewritten since); run the gate again")
    wrong = approved[(approved["mode"] != "real") | (approved["run_id"] != run_id)]
    if len(wrong):
        row = wrong.iloc[0]
        raise TradingRefused(f"{shown}: {row['symbol']} was approved by a {row['mode']} gate of run {row['run_id']!r}, "
                             f"not by the real gate of run {run_id!r}")


def _traded_by_another_run(ctx: StepContext, ledger, round_no: int, approved, path: Path) -> str | None:
    """The run that already traded this `round` of the trade date, if it is not this one (the same
    `run_date` triggered again): this run then sends nothing. Its approvals must be that run's
    (kept by plan and risk); a new batch for a traded round is refused: it would reuse the round's
    client_order_ids, which are final."""
    first = round_trader(ledger, ctx.trade_date, round_no)
    if first is None or first["run_id"] == ctx.run_id:
        return None
    other, shown = first["run_id"], ctx.shown(path)
    gate = ledger.run(other, ctx.trade_date, "risk")
    recorded = json.loads((gate or {}).get("detail") or "{}").get("approved_sha256")
    if set(approved["run_id"]) - {other} or recorded != file_sha256(path):
        raise TradingRefused(
            f"{shown}: round {round_no} of {ctx.trade_date} was traded by run {other!r} already and "
            f"these are other approvals; to trade them, run plan and risk again for round {round_no + 1}"
        )
    return other


def _check_round(ctx: StepContext, ledger, mode: str, round_no: int, path: Path) -> None:
    """A run's approvals are executed in one round: a new round needs a new plan and gate (the
    approvals were sized on the positions before the first round)."""
    other = sorted(
        {
            r["round"]
            for r in ledger.orders(ctx.trade_date, mode=mode)
            if r["run_id"] == ctx.run_id and r["round"] != round_no and not r["parent_client_order_id"]
        }
    )
    if other:
        raise TradingRefused(
            f"{ctx.shown(path)}: the approvals of run {ctx.run_id!r} were executed in round "
            f"{other[0]} already; for round {round_no} run plan and risk again (with a new --run-id)"
        )


def _preflight(ctx: StepContext, broker: Broker) -> None:
    """Pre-flight again just before sending: an approval from earlier is not trusted blindly."""
    from paper_trading.alerts.delivery import raise_alert
    from paper_trading.risk.gate import preflight
    from paper_trading.trading_calendar import exchange_date

    rc = ctx.cfg.risk
    account = broker.account()
    clock = broker.clock()
    session_today = any(d.date == ctx.trade_date for d in broker.calendar(ctx.trade_date, ctx.trade_date))
    failures = preflight(
        "real",
        {
            "trading_blocked": account.trading_blocked,
            "account_blocked": account.account_blocked,
            "trade_suspended_by_user": account.trade_suspended_by_user,
        },
        rc.kill_switch or (ctx.root / rc.kill_switch_file).exists(),
        clock.is_open,
        session_today,
        exchange_date(clock.timestamp) == ctx.trade_date,
    )
    if failures:
        message = f"real execution refused to trade: {', '.join(failures)}; nothing was sent"
        raise_alert(
            ctx.log_dir,
            ctx.trade_date,
            ctx.run_id,
            "execute",
            message,
            rule="trading_refused",
            key=",".join(failures),
            settings=ctx.cfg.alerts,
        )
        raise TradingRefused(message)


def _clock(sleep: Callable[[float], object] | None, now: Callable[[], dt.datetime] | None) -> dict:
    """The Executor's `sleep` and `clock` (seconds) from a step's `sleep` and `now`, where given."""
    return {**({"sleep": sleep} if sleep else {}), **({"clock": lambda: now().timestamp()} if now else {})}


def execute_orders(
    trade_date: dt.date,
    *,
    mode: str = "dry",
    round_no: int = 1,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    orders: str | Path | None = None,
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    debug: bool = False,
    sleep: Callable[[float], object] | None = None,
    now: Callable[[], dt.datetime] | None = None,
    export_history: bool = True,
) -> dict:
    """M4 for one trade date (see `execution.py` for the order of a real run). Dry mode runs the same
    code with every write replaced by a ledger row `dry_run`. Raises `OutcomeUnknown` (transient)
    when some order's outcome is still unknown: running again resolves it without sending twice.
    `sleep` and `now` (an aware instant): the clock of the waits for cancels, sells and buys (the
    wall clock by default; a replay's moves the simulator, so its orders can fill or expire).
    `export_history` False: the whole-history exports (`execution_log.csv`) are left to a later step
    (a replay writes them once, at its end: rewriting a year of orders after every session is what
    made a long replay slow)."""
    from paper_trading.execution import ExecutionSettings, Executor
    from paper_trading.orders import APPROVED_COLUMNS

    if mode not in ("dry", "real"):
        raise ConfigError(f"mode must be dry or real, got {mode!r}")
    check_round(round_no)
    with run_step("execute", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        cfg, ec = ctx.cfg, ctx.cfg.execution
        paths = output_paths(ctx.root, ctx.settings, trade_date)
        approved_path = ctx.path(orders) or paths["approved"]
        approved = read_orders(approved_path, APPROVED_COLUMNS, ctx.root, "approved orders")
        with open_ledger(ctx, db_url) as ledger:
            if mode == "real" and (other := _traded_by_another_run(ctx, ledger, round_no, approved, approved_path)):
                return _nothing_to_send(ctx, ledger, round_no, other, paths)
            if mode == "real":
                _check_approvals(ctx, ledger, approved, approved_path, run_id)
            broker = resolve_broker(broker, ctx.settings)
            settings = ExecutionSettings(
                prefix=ec.client_order_prefix,
                reprotect=ec.reprotect and not cfg.rebalance.fractional,
                protection=ec.protection,
                exit_renew_days=ec.exit_renew_days,
                take_profit_pct=cfg.bracket.take_profit_pct,
                stop_loss_pct=cfg.bracket.stop_loss_pct,
                bracket_time_in_force=cfg.bracket.time_in_force,
                entry_type=cfg.bracket.entry_type,
                entry_limit_offset_pct=cfg.bracket.entry_limit_offset_pct,
                simple_time_in_force=ec.time_in_force,
                cancel_timeout_s=ec.cancel_timeout_s,
                sell_timeout_s=ec.sell_timeout_s,
                buy_timeout_s=ec.buy_timeout_s,
                poll_interval_s=ec.poll_interval_s,
                market_buy_collar=ec.market_buy_collar,
                cash_floor_pct=cfg.risk.min_cash_buffer_pct,
                submit_attempts=ec.submit_attempts,
                max_backoff_s=ec.max_backoff_s,
            )
            with ledger.lock(
                f"execute:{mode}:{trade_date:%Y%m%d}", run_id, wait_s=ec.lock_wait_s, lease_s=ec.lock_lease_s
            ) as keep_alive:
                if mode == "real" and (other := _traded_by_another_run(ctx, ledger, round_no, approved, approved_path)):
                    return _nothing_to_send(ctx, ledger, round_no, other, paths)  # it traded while this run waited
                _check_round(ctx, ledger, mode, round_no, approved_path)
                ledger.record_run(run_id, trade_date, "execute", mode, "running", round_no=round_no, started=True)
                try:
                    result = Executor(
                        broker,
                        ledger,
                        settings,
                        mode=mode,
                        trade_date=trade_date,
                        round_no=round_no,
                        run_id=run_id,
                        env=getattr(broker, "env", "paper"),
                        preflight=(lambda: _preflight(ctx, broker)) if mode == "real" else None,
                        keep_alive=keep_alive,
                        **_clock(sleep, now),
                    ).run(approved)
                except PaperTradingError as exc:
                    outcome = "refused" if isinstance(exc, TradingRefused) else "failed"
                    ledger.record_run(
                        run_id,
                        trade_date,
                        "execute",
                        mode,
                        outcome,
                        round_no=round_no,
                        detail=json.dumps({"error": str(exc)}),
                    )
                    raise
                finally:
                    if export_history:
                        ledger.export_execution_log(paths["execution_log"])
                counts = result.counts()
                unresolved = result.unresolved
                ledger.record_run(
                    run_id,
                    trade_date,
                    "execute",
                    mode,
                    "unknown" if unresolved or result.unprotected else "success",
                    round_no=round_no,
                    detail=json.dumps(
                        {
                            "counts": counts,
                            "cancelled": result.cancelled,
                            "reprotected": result.reprotected,
                            "unprotected": result.unprotected,
                            "problems": result.problems,
                        }
                    ),
                )
        from paper_trading.alerts.delivery import raise_alerts

        alerts = [
            {
                "rule": "order_failed",
                "key": i.cid,
                "message": f"{i.side} {i.symbol} {i.planned_qty:g} ({i.cid}): {i.status.replace('_', ' ')}: "
                f"{i.error or i.reason or 'no reason given'}",
            }
            for i in result.intents
            if i.status in ("rejected", "not_sent")
        ]  # refused for good this round
        alerts += [
            {
                "rule": "unprotected_position",
                "key": f"{problem.split(' ', 1)[0]}:r{round_no}",  # per round
                "message": problem,
            }
            for problem in result.problems
        ]  # each starts with the symbol (execution.py)
        raise_alerts(ctx.log_dir, trade_date, run_id, "execute", alerts, settings=cfg.alerts)  # one notification
        ctx.log.info(
            "execute (%s, round %d): %s; cancelled %d earlier order(s); re-protected %s",
            mode,
            round_no,
            ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no orders",
            len(result.cancelled),
            ", ".join(result.reprotected) or "none",
        )
        if unresolved:
            raise OutcomeUnknown(
                f"the outcome of {len(unresolved)} order(s) is still unknown "
                f"({', '.join(i.cid for i in unresolved[:5])}); run again: nothing is sent twice"
            )
        if result.unprotected:
            raise OutcomeUnknown(
                f"{', '.join(result.unprotected)}: orders still open, so the position is not "
                "re-protected yet; run again once they are done"
            )
        return {
            "execution_log_path": str(paths["execution_log"]),
            "orders": len(result.intents),
            "counts": counts,
            "cancelled": len(result.cancelled),
            "reprotected": result.reprotected,
        }


def _nothing_to_send(ctx: StepContext, ledger, round_no: int, other: str, paths: dict) -> dict:
    """This run's answer when `other` already traded the round: recorded, and nothing sent."""
    ctx.log.warning(
        "execute: round %d of %s was traded by run %s: nothing is sent (to trade the day again, use round %d)",
        round_no,
        ctx.trade_date,
        other,
        round_no + 1,
    )
    ledger.record_run(
        ctx.run_id,
        ctx.trade_date,
        "execute",
        "real",
        "success",
        round_no=round_no,
        detail=json.dumps({"traded_by": other, "counts": {}}),
    )
    return {
        "execution_log_path": str(paths["execution_log"]),
        "orders": 0,
        "counts": {},
        "cancelled": 0,
        "reprotected": [],
        "traded_by": other,
    }


def wait_for_fills(
    trade_date: dt.date,
    *,
    mode: str = "real",
    round_no: int = 1,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    export_history: bool = True,
) -> tuple[bool, dict]:
    """Are the day's entries done (filled, cancelled, expired, rejected)? Their latest state from the
    broker goes to the ledger. Open take-profit / stop-loss legs are expected and not waited for.
    After `execution.fills_timeout_s` from the end of the execution, the wait is over and the
    summary says what is still open. Returns (done, summary). `export_history`: as for `execute`."""
    from paper_trading.execution import day_window_start
    from paper_trading.orders import DONE_TODAY

    with run_step("wait_for_fills", trade_date, root=root, config_path=config_path, run_id=run_id) as ctx:
        paths = output_paths(ctx.root, ctx.settings, trade_date)
        with open_ledger(ctx, db_url) as ledger:
            entries = [
                r
                for r in ledger.orders(trade_date, mode=mode, round_no=round_no)
                if not r["parent_client_order_id"] and r["order_type"] != "oco"
            ]  # exits stay open: fine
            if mode == "dry":
                return True, {"open": [], "orders": len(entries), "mode": mode}
            unsure = [r for r in entries if r["status"] in ("submitting", "unknown")]
            if unsure:  # an outcome an execution could not find out: ask again, by id
                broker = resolve_broker(broker, ctx.settings)
                for row in unsure:
                    if (info := broker.get_order_by_client_id(row["client_order_id"])) is not None:
                        row.update(
                            status=info.status,
                            broker_order_id=info.id,
                            filled_qty=float(info.filled_qty),
                            submitted_at=info.submitted_at,
                            updated_at=None,
                            last_error=None,
                        )
                        ledger.upsert_orders([row])
            sent = [r for r in entries if r["broker_order_id"]]
            if sent:
                broker = resolve_broker(broker, ctx.settings)
                after = day_window_start(trade_date)
                found = {
                    o.client_order_id: o
                    for o in broker.list_orders(status="all", after=after, symbols=sorted({r["symbol"] for r in sent}))
                }
                updates = []
                for row in sent:
                    if (info := found.get(row["client_order_id"])) is not None and (
                        info.status != row["status"] or float(info.filled_qty) != (row["filled_qty"] or 0.0)
                    ):
                        row.update(
                            status=info.status,
                            filled_qty=float(info.filled_qty),
                            updated_at=None,
                            filled_avg_price=float(info.filled_avg_price) if info.filled_avg_price else None,
                        )
                        updates.append(row)
                ledger.upsert_orders(updates)
                if updates and export_history:
                    ledger.export_execution_log(paths["execution_log"])
            still_open = [r for r in sent if r["status"] not in DONE_TODAY] + [
                r for r in entries if r["status"] in ("submitting", "unknown")
            ]
            run = ledger.run(run_id, trade_date, "execute")
            ended = run and run["ended_at"]
            timed_out = (
                bool(ended) and (dt.datetime.now(dt.UTC) - ended).total_seconds() >= ctx.cfg.execution.fills_timeout_s
            )
        summary: dict[str, Any] = {
            "mode": mode,
            "orders": len(entries),
            "open": [f"{r['symbol']} {r['side']} {r['status']}" for r in still_open],
            "timed_out": timed_out,
        }
        if still_open:
            ctx.log.log(
                30 if timed_out else 20,
                "%d order(s) still open%s: %s",
                len(still_open),
                f" after {ctx.cfg.execution.fills_timeout_s:g} s" if timed_out else "",
                ", ".join(summary["open"]),
            )
        else:
            ctx.log.info("all %d order(s) of %s round %d are done", len(sent), trade_date, round_no)
        return (not still_open) or timed_out, summary
