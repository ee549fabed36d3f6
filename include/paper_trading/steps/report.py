"""The M6 step: the ledger's books up to a trade date and the benchmark's daily closes -> the daily
P&L table, the risk snapshot and the metrics (see `analytics.py`) and the HTML dashboard (see
`dashboard.py`), written atomically."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from paper_trading.atomic import file_lock, write_text_atomic
from paper_trading.steps.common import (
    StepContext,
    open_ledger,
    output_paths,
    resolve_broker,
    run_step,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker

BENCHMARK = "SPY"
DASHBOARD_LATEST = "summary_dashboard.html"
DASHBOARD_DATED = re.compile(r"summary_dashboard_(\d{8})\.html")


def _csv_text(frame) -> str:
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].dt.strftime("%Y-%m-%d")
    return out.to_csv(index=False, lineterminator="\n", float_format="%.10g", na_rep="")


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _targets(ctx: StepContext, trade_date: dt.date):
    """M1's targets of the date, for the dashboard's weights-vs-targets chart; a missing or unreadable
    file is a note on the chart, not a failed report (a day traded from `--targets`, an old day)."""
    from paper_trading.errors import InputError
    from paper_trading.planning.inputs import read_targets

    path = output_paths(ctx.root, ctx.settings, trade_date)["targets"]
    try:
        return read_targets(path, trade_date, ctx.root), None
    except InputError as exc:
        ctx.log.warning("dashboard: no targets to compare the weights with: %s", exc)
        return None, f"no targets: {exc}"


def write_plotly(out: Path) -> str:
    """The one copy of plotly.js the dashboards of `out` load (~4.8 MB, where each dashboard used to
    embed its own: 1.3 GB a year). Written once per plotly version (the version is in its name),
    atomically, so an existing copy is whole; returns its name."""
    from paper_trading.reporting.dashboard import plotly_file_name, plotly_js

    name = plotly_file_name()
    if not (out / name).is_file():
        write_text_atomic(out / name, plotly_js())
    return name


def write_dashboard(out: Path, trade_date: dt.date, page: str, keep: int | None = None) -> tuple[Path, Path, bool]:
    """Write `summary_dashboard_YYYYMMDD.html`, and `summary_dashboard.html` when this date is the
    newest dashboard written so far: re-running an older date never makes the latest go back. The
    dated files are the record of what was written (the latest is a copy of the newest; if it is
    missing while a newer date exists, that date's page is copied back). `keep`: the dated
    dashboards of the newest `keep` dates stay, with the one just written; older ones are deleted
    (`report.keep_dashboards`). Returns both paths and whether the latest was replaced."""
    dated = out / f"summary_dashboard_{trade_date:%Y%m%d}.html"
    latest = out / DASHBOARD_LATEST
    with file_lock(out / ".dashboard.lock"):  # two reports of different dates at once: the newest wins
        write_text_atomic(dated, page)
        stamps = sorted(m.group(1) for p in out.iterdir() if (m := DASHBOARD_DATED.fullmatch(p.name)))
        if keep is not None:
            for old in stamps[:-keep]:
                if old != f"{trade_date:%Y%m%d}":
                    (out / f"summary_dashboard_{old}.html").unlink(missing_ok=True)
        newest = max(stamps)
        if newest == f"{trade_date:%Y%m%d}":
            write_text_atomic(latest, page)
            return dated, latest, True
        if not latest.is_file():
            write_text_atomic(latest, (out / f"summary_dashboard_{newest}.html").read_text(encoding="utf-8"))
        return dated, latest, False


def write_report(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    benchmark: str = BENCHMARK,
    debug: bool = False,
) -> dict:
    """M6 for one trade date: every reconciled session up to it. Reads the ledger (equity_daily,
    positions_eod, cash_ledger, fills, recon) and the benchmark's closes from the broker; writes
    data/reports/pnl_daily_, risk_snapshot_ (CSV), metrics_YYYYMMDD.json and the dashboard
    (summary_dashboard_YYYYMMDD.html, and summary_dashboard.html unless a newer date has one). Nothing
    in the ledger changes; a re-run rewrites the same files."""
    import pandas as pd

    from paper_trading.alerts.delivery import read_alerts
    from paper_trading.errors import InputError
    from paper_trading.reporting import analytics, dashboard

    with run_step("report", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        with open_ledger(ctx, db_url) as ledger:
            equity_rows = ledger.table("equity_daily", until=trade_date)
            if not equity_rows:
                raise InputError(f"the ledger has no reconciled session up to {trade_date}: run "
                                 f"`reconcile --date {trade_date}` first")
            day_equity = ledger.equity_on(trade_date)
            positions = ledger.table("positions_eod", trade_date=trade_date)
            # only what the figures use: ten years of a 500-name book is ~100k fills and ~1.3M recon rows
            cash = ledger.table("cash_ledger", until=trade_date,
                                activity_type=analytics.FEE_TYPES | analytics.FLOW_TYPES,
                                columns=["activity_id", "date", "activity_type", "net_amount"])
            fills = ledger.table("fills", until=trade_date, columns=["activity_id", "trade_date", "transaction_time",
                                                                      "symbol", "side", "qty", "price"])
            recon = ledger.table("recon", until=trade_date, kind="order",
                                 columns=["trade_date", "kind", "classification", "planned_qty", "filled_qty",
                                          "ref_price", "avg_fill_price", "slippage_bps"])
            recon_day = ledger.table("recon", trade_date=trade_date)  # the day's reconciliation, every kind
        if day_equity is None:
            raise InputError(f"{trade_date} is not reconciled (the latest reconciled session is "
                             f"{equity_rows[-1]['trade_date']}): run `reconcile --date {trade_date}` first")
        reasons: dict[str, str] = {}
        equity = pd.DataFrame(equity_rows)
        first = min(equity["trade_date"])
        # a few days before the first session, so the first session has the close it is compared with
        rc = ctx.cfg.report
        benchmark = rc.benchmark if benchmark == BENCHMARK else benchmark
        if rc.benchmark_file is not None:
            from paper_trading.planning.inputs import read_daily_closes

            benchmark_path = ctx.path(rc.benchmark_file)
            assert benchmark_path is not None  # a config path is never empty
            closes = read_daily_closes(benchmark_path, benchmark, ctx.root)
            source = f"the file {rc.benchmark_file}"
        else:
            broker = resolve_broker(broker, ctx.settings)
            closes = broker.daily_closes([benchmark], first - dt.timedelta(days=10), trade_date).get(benchmark, [])
            source = "the broker"
        bench = pd.Series({d: float(c) for d, c in closes if d <= trade_date}, dtype=float)
        flows = pd.Series(dtype=float)
        flow_rows = [c for c in cash if c["activity_type"] in analytics.FLOW_TYPES]
        if flow_rows:
            flows = pd.DataFrame(flow_rows).groupby("date")["net_amount"].sum()
        pnl = analytics.daily_pnl(equity, bench, flows)
        missing = pnl.loc[pnl["benchmark_close"].isna(), "date"]
        if len(missing):
            reasons["benchmark_close"] = (f"no {benchmark} close from {source} for "
                                          + ", ".join(d.date().isoformat() for d in missing))
            ctx.log.warning("%s", reasons["benchmark_close"])

        sectors, styles, symbols = None, None, None
        map_path = ctx.path(ctx.cfg.paths.mapping)
        if map_path is not None and map_path.is_file():
            from paper_trading.planning.inputs import read_instrument_map

            imap = read_instrument_map(map_path, ctx.root)
            symbols = dict(zip(imap["gvkey"], imap["symbol"]))
            if "sector" in imap.columns:
                sectors = dict(zip(imap["symbol"], imap["sector"].fillna("unknown").replace("", "unknown")))
            if "style" in imap.columns:
                styles = dict(zip(imap["symbol"], imap["style"].fillna("unknown").replace("", "unknown")))
        if sectors is None:
            reasons["sectors"] = f"{ctx.shown(map_path) if map_path else 'instrument map'}: no sectors; every " \
                                 "sector is 'unknown'"
        risk_frame, risk = analytics.risk_snapshot(trade_date, positions, day_equity, sectors, styles)
        perf = analytics.performance(pnl)
        daily = analytics.daily_trading(fills, recon, equity)
        trade = analytics.trading(fills, cash, recon, equity, trade_date, daily)

        metrics = {"as_of": trade_date.isoformat(), "benchmark": benchmark, "benchmark_source": source,
                   "first_session": first.isoformat(), "periods_per_year": analytics.PERIODS_PER_YEAR,
                   "risk_free": 0.0, **perf.values, "trading": trade.values, "risk": risk.values,
                   "periods": analytics.period_returns(pnl, trade_date),
                   "reasons": {**reasons, **perf.reasons, **{f"trading.{k}": v for k, v in trade.reasons.items()},
                               **{f"risk.{k}": v for k, v in risk.reasons.items()}}}
        stamp = f"{trade_date:%Y%m%d}"
        out = ctx.path(ctx.cfg.paths.reports)
        assert out is not None  # a config path is never empty
        paths = {
            "pnl_daily_path": out / f"pnl_daily_{stamp}.csv",
            "risk_snapshot_path": out / f"risk_snapshot_{stamp}.csv",
            "metrics_path": out / f"metrics_{stamp}.json",
        }
        write_text_atomic(paths["pnl_daily_path"], _csv_text(pnl))
        write_text_atomic(paths["risk_snapshot_path"], _csv_text(risk_frame))
        write_text_atomic(
            paths["metrics_path"], json.dumps(_json_safe(metrics), indent=2, sort_keys=False, allow_nan=False) + "\n"
        )
        from paper_trading.alerts.delivery import raise_alerts
        from paper_trading.alerts.rules import evaluate_daily

        raised = raise_alerts(
            ctx.log_dir,
            trade_date,
            run_id,
            "report",
            evaluate_daily(pnl, trade_date, daily_drawdown=ctx.cfg.alerts.daily_drawdown),
            settings=ctx.cfg.alerts,
        )
        targets, targets_note = _targets(ctx, trade_date)
        weights = analytics.weights_vs_targets(risk_frame, targets, symbols, ctx.cfg.rebalance.cash_buffer_pct)
        page = dashboard.render_dashboard(
            as_of=trade_date,
            pnl=pnl,
            risk=risk_frame,
            metrics=_json_safe(metrics),
            recon=recon_day,
            weights=weights,
            daily=daily,
            alerts=read_alerts(ctx.log_dir, until=trade_date, limit=50),
            benchmark=benchmark,
            notes={"weights": targets_note} if targets_note else None,
            plotly_src=write_plotly(out),
        )
        dated, latest, replaced = write_dashboard(out, trade_date, page, keep=ctx.cfg.report.keep_dashboards)
        paths |= {"dashboard_path": dated, "dashboard_latest_path": latest}
        if not replaced:
            ctx.log.info("dashboard: %s left as it is (a newer date has a dashboard)", ctx.shown(latest))
        ctx.log.info("report %s: %d session(s), %s", trade_date, len(pnl), _headline(perf.values, metrics["reasons"]))
        return {k: str(v) for k, v in paths.items()} | {
            "sessions": len(pnl),
            "dashboard_latest_updated": replaced,
            "alerts_raised": len(raised),
        }


def _headline(values: dict, reasons: dict) -> str:
    """The day's figures in words for the step's log: a figure that needs more sessions says so
    instead of printing None, and the count of the others points to where the reasons are."""
    cum, drawdown = values.get("cum_returns_final"), values.get("max_drawdown")
    if cum is None or drawdown is None:
        said = "not enough sessions yet for a return or a drawdown"
    else:
        said = f"cumulative return {cum:+.2%}, max drawdown {drawdown:.2%}"
    if reasons:
        said += f"; {len(reasons)} other figure(s) not defined yet (metrics_YYYYMMDD.json says why)"
    return said
