"""`python -m paper_trading <step> ...` — every step of the daily run from the command line.

Exit status: 0 success; 2 bad input or configuration (one line on stderr says which file, row or
field, and what was expected); 3 signals not ready (`signals-ready`); 1 an unexpected error (a bug:
run again with --debug for the traceback).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from . import steps
from .artifacts import list_artifacts
from .config import parse_blend
from .errors import PaperTradingError
from .logging_setup import redact
from .paths import project_root
from .trading_calendar import parse_date

EXIT_INPUT = 2
EXIT_NOT_READY = 3


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


def _common(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("common options")
    g.add_argument("--root", help="project root (default: $PAPER_TRADING_ROOT or the current directory)")
    g.add_argument("--config", dest="config_path", help=f"config file (default: {steps.DEFAULT_CONFIG} if present)")
    g.add_argument("--run-id", default="cli", help="run id written to logs and lineage (default: cli)")
    g.add_argument("--debug", action="store_true", help="verbose logs; tracebacks on unexpected errors")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m paper_trading",
        description="paper-trading: the daily rebalance, one step at a time.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="step", metavar="STEP", required=True)

    p = sub.add_parser(
        "signal-bus",
        help="M1: consolidate the strategies' target weights for one trade date",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            M1 - the signal bus.

            reads:   the manifest (config/strategy_manifest.yaml) and the strategy files it lists
                     (CSV / XLSX / Parquet under data/raw_signals/), only the rows of --date
            writes:  data/intermediate/targets_consolidated_YYYYMMDD.parquet (or --out):
                     trade_date, asset_id, target_weight, asof, strategy_set_id, blend_mode, run_id,
                     source_hashes; one row per asset, long-only, weights sum to 1
                     logs/signal_bus_YYYYMMDD.log
            caches:  data/cache/signals/ (CSV/XLSX converted once per file content)
            """
        ),
        epilog="examples:\n  python -m paper_trading signal-bus --date 2025-03-03 --mode select --pick drl\n"
        "  python -m paper_trading signal-bus --date 2025-03-03 --mode blend --blend drl=0.6,equal=0.4",
    )
    p.add_argument("--date", required=True, type=_date, help="trade date, YYYY-MM-DD or YYYYMMDD")
    p.add_argument("--manifest", help="strategy manifest (default: signal_bus.manifest of the config)")
    p.add_argument("--mode", choices=["select", "blend"], help="select one strategy or blend several")
    p.add_argument("--pick", help="strategy id for --mode select")
    p.add_argument("--blend", type=_blend, help="ID=WEIGHT,... for --mode blend; weights sum to 1")
    p.add_argument("--blend-missing", choices=["error", "renormalize"],
                   help="blend mode, a strategy without rows for the date: stop (error, default) or blend the others")
    p.add_argument("--out", help="output Parquet path (default: data/intermediate/targets_consolidated_YYYYMMDD.parquet)")
    _common(p)

    p = sub.add_parser(
        "signals-ready",
        help="check that every strategy has published rows for a trade date (the DAG sensor's check)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            Is every strategy file of the manifest ready for --date?

            reads:   the manifest and the strategy files (rows of --date only)
            writes:  nothing but logs/wait_for_signals_YYYYMMDD.log
            exit:    0 all ready, 3 some not ready (the reasons are printed)
            """
        ),
    )
    p.add_argument("--date", required=True, type=_date, help="trade date, YYYY-MM-DD or YYYYMMDD")
    p.add_argument("--manifest", help="strategy manifest (default: signal_bus.manifest of the config)")
    _common(p)

    p = sub.add_parser(
        "artifacts",
        help="list what the run of a trade date wrote (targets, logs), with a summary of each",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            """\
            List the artifacts of --date under the project root.

            reads:   data/intermediate/*_YYYYMMDD.*, logs/*_YYYYMMDD.log
            writes:  nothing
            exit:    0 if the day's targets exist, 2 otherwise
            """
        ),
    )
    p.add_argument("--date", required=True, type=_date, help="trade date, YYYY-MM-DD or YYYYMMDD")
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.step == "signal-bus":
            summary = steps.signal_bus(
                args.date, root=args.root, config_path=args.config_path, run_id=args.run_id,
                manifest=args.manifest, mode=args.mode, pick=args.pick, blend=args.blend,
                blend_missing=args.blend_missing, out=args.out, debug=args.debug,
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
        if args.step == "artifacts":
            root = Path(args.root).resolve() if args.root else project_root()
            found = list_artifacts(root, args.date)
            for a in found:
                print(f"{a.label:<11} {a.path}\n{'':<11} {a.summary}")
            if not any(a.label == "M1 targets" for a in found):
                print(f"error: no targets for {args.date} under {root}", file=sys.stderr)
                return EXIT_INPUT
            return 0
    except PaperTradingError as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except Exception as exc:  # a bug: one line, the traceback only on request
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {redact(str(exc))} (run with --debug for details)",
              file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled step {args.step}")
