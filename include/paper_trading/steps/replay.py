"""Replay: the daily pipeline, step for step, over a range of XNYS sessions against the local simulator.

`python -m paper_trading replay --start D1 --end D2 [--mode real]`. Each session runs exactly what
`run` (and the DAG) runs — `run_day`: signals, M1, M2, the gate, execution, the fills, the books —
with the simulator's clock as the clock: the day starts at the DAG's schedule (09:35 New York), the
fills are waited for by moving the simulated clock, and "waiting for the close" moves it to the
reconcile time, so on the way the simulator fills the orders on its bars, triggers the bracket legs,
expires the DAY orders at the close and, the next morning, opens on the next bar. The report of the
last session covers the whole period (equity against SPY, drawdowns, trading, risk) and writes the
dashboard.

Where it writes: a replay workspace (`--out`, default `data/replay` under the project root), a
project of its own that is rebuilt at every replay. It holds a copy of the configuration (alert
channels off: replayed history must not page anyone; the ledger in the workspace, whatever
`ledger.url` says), the inputs hard-linked (or copied) at their own relative paths, and everything
the run writes: the ledger, outputs, reports, logs and the simulator's database. The project's own
ledger, outputs and reports are never touched, and no credential is used: the simulator is started
here with a key of its own, on 127.0.0.1.

The same inputs give the same workspace (run ids `replay-YYYYMMDD`, a fresh simulator, its fills
deterministic on its bars), so a replay is reproducible.

Point in time: the signal files are history files holding every revision, so each session reads
them as they were at its simulated clock (`run_day(point_in_time=True)`): a row whose `asof` is
after that instant was not published yet and is not used — an earlier revision is, if one came out
in time — or the replay would trade on revisions it could not have known (look-ahead). Files
without an asof column cannot say when a row came out (their mtime is when they were copied) and
are read whole.

Late signals: a session whose signals are not all published at 09:35 waits as the DAG's
`wait_for_signals` sensor does (its poke interval and timeout, `paper_trading.sensors`), moving the
simulated clock: rows published at 11:32 are traded at the next check (11:35; rows of 11:30, at
11:30), and the day's summary says how long it waited. A session whose signals are still missing when the sensor's
timeout has passed is not traded (the DAG's sensor would fail); nor, in real mode, is one whose
signals came after the close (an early close: the gate refuses, as the DAG's would). Either way
its books are still made, so the equity curve has no hole.

A day whose execution cannot finish (`OutcomeUnknown`: a sell resting all day on a halted symbol
leaves the position without its take-profit/stop-loss) is what the DAG's run would fail and alert
on; the replay notes it, makes the day's books and goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from paper_trading.config import DEFAULT_CONFIG, config_or_defaults
from paper_trading.errors import (
    ConfigError,
    OutcomeUnknown,
    SignalsNotReady,
    TradingRefused,
)
from paper_trading.logging_setup import ALERT_URLS_ENV
from paper_trading.reporting.files import REPLAY_MARKER
from paper_trading.steps.common import check_round, load_settings, project_dir, sharing_ledgers

#: A workspace holds this file: only such a folder is ever emptied by a replay.
MARKER = REPLAY_MARKER  # the file that says a replay made the folder (the Portfolio page looks for it)
#: When each replayed session starts, New York time: the DAG's schedule (after the open).
RUN_AT = dt.time(9, 35)
#: The simulator's (and the client's) request budget in a replay: history, not Alpaca's 200/min.
REQUESTS_PER_MINUTE = 600_000


def workspace(root: Path, out: str | Path | None, config_path: str | Path | None) -> Path:
    """The replay workspace, rebuilt: the configuration (alert channels off, the ledger inside),
    the manifest and every input it names, at the same relative paths. `out` is relative to the
    project root and stays inside it; an existing folder is emptied only if a replay made it."""
    import yaml

    from paper_trading.config import load_manifest
    from paper_trading.paths import resolve_inside

    try:
        where = resolve_inside(root, out if out not in (None, "") else "data/replay")
    except ValueError as exc:
        raise ConfigError(f"--out: {exc}") from None
    if where == root or where in root.parents:
        raise ConfigError("--out: the workspace must be a folder of its own inside the project, not its root")
    if where.exists():
        if not where.is_dir():
            raise ConfigError(f"--out {where.relative_to(root)}: not a folder")
        if any(where.iterdir()) and not (where / MARKER).is_file():
            raise ConfigError(f"--out {where.relative_to(root)}: the folder is not empty and no replay made it "
                              f"(no {MARKER}); give another --out")
        shutil.rmtree(where)
    settings = load_settings(root, config_path)
    config_file = root / (config_path or DEFAULT_CONFIG)
    data = yaml.safe_load(config_file.read_text(encoding="utf-8")) if settings is not None else {}
    data.setdefault("alerts", {})["channels"] = []
    data.setdefault("ledger", {})["url"] = None
    data.setdefault("risk", {})["kill_switch"] = False
    manifest = (data.get("signal_bus") or {}).get("manifest") or "config/strategy_manifest.yaml"
    inputs = [manifest, (data.get("paths") or {}).get("mapping") or "data/mapping/instrument_map.csv"]
    prices = (data.get("rebalance") or {}).get("prices_file")
    inputs += [prices] if prices else []
    inputs += [spec.path for spec in load_manifest(manifest, root)]
    where.mkdir(parents=True)
    (where / MARKER).write_text("made by `python -m paper_trading replay`; emptied by the next replay\n")
    target = where / DEFAULT_CONFIG
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    for relative in dict.fromkeys(inputs):
        source, copy = resolve_inside(root, relative), resolve_inside(where, relative)
        if not source.is_file():
            continue  # the step that reads it says so, naming the file
        copy.parent.mkdir(parents=True, exist_ok=True)
        _link(source, copy)
    # M1's index of the strategy files, if the project has one: checked against the files at every
    # read (signal_io), so a copy is as safe as a rebuild, and saves parsing every file again
    cache = (data.get("signal_bus") or {}).get("cache_dir") or "data/cache/signals"
    if (source := resolve_inside(root, cache)).is_dir():
        shutil.copytree(source, resolve_inside(where, cache), copy_function=_link)
    return where


def _link(source: str | Path, copy: str | Path) -> None:
    """A hard link (no copy of the bytes), else a copy (another file system)."""
    try:
        os.link(source, copy)
    except OSError:
        shutil.copy2(source, copy)


class SimClock:
    """The simulator's clock as `run_day`'s clock: `now` reads it, `sleep` moves it forward (the
    simulator fills, triggers and expires orders on the way). The replay's simulator is its own and
    its clock moves only when this moves it, so after a move `now` is the time the simulator
    answered, not another request."""

    def __init__(self, sim) -> None:
        self.sim = sim
        self._now: dt.datetime | None = None

    def now(self) -> dt.datetime:
        if self._now is None:
            self._now = dt.datetime.fromisoformat(
                self.sim.admin("GET", "/sim/health").json()["clock"].replace("Z", "+00:00"))
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._moved(self.sim.admin("POST", "/sim/clock", {"advance_seconds": seconds}))

    def set(self, moment: dt.datetime) -> None:
        if moment > self.now():
            self._moved(self.sim.admin("POST", "/sim/clock", {"to": moment.astimezone(dt.UTC).isoformat()}))

    def _moved(self, answer) -> None:
        self._now = dt.datetime.fromisoformat(answer.json()["timestamp"])


def replay(
    start: dt.date,
    end: dt.date,
    *,
    mode: str = "dry",
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    out: str | Path | None = None,
    cash: float = 100_000.0,
    bars: str | Path | None = None,
    round_no: int = 1,
    signal_mode: str | None = None,
    pick: str | None = None,
    blend: dict[str, float] | str | None = None,
    blend_missing: str | None = None,
    progress: Callable[[int, int, dict], None] | None = None,
    debug: bool = False,
) -> dict:
    """Replay every XNYS session from `start` to `end` (see the module's docstring). `progress`
    is called after each session with (done, total, that day's summary).

    Returns {"workspace", "mode", "start", "end", "sessions", "days": [per session: date,
    traded, orders, filled, equity, signals_at (New York HH:MM of the check that found the signals
    ready), waited_s (how long the day waited for them), note], "report": the last session's
    report, "seconds"}."""
    from alpaca_sim.server import SimServer
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.signals.wait_policy import SENSOR_POKE_INTERVAL, SENSOR_TIMEOUT
    from paper_trading.steps.day import duration, run_day
    from paper_trading.steps.reconcile import reconcile_books
    from paper_trading.steps.report import write_report
    from paper_trading.trading_calendar import EXCHANGE_TZ, books_time, sessions_between

    if mode not in ("dry", "real"):
        raise ConfigError(f"mode must be dry or real, got {mode!r}")
    check_round(round_no)
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")
    if isinstance(cash, bool) or not isinstance(cash, (int, float)) or not math.isfinite(cash) or not 0 < cash <= 1e12:
        raise ConfigError(f"--cash: expected a positive amount up to 1e12, got {cash!r}")
    days = sessions_between(start, end)
    if not days:
        raise ConfigError(f"no XNYS session from {start} to {end}")
    project = project_dir(root)
    bars_file = Path(bars) if bars else project / "data" / "market" / "daily_bars.csv"
    if not bars_file.is_file():
        raise ConfigError(f"--bars {bars_file}: no such file (the simulator prices the replay on daily bars)")
    began = time.perf_counter()
    where = workspace(project, out, config_path)
    db_url = f"sqlite:///{where / 'data' / 'ledger.sqlite'}"  # given: wins over $PAPER_TRADING_DB_URL
    first_open = dt.datetime.combine(days[0], RUN_AT, EXCHANGE_TZ)
    saved_urls = os.environ.pop(ALERT_URLS_ENV, None)  # replayed history pages nobody
    result: dict = {"workspace": str(where), "mode": mode, "start": days[0].isoformat(), "end": days[-1].isoformat(),
                    "sessions": len(days), "days": []}
    try:
        with SimServer(where / "data" / "sim" / "replay.sqlite", bars=bars_file, log=where / "logs" / "alpaca_sim.log",
                       clock=(first_open - dt.timedelta(hours=1)).isoformat()) as sim, contextlib.ExitStack() as stack:
            sim.admin("POST", "/sim/reset", {"cash": str(cash),
                                             "clock": (first_open - dt.timedelta(hours=1)).isoformat()})
            sim.admin("POST", "/sim/config", {"rate_limit_per_minute": REQUESTS_PER_MINUTE,
                                              "data_rate_limit_per_minute": REQUESTS_PER_MINUTE})
            broker = AlpacaBroker(sim.key, sim.secret, sim.url, sim.url, requests_per_minute=REQUESTS_PER_MINUTE,
                                  trade_updates=config_or_defaults(load_settings(where, None)).broker.trade_updates)
            broker.watch_orders()  # one stream for the year: what every step would otherwise read back
            stack.callback(broker.unwatch_orders)
            stack.enter_context(sharing_ledgers())  # one ledger engine for the year
            clock = SimClock(sim)
            for done, day in enumerate(days, 1):
                run_at = dt.datetime.combine(day, RUN_AT, EXCHANGE_TZ)
                clock.set(run_at)
                run_id = f"replay-{day:%Y%m%d}"
                summary = {"date": day.isoformat(), "traded": False, "orders": 0, "filled": 0, "equity": None,
                           "signals_at": None, "waited_s": 0.0, "note": ""}
                try:
                    ran = run_day(day, mode=mode, root=where, broker=broker, db_url=db_url, run_id=run_id,
                                  round_no=round_no, signal_mode=signal_mode, pick=pick, blend=blend,
                                  blend_missing=blend_missing, now=clock.now, sleep=clock.sleep,
                                  max_sleep_s=math.inf, report=False, debug=debug, point_in_time=True,
                                  signals_timeout=SENSOR_TIMEOUT, signals_poke_interval=SENSOR_POKE_INTERVAL,
                                  export_history=False)
                    executed = ran["steps"].get("execute", {})
                    books = ran["steps"].get("reconcile", {})
                    at = dt.datetime.fromisoformat(ran["signals"]["known_at"]).astimezone(EXCHANGE_TZ)
                    waited = ran["signals"]["waited_s"]
                    summary.update(traded=True, orders=executed.get("orders", 0),
                                   filled=(executed.get("counts") or {}).get("filled", 0),
                                   equity=books.get("equity"), signals_at=f"{at:%H:%M}", waited_s=waited,
                                   note=f"signals late: traded at {at:%H:%M} New York after waiting "
                                        f"{duration(waited)}" if waited else "")
                except OutcomeUnknown as exc:
                    # the orders went out, but the day's execution could not finish (a sell resting on
                    # a halted symbol leaves its position unprotected): the DAG's task fails, its
                    # retries end at the close and the run alerts; the day's books are still made
                    clock.set(books_time(day, config_or_defaults(load_settings(where, None)).reconcile))
                    books = reconcile_books(day, mode=mode, root=where, run_id=run_id, broker=broker, db_url=db_url,
                                      debug=debug, export_history=False)
                    summary.update(traded=True, equity=books.get("equity"),
                                   note=f"execution incomplete (the DAG's run would fail and alert): {exc}")
                except (SignalsNotReady, TradingRefused) as exc:
                    # the DAG's sensor timed out, or (real mode) the signals came after an early close
                    # and the gate refused, as the DAG's would: not traded; the books are still made
                    waited = (clock.now() - run_at).total_seconds()
                    summary.update(waited_s=waited)
                    if isinstance(exc, TradingRefused):  # the clock stands where the signals were ready
                        summary.update(signals_at=f"{clock.now().astimezone(EXCHANGE_TZ):%H:%M}")
                    clock.set(books_time(day, config_or_defaults(load_settings(where, None)).reconcile))
                    books = reconcile_books(day, mode=mode, root=where, run_id=run_id, broker=broker, db_url=db_url,
                                      debug=debug, export_history=False)
                    late = (f"signals late: ready at {summary['signals_at']} New York after waiting "
                            f"{duration(waited)}; " if isinstance(exc, TradingRefused) and waited else "")
                    summary.update(equity=books.get("equity"), note=late + str(exc))
                result["days"].append(summary)
                if progress is not None:
                    progress(done, len(days), summary)
            # the whole-history CSVs (execution log, fills, cash ledger), once: the last day's books
            # made again (the same books: a re-run changes nothing) with them
            last = f"replay-{days[-1]:%Y%m%d}"
            reconcile_books(days[-1], mode=mode, root=where, run_id=last, broker=broker, db_url=db_url, debug=debug)
            result["report"] = write_report(days[-1], root=where, run_id=f"replay-{days[-1]:%Y%m%d}", broker=broker,
                                      db_url=db_url, debug=debug)
    finally:
        if saved_urls is not None:
            os.environ[ALERT_URLS_ENV] = saved_urls
    result["seconds"] = float(f"{time.perf_counter() - began:.2f}")
    return result


def summary_lines(result: dict, root: Path | None = None) -> list[str]:
    """The one-screen summary of a replay: the period, what was traded, the outcome against the
    benchmark, and where the dashboard and the ledger are."""
    import json

    from paper_trading.paths import display_path
    from paper_trading.steps.day import duration

    def pct(value) -> str:
        return "—" if value is None else f"{value:+.2%}"

    def shown(path) -> str:
        return display_path(Path(path), root) if root else str(path)

    days = result["days"]
    report = result.get("report") or {}
    metrics = json.loads(Path(report["metrics_path"]).read_text()) if report.get("metrics_path") else {}
    trading, risk = metrics.get("trading") or {}, metrics.get("risk") or {}
    skipped = [d for d in days if not d["traded"]]
    late = [d for d in days if d["traded"] and d.get("waited_s")]
    equities = [d["equity"] for d in days if d["equity"] is not None]
    lines = [
        f"replay {result['start']} .. {result['end']} ({result['mode']} mode against the local simulator): "
        f"{result['sessions']} session(s) in {result['seconds']:.1f} s",
        f"  traded     {len(days) - len(skipped)} session(s); {sum(d['orders'] for d in days)} order(s), "
        f"{sum(d['filled'] for d in days)} filled"
        + (f"; not traded: {', '.join(d['date'] for d in skipped[:5])}{' ...' if len(skipped) > 5 else ''}"
           f" ({skipped[0]['note'][:80]})" if skipped else ""),
        *([f"  late       {len(late)} session(s) waited for their signals, as the DAG's sensor would: "
           + ", ".join(f"{d['date']} at {d['signals_at']} ({duration(d['waited_s'])})" for d in late[:5])
           + (" ..." if len(late) > 5 else "")] if late else []),
        f"  equity     {equities[0]:,.2f} after the first session -> {equities[-1]:,.2f}" if equities else
        "  equity     no books",
        f"  return     {pct(metrics.get('cum_returns_final'))} vs {metrics.get('benchmark', 'SPY')} "
        f"{pct(metrics.get('benchmark_cum_returns_final'))}; max drawdown {pct(metrics.get('max_drawdown'))}; "
        f"Sharpe {metrics['sharpe_ratio']:.2f}" if metrics.get("sharpe_ratio") is not None else
        f"  return     {pct(metrics.get('cum_returns_final'))}",
        f"  trading    fill rate {pct(trading.get('fill_rate_total')).lstrip('+')}, slippage "
        f"{trading.get('slippage_bps_total') or 0:.1f} bps, {trading.get('round_trips', 0)} round trip(s)",
        f"  at the end {risk.get('positions', 0)} position(s), cash {pct(risk.get('cash_pct')).lstrip('+')}",
    ]
    if report:
        lines += [f"  dashboard  {shown(report['dashboard_latest_path'])}",
                  f"  ledger     {shown(Path(result['workspace']) / 'data' / 'ledger.sqlite')}",
                  f"  workspace  {shown(result['workspace'])} (outputs, reports, logs; rebuilt by the next replay)"]
    return lines
