"""M1 — the signal bus: strategy files -> one day's consolidated target weights.

Steps (spec §3.1): `load_manifest` -> `load_all_strategies` (only the trade date's rows are read)
-> `pick_latest_per_strategy` (latest `asof` per strategy, date and asset) -> `merge_for_date`
(select one strategy, or blend several with per-strategy weights) ->
`enforce_constraints_and_normalize` (long-only, fully invested, sum exactly 1) -> `save_targets`.

Rules decided here where the specification is silent:

- Each strategy's weights are normalized to sum to 1 before blending, so a blend is a convex
  combination of the strategies' portfolios whatever scale each strategy writes.
- Blend weights must sum to 1 (within 1e-6); they are never rescaled silently.
- Blend mode, one strategy without rows for the date: `blend_missing=error` (default) stops the
  run, because trading a different blend than the one configured is a decision for a person;
  `renormalize` blends the strategies that did publish, their weights rescaled to sum to 1, and
  says so in `blend_mode` (`blend-renormalized`) and in `strategy_set_id`.
- Exact duplicate rows are dropped with a warning; two rows for the same strategy, date, asset and
  `asof` with different weights are an error (nobody can tell which one is meant).
- Zero weights are kept (a target of zero is a decision to hold none).
- Point in time (`known_at`, given by a replay: its simulated clock): rows whose `asof` is after
  it are ignored, as if not published yet, so `pick_latest_per_strategy` picks the latest revision
  published by then, never one from the future (no look-ahead). Files without an asof column are
  not cut (see `signal_io.rows_known_at`). None (the DAG, `run`): every row of the file as it is.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from paper_trading.atomic import atomic_path
from paper_trading.config import DEFAULT_MAX_WEIGHT, StrategySpec, check_blend_weights
from paper_trading.config import load_manifest as _load_manifest
from paper_trading.errors import ConfigError, InputError
from paper_trading.logging_setup import get_logger
from paper_trading.paths import display_path
from paper_trading.signals.files import SourceFile, latest_date, read_strategy_rows

log = get_logger("signal_bus")

TARGET_COLUMNS = [
    "trade_date",
    "asset_id",
    "target_weight",
    "asof",
    "strategy_set_id",
    "blend_mode",
    "run_id",
    "source_hashes",
]
TARGETS_SCHEMA = pa.schema(
    [
        ("trade_date", pa.date32()),
        ("asset_id", pa.string()),
        ("target_weight", pa.float64()),
        ("asof", pa.timestamp("us", tz="UTC")),
        ("strategy_set_id", pa.string()),
        ("blend_mode", pa.string()),
        ("run_id", pa.string()),
        ("source_hashes", pa.string()),
    ]
)
SUM_TOLERANCE = 1e-9
#: Strategy files read at once. Hashing and parsing run in hashlib and pyarrow, which release the
#: GIL; a thread per file rather than per core lets the OS spread the work evenly (five files on
#: two cores in two threads would leave one core idle while the fifth is read).
READ_THREADS = 8


def load_manifest(path: str | Path, root: str | Path | None = None) -> list[StrategySpec]:
    """The validated strategies of a manifest (see `config.load_manifest`)."""
    return _load_manifest(path, root)


def _where(row: pd.Series) -> str:
    parts = []
    if "strategy_id" in row:
        parts.append(f"strategy {row['strategy_id']}")
    if "source_file" in row and "source_row" in row:
        parts.append(f"{row['source_file']} row {row['source_row']}")
    return ", ".join(parts) or f"asset {row.get('asset_id')}"


def validate_weights(frame: pd.DataFrame, allow_short: bool = False, max_weight: float | None = None) -> None:
    """Every weight is a finite number, >= 0 unless shorting is allowed, and (when `max_weight` is
    given) no larger than it in absolute value: a weight of 1e49 is an export error, and after
    normalization it would silently take the whole strategy's share.

    The error names the strategy, the file and the row when the frame still carries them.
    """
    weights = pd.to_numeric(frame["target_weight"], errors="coerce")
    checks = [
        (weights.isna(), "target_weight is missing or NaN"),
        (weights.isin([math.inf, -math.inf]), "target_weight is infinite"),
    ]
    if not allow_short:
        checks.append((weights < 0, "target_weight is negative ({value}); short positions are not allowed"))
    if max_weight is not None:
        checks.append((weights.abs() > max_weight,
                       f"target_weight {{value}} is implausibly large; expected at most {max_weight:g} "
                       "(signal_bus.max_weight in config/config.yaml)"))
    for mask, message in checks:
        if mask.any():
            row = frame[mask.to_numpy()].iloc[0]
            raise InputError(f"{_where(row)}: {message.format(value=row['target_weight'])} (asset {row['asset_id']})")


def load_all_strategies(
    specs: list[StrategySpec],
    trade_date: dt.date,
    cache_dir: str | Path,
    max_weight: float | None = DEFAULT_MAX_WEIGHT,
    known_at: dt.datetime | None = None,
) -> pd.DataFrame:
    """The rows of `trade_date` from every strategy, standardized and validated.

    Columns: strategy_id, trade_date, asset_id, target_weight, asof, source_file, source_row (and
    confidence / predicted_return when a file has them). `frame.attrs["sources"]` maps each
    strategy id to its `SourceFile` (path, content hash, the date actually used).

    The strategies are read in parallel threads; the frame, the log lines and the error raised
    (the first in manifest order) are those of reading them one after another.

    `known_at` (aware): only the rows published by then (see the module's docstring).
    """
    frames, sources = [], {}
    workers = max(1, min(len(specs), READ_THREADS))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="signal-read") as pool:
        futures = [pool.submit(read_strategy_rows, spec, trade_date, Path(cache_dir), known_at) for spec in specs]
        try:
            for spec, future in zip(specs, futures):
                frame, source = future.result()
                validate_weights(frame, max_weight=max_weight)
                frames.append(frame)
                sources[spec.id] = source
                log.info("read %s: %d row(s) for %s from %s (%s)", spec.id, len(frame),
                         source.date_used or trade_date, source.path, source.content_hash[:26])
        except BaseException:
            for pending in futures:
                pending.cancel()  # the reads not started yet; running ones finish before the error is raised
            raise
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    frame.attrs["sources"] = sources
    return frame


def pick_latest_per_strategy(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep, per (strategy_id, trade_date, asset_id), the row with the latest `asof`."""
    key = ["strategy_id", "trade_date", "asset_id"]
    exact = frame.duplicated(subset=key + ["asof", "target_weight"], keep="first")
    if exact.any():
        log.warning("dropped %d exact duplicate row(s) (same strategy, date, asset, asof and weight)", int(exact.sum()))
        frame = frame[~exact.to_numpy()]
    clash = frame.duplicated(subset=key + ["asof"], keep=False)
    if clash.any():
        rows = frame[clash.to_numpy()].sort_values(key + ["asof"]).head(2)
        a, b = rows.iloc[0], rows.iloc[1]
        raise InputError(
            f"strategy {a['strategy_id']}: {a.get('source_file', '')} rows {a.get('source_row')} and "
            f"{b.get('source_row')} give asset {a['asset_id']} two different weights "
            f"({a['target_weight']} and {b['target_weight']}) for {a['trade_date']} with the same asof {a['asof']}"
        )
    ordered = frame.sort_values(key + ["asof"], kind="stable")
    latest = ordered.drop_duplicates(subset=key, keep="last")
    _warn_partial_revisions(ordered, latest)
    return latest.reset_index(drop=True)


def _warn_partial_revisions(all_rows: pd.DataFrame, latest: pd.DataFrame) -> None:
    """A revision that leaves out assets of an earlier version mixes two versions: say so."""
    newest = all_rows.groupby(["strategy_id", "trade_date"])["asof"].transform("max")
    stale = latest[latest["asof"] < newest.loc[latest.index]]
    for (sid, day), group in stale.groupby(["strategy_id", "trade_date"]):
        log.warning("strategy %s, %s: %d asset(s) are missing from the latest revision and keep an older "
                    "version's weight: %s", sid, day, len(group), ", ".join(sorted(group["asset_id"])[:10]))


def _normalized(frame: pd.DataFrame, sid: str) -> pd.DataFrame:
    total = frame["target_weight"].sum()
    if not total > 0:
        row = frame.iloc[0]
        raise InputError(
            f"strategy {sid} ({row.get('source_file', '')}): all weights for {row['trade_date']} are zero; "
            "expected at least one positive weight"
        )
    return frame.assign(target_weight=frame["target_weight"] / total)


def _no_rows_error(frame: pd.DataFrame, sid: str, trade_date: dt.date) -> InputError:
    source: SourceFile | None = frame.attrs.get("sources", {}).get(sid)
    where = f" in {source.path}" if source else ""
    latest = frame.attrs.get("latest_dates", {}).get(sid)
    hint = f" (its latest date is {latest})" if latest else ""
    return InputError(f"strategy {sid} has no rows for {trade_date}{where}{hint}")


def merge_for_date(
    frame: pd.DataFrame,
    trade_date: dt.date,
    mode: str,
    blend: dict[str, float] | None = None,
    *,
    pick: str | None = None,
    blend_missing: str = "error",
) -> pd.DataFrame:
    """One row per asset for `trade_date`: the picked strategy's weights, or the blend.

    Returns trade_date, asset_id, target_weight, asof, strategy_set_id, blend_mode.
    """
    day = frame[frame["trade_date"] == trade_date] if len(frame) else frame
    if mode == "select":
        if not pick:
            raise ConfigError("mode 'select' needs a strategy id (--pick)")
        rows = day[day["strategy_id"] == pick]
        if rows.empty:
            raise _no_rows_error(frame, pick, trade_date)
        out = _normalized(rows, pick)[["trade_date", "asset_id", "target_weight", "asof"]]
        return out.assign(strategy_set_id=pick, blend_mode="select")
    if mode != "blend":
        raise ConfigError(f"mode must be 'select' or 'blend', got {mode!r}")
    if not blend:
        raise ConfigError("mode 'blend' needs strategy weights (--blend ID=W,...)")
    check_blend_weights(blend)
    present = {sid for sid in blend if not day[day["strategy_id"] == sid].empty}
    missing = [sid for sid in blend if sid not in present]
    effective = dict(blend)
    blend_mode = "blend"
    if missing:
        if blend_missing != "renormalize" or not present:
            raise _no_rows_error(frame, missing[0], trade_date)
        kept = {sid: w for sid, w in blend.items() if sid in present}
        total = math.fsum(kept.values())
        effective = {sid: w / total for sid, w in kept.items()}
        blend_mode = "blend-renormalized"
        log.warning("blend: %s published nothing for %s; blending %s", ", ".join(missing), trade_date,
                    ", ".join(f"{k}={v:.6g}" for k, v in effective.items()))
    parts = []
    for sid, w in effective.items():
        rows = _normalized(day[day["strategy_id"] == sid], sid)
        parts.append(rows.assign(target_weight=rows["target_weight"] * w))
    stacked = pd.concat(parts, ignore_index=True)
    out = (
        stacked.groupby("asset_id", as_index=False, sort=True)
        .agg(target_weight=("target_weight", "sum"), asof=("asof", "max"))
        .assign(trade_date=trade_date)
    )
    set_id = "+".join(f"{sid}={w:.6g}" for sid, w in effective.items())
    return out[["trade_date", "asset_id", "target_weight", "asof"]].assign(
        strategy_set_id=set_id, blend_mode=blend_mode
    )


def enforce_constraints_and_normalize(
    frame: pd.DataFrame, allow_short: bool = False, allow_cash: bool = False
) -> pd.DataFrame:
    """Long-only (unless `allow_short`), one row per asset, weights scaled to sum exactly 1.

    With `allow_cash` the weights may sum to less than 1 (the rest is cash) and are only scaled
    down when they sum to more. Sorted by asset_id.
    """
    if frame.empty:
        raise InputError("no target weights to normalize")
    validate_weights(frame, allow_short=allow_short)
    dupes = frame["asset_id"].duplicated(keep=False)
    if dupes.any():
        raise InputError(f"asset {frame.loc[dupes, 'asset_id'].iloc[0]} appears more than once in the targets")
    total = float(frame["target_weight"].sum())
    if not total > 0:
        raise InputError(
            f"target weights for {frame['trade_date'].iloc[0]} sum to {total:g}; expected a positive total "
            "(all weights zero?)"
        )
    scale = total if (not allow_cash or total > 1.0) else 1.0
    out = frame.assign(target_weight=frame["target_weight"] / scale).sort_values("asset_id", kind="stable")
    final = float(out["target_weight"].sum())
    if not allow_cash and abs(final - 1.0) > SUM_TOLERANCE:
        raise InputError(f"target weights sum to {final!r} after normalization; expected 1 within {SUM_TOLERANCE}")
    return out.reset_index(drop=True)


def save_targets(frame: pd.DataFrame, out_path: str | Path, lineage: dict | None = None) -> Path:
    """Write the targets Parquet atomically (temp file + rename), with lineage in its metadata."""
    out_path = Path(out_path)
    frame = frame[TARGET_COLUMNS].copy()
    frame.attrs = {}
    table = pa.Table.from_pandas(frame, schema=TARGETS_SCHEMA, preserve_index=False)
    if lineage is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[b"paper_trading.lineage"] = json.dumps(lineage, sort_keys=True, default=str).encode()
        table = table.replace_schema_metadata(metadata)
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp)
    return out_path


def read_targets(path: str | Path) -> pd.DataFrame:
    """Read a targets file written by `save_targets` (trade_date as datetime.date)."""
    return pq.read_table(path).to_pandas()


def default_output_path(output_dir: str | Path, trade_date: dt.date) -> Path:
    return Path(output_dir) / f"targets_consolidated_{trade_date:%Y%m%d}.parquet"


@dataclass(frozen=True)
class SignalBusResult:
    path: Path
    trade_date: dt.date
    assets: int
    strategy_set_id: str
    blend_mode: str

    def summary(self) -> dict:
        """Small, JSON-able: what Airflow passes on through XCom."""
        return {
            "targets_path": str(self.path),
            "trade_date": self.trade_date.isoformat(),
            "assets": self.assets,
            "strategy_set_id": self.strategy_set_id,
            "blend_mode": self.blend_mode,
        }


def run_signal_bus(
    specs: list[StrategySpec],
    trade_date: dt.date,
    *,
    mode: str,
    pick: str | None = None,
    blend: dict[str, float] | None = None,
    blend_missing: str = "error",
    out_path: str | Path,
    cache_dir: str | Path,
    run_id: str,
    manifest_label: str = "the manifest",
    max_weight: float | None = DEFAULT_MAX_WEIGHT,
    root: Path | None = None,
    known_at: dt.datetime | None = None,
) -> SignalBusResult:
    """M1 end to end for one date: read, pick latest, merge, normalize, save. `known_at` (aware):
    as the files were at that instant (rows published later are ignored); it is in the lineage."""
    known = {s.id: s for s in specs}
    wanted = [pick] if mode == "select" else list(blend or {})
    for sid in wanted:
        if sid not in known:
            flag = "--pick" if mode == "select" else "--blend"
            raise ConfigError(f"{flag}: {sid!r} is not a strategy of {manifest_label}; known: {', '.join(known)}")
    used_specs = [known[sid] for sid in wanted if sid]
    frame = load_all_strategies(used_specs, trade_date, cache_dir, max_weight, known_at)
    sources: dict[str, SourceFile] = frame.attrs["sources"]
    frame.attrs["latest_dates"] = {
        sid: latest_date(known[sid], Path(cache_dir), known_at=known_at)
        for sid, src in sources.items()
        if src.date_used is None
    }
    # Carry-forward strategies report the date they published; align them to the trade date.
    if len(frame):
        frame["trade_date"] = trade_date
    latest = pick_latest_per_strategy(frame) if len(frame) else frame
    latest.attrs = frame.attrs
    merged = merge_for_date(latest, trade_date, mode, blend, pick=pick, blend_missing=blend_missing)
    targets = enforce_constraints_and_normalize(merged)
    hashes = {sid: src.content_hash for sid, src in sources.items()}
    targets = targets.assign(run_id=run_id, source_hashes=json.dumps(hashes, sort_keys=True))
    lineage = {
        "run_id": run_id,
        "trade_date": trade_date.isoformat(),
        "mode": mode,
        "blend": blend,
        "blend_missing": blend_missing,
        **({"known_at": known_at.astimezone(dt.UTC).isoformat()} if known_at is not None else {}),
        "sources": {
            sid: {"path": s.path, "content_hash": s.content_hash, "date_used": s.date_used}
            for sid, s in sources.items()
        },
    }
    path = save_targets(targets, out_path, lineage)
    result = SignalBusResult(
        path=Path(path),
        trade_date=trade_date,
        assets=len(targets),
        strategy_set_id=str(targets["strategy_set_id"].iloc[0]),
        blend_mode=str(targets["blend_mode"].iloc[0]),
    )
    log.info(
        "wrote %s: %d asset(s), %s (%s), weights sum to %.12f",
        display_path(Path(path), root),
        result.assets,
        result.strategy_set_id,
        result.blend_mode,
        float(targets["target_weight"].sum()),
    )
    return result
