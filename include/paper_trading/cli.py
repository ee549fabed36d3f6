"""`python -m paper_trading <step> ...` — every step of the daily run from the command line.

Exit status: 0 success; 2 bad input or configuration (one line on stderr says which file, row or
field, and what was expected); 3 signals not ready (`signals-ready`); 75 temporary (the broker or
the ledger unreachable, an order's outcome unknown: run the same command again); 1 an unexpected
error (a bug: run again with --debug for the traceback). `run` (the whole day) exits 75 too when the
signals are not ready yet: a cron user runs it again later.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

from paper_trading import steps
from paper_trading.config import parse_blend
from paper_trading.errors import (
    TRANSIENT_ERRORS,
    InputError,
    PaperTradingError,
    SignalsNotReady,
)
from paper_trading.logging_setup import console_logging, redact
from paper_trading.planning.inputs import targets_trade_date
from paper_trading.reporting.artifacts import list_artifacts
from paper_trading.trading_calendar import parse_date

EXIT_INPUT = 2
EXIT_NOT_READY = 3
#: EX_TEMPFAIL: the broker or the ledger was unreachable, or an outcome is unknown; running again finishes the job.
EXIT_RETRY = 75


def _date(text: str):
    try:
        return parse_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _blend(text: str) -> dict[str, float]:
    try:
        return parse_blend(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _m1_overrides(p: argparse.ArgumentParser) -> None:
    """M1's settings for a whole day (`run`, `replay`), over signal_bus of the config."""
    p.add_argument("--signal-mode", choices=["select", "blend"],
                   help="M1: select one strategy or blend several (default: signal_bus.mode of the config)")
    p.add_argument("--pick", help="strategy id for --signal-mode select")
    p.add_argument("--blend", type=_blend, help="ID=WEIGHT,... for --signal-mode blend; weights sum to 1")
    p.add_argument("--blend-missing", choices=["error", "renormalize"],
                   help="blend mode, a strategy without rows for the date: stop (error, default) or blend the others")


def _common(p: argparse.ArgumentParser, run_id_default: str | None = "cli",
            run_id_help: str | None = "run id written to logs and lineage (default: cli)") -> None:
    """The options every command takes; `run_id_help` None: no --run-id (replay names its runs)."""
    g = p.add_argument_group("common options")
    g.add_argument("--root", help="project root (default: $PAPER_TRADING_ROOT or the current directory)")
    g.add_argument("--config", dest="config_path", help=f"config file (default: {steps.DEFAULT_CONFIG} if present)")
    if run_id_help is not None:
        g.add_argument("--run-id", default=run_id_default, help=run_id_help)
    g.add_argument("-v", "--verbose", action="store_true", help="progress lines on stderr (always in the step log)")
    g.add_argument("--debug", action="store_true", help="debug lines; tracebacks on unexpected errors")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one `error:` line (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_INPUT, f"error: {self.prog}: {message} (see --help)\n")


def _step(sub, name: str, help: str, description: str, epilog: str | None = None,
          date_help: str | None = None) -> argparse.ArgumentParser:
    """A step's parser: its help, what it reads and writes, and the trade date every step takes
    (required, unless `date_help` says what its absence means)."""
    p = sub.add_parser(name, help=help, description=textwrap.dedent(description), epilog=epilog,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--date", required=date_help is None, type=_date,
                   help=date_help or "trade date, YYYY-MM-DD or YYYYMMDD")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m paper_trading",
        description="paper-trading: the daily rebalance, one step at a time.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True, parser_class=_Parser)

    p = _step(
        sub,
        "signal-bus",
        "M1: consolidate the strategies' target weights for one trade date",
        """\
            M1 - the signal bus.

            reads:   the manifest (config/strategy_manifest.yaml) and the strategy files it lists
                     (CSV / XLSX / Parquet under data/raw_signals/), only the rows of --date
            writes:  data/intermediate/targets_consolidated_YYYYMMDD.parquet (or --out):
                     trade_date, asset_id, target_weight, asof, strategy_set_id, blend_mode, run_id,
                     source_hashes; one row per asset, long-only, weights sum to 1
                     logs/signal_bus_YYYYMMDD.log
            caches:  data/cache/signals/ (per file content: a CSV's chunk index, an XLSX's Parquet copy)
            """,
        epilog="examples:\n  python -m paper_trading signal-bus --date 2025-03-03 --mode select --pick drl\n"
        "  python -m paper_trading signal-bus --date 2025-03-03 --mode blend --blend drl=0.6,equal=0.4",
    )
    p.add_argument("--manifest", help="strategy manifest (default: signal_bus.manifest of the config)")
    p.add_argument("--mode", choices=["select", "blend"], help="select one strategy or blend several")
    p.add_argument("--pick", help="strategy id for --mode select")
    p.add_argument("--blend", type=_blend, help="ID=WEIGHT,... for --mode blend; weights sum to 1")
    p.add_argument("--blend-missing", choices=["error", "renormalize"],
                   help="blend mode, a strategy without rows for the date: stop (error, default) or blend the others")
    p.add_argument("--out",
                   help="output Parquet path (default: data/intermediate/targets_consolidated_YYYYMMDD.parquet)")
    _common(p)

    p = _step(
        sub,
        "signals-ready",
        "check that every strategy has published rows for a trade date (the DAG sensor's check)",
        """\
            Is every strategy file of the manifest ready for --date?

            reads:   the manifest and the strategy files (rows of --date only)
            writes:  nothing but logs/wait_for_signals_YYYYMMDD.log
            exit:    0 all ready, 3 some not ready (the reasons are printed)
            """,
    )
    p.add_argument("--manifest", help="strategy manifest (default: signal_bus.manifest of the config)")
    _common(p)

    p = _step(
        sub,
        "plan",
        "M2: turn the day's target weights into a rebalance plan and share orders",
        """\
            M2 - the rebalance planner.

            reads:   data/intermediate/targets_consolidated_YYYYMMDD.parquet (or --targets),
                     data/mapping/instrument_map.csv, and from the broker (APCA_* environment):
                     equity, cash, positions, latest prices - or, offline, --equity with
                     --prices CSV (symbol,price) or --fill-price, and --positions CSV (symbol,qty)
            writes:  data/outputs/rebalance_plan_YYYYMMDD.csv (per symbol: current and target
                     qty/value/weight, delta, action, reason), data/outputs/planned_orders_YYYYMMDD.csv
                     (symbol, side, qty, ref_price, notional, order_type, time_in_force, tp_price,
                     sl_price, reason; sells first), data/outputs/plan_summary_YYYYMMDD.json,
                     logs/plan_YYYYMMDD.log
            """,
        epilog="offline examples (no Alpaca; the spec's one-click dry run):\n"
        "  python -m paper_trading plan --config config/config.yaml \\\n"
        "      --targets data/intermediate/targets_consolidated_20251231.parquet --equity 10000 --debug\n"
        "  python -m paper_trading plan --date 2025-12-31 --equity 10000 --fill-price 100 --debug\n"
        "  without --prices or --fill-price, an offline plan prices each symbol at its last close on or\n"
        "  before the date in paths.daily_bars (default data/market/daily_bars.csv), and says so",
        date_help="trade date, YYYY-MM-DD or YYYYMMDD (default: the --targets file's trade_date, else the "
        "date in its name)",
    )
    p.add_argument("--targets", help="targets Parquet (default: M1's output for --date)")
    p.add_argument("--equity", type=float, help="offline: account equity (no broker is contacted)")
    p.add_argument("--cash", type=float, help="offline: cash (default: equity minus the positions' value)")
    p.add_argument("--prices", help="CSV symbol,price (price_source=file; offline or online)")
    p.add_argument("--positions", help="offline: CSV symbol,qty of the current holdings")
    p.add_argument("--fill-price", type=float, help="offline: one price for every symbol")
    p.add_argument(
        "--round",
        type=int,
        default=1,
        help="round of the day (default 1): once a round has traded, its plan is kept; a new round plans again",
    )
    _common(p)

    p = _step(
        sub,
        "risk",
        "the pre-trade risk gate: approve or reject every planned order",
        """\
            The pre-trade risk gate. It approves or rejects; it never changes a quantity.

            reads:   data/outputs/planned_orders_YYYYMMDD.csv (or --orders), config risk:, and from
                     the broker: account and flags, positions, latest prices, in real mode the
                     clock and calendar, daily bars for the volatility gate - or, offline (dry
                     mode), the plan summary and --prices / --fill-price
            writes:  data/outputs/risk_report_YYYYMMDD.csv (every order, verdict, reasons),
                     data/outputs/approved_orders_YYYYMMDD.csv (what execution may send),
                     logs/risk_YYYYMMDD.log, logs/alerts.log (when a pre-flight check stops the run)
            """,
    )
    p.add_argument(
        "--mode",
        choices=["dry", "real"],
        default="dry",
        help="real also requires the market to be open now (default: dry)",
    )
    p.add_argument("--orders", help="planned orders CSV (default: M2's output for --date)")
    p.add_argument("--prices", help="offline: CSV symbol,price as the latest prices")
    p.add_argument("--fill-price", type=float, help="offline: one latest price for every symbol")
    p.add_argument(
        "--round",
        type=int,
        default=1,
        help="round of the day (default 1): once a round has traded, its real gate's verdicts are is kept; "
        "a new round is gated again",
    )
    _common(p)

    p = _step(
        sub,
        "execute",
        "M4: send the approved orders (real) or record what would be sent (dry), exactly once",
        """\
            M4 - the execution runner. Real mode, in order: pre-flight again (market open now and
            today, account flags, kill switch); a reduction or exit cancels the name's working
            exits, then sells (MARKET DAY), waited for; cash re-read and buys scaled down if short;
            every buy a BRACKET over exactly the shares it buys (execution.protection: per_lot; the
            name's earlier exits stay working); at the end every long position is covered exactly by
            its take-profit legs (an OCO over any uncovered rest). Every order has a deterministic
            client_order_id (pt-YYYYMMDD-SYMBOL-side-rN), looked up before it is sent: a re-run, a
            retry or an unknown outcome never sends an order twice.

            reads:   data/outputs/approved_orders_YYYYMMDD.csv (or --orders): in real mode only the
                     approvals of a real-mode gate of the same --run-id; the broker (APCA_*)
            writes:  orders at the broker (real); the ledger (ledger.url, $PAPER_TRADING_DB_URL or
                     data/ledger.sqlite): orders and runs; data/outputs/execution_log.csv (an export
                     of the ledger's orders), logs/execute_YYYYMMDD.log, logs/alerts.log on a refusal
            exit:    0 every approved order accounted for (or, dry, recorded); 2 bad input or a
                     refusal to trade; 75 the broker or the ledger was unreachable, or an order's
                     outcome is still unknown: run the same command again
            """,
    )
    p.add_argument("--mode", choices=["dry", "real"], default="dry", help="real sends orders (default: dry)")
    p.add_argument("--orders", help="approved orders CSV (default: the gate's output for --date)")
    p.add_argument(
        "--round",
        type=int,
        default=1,
        help="round of the day (default 1); a new round trades the same symbols again on purpose",
    )
    _common(p)

    p = _step(
        sub,
        "reconcile",
        "M5: the books of a trade date from what really happened at the broker",
        """\
            M5 - reconciliation. The broker is the truth: fills from the account activities (paged
            by id), positions and cash from the account, each planned order classified (filled,
            partially filled and why, rejected with the broker's message, cancelled, expired, not
            submitted with the gate's reason), manual trades and bracket legs listed, and the drift
            between what the ledger implies and what the broker holds.

            reads:   the broker (orders, activities, positions, account, daily closes), the ledger,
                     data/outputs/risk_report_YYYYMMDD.csv (the gate's rejections)
            writes:  the ledger: fills, positions_eod, cash_ledger, equity_daily, recon (one
                     transaction); data/outputs/filled_orders.csv, positions_eod_YYYYMMDD.csv,
                     cash_ledger.csv, recon_report_YYYYMMDD.csv; logs/reconcile_YYYYMMDD.log,
                     logs/alerts.log (drift, manual trades)
            """,
    )
    p.add_argument("--mode", choices=["dry", "real"], default="real", help="whose orders to match (default: real)")
    _common(p)

    p = _step(
        sub,
        "report",
        "M6: daily P&L, risk snapshot and metrics (vs SPY) from the ledger",
        """\
            M6 - analytics. Every reconciled session up to --date: equity, the daily return (net of
            deposits and withdrawals), SPY's close and return, cumulative return and drawdown; the
            end-of-day weights, sectors, cash and exposure; and the statistics (empyrical-reloaded's
            names: annual_return, sharpe_ratio, max_drawdown, alpha, beta, ...) with our trading
            figures (hit rate, turnover, slippage, fill rate, fees). A value undefined on the
            history (one day, zero variance) is null with its reason under "reasons".

            reads:   the ledger (equity_daily, positions_eod, cash_ledger, fills, recon), the
                     broker's SPY daily closes, data/mapping/instrument_map.csv (sectors), the
                     day's targets_consolidated_YYYYMMDD.parquet, logs/alerts.log (the dashboard)
            writes:  data/reports/pnl_daily_YYYYMMDD.csv, risk_snapshot_YYYYMMDD.csv,
                     metrics_YYYYMMDD.json, summary_dashboard_YYYYMMDD.html (offline HTML) and
                     summary_dashboard.html (the newest date's); logs/report_YYYYMMDD.log
            """,
    )
    _common(p)

    p = _step(
        sub,
        "run",
        "the whole day once, in the DAG's order (for cron): signals to report",
        """\
            The whole day once, then exit: the same steps as the DAG's tasks, in its order, with one
            run id (cli-YYYYMMDDTHHMMSS unless --run-id):

              not an XNYS session -> says so, does nothing (exit 0)
              real mode with execution.require_approval -> exit 2 (a cron job has nobody to ask)
              signals-ready       -> not ready: exit 75 naming the strategies (run again later)
              signal-bus -> plan -> risk (real: a pre-flight refusal - market_closed_now, kill_switch,
              account flags, trade_date_not_today - is exit 2 naming it; nothing is sent)
              -> execute (--mode) -> wait for fills (every execution.poll_interval_s, at most
              execution.fills_timeout_s) -> wait until the reconcile time (reconcile.timing: after
              the close, or before the next open; sleeps until then, real clock) -> reconcile -> report

            --no-wait never sleeps: past the reconcile time it reconciles and reports as usual; before
            it, it stops after the fills and makes no books (intraday books would classify orders that
            are only still open, raise alerts for them and value positions at a price that is not the
            close); it says when to run reconcile and report. Running a day again sends nothing
            twice (client_order_ids are looked up first) and rewrites the same output files.

            reads:   everything the steps read: the manifest and strategy files, the instrument map,
                     the broker (APCA_*), the ledger, logs/alerts.log
            writes:  everything the steps write: targets_consolidated_YYYYMMDD.parquet; in
                     data/outputs/ the plan, planned and approved orders, risk report,
                     execution_log.csv, recon report, positions, fills and cash ledger; orders at the
                     broker (real); the ledger; data/reports/ pnl, risk snapshot, metrics, dashboard;
                     logs/<step>_YYYYMMDD.log and logs/run_YYYYMMDD.log (this summary)
            prints:  one line per step: what it did, and the paths of its outputs
            exit:    0 the day is done (or not a session, or books deferred by --no-wait); 2 bad input,
                     configuration or a refusal to trade; 75 signals not ready, or the broker or the
                     ledger unreachable or an order's outcome unknown: run the same command again
                     (nothing is sent twice); 1 a bug
            """,
        epilog="examples:\n  python -m paper_trading run --date 2025-12-31 --mode dry\n"
        "  crontab, New York time (CRON_TZ=America/New_York), after the open; holidays exit 0 doing nothing:\n"
        "  35 9 * * 1-5  cd /srv/paper-trading && .venv/bin/python -m paper_trading run --mode real",
        date_help="trade date, YYYY-MM-DD or YYYYMMDD (default: today in New York)",
    )
    p.add_argument("--mode", choices=["dry", "real"], default="dry", help="real sends orders (default: dry)")
    p.add_argument(
        "--round",
        type=int,
        default=1,
        help="round of the day (default 1); a new round trades the same symbols again on purpose",
    )
    _m1_overrides(p)
    p.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="never sleep for the close: before the reconcile time, stop after the fills (no books)",
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--once",
        action="store_true",
        help="run the day once and exit (the default; the spec's scheduler.py --once, test T5)",
    )
    how.add_argument(
        "--daemon",
        action="store_true",
        help="stay resident: run the day at scheduler.time (New York) on every XNYS session until "
        "Ctrl-C or SIGTERM (the spec's --daemon, test T6); Airflow is the recommended scheduler",
    )
    p.add_argument(
        "--skip-weekends",
        action="store_true",
        help="with --daemon: accepted as the spec writes it; weekends and exchange holidays are always "
        "skipped (sessions only)",
    )
    p.add_argument(
        "--poll-s",
        type=float,
        default=30.0,
        help="with --daemon: look at the clock at least this often, in seconds (default 30)",
    )
    _common(p, run_id_default=None, run_id_help="run id of every step of the day (default: cli-YYYYMMDDTHHMMSS, UTC)")

    p = sub.add_parser(
        "replay",
        help="the daily pipeline over a range of sessions against the local simulator",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent("""\
            Replay history: every XNYS session from --start to --end through the same steps as
            `run` and the DAG, against the local Alpaca simulator, whose clock moves through each
            day (orders fill on its bars, bracket legs trigger, DAY orders expire at the close).
            The last session's report covers the period: the dashboard shows the equity curve
            against SPY. No credentials and no network: the simulator is started here.

            reads:   the config, the manifest and strategy files, the instrument map,
                     data/market/daily_bars.csv (or --bars) for the simulator
            writes:  a workspace (--out, default data/replay), rebuilt at each replay: its own
                     ledger, data/outputs, data/reports (the dashboard), logs, the simulator's
                     database; the project's own ledger, outputs and reports are not touched
            prints:  a progress bar, then a one-screen summary with the dashboard's path
            exit:    0 done; 2 bad input or configuration
            """),
        epilog="example:\n  python -m paper_trading replay --start 2025-09-02 --end 2025-12-31 --mode real",
    )
    p.add_argument("--start", required=True, type=_date, help="first day (YYYY-MM-DD); sessions only")
    p.add_argument("--end", required=True, type=_date, help="last day (YYYY-MM-DD)")
    p.add_argument(
        "--mode",
        choices=["dry", "real"],
        default="dry",
        help="real sends the orders to the simulator (default: dry, nothing is sent)",
    )
    p.add_argument("--out", help="workspace folder, relative to the root (default: data/replay)")
    p.add_argument("--cash", type=float, default=100_000.0, help="the simulated account's cash at the start")
    p.add_argument("--bars", help="daily bars for the simulator (default: data/market/daily_bars.csv)")
    _m1_overrides(p)
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    _common(p, run_id_help=None)

    p = _step(
        sub,
        "artifacts",
        "list what the run of a trade date wrote (targets, logs), with a summary of each",
        """\
            List the artifacts of --date under the project root.

            reads:   data/intermediate/*_YYYYMMDD.*, logs/*_YYYYMMDD.log
            writes:  nothing
            exit:    0 if the day's targets exist, 2 otherwise
            """,
    )
    _common(p)
    return parser


def _replay(args: argparse.Namespace) -> int:
    """`replay`: a progress bar on stderr while it runs, the summary on stdout at the end. The
    sessions' warnings stay in their step logs (`-v` shows them): a replay of months has many."""
    if not (args.verbose or args.debug):
        console_logging(logging.ERROR)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from paper_trading.steps.replay import replay, summary_lines

    bar = Progress(
        TextColumn("replay {task.fields[day]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[did]}"),
        console=Console(stderr=True),
        disable=not args.progress,
    )
    tasks: list = []

    def advance(done: int, total: int, day: dict) -> None:
        if not tasks:  # shown from the first session on: a refused replay prints only its error
            bar.start()
            tasks.append(bar.add_task("replay", total=total, day="", did=""))
        did = f"equity {day['equity']:,.0f}" if day["equity"] is not None else ""
        bar.update(tasks[0], completed=done, day=day["date"], did=did + ("" if day["traded"] else " (not traded)"))

    try:
        result = replay(
            args.start,
            args.end,
            mode=args.mode,
            root=args.root,
            config_path=args.config_path,
            out=args.out,
            cash=args.cash,
            bars=args.bars,
            signal_mode=args.signal_mode,
            pick=args.pick,
            blend=args.blend,
            blend_missing=args.blend_missing,
            progress=advance,
            debug=args.debug,
        )
    finally:
        bar.stop()
    print("\n".join(summary_lines(result, steps.common.project_dir(args.root))))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console_logging(logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING)
    # what every step takes from its command line the same way
    common = {"root": args.root, "config_path": args.config_path, "run_id": getattr(args, "run_id", None),
              "debug": args.debug}
    try:
        if args.step == "signal-bus":
            summary = steps.consolidate_signals(
                args.date,
                **common,
                manifest=args.manifest,
                mode=args.mode,
                pick=args.pick,
                blend=args.blend,
                blend_missing=args.blend_missing,
                out=args.out,
            )
            print(summary["targets_path"])
            return 0
        if args.step == "signals-ready":
            ready, statuses = steps.signals_ready(
                args.date, root=args.root, config_path=args.config_path, run_id=args.run_id, manifest=args.manifest
            )
            for s in statuses:
                print(f"{'ready  ' if s.ready else 'waiting'}  {s.strategy_id:<12} {s.path}: {s.reason}")
            return 0 if ready else EXIT_NOT_READY
        if args.step == "plan":
            if args.date is None:
                if not args.targets:
                    raise InputError("plan: give --date, or --targets (its trade date is read from the file)")
                root = steps.common.project_dir(args.root)
                args.date = targets_trade_date(root / args.targets, root)
            summary = steps.plan_rebalance(
                args.date,
                **common,
                round_no=args.round,
                targets=args.targets,
                equity=args.equity,
                cash=args.cash,
                prices=args.prices,
                positions=args.positions,
                fill_price=args.fill_price,
            )
            print(summary["orders_path"])
            return 0
        if args.step == "risk":
            summary = steps.check_risk(
                args.date,
                **common,
                mode=args.mode,
                round_no=args.round,
                orders=args.orders,
                prices=args.prices,
                fill_price=args.fill_price,
            )
            print(summary["approved_path"])
            return 0
        if args.step == "execute":
            summary = steps.execute_orders(
                args.date,
                **common,
                mode=args.mode,
                round_no=args.round,
                orders=args.orders,
            )
            print(summary["execution_log_path"])
            return 0
        if args.step == "reconcile":
            summary = steps.reconcile_books(
                args.date,
                **common,
                mode=args.mode,
            )
            print(summary["recon_report_path"])
            return 0
        if args.step == "report":
            summary = steps.write_report(args.date, **common)
            print(summary["metrics_path"])
            return 0
        if args.step == "run" and args.daemon:
            if args.date is not None:
                raise InputError("run --daemon runs every session from now on: --date is for --once")
            if not (args.poll_s > 0):
                raise InputError(f"--poll-s: expected a number of seconds > 0, got {args.poll_s:g}")
            from paper_trading.steps.scheduler import daemon

            daemon(
                mode=args.mode,
                root=args.root,
                config_path=args.config_path,
                poll_s=args.poll_s,
                round_no=args.round,
                wait=args.wait,
                signal_mode=args.signal_mode,
                pick=args.pick,
                blend=args.blend,
                blend_missing=args.blend_missing,
                echo=lambda line: print(line, flush=True),
                debug=args.debug,
            )
            return 0
        if args.step == "run":
            from paper_trading.steps.scheduler import note_once

            began = dt.datetime.now(dt.UTC)
            try:
                result = steps.run_day(
                    args.date,
                    mode=args.mode,
                    root=args.root,
                    config_path=args.config_path,
                    round_no=args.round,
                    run_id=args.run_id,
                    wait=args.wait,
                    signal_mode=args.signal_mode,
                    pick=args.pick,
                    blend=args.blend,
                    blend_missing=args.blend_missing,
                    debug=args.debug,
                    echo=lambda line: print(line, flush=True),
                )
            except SignalsNotReady as exc:
                note_once(args.root, args.config_path, args.date, args.mode, began, f"signals not ready: {exc}")
                print(f"error: {redact(str(exc))} (temporary: run the same command again later)", file=sys.stderr)
                return EXIT_RETRY
            except BaseException as exc:
                note_once(
                    args.root,
                    args.config_path,
                    args.date,
                    args.mode,
                    began,
                    f"failed: {exc}" if str(exc) else f"failed: {type(exc).__name__}",
                )
                raise
            if result["session"]:
                note_once(args.root, args.config_path, result["trade_date"], args.mode, began, "done")
            return 0
        if args.step == "replay":
            return _replay(args)
        if args.step == "artifacts":
            root = steps.common.project_dir(args.root)
            found = list_artifacts(root, args.date)
            for a in found:
                print(f"{a.label:<11} {a.path}\n{'':<11} {a.summary}")
            if not any(a.label == "M1 targets" for a in found):
                print(f"error: no targets for {args.date} under {root}", file=sys.stderr)
                return EXIT_INPUT
            return 0
    except TRANSIENT_ERRORS as exc:
        print(f"error: {redact(str(exc))} (temporary: run the same command again)", file=sys.stderr)
        return EXIT_RETRY
    except PaperTradingError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug: one line, the traceback only on request
        if args.debug:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {redact(str(exc))} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
    raise AssertionError(f"unhandled step {args.step}")
