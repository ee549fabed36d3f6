"""Are the strategies' files ready for a trade date? (The DAG's sensor asks this on every poke.)

Existence proves nothing: the files keep their history, so yesterday's file is already there. A
strategy is ready when its file exists, is not empty, can be read and has rows for the trade date;
for a strategy that does not publish every day (`publishes_every_day: false`) the file being there
and readable is enough.

"Not published yet" is waiting: no file, an empty file, a file rewritten while it was read, no
rows for the date yet. "Published but unreadable" is an error raised at once (`InputError`, with
the file, row and value): a sensor that waited six hours on a parse error would only hide it.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .config import StrategySpec
from .errors import SignalsNotReady
from .signal_bus import READ_THREADS
from .signal_io import open_source


@dataclass(frozen=True)
class StrategyReadiness:
    strategy_id: str
    path: str
    ready: bool
    reason: str


def _not_published(spec: StrategySpec) -> str | None:
    """Why the file is not there yet, or None if it is."""
    path = spec.abs_path
    if not path.exists():
        return "file not published yet"
    if path.is_file() and path.stat().st_size == 0:
        return "file is empty (being written?)"
    return None


def check_strategy(spec: StrategySpec, trade_date: dt.date, cache_dir: Path) -> StrategyReadiness:
    """The readiness of one strategy; raises InputError if its published file cannot be read."""
    if reason := _not_published(spec):
        return StrategyReadiness(spec.id, spec.path, False, reason)
    try:
        source, _ = open_source(spec, cache_dir)
        latest = source.latest_on_or_before(trade_date)
    except SignalsNotReady as exc:
        return StrategyReadiness(spec.id, spec.path, False, str(exc))
    if not spec.publishes_every_day:
        detail = f"latest rows {latest}" if latest else "no rows on or before the date yet"
        return StrategyReadiness(spec.id, spec.path, latest is not None, detail)
    if latest == trade_date:
        return StrategyReadiness(spec.id, spec.path, True, f"has rows for {trade_date}")
    return StrategyReadiness(spec.id, spec.path, False, f"no rows for {trade_date} yet (latest: {latest or 'none'})")


def check_signals(specs: list[StrategySpec], trade_date: dt.date, cache_dir: Path) -> list[StrategyReadiness]:
    """The readiness of every strategy of the manifest for `trade_date`, checked in parallel
    threads (a grown CSV is re-hashed and re-indexed on the first poke after it changed).
    The first unreadable file, in manifest order, raises its error."""
    workers = max(1, min(len(specs), READ_THREADS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signal-check") as pool:
        return list(pool.map(lambda spec: check_strategy(spec, trade_date, Path(cache_dir)), specs))
