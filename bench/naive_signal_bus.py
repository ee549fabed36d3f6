"""The naive way to do M1's job, as the baseline the benchmark compares M1 against.

Read every strategy file in full with pandas, keep the rows of one date, normalize each strategy's
weights to sum to 1, blend the strategies with equal weights and normalize the result: the same
arithmetic as `signal-bus --mode blend` with equal weights, so the outputs can be compared.

It is deliberately naive in *reading* (whole files, every column, every date) and deliberately fair
in everything else, so the measured gap is the cost of reading, not of a strawman:

- one file is held in memory at a time (read, filter, drop), not all of them at once;
- CSV dates are compared as strings (no `parse_dates`, which would be slower);
- gvkeys are read as strings, as they must be to keep their leading zeros.

Usage: python bench/naive_signal_bus.py --date YYYY-MM-DD --out OUT.parquet FILE [FILE ...]
Files ending in .csv are read with `pd.read_csv`, others with `pd.read_parquet`. The benchmark also
times `signal_bus` in-process, after the imports, as it does for M1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import pandas as pd


class NoRowsError(Exception):
    """A file has no rows for the date: there is nothing to compare."""


def read_day(path: Path, day: dt.date) -> pd.DataFrame:
    """The rows of `day` of one strategy file, after reading the whole file."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype={"gvkey": str})
        return frame[frame["trade_date"] == day.isoformat()]
    frame = pd.read_parquet(path)
    return frame[frame["trade_date"] == day]


def blend_equally(days: list[pd.DataFrame]) -> pd.DataFrame:
    """Each strategy normalized to sum 1, weighted 1/N, summed per asset, normalized to sum 1."""
    share = 1.0 / len(days)
    parts = []
    for frame in days:
        weights = frame["weights"] / frame["weights"].sum()
        parts.append(pd.DataFrame({"asset_id": frame["gvkey"].to_numpy(), "target_weight": weights * share}))
    blended = pd.concat(parts, ignore_index=True).groupby("asset_id", as_index=False, sort=True).sum()
    blended["target_weight"] /= blended["target_weight"].sum()
    return blended


def signal_bus(files: list[Path], day: dt.date, out: Path) -> None:
    """The whole job: read every file, keep `day`, blend, write `out` (what the benchmark times).

    Raises NoRowsError, naming the files, when one has no rows for `day`.
    """
    days = [read_day(path, day) for path in files]
    empty = [str(path) for path, frame in zip(files, days) if frame.empty]
    if empty:
        raise NoRowsError(f"no rows for {day} in {', '.join(empty)}")
    blend_equally(days).to_parquet(out, index=False)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--date", required=True, type=dt.date.fromisoformat)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("files", nargs="+", type=Path)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        signal_bus(args.files, args.date, args.out)
    except NoRowsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
