"""Generate the large M1 benchmark case: N strategies x Y years of XNYS sessions x A assets.

Each strategy is written twice with the same rows, as CSV (`trade_date,gvkey,weights`, ISO dates,
6-digit zero-padded gvkeys, no quoting: what a strategy team exports) and as Parquet (same columns,
`trade_date` as date32, sorted by date, ~128k-row row groups, zstd: what a well-behaved producer
writes), plus one manifest for each format, so the benchmark compares formats on identical content.

Why it is built this way:

- **Deterministic**: every (strategy, year) chunk has its own generator seeded from
  (seed, strategy, year), so the output does not depend on chunk order or on the worker count.
- **Bounded memory**: one year of one strategy (~750k rows at 3,000 assets) is in memory at a time
  and is appended to both writers; the full 15M-row history never is.
- **Fast**: strategies are generated in parallel processes (one per core); gvkey strings are
  built once for the universe and gathered with `take`, not formatted per row.
- **Idempotent**: a JSON stamp records the parameters and the files' sizes; a second call with the
  same parameters does nothing.

Usage: python bench/make_large_signals.py [--out bench/data/large] [--strategies 5] [--years 20]
       [--assets 3000] [--start-year 2005] [--seed 20240615] [--force]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

#: Bump when the generated content changes, so old stamps no longer match.
GENERATOR_VERSION = 1
ROW_GROUP_ROWS = 128 * 1024
STAMP_NAME = "stamp.json"
CSV_HEADER = b"trade_date,gvkey,weights\n"
#: Share of zero weights per date: strategies do hold nothing in some names, and M1 keeps zeros.
ZERO_SHARE = 0.1
SCHEMA = pa.schema([("trade_date", pa.date32()), ("gvkey", pa.string()), ("weights", pa.float64())])
DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "large"


@dataclass(frozen=True)
class Params:
    """Everything the generated content depends on (and therefore what the stamp compares)."""

    strategies: int = 5
    years: int = 20
    assets: int = 3000
    start_year: int = 2005
    seed: int = 20240615
    version: int = GENERATOR_VERSION


def strategy_ids(n: int) -> list[str]:
    return [f"s{i + 1}" for i in range(n)]


def sessions_by_year(params: Params) -> dict[int, np.ndarray]:
    """XNYS sessions of each generated year, as datetime64[D] (from exchange_calendars, not weekdays)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="1990-01-01")
    end_year = params.start_year + params.years - 1
    sessions = cal.sessions_in_range(f"{params.start_year}-01-01", f"{end_year}-12-31")
    days = sessions.to_numpy().astype("datetime64[D]")
    years = days.astype("datetime64[Y]").astype(int) + 1970
    return {int(y): days[years == y] for y in np.unique(years)}


def default_trade_date(by_year: dict[int, np.ndarray], params: Params) -> dt.date:
    """The first session on or after June 15 of the middle year: mid-range, and always a session."""
    mid_year = params.start_year + params.years // 2
    days = by_year.get(mid_year)
    if days is None:
        days = by_year[max(by_year)]
    target = np.datetime64(f"{mid_year}-06-15")
    later = days[days >= target]
    day = later[0] if len(later) else days[-1]
    return dt.date.fromisoformat(str(day))


def gvkey_universe(params: Params) -> pa.Array:
    """The sorted asset universe, as 6-digit zero-padded gvkey strings (shared by all strategies)."""
    rng = np.random.default_rng([params.seed, 0])
    ids = np.sort(rng.choice(np.arange(1000, 400_000), size=params.assets, replace=False))
    return pa.array([f"{i:06d}" for i in ids], type=pa.string())


def year_table(params: Params, universe: pa.Array, strategy: int, year: int, days: np.ndarray) -> pa.Table:
    """One strategy's rows for one year: every session x every asset, sorted by (date, gvkey).

    Weights are non-negative, about ZERO_SHARE of them zero, and sum to ~1 per date (rounded to 12
    decimals like a real export, so they do not sum exactly to 1 and M1 has to normalize).
    """
    rng = np.random.default_rng([params.seed, strategy + 1, year])
    n_days, n_assets = len(days), params.assets
    raw = rng.gamma(shape=0.8, scale=1.0, size=(n_days, n_assets))
    raw[rng.random((n_days, n_assets)) < ZERO_SHARE] = 0.0
    weights = np.round(raw / raw.sum(axis=1, keepdims=True), 12).ravel()
    dates = pa.array(np.repeat(days, n_assets), type=pa.date32())
    gvkeys = universe.take(pa.array(np.tile(np.arange(n_assets, dtype=np.int32), n_days)))
    return pa.table([dates, gvkeys, pa.array(weights, type=pa.float64())], schema=SCHEMA)


def write_strategy(params: Params, strategy: int, out_dir: Path, by_year: dict[int, np.ndarray]) -> int:
    """Write one strategy's CSV and Parquet files year by year; return the row count.

    Files are written under temporary names and renamed at the end, so an interrupted run never
    leaves a truncated file that a later run would take as complete.
    """
    sid = strategy_ids(params.strategies)[strategy]
    csv_path, pq_path = out_dir / f"{sid}.csv", out_dir / f"{sid}.parquet"
    csv_tmp, pq_tmp = csv_path.with_suffix(".csv.tmp"), pq_path.with_suffix(".parquet.tmp")
    universe = gvkey_universe(params)
    rows = 0
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with open(csv_tmp, "wb") as csv_fh, pq.ParquetWriter(pq_tmp, SCHEMA, compression="zstd") as pq_writer:
        csv_fh.write(CSV_HEADER)  # written by hand: arrow would quote the column names
        with pa_csv.CSVWriter(csv_fh, SCHEMA, write_options=options) as csv_writer:
            for year in sorted(by_year):
                table = year_table(params, universe, strategy, year, by_year[year])
                csv_writer.write_table(table)
                pq_writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                rows += table.num_rows
    os.replace(csv_tmp, csv_path)
    os.replace(pq_tmp, pq_path)
    return rows


def write_manifest(path: Path, ids: list[str], suffix: str) -> None:
    """A strategy manifest in the format of config/strategy_manifest.yaml, paths relative to the root."""
    lines = [f"# Generated by bench/make_large_signals.py: {len(ids)} {suffix} strategy files.", "strategies:"]
    for sid in ids:
        lines += [
            f"  - id: {sid}",
            f"    path: signals/{sid}.{suffix}",
            f"    format: {suffix}",
            "    column_mapping: {trade_date: trade_date, gvkey: asset_id, weights: target_weight}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def data_files(root: Path, params: Params) -> list[Path]:
    ids = strategy_ids(params.strategies)
    signals = [root / "signals" / f"{sid}.{ext}" for sid in ids for ext in ("csv", "parquet")]
    return signals + [root / "manifests" / "csv.yaml", root / "manifests" / "parquet.yaml"]


def read_stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_up_to_date(root: Path, params: Params) -> bool:
    """True if the stamp has these parameters and every file it lists still has its recorded size."""
    stamp = read_stamp(root)
    if not stamp or stamp.get("params") != asdict(params):
        return False
    sizes = stamp.get("sizes", {})
    for path in data_files(root, params):
        rel = str(path.relative_to(root))
        if not path.is_file() or path.stat().st_size != sizes.get(rel):
            return False
    return True


def generate(root: Path, params: Params, workers: int | None = None) -> dict:
    """Write every file and the stamp; return the stamp."""
    started = time.perf_counter()
    signals = root / "signals"
    signals.mkdir(parents=True, exist_ok=True)
    (root / STAMP_NAME).unlink(missing_ok=True)  # the old stamp is wrong from now on
    by_year = sessions_by_year(params)
    workers = max(1, min(workers or os.cpu_count() or 1, params.strategies))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(write_strategy, params, i, signals, by_year) for i in range(params.strategies)]
        rows = [f.result() for f in futures]
    ids = strategy_ids(params.strategies)
    write_manifest(root / "manifests" / "csv.yaml", ids, "csv")
    write_manifest(root / "manifests" / "parquet.yaml", ids, "parquet")
    all_days = np.concatenate([by_year[y] for y in sorted(by_year)])
    stamp = {
        "params": asdict(params),
        "strategy_ids": ids,
        "rows_per_strategy": rows[0],
        "sessions": len(all_days),
        "first_session": str(all_days[0]),
        "last_session": str(all_days[-1]),
        "default_trade_date": default_trade_date(by_year, params).isoformat(),
        "seconds": round(time.perf_counter() - started, 1),
        "sizes": {str(p.relative_to(root)): p.stat().st_size for p in data_files(root, params)},
    }
    (root / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return stamp


def ensure(root: Path, params: Params, force: bool = False, workers: int | None = None) -> dict:
    """The stamp of an up-to-date data set at `root`, generating it first if needed."""
    if not force and is_up_to_date(root, params):
        return read_stamp(root) or {}
    return generate(root, params, workers)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    defaults = Params()
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"data root (default: {DEFAULT_OUT})")
    p.add_argument("--strategies", type=int, default=defaults.strategies)
    p.add_argument("--years", type=int, default=defaults.years)
    p.add_argument("--assets", type=int, default=defaults.assets)
    p.add_argument("--start-year", type=int, default=defaults.start_year)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    p.add_argument("--force", action="store_true", help="regenerate even if the stamp matches")
    args = p.parse_args(argv)
    for name in ("strategies", "years", "assets"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.assets > 399_000:
        p.error("--assets must be at most 399000 (gvkeys are drawn from 1000..399999)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = Params(args.strategies, args.years, args.assets, args.start_year, args.seed)
    root = args.out.resolve()
    if not args.force and is_up_to_date(root, params):
        print(f"up to date: {root} ({json.dumps(asdict(params))})")
        return 0
    print(f"generating {params.strategies} strategies x {params.years} years x {params.assets} assets "
          f"(CSV + Parquet) into {root} ...", flush=True)
    stamp = generate(root, params, args.workers)
    total = sum(stamp["sizes"].values())
    print(f"done in {stamp['seconds']} s: {stamp['rows_per_strategy']:,} rows per strategy, "
          f"{stamp['sessions']} sessions {stamp['first_session']}..{stamp['last_session']}, "
          f"{total / 1e9:.2f} GB; default trade date {stamp['default_trade_date']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
