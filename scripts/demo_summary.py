"""What `make demo` prints after the DAG run: each task's state, and where the run's outputs are.

    python scripts/demo_summary.py --date 2025-12-31 --log .airflow/demo.log --status $? --since $START

Airflow's own output of the run went to --log; it is shown (its tail) only when the run failed
(--status, the exit status of `airflow dags test`, is not 0). The task states come from Airflow's
metadata DB (the newest run of the DAG whose conf has this run_date), the outputs from
`paper_trading.artifacts` and the report step's files in data/reports. Exits with --status.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from pathlib import Path

DAG_ID = "paper_trading_daily"
TAIL_LINES = 30
WIDTH = 110


def _rel(path: Path, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(path)


def _tail(log: Path, n: int) -> list[str]:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return [f"(cannot read {log}: {exc})"]
    return [line if len(line) <= 240 else line[:239] + "…" for line in lines[-n:]]


def _task_states(trade_date: dt.date, since: dt.datetime | None) -> tuple[str, list[str]] | None:
    """The newest run of the DAG for `trade_date` (started at or after `since`) in the metadata DB:
    its header line and one line per task state ("success  trade_date, signal_bus, ..."), tasks in
    the order they started."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        runs = (session.query(DagRun).filter(DagRun.dag_id == DAG_ID)
                .order_by(DagRun.id.desc()).limit(50).all())
        run = next((r for r in runs if (r.conf or {}).get("run_date") == trade_date.isoformat()
                    and (since is None or (r.start_date and r.start_date >= since))), None)
        if run is None:
            return None
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == run.run_id).all()
        never = dt.datetime.max.replace(tzinfo=dt.UTC)
        tis.sort(key=lambda ti: (ti.start_date or never, ti.task_id))
        took = ""
        if run.start_date and run.end_date:
            took = f" in {(run.end_date - run.start_date).total_seconds():.1f} s"
        header = f"run {run.run_id}: {run.state}{took}, {len(tis)} tasks"
        by_state: dict[str, list[str]] = {}
        for ti in tis:
            by_state.setdefault(str(ti.state or "none"), []).append(ti.task_id)
    lines = []
    width = max(map(len, by_state), default=0) + 2
    for state, ids in by_state.items():
        line, first = "", True
        for task_id in ids:
            piece = task_id if not line else f", {task_id}"
            if line and len(line) + len(piece) > WIDTH - width - 3:
                lines.append(f"  {state if first else '':<{width}}{line},")
                line, first, piece = "", False, task_id
            line += piece
        lines.append(f"  {state if first else '':<{width}}{line}")
    return header, lines


def _outputs(root: Path, trade_date: dt.date, since: dt.datetime | None) -> list[str]:
    from paper_trading.reporting.artifacts import list_artifacts

    stamp = f"{trade_date:%Y%m%d}"
    lines: list[str] = []
    logs: list[Path] = []
    listed: set[Path] = set()
    for art in list_artifacts(root, trade_date):
        listed.add(Path(art.path).resolve())
        if art.label == "log":
            logs.append(Path(art.path))
            continue
        summary = re.sub(r", run \S+$", "", art.summary)  # the run is named above
        if since is not None and Path(art.path).stat().st_mtime < since.timestamp():
            summary += " [from an earlier run]"
        line = f"  {art.label:<13}{_rel(art.path, root)}  {summary}"
        if len(line) > WIDTH:
            line = f"  {art.label:<13}{_rel(art.path, root)}\n  {'':<13}{summary}"
        lines.append(line)
    def stale(path: Path) -> str:
        return " [from an earlier run]" if since is not None and path.stat().st_mtime < since.timestamp() else ""

    reports = root / "data" / "reports"
    dated = [p for p in sorted(reports.glob(f"*_{stamp}.*")) if p.resolve() not in listed
             and not p.name.startswith("summary_dashboard")]
    if dated:
        lines.append(f"  {'M6 report':<13}{_rel(reports, root)}/: {', '.join(p.name for p in dated)}"
                     f"{max(map(stale, dated))}")
    if logs:
        lines.append(f"  {'step logs':<13}{_rel(logs[0].parent, root)}/*_{stamp}.log ({len(logs)} files)")
    dashboard = reports / f"summary_dashboard_{stamp}.html"
    latest = reports / "summary_dashboard.html"
    if dashboard.exists() and latest.exists() and latest.read_bytes() == dashboard.read_bytes():
        dashboard = latest  # the one to bookmark: always the newest report
    if dashboard.exists():
        lines.append(f"open the dashboard: {_rel(dashboard, root)}{stale(dashboard)}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="the run's trade date")
    parser.add_argument("--log", required=True, type=Path, help="where Airflow's output of the run went")
    parser.add_argument("--status", type=int, default=0, help="exit status of `airflow dags test`")
    parser.add_argument(
        "--since", type=float, help="when the run was started (Unix time): older runs and files are not its"
    )
    args = parser.parse_args()
    root = Path(os.environ.get("PAPER_TRADING_ROOT") or Path.cwd()).resolve()
    since = dt.datetime.fromtimestamp(args.since, dt.UTC) if args.since is not None else None

    if args.status != 0:
        print(f"==> the DAG run failed (exit status {args.status}); the end of {_rel(args.log, root)}:")
        tail = _tail(args.log, TAIL_LINES)
        errors = [line for line in _tail(args.log, 100_000) if "[error" in line and line not in tail]
        if errors:
            print("\n".join(errors[-5:]) + "\n...")
        print("\n".join(tail))
    try:
        states = _task_states(args.date, since)
    except Exception as exc:
        states = None
        print(f"(task states not read from Airflow's metadata DB: {type(exc).__name__}: {exc})")
    if states is None:
        print(f"==> no new run of {DAG_ID} for {args.date} in Airflow's metadata DB")
    else:
        header, lines = states
        print(f"==> {header}")
        print("\n".join(lines))
    print(f"==> outputs of {args.date} (details: python -m paper_trading artifacts --date {args.date})")
    print("\n".join(_outputs(root, args.date, since)) or "  none")
    print(f"Airflow's log of this run: {_rel(args.log, root)}")
    return args.status


if __name__ == "__main__":
    sys.exit(main())
