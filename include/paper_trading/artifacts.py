"""What a run left behind for a trade date: each artifact with a one-line summary.

The demo prints this after running the DAG, and a user can ask for it any time
(`python -m paper_trading artifacts --date ...`) instead of hunting through folders.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq


@dataclass(frozen=True)
class Artifact:
    label: str
    path: Path
    summary: str


def _targets_summary(path: Path) -> str:
    table = pq.read_table(path, columns=["target_weight", "strategy_set_id", "blend_mode", "run_id"])
    weights = table["target_weight"].to_pylist()
    return (
        f"{len(weights)} assets, weights sum to {sum(weights):.12f}, "
        f"{table['strategy_set_id'][0]} ({table['blend_mode'][0]}), run {table['run_id'][0]}"
    )


def list_artifacts(root: Path, trade_date: dt.date) -> list[Artifact]:
    """The artifacts of `trade_date` that exist under `root`, in pipeline order."""
    stamp = f"{trade_date:%Y%m%d}"
    found: list[Artifact] = []
    targets = root / "data" / "intermediate" / f"targets_consolidated_{stamp}.parquet"
    if targets.exists():
        found.append(Artifact("M1 targets", targets, _targets_summary(targets)))
    for log in sorted((root / "logs").glob(f"*_{stamp}.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        found.append(Artifact("log", log, f"{len(lines)} lines"))
    return found
