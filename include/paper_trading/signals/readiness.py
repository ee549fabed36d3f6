"""Are the strategies' files ready for a trade date? (The DAG's sensor asks this on every poke.)

Existence proves nothing: the files keep their history, so yesterday's file is already there. A
strategy is ready when its file exists, is not empty, can be read and has rows for the trade date;
for a strategy that does not publish every day (`publishes_every_day: false`) the file being there
and readable is enough.

"Not published yet" is waiting: no file, an empty file, a file rewritten while it was read, no
rows for the date yet. "Published but unreadable" is an error raised at once (`InputError`, with
the file, row and value): a sensor that waited six hours on a parse error would only hide it.

Point in time (`known_at`, an aware instant; a replay passes its simulated clock): rows whose
`asof` is after it were not published yet at that moment, so a date whose rows all came out later
is "not ready", with when they came out ("ml: rows for 2025-11-18 published at 2025-11-18 11:30
America/New_York, after 09:35"). Files without an asof column are never cut (see
`signal_io.rows_known_at`). `known_at` None — the DAG's sensor and `run` — reads the files as they
are: a live file holds only what was published by now.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paper_trading.config import StrategySpec
from paper_trading.errors import SignalsNotReady
from paper_trading.signals.bus import READ_THREADS
from paper_trading.signals.files import Unpublished, open_source, rows_known_at


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


def check_strategy(
    spec: StrategySpec, trade_date: dt.date, cache_dir: Path, known_at: dt.datetime | None = None
) -> StrategyReadiness:
    """The readiness of one strategy (as known at `known_at`, if given); raises InputError if its
    published file cannot be read."""
    if reason := _not_published(spec):
        return StrategyReadiness(spec.id, spec.path, False, reason)
    try:
        source, _ = open_source(spec, cache_dir)
        if known_at is None:
            latest, withheld = source.latest_on_or_before(trade_date), None
        else:
            latest, withheld = _latest_known(spec, source, trade_date, known_at)
    except SignalsNotReady as exc:
        return StrategyReadiness(spec.id, spec.path, False, str(exc))
    if not spec.publishes_every_day:
        detail = f"latest rows {latest}" if latest else "no rows on or before the date yet"
        later = f" (rows for {withheld.day} {withheld.when}: not used)" if withheld else ""
        return StrategyReadiness(spec.id, spec.path, latest is not None, detail + later)
    if latest == trade_date:
        later = f" (a revision {withheld.when}: not used)" if withheld else ""
        return StrategyReadiness(spec.id, spec.path, True, f"has rows for {trade_date}{later}")
    if withheld is not None and withheld.day == trade_date:
        return StrategyReadiness(spec.id, spec.path, False, str(withheld))
    return StrategyReadiness(spec.id, spec.path, False, f"no rows for {trade_date} yet (latest: {latest or 'none'})")


def _latest_known(
    spec: StrategySpec, source: Any, trade_date: dt.date, known_at: dt.datetime
) -> tuple[dt.date | None, Unpublished | None]:
    """The date a run at `known_at` would read for `trade_date` (None: none published by then), and
    the rows withheld because they came out after `known_at`. Reads the date's rows only when the
    file has them: a date not in the file needs no cut."""
    latest = source.latest_on_or_before(trade_date)
    if spec.publishes_every_day and latest != trade_date:
        return latest, None
    day, rows, withheld = rows_known_at(spec, source, trade_date, known_at)
    return (day if rows.num_rows else None), withheld


def check_signals(
    specs: list[StrategySpec], trade_date: dt.date, cache_dir: Path, known_at: dt.datetime | None = None
) -> list[StrategyReadiness]:
    """The readiness of every strategy of the manifest for `trade_date` (as known at `known_at`,
    if given), checked in parallel threads (a grown CSV is re-hashed and re-indexed on the first
    poke after it changed). The first unreadable file, in manifest order, raises its error."""
    workers = max(1, min(len(specs), READ_THREADS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signal-check") as pool:
        return list(pool.map(lambda spec: check_strategy(spec, trade_date, Path(cache_dir), known_at), specs))
