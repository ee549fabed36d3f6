"""Are the strategies' files ready for a trade date? (The DAG's sensor asks this on every poke.)

Existence proves nothing: the files keep their history, so yesterday's file is already there. A
strategy is ready when its file exists, is not empty, can be read and has rows for the trade date;
for a strategy that does not publish every day (`publishes_every_day: false`) the file being there
and readable is enough. A file that cannot be read yet (still being written) is "not ready", not
an error: the sensor keeps waiting and its timeout reports the reasons.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .config import StrategySpec
from .errors import PaperTradingError
from .paths import display_path
from .signal_bus import READ_THREADS
from .signal_io import open_source


@dataclass(frozen=True)
class StrategyReadiness:
    strategy_id: str
    path: str
    ready: bool
    reason: str


def check_strategy(spec: StrategySpec, trade_date: dt.date, cache_dir: Path) -> StrategyReadiness:
    shown = display_path(spec.abs_path)
    try:
        source, _ = open_source(spec, cache_dir)
        latest = source.latest_on_or_before(trade_date)
    except PaperTradingError as exc:
        return StrategyReadiness(spec.id, shown, False, str(exc))
    if not spec.publishes_every_day:
        detail = f"latest rows {latest}" if latest else "no rows on or before the date yet"
        return StrategyReadiness(spec.id, shown, latest is not None, detail)
    if latest == trade_date:
        return StrategyReadiness(spec.id, shown, True, f"has rows for {trade_date}")
    return StrategyReadiness(spec.id, shown, False, f"no rows for {trade_date} yet (latest: {latest or 'none'})")


def check_signals(specs: list[StrategySpec], trade_date: dt.date, cache_dir: Path) -> list[StrategyReadiness]:
    """The readiness of every strategy of the manifest for `trade_date`, checked in parallel
    threads (a grown CSV is re-hashed and re-indexed on the first poke after it changed)."""
    workers = max(1, min(len(specs), READ_THREADS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signal-check") as pool:
        return list(pool.map(lambda spec: check_strategy(spec, trade_date, Path(cache_dir)), specs))
