"""The M2 step: the day's targets and the account now -> rebalance plan and planned orders."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paper_trading.atomic import write_text_atomic
from paper_trading.planning import account_now
from paper_trading.planning.inputs import read_instrument_map, read_targets
from paper_trading.steps.common import (
    check_round,
    file_sha256,
    output_paths,
    resolve_broker,
    run_step,
    traded_round,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker


def targets_digest(path: Path) -> str | None:
    """What of the targets decides a plan — each asset's weight for the date — as a digest. The
    file's own hash is not it: M1 writes the run id and the lineage into the file, so the same
    weights consolidated by another run are another file. None: unreadable (the plan says why)."""
    import hashlib

    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["trade_date", "asset_id", "target_weight"])
    except (OSError, ValueError, KeyError):
        return None
    digest = hashlib.sha256()
    for column in table.sort_by([("asset_id", "ascending")]).columns:
        digest.update(repr(column.to_pylist()).encode())
    return digest.hexdigest()


def _kept(ctx, paths: dict, round_no: int, targets: Path, db_url: str | None) -> dict | None:
    """The plan this trade date's `round` traded on, if it has traded (see `traded_round`), that run
    wrote the plan, and the targets are still the ones it planned from (new targets are a new plan)."""
    try:
        summary = json.loads(paths["summary"].read_text())
    except (OSError, ValueError):
        return None
    if (
        not isinstance(summary, dict)
        or not paths["orders"].is_file()
        or not targets.is_file()
        or summary.get("targets_digest") != targets_digest(targets)
        or not (traded := traded_round(ctx, round_no, db_url))
        or summary.get("run_id") != traded["run_id"]
    ):
        return None
    if traded["run_id"] == ctx.run_id:
        ctx.log.info("plan: run %s has traded %s: the plan it traded on is kept", ctx.run_id, ctx.trade_date)
    else:
        ctx.log.warning(
            "plan: round %d of %s was traded by run %s: its plan is kept and nothing new is planned "
            "(to trade the day again, use round %d)",
            round_no,
            ctx.trade_date,
            traded["run_id"],
            round_no + 1,
        )
    return {
        "plan_path": str(paths["plan"]),
        "orders_path": str(paths["orders"]),
        "summary_path": str(paths["summary"]),
        **{k: summary[k] for k in ("orders", "buys", "sells")},
        "skipped": len(summary["skipped"]),
    }


def plan_rebalance(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    round_no: int = 1,
    targets: str | Path | None = None,
    equity: float | None = None,
    cash: float | None = None,
    prices: str | Path | None = None,
    positions: str | Path | None = None,
    fill_price: float | None = None,
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    debug: bool = False,
) -> dict:
    """M2: the day's targets -> rebalance plan and planned orders. `broker`: a Broker, a factory of
    one, or None (from the environment and the config).

    Online (the default) it reads equity, cash, positions and prices from the broker. Offline —
    the spec's one-click dry run without Alpaca — it takes `equity`, optional `positions` (CSV) and
    prices from `prices` (CSV) or `fill_price` (one price for every symbol).

    A `round` of the day that has already traded keeps its plan: re-running this step for it (a
    cleared task, the same date triggered again) returns the plan it traded on instead of planning
    again from the account its orders changed. A new round plans again.
    """
    import pandas as pd

    from paper_trading.planning.rebalance import PlanSettings, plan_rebalance

    check_round(round_no)
    with run_step("plan", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        cfg = ctx.cfg
        paths = output_paths(ctx.root, ctx.settings, trade_date)
        offline = equity is not None
        targets_path = ctx.path(targets) or paths["targets"]
        if not offline and (kept := _kept(ctx, paths, round_no, targets_path, db_url)) is not None:
            return kept
        if not offline and (positions is not None or fill_price is not None or cash is not None):
            from paper_trading.errors import InputError

            raise InputError("--positions, --cash and --fill-price are for an offline plan: give --equity too")
        frame = read_targets(targets_path, trade_date, ctx.root)
        mapping = read_instrument_map(ctx.root / cfg.paths.mapping, ctx.root)
        prices_path = ctx.path(prices) or (
            ctx.path(cfg.rebalance.prices_file) if cfg.rebalance.price_source == "file" else None
        )
        wanted = set(mapping.loc[mapping["gvkey"].isin(frame["asset_id"]), "symbol"])
        if equity is not None:  # offline
            now = account_now.offline(
                equity,
                set(mapping["symbol"]),
                cash=cash,
                positions=ctx.path(positions),
                prices=prices_path,
                fill_price=fill_price,
                root=ctx.root,
                bars=ctx.root / cfg.paths.daily_bars,
                trade_date=trade_date,
            )
            ctx.log.info("plan: prices %s", now.source.removeprefix("offline (prices: ").removesuffix(")"))
        else:
            now = account_now.from_broker(
                resolve_broker(broker, ctx.settings), wanted, prices_file=prices_path, root=ctx.root
            )
        result = plan_rebalance(
            frame,
            mapping,
            now.prices,
            now.positions,
            now.equity,
            now.cash,
            PlanSettings(
                cash_buffer_pct=cfg.rebalance.cash_buffer_pct,
                min_trade_value=cfg.rebalance.min_trade_value,
                min_trade_pct=cfg.rebalance.min_trade_pct,
                fractional=cfg.rebalance.fractional,
                take_profit_pct=cfg.bracket.take_profit_pct,
                stop_loss_pct=cfg.bracket.stop_loss_pct,
                bracket_time_in_force=cfg.bracket.time_in_force,
                simple_time_in_force=cfg.execution.time_in_force,
            ),
        )
        for key, table in (("plan", result.plan), ("orders", result.orders)):
            text = table.to_csv(index=False, float_format="%.10g")
            write_text_atomic(paths[key], text)
            write_text_atomic(paths[f"latest_{key}"], text)  # the spec's rebalance_plan.csv, planned_orders.csv
        summary: dict[str, Any] = {
            "trade_date": trade_date.isoformat(),
            "run_id": run_id,
            "targets_sha256": file_sha256(targets_path),
            "targets_digest": targets_digest(targets_path),
            "source": now.source,
            "equity": now.equity,
            "cash": now.cash,
            "cash_after": result.cash_after,
            "positions": now.positions,
            "orders": len(result.orders),
            "buys": int((result.orders["side"] == "buy").sum()),
            "sells": int((result.orders["side"] == "sell").sum()),
            "skipped": result.plan.loc[result.plan["action"] == "skip", ["symbol", "asset_id", "reason"]].to_dict(
                orient="records"
            ),
        }
        write_text_atomic(paths["summary"], json.dumps(summary, indent=2, sort_keys=True, default=str))
        if now.equity <= 0:
            ctx.log.warning("plan: the account has no equity (%.2f): nothing to trade", now.equity)
        ctx.log.info(
            "plan: equity %.2f, cash %.2f -> %.2f after trades; %d sells, %d buys, %d skipped (%s)",
            now.equity,
            now.cash,
            result.cash_after,
            summary["sells"],
            summary["buys"],
            len(summary["skipped"]),
            ", ".join(sorted({s["reason"] for s in summary["skipped"]})) or "none",
        )
        if debug:
            with pd.option_context("display.width", 200, "display.max_columns", 20):
                ctx.log.debug("orders:\n%s", result.orders)
        return {
            "plan_path": str(paths["plan"]),
            "orders_path": str(paths["orders"]),
            "summary_path": str(paths["summary"]),
            **{k: summary[k] for k in ("orders", "buys", "sells", "source")},
            "skipped": len(summary["skipped"]),
        }
