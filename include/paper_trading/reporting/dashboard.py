"""M6 dashboard: the report's tables and metrics as one HTML page that needs no network.

`render_dashboard` is pure — the report step reads the books and writes the file. The page must
open offline on any machine (a laptop, a browser without network), so nothing refers to a URL:
plotly.js is either a file beside the page (`plotly_src`: what the report step does, one copy
for a year of dashboards) or embedded inline (a page that travels alone, e.g. as an attachment).
The figures are plain plotly.js JSON, built from whole columns (never row by row) so ten years
of history stay cheap. Every text that comes from data (symbols, alert messages, reasons) is
HTML-escaped, in the tables and in the charts (plotly.js renders a subset of HTML in labels). A
chart without data is still drawn, empty, with a note saying why; a metric that is null shows "—"
with its reason as a tooltip.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from paper_trading.reporting import analytics

#: The charts, in page order: each is a div `#chart-<name>` of class `chart`.
CHARTS = ("equity", "drawdown", "returns", "monthly", "weights", "turnover", "slippage")
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DASH = "—"
#: Losses red, gains green, zero white (plotly.js knows no diverging red-green scale by name).
RED_WHITE_GREEN = [[0.0, "#b91c1c"], [0.5, "#ffffff"], [1.0, "#15803d"]]

#: The KPI tables: (group, [(label, key in the metrics — "trading."/"risk." for nested ones, format)]).
KPIS: list[tuple[str, list[tuple[str, str, str]]]] = [
    ("Performance", [
        ("Cumulative return", "cum_returns_final", "pct"), ("Annual return", "annual_return", "pct"),
        ("Annual volatility", "annual_volatility", "pct"), ("Sharpe ratio", "sharpe_ratio", "num"),
        ("Sortino ratio", "sortino_ratio", "num"), ("Max drawdown", "max_drawdown", "pct"),
        ("Drawdown peak", "max_drawdown_peak", "text"), ("Drawdown trough", "max_drawdown_trough", "text"),
        ("Recovered on", "max_drawdown_recovery", "text"), ("Calmar ratio", "calmar_ratio", "num")]),
    ("Against the benchmark", [
        ("Benchmark return", "benchmark_cum_returns_final", "pct"), ("Excess return", "excess_return", "pct"),
        ("Alpha (annual)", "alpha", "pct"), ("Beta", "beta", "num"),
        ("Information ratio", "information_ratio", "num"), ("Tracking error", "tracking_error", "pct"),
        ("Correlation", "correlation", "num")]),
    ("Trading", [
        ("Hit rate", "trading.hit_rate", "pct"), ("Round trips", "trading.round_trips", "int"),
        ("Turnover today", "trading.turnover_day", "pct"),
        ("Turnover, daily mean", "trading.turnover_daily_mean", "pct"),
        ("Slippage today", "trading.slippage_bps_day", "bps"), ("Slippage, all", "trading.slippage_bps_total", "bps"),
        ("Fill rate today", "trading.fill_rate_day", "pct"), ("Fill rate, all", "trading.fill_rate_total", "pct"),
        ("Fees today", "trading.fees_day", "usd"), ("Fees, all", "trading.fees_total", "usd")]),
    ("Risk (end of day)", [
        ("Equity", "risk.equity", "usd"), ("Positions", "risk.positions", "int"), ("Cash", "risk.cash_pct", "pct"),
        ("Gross exposure", "risk.gross_exposure", "pct"), ("Net exposure", "risk.net_exposure", "pct"),
        ("HHI", "risk.hhi", "hhi")]),
]
RECON_COLUMNS = [("symbol", "Symbol", "text"), ("side", "Side", "text"), ("kind", "Kind", "text"),
                 ("classification", "Outcome", "text"), ("planned_qty", "Planned", "qty"),
                 ("filled_qty", "Filled", "qty"), ("avg_fill_price", "Avg price", "price"),
                 ("slippage_bps", "Slippage", "bps"), ("message", "Detail", "text")]
ALERT_COLUMNS = [("ts", "Time (UTC)", "text"), ("trade_date", "Trade date", "text"), ("severity", "Severity", "text"),
                 ("step", "Step", "text"), ("rule", "Rule", "text"), ("key", "Key", "text"),
                 ("message", "Message", "text")]
SECTOR_COLUMNS = [("name", "Sector", "text"), ("market_value", "Market value", "usd"), ("weight", "Weight", "pct")]
#: Banners: reasons of the metrics that concern the whole page.
BANNERS = ("as_of", "benchmark_close", "risk.unpriced_positions")

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;
padding:12px 16px;color:#1f2937;background:#f7f7f9}
h1{font-size:20px;margin:4px 0}h2{font-size:16px;margin:18px 0 8px}.sub{color:#6b7280}
.banner{background:#fff7e6;border:1px solid #f0c36d;padding:6px 10px;margin:6px 0;border-radius:4px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(600px,1fr));gap:12px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:8px}
.chart{height:340px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:3px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.na{text-align:right;color:#9ca3af;cursor:help}
tr.alert td,tr.error td{background:#fdecec}tr.warning td{background:#fff7e6}
.scroll{max-height:420px;overflow:auto}.empty{color:#6b7280;padding:6px}
"""


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.js as shipped with the plotly package (read once per process: it is ~4.8 MB)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def plotly_file_name() -> str:
    """The shared copy's name, with plotly's version: a dashboard keeps working after an upgrade,
    because it names the copy it was written with (and that copy is not rewritten)."""
    import plotly

    return f"plotly-{plotly.__version__}.min.js"


def render_dashboard(
    *,
    as_of: dt.date,
    pnl: pd.DataFrame,
    risk: pd.DataFrame,
    metrics: dict,
    recon: Iterable[dict],
    weights: pd.DataFrame,
    daily: pd.DataFrame,
    alerts: Iterable[dict],
    benchmark: str = "SPY",
    notes: dict[str, str] | None = None,
    plotly_src: str | None = None,
) -> str:
    """The dashboard of `as_of` as one HTML page that opens offline.

    `pnl`: `analytics.daily_pnl`; `risk`: the risk snapshot frame; `metrics`: the metrics dict of the
    report (with "trading", "risk" and "reasons"); `recon`: the day's rows of the ledger's `recon`;
    `weights`: `analytics.weights_vs_targets`; `daily`: `analytics.daily_trading`; `alerts`: from
    `alerts.read_alerts`, oldest first; `notes`: a sentence per chart name (why its data is missing
    or partial), shown on the chart; `plotly_src`: the name of the plotly.js file beside the page (see
    `plotly_file_name`), else plotly.js is inline. The same inputs give the same page (no clock in it)."""
    notes = notes or {}
    figures = {
        "equity": _equity_chart(pnl, benchmark, notes.get("equity")),
        "drawdown": _drawdown_chart(pnl, notes.get("drawdown")),
        "returns": _returns_chart(pnl, notes.get("returns")),
        "monthly": _monthly_chart(pnl, notes.get("monthly")),
        "weights": _weights_chart(weights, notes.get("weights")),
        "turnover": _turnover_chart(daily, as_of, notes.get("turnover")),
        "slippage": _slippage_chart(daily, notes.get("slippage")),
    }
    reasons = metrics.get("reasons") or {}
    banners = "".join(f'<div class="banner">{_e(reasons[k])}</div>' for k in BANNERS if reasons.get(k))
    kpis = "".join(f'<div class="card"><h2>{_e(group)}</h2>{_kpi_table(metrics, rows)}</div>' for group, rows in KPIS)
    sectors = risk.loc[risk["kind"] == "sector", ["name", "market_value", "weight"]].to_dict("records")
    kpis += (f'<div class="card" id="sectors"><h2>Sectors (end of day)</h2>'
             f'{_table(sectors, SECTOR_COLUMNS, "no position held")}</div>')
    styles = risk.loc[risk["kind"] == "style", ["name", "market_value", "weight"]].to_dict("records")
    if styles:
        kpis += (f'<div class="card" id="styles"><h2>Styles (end of day)</h2>'
                 f'{_table(styles, SECTOR_COLUMNS, "no position held")}</div>')
    charts = "".join(f'<div class="card"><div class="chart" id="chart-{name}" data-chart="{name}"></div></div>'
                     for name in CHARTS)
    recon_rows = sorted(recon, key=_recon_rank)
    alert_rows = list(alerts)[::-1]
    sessions = len(pnl)
    first = pnl["date"].iloc[0].date().isoformat() if sessions else DASH
    title = f"paper-trading — {as_of.isoformat()}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{_e(title)}</title><style>{CSS}</style>",
        f'<script src="{_e(plotly_src)}"></script>' if plotly_src else f"<script>{plotly_js()}</script>",
        "</head><body>",
        f"<h1>{_e(title)}</h1><div class=\"sub\">{sessions} session(s) since {_e(first)}, "
        f"benchmark {_e(benchmark)}</div>{banners}",
        f"<div class=\"kpis\">{kpis}</div><h2>Charts</h2><div class=\"grid\">{charts}</div>",
        f"<h2>Reconciliation of {_e(as_of.isoformat())}</h2><div class=\"card scroll\" id=\"recon\">",
        _table(recon_rows, RECON_COLUMNS, "no order, position or cash row reconciled for the day",
               lambda r: "alert" if r.get("alert") else ""),
        "</div><h2>Recent alerts</h2><div class=\"card scroll\" id=\"alerts\">",
        _table(alert_rows, ALERT_COLUMNS, f"no alert up to {as_of.isoformat()}",
               lambda r: str(r.get("severity", "")) if r.get("severity") in ("error", "warning") else ""),
        "</div>",
        f"<script>var FIGURES={_script_json(figures)};",
        "Object.keys(FIGURES).forEach(function(k){Plotly.newPlot('chart-'+k,FIGURES[k].data,FIGURES[k].layout,",
        "{responsive:true,displaylogo:false});});</script></body></html>\n",
    ])


#: The reconciliation table in the order a person reads it: what needs attention, the day's orders,
#: then the books (positions, cash), then the exit legs still working (many, and quiet by design).
_KIND_RANK = {"order": 0, "position": 1, "cash": 2, "leg": 3}


def _recon_rank(row: dict) -> tuple:
    working_leg = row.get("classification") == "leg_open"
    return (not row.get("alert"), working_leg, _KIND_RANK.get(str(row.get("kind")), 4), str(row.get("symbol") or ""))


# ------------------------------------------------------------------------------ charts


def _layout(title: str, note: str | None = None, **extra) -> dict:
    layout = {"title": {"text": _e(title), "x": 0.02, "font": {"size": 15}}, "autosize": True,
              "margin": {"l": 60, "r": 20, "t": 72 if note else 44, "b": 40}, "hovermode": "x unified",
              "legend": {"orientation": "h", "y": 1.1 if note else 1.02, "x": 1, "xanchor": "right",
                         "yanchor": "bottom"}, **extra}
    if note:
        layout["annotations"] = [{"text": _e(note), "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": 0, "y": 1, "xanchor": "left", "yanchor": "bottom",
                                  "font": {"size": 11, "color": "#b45309"}}]
    return layout


def _empty(title: str, why: str) -> dict:
    """An empty chart that says why: drawn like the others, so the page keeps its shape."""
    layout = _layout(title, xaxis={"visible": False}, yaxis={"visible": False})
    layout["annotations"] = [{"text": _e(why), "showarrow": False, "xref": "paper", "yref": "paper",
                              "x": 0.5, "y": 0.5, "font": {"size": 13, "color": "#6b7280"}}]
    return {"data": [], "layout": layout}


def _time_axis(dates: pd.Series) -> dict:
    """A date axis. Under two weeks it gets daily ticks and a day of margin each side: plotly.js
    would zoom a lone session down to milliseconds."""
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    if last - first >= pd.Timedelta(days=14):
        return {"type": "date"}
    return {"type": "date", "dtick": 86_400_000, "tickformat": "%b %d",
            "range": [f"{first - pd.Timedelta(days=1):%Y-%m-%d}", f"{last + pd.Timedelta(days=1):%Y-%m-%d}"]}


#: A daily bar's width on a date axis (ms): plotly.js sizes bars from the gap between points, so a
#: lone bar would have no width at all.
DAY_BAR = 0.8 * 86_400_000


def _mode(points: int) -> str:
    """Lines, with markers while there are few points (a lone point of a line is invisible)."""
    return "lines+markers" if points <= 31 else "lines"


def _dates(values: pd.Series) -> list[str]:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d").tolist()


def _nums(values, digits: int = 8) -> list:
    """Finite numbers rounded (a shorter page, no visible change); NaN and infinities as null."""
    a = np.round(np.asarray(values, dtype=float), digits)
    return pd.Series(a, dtype=object).where(np.isfinite(a), None).tolist()


def _too_short(pnl: pd.DataFrame) -> str | None:
    if pnl.empty:
        return "no reconciled session yet"
    if len(pnl) < 2:
        return f"one session so far ({pnl['date'].iloc[0].date()}): returns start with the second"
    return None


def _equity_chart(pnl: pd.DataFrame, benchmark: str, note: str | None) -> dict:
    title = f"Cumulative return vs {benchmark}"
    if why := _too_short(pnl):
        return _empty(title, why)
    x = _dates(pnl["date"])
    bench = pnl["benchmark_cumulative_return"].where(pnl["benchmark_close"].notna())
    if bench.isna().all():
        note = note or f"no {benchmark} close for these sessions"
    data = [{"type": "scatter", "mode": _mode(len(x)), "name": "portfolio", "x": x,
             "y": _nums(pnl["cumulative_return"]), "hovertemplate": "%{y:.2%}"},
            {"type": "scatter", "mode": _mode(len(x)), "name": _e(benchmark), "x": x, "y": _nums(bench),
             "hovertemplate": "%{y:.2%}", "line": {"dash": "dot"}}]
    return {"data": data, "layout": _layout(title, note, xaxis=_time_axis(pnl["date"]), yaxis={"tickformat": ".1%"})}


def _drawdown_chart(pnl: pd.DataFrame, note: str | None) -> dict:
    title = "Drawdown (under water)"
    if why := _too_short(pnl):
        return _empty(title, why)
    data = [{"type": "scatter", "mode": _mode(len(pnl)), "name": "drawdown", "x": _dates(pnl["date"]),
             "y": _nums(pnl["drawdown"]), "fill": "tozeroy", "line": {"color": "#dc2626"},
             "hovertemplate": "%{y:.2%}"}]
    return {"data": data, "layout": _layout(title, note, xaxis=_time_axis(pnl["date"]), yaxis={"tickformat": ".1%"},
                                            showlegend=False)}


def _returns_chart(pnl: pd.DataFrame, note: str | None) -> dict:
    title = "Daily returns"
    r = pnl[pnl["daily_return"].notna()]
    if r.empty:
        return _empty(title, _too_short(pnl) or "no daily return (no previous session with equity)")
    colors = np.where(r["daily_return"].to_numpy() >= 0, "#16a34a", "#dc2626").tolist()
    data = [{"type": "bar", "name": "portfolio", "x": _dates(r["date"]), "y": _nums(r["daily_return"]),
             "width": DAY_BAR, "marker": {"color": colors}, "hovertemplate": "%{y:.2%}"}]
    return {"data": data, "layout": _layout(title, note, xaxis=_time_axis(r["date"]), yaxis={"tickformat": ".1%"},
                                            showlegend=False)}


def _monthly_chart(pnl: pd.DataFrame, note: str | None) -> dict:
    title = "Monthly returns"
    grid = analytics.monthly_returns(pnl)
    if grid.empty:
        return _empty(title, _too_short(pnl) or "no daily return yet")
    z = [_nums(row, 6) for row in grid.to_numpy()]
    data = [{"type": "heatmap", "x": MONTHS, "y": [str(y) for y in grid.index], "z": z, "zmid": 0,
             "colorscale": RED_WHITE_GREEN, "texttemplate": "%{z:.1%}",
             "hovertemplate": "%{y} %{x}: %{z:.2%}<extra></extra>",
             "colorbar": {"tickformat": ".0%"}, "xgap": 2, "ygap": 2}]
    return {"data": data, "layout": _layout(title, note, yaxis={"type": "category", "autorange": "reversed"},
                                            hovermode="closest")}


def _weights_chart(weights: pd.DataFrame, note: str | None) -> dict:
    title = "Weights vs targets (end of day)"
    if weights.empty:
        return _empty(title, note or "no position held and no target for the day")
    names = [_e(str(s)) for s in weights["symbol"]]
    data = [{"type": "bar", "name": "weight", "x": names, "y": _nums(weights["weight"]), "hovertemplate": "%{y:.2%}"},
            {"type": "bar", "name": "target", "x": names, "y": _nums(weights["target_of_equity"]),
             "hovertemplate": "%{y:.2%}"}]
    return {"data": data, "layout": _layout(title, note, barmode="group", yaxis={"tickformat": ".2~%"},
                                            xaxis={"type": "category"})}


def _turnover_chart(daily: pd.DataFrame, as_of: dt.date, note: str | None) -> dict:
    title = "Turnover (traded notional / equity)"
    if daily.empty or not (daily["traded_notional"] > 0).any():
        return _empty(title, note or f"no trade up to {as_of.isoformat()}")
    data = [{"type": "bar", "name": "turnover", "x": _dates(daily["date"]), "y": _nums(daily["turnover"]),
             "width": DAY_BAR, "hovertemplate": "%{y:.2%}"}]
    return {"data": data, "layout": _layout(title, note, xaxis=_time_axis(daily["date"]),
                                            yaxis={"tickformat": ".1%"}, showlegend=False)}


def _slippage_chart(daily: pd.DataFrame, note: str | None) -> dict:
    title = "Slippage vs the reference price (bps, notional-weighted)"
    d = daily[daily["slippage_bps"].notna()] if len(daily) else daily
    if d.empty:
        return _empty(title, note or "no filled order with a reference price yet")
    data = [{"type": "scatter", "mode": _mode(len(d)), "name": "slippage", "x": _dates(d["date"]),
             "y": _nums(d["slippage_bps"], 3), "hovertemplate": "%{y:.1f} bps"}]
    return {"data": data, "layout": _layout(title, note, xaxis=_time_axis(d["date"]), yaxis={"ticksuffix": " bps"},
                                            showlegend=False)}


def _script_json(value: dict) -> str:
    """JSON for inside a <script>: '<', '>' and '&' as escapes, so no data can close the tag."""
    text = json.dumps(value, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ------------------------------------------------------------------------------ tables


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _format(value, kind: str) -> str:
    if kind == "text":
        return str(value)
    v = float(value)
    if kind == "pct":
        return f"{v * 100:,.2f} %"
    if kind == "bps":
        return f"{v:,.1f} bps"
    if kind == "usd":
        return f"${v:,.2f}"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "hhi":
        return f"{v:.4f}"
    if kind == "qty":
        return f"{v:,.6g}"
    if kind == "price":
        return f"{v:,.4f}".rstrip("0").rstrip(".") if v < 1 else f"{v:,.2f}"
    return f"{round(v, 3) + 0.0:,.3f}"  # + 0.0: no "-0.000"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value)) or value is pd.NaT


def _cell(value, kind: str, reason: str | None = None) -> str:
    if _missing(value):
        title = f' title="{_e(reason)}"' if reason else ""
        return f'<td class="na"{title}>{DASH}</td>'
    css = "" if kind == "text" else ' class="num"'
    return f"<td{css}>{_e(_format(value, kind))}</td>"


def metric(metrics: dict, key: str) -> tuple[object, str | None]:
    """A metric's value and, when it is null, its reason (`trading.x`/`risk.x` for the nested ones,
    as the metrics' `reasons` name them)."""
    section, _, name = key.rpartition(".")
    holder = metrics.get(section) if section else metrics
    reasons = metrics.get("reasons") or {}
    if not isinstance(holder, dict) or name not in holder:
        return None, reasons.get(key) or "not in the metrics"
    value = holder[name]
    return value, (reasons.get(key) or "undefined on this history") if _missing(value) else None


def _kpi_table(metrics: dict, rows: list[tuple[str, str, str]]) -> str:
    body = []
    for label, key, kind in rows:
        value, reason = metric(metrics, key)
        body.append(f'<tr data-key="{_e(key)}"><th>{_e(label)}</th>{_cell(value, kind, reason)}</tr>')
    return f'<table class="kpi">{"".join(body)}</table>'


def _table(rows: list[dict], columns: list[tuple[str, str, str]], empty: str, row_class=None) -> str:
    if not rows:
        return f'<div class="empty">{_e(empty)}</div>'
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in columns)
    body = []
    for row in rows:
        css = row_class(row) if row_class else ""
        cells = "".join(_cell(row.get(key), kind) for key, _, kind in columns)
        body.append(f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
