"""The M6 step: the ledger's books up to a trade date and the benchmark's daily closes -> the daily
P&L table, the risk snapshot and the metrics (see `analytics.py`), written atomically."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

from ..atomic import write_text_atomic
from .common import connect, open_ledger, run_step

BENCHMARK = "SPY"


def _csv_text(frame) -> str:  # noqa: ANN001 - a DataFrame
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, lineterminator="\n", float_format="%.10g", na_rep="")


def _json_safe(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def report(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    broker=None,
    db_url: str | None = None,
    benchmark: str = BENCHMARK,
    debug: bool = False,
) -> dict:
    """M6 for one trade date: every reconciled session up to it. Reads the ledger (equity_daily,
    positions_eod, cash_ledger, fills, recon) and the benchmark's closes from the broker; writes
    data/reports/pnl_daily_, risk_snapshot_ (CSV) and metrics_YYYYMMDD.json. Nothing in the ledger
    changes; a re-run rewrites the same files."""
    import pandas as pd

    from .. import analytics
    from ..errors import InputError

    with run_step("report", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        with open_ledger(ctx, db_url) as ledger:
            equity_rows = [r for r in ledger.table("equity_daily") if r["trade_date"] <= trade_date]
            if not equity_rows:
                raise InputError(f"the ledger has no reconciled session up to {trade_date}: run "
                                 f"`reconcile --date {trade_date}` first")
            day_equity = ledger.equity_on(trade_date)
            positions = ledger.table("positions_eod", trade_date=trade_date)
            cash = [c for c in ledger.table("cash_ledger") if c["date"] <= trade_date]
            fills = [f for f in ledger.table("fills") if f["trade_date"] <= trade_date]
            recon = [r for r in ledger.table("recon") if r["trade_date"] <= trade_date]
        reasons: dict[str, str] = {}
        if day_equity is None:
            reasons["as_of"] = f"{trade_date} is not reconciled; the latest session is {equity_rows[-1]['trade_date']}"
        equity = pd.DataFrame(equity_rows)
        first = min(equity["trade_date"])
        # a few days before the first session, so the first session has the close it is compared with
        broker = connect(broker, ctx.settings)
        closes = broker.daily_closes([benchmark], first - dt.timedelta(days=10), trade_date).get(benchmark, [])
        bench = pd.Series({d: float(c) for d, c in closes if d <= trade_date}, dtype=float)
        flows = pd.Series(dtype=float)
        flow_rows = [c for c in cash if c["activity_type"] in analytics.FLOW_TYPES]
        if flow_rows:
            flows = pd.DataFrame(flow_rows).groupby("date")["net_amount"].sum()
        pnl = analytics.daily_pnl(equity, bench, flows)
        missing = pnl.loc[pnl["benchmark_close"].isna(), "date"]
        if len(missing):
            reasons["benchmark_close"] = (f"no {benchmark} close from the broker for "
                                          + ", ".join(d.date().isoformat() for d in missing))
            ctx.log.warning("%s", reasons["benchmark_close"])

        sectors = None
        map_path = ctx.path(ctx.cfg.paths.mapping)
        if map_path is not None and map_path.is_file():
            from ..inputs import read_instrument_map

            imap = read_instrument_map(map_path, ctx.root)
            if "sector" in imap.columns:
                sectors = dict(zip(imap["symbol"], imap["sector"].fillna("unknown").replace("", "unknown")))
        if sectors is None:
            reasons["sectors"] = f"{ctx.shown(map_path) if map_path else 'instrument map'}: no sectors; every " \
                                 "sector is 'unknown'"
        risk_frame, risk = analytics.risk_snapshot(trade_date, positions, day_equity, sectors)
        perf = analytics.performance(pnl)
        trade = analytics.trading(fills, cash, recon, equity, trade_date)

        metrics = {"as_of": trade_date.isoformat(), "benchmark": benchmark,
                   "first_session": first.isoformat(), "periods_per_year": analytics.PERIODS_PER_YEAR,
                   "risk_free": 0.0, **perf.values, "trading": trade.values, "risk": risk.values,
                   "periods": analytics.period_returns(pnl, trade_date),
                   "reasons": {**reasons, **perf.reasons, **{f"trading.{k}": v for k, v in trade.reasons.items()},
                               **{f"risk.{k}": v for k, v in risk.reasons.items()}}}
        stamp = f"{trade_date:%Y%m%d}"
        out = ctx.path(ctx.cfg.paths.reports)
        paths = {"pnl_daily_path": out / f"pnl_daily_{stamp}.csv", "risk_snapshot_path": out / f"risk_snapshot_{stamp}.csv",
                 "metrics_path": out / f"metrics_{stamp}.json"}
        write_text_atomic(paths["pnl_daily_path"], _csv_text(pnl))
        write_text_atomic(paths["risk_snapshot_path"], _csv_text(risk_frame))
        write_text_atomic(paths["metrics_path"],
                          json.dumps(_json_safe(metrics), indent=2, sort_keys=False, allow_nan=False) + "\n")
        ctx.log.info("report %s: %d session(s), cumulative return %s, max drawdown %s, %d undefined value(s)",
                     trade_date, len(pnl), perf.values.get("cum_returns_final"), perf.values.get("max_drawdown"),
                     len(metrics["reasons"]))
        return {k: str(v) for k, v in paths.items()} | {"sessions": len(pnl)}
