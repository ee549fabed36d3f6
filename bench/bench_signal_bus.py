"""Benchmark of M1 (`python -m paper_trading signal-bus`) against a naive pandas baseline.

One command (`make bench`, or `python bench/bench_signal_bus.py`) does everything: generate the
large case if needed (bench/make_large_signals.py), then time, in the same run, every way of
getting one trade date's blended targets out of 5 strategies x 20 years x 3,000 assets, check
that they all give the same answer, print two tables and write them into bench/README.md
(between the results markers).

Every run is a fresh process, reaped with `os.wait4` so that its peak memory is its own
`ru_maxrss` (imports included). Each variant is timed two ways, the runs alternating:

- **in-process work**, what the targets are judged on: the child imports everything first, then
  times only the work with `time.perf_counter` and prints the seconds (see `time_work`): M1's
  `paper_trading.steps.signal_bus(...)` with the arguments the CLI parses from the same command
  line, the naive script's `signal_bus(...)` for the baselines. That is what the step costs
  inside a running worker (an Airflow task), where the interpreter and imports are paid already.
- **end-to-end CLI**, for information: the wall time of the command a user types, interpreter
  start-up and imports included, with start-up-only reference rows (`--help`).

This process imports nothing but the standard library until every timed run is over: Linux
starts a child's `ru_maxrss` at the parent's high-water mark (the mark of the address space the
child is forked or vforked from survives `exec`), so a parent that had loaded pandas or a table
would inflate every measurement. pyarrow is imported only afterwards, to check the outputs. Each
variant gets one untimed warm-up run of its CLI command.

Usage: python bench/bench_signal_bus.py [--quick] [--no-readme | --write-readme] [--date YYYY-MM-DD]
       [--repeats 5] [--baseline-repeats 3] [--cold-repeats 3] [--warmups 1]
       [--strategies N --years N --assets N] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
README = BENCH_DIR / "README.md"
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"
#: M1's cache directory under the root when the root has no config/config.yaml (the generated one has none).
CACHE_REL = Path("data/cache/signals")
BASELINE_KEY = "baseline_csv"
SUM_TOLERANCE = 1e-9
MATCH_TOLERANCE = 1e-12
#: First argument of the in-process child mode (`time_work`), and the line it reports with.
WORK_FLAG = "--time-work"
WORK_MARK = "work seconds:"


class BenchError(RuntimeError):
    """A run failed or the outputs disagree: the numbers would mean nothing."""


@dataclass(frozen=True)
class Size:
    strategies: int
    years: int
    assets: int


FULL = Size(strategies=5, years=20, assets=3000)
QUICK = Size(strategies=3, years=1, assets=50)


@dataclass(frozen=True)
class Target:
    """A variant's goal: at least `speedup` x faster than the CSV baseline, and under `max_rss_mb`."""

    speedup: float
    max_rss_mb: float | None = None

    def describe(self) -> str:
        text = f"≥ {self.speedup:g}× faster"
        return text + (f", < {self.max_rss_mb:g} MB" if self.max_rss_mb else "")

    def met(self, speedup: float, rss_mb: float) -> bool:
        return speedup >= self.speedup and (self.max_rss_mb is None or rss_mb < self.max_rss_mb)


@dataclass(frozen=True)
class Variant:
    """One way of producing the day's targets, run `repeats` times each way in fresh processes.

    `command` is the CLI a user runs; `work` is ("m1" | "naive", its arguments) for the
    in-process timing of the same job (None for the start-up references, which do no work).
    """

    key: str
    label: str
    command: list[str]
    repeats: int
    work: tuple[str, list[str]] | None = None
    output: Path | None = None
    target: Target | None = None
    prepare: Callable[[], None] | None = None  # before each run, untimed (cold: empty the cache)


@dataclass
class Runs:
    """The timed runs of one variant, one way: seconds and the processes' peak RSS."""

    seconds: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Robust to one run disturbed by the machine."""
        return statistics.median(self.seconds)

    @property
    def rss_mb(self) -> float:
        """The largest peak RSS over the runs (MB = 10^6 bytes; ru_maxrss is in KiB on Linux)."""
        return max(self.rss_kib) * 1024 / 1e6

    def spread(self, digits: int) -> str:
        return f"{min(self.seconds):.{digits}f}–{max(self.seconds):.{digits}f}"


@dataclass
class Measurement:
    variant: Variant
    cli: Runs = field(default_factory=Runs)
    work: Runs = field(default_factory=Runs)


# ------------------------------------------------------------------------------ in-process child


def time_work(kind: str, argv: list[str]) -> int:
    """Child mode: import everything, then time only the work, and print the seconds.

    `kind` "m1": `argv` is the CLI's (from `signal-bus` on), parsed by the CLI's own parser and
    passed to `steps.consolidate_signals` as `cli.main` passes it. "naive": the naive script's arguments.
    """
    if kind == "m1":
        from paper_trading import cli, steps

        args = cli.build_parser().parse_args(argv)

        def work() -> None:
            steps.consolidate_signals(
                args.date, root=args.root, config_path=args.config_path, run_id=args.run_id,
                manifest=args.manifest, mode=args.mode, pick=args.pick, blend=args.blend,
                blend_missing=args.blend_missing, out=args.out, debug=args.debug,
            )
    else:
        sys.path.insert(0, str(BENCH_DIR))
        import naive_signal_bus
        import pyarrow.parquet  # noqa: F401  pandas imports its Parquet engine on first use: not work

        args = naive_signal_bus.parse_args(argv)

        def work() -> None:
            naive_signal_bus.signal_bus(args.files, args.date, args.out)

    start = time.perf_counter()
    work()
    print(f"{WORK_MARK} {time.perf_counter() - start:.6f}", flush=True)
    return 0


# ------------------------------------------------------------------------------------ running


def run_timed(command: list[str], log_path: Path) -> tuple[float, int]:
    """Run `command` to completion; return (wall seconds, the child's peak RSS in KiB).

    os.wait4 reaps the child itself, so its rusage is the child's alone (not the sum over every
    child, as RUSAGE_CHILDREN would give). Output goes to `log_path`, shown when the run fails.
    """
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped already: tell Popen
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise BenchError(f"exit {proc.returncode}: {' '.join(command)}\n  " + "\n  ".join(tail))
    return wall, usage.ru_maxrss


def reported_work(log_path: Path) -> float:
    """The seconds an in-process child printed (its last `WORK_MARK` line)."""
    lines = [ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines()
             if ln.startswith(WORK_MARK)]
    if not lines:
        raise BenchError(f"{log_path}: no {WORK_MARK!r} line")
    return float(lines[-1][len(WORK_MARK):])


def measure(variant: Variant, log_dir: Path, warmups: int) -> Measurement:
    """Run one variant's CLI `warmups` times untimed, then `repeats` times each way, alternating.

    The warm-up runs load the shared libraries and the inputs' pages once, so that the first
    timed run is not the only one paying for them. Every run must write the variant's output.
    """
    result = Measurement(variant)
    work_command = None
    if variant.work:
        work_command = [sys.executable, str(Path(__file__).resolve()), WORK_FLAG, variant.work[0], *variant.work[1]]
    plan = [("cli", "warm-up", variant.command, None)] * warmups
    for n in range(1, variant.repeats + 1):
        plan.append(("cli", f"{n}/{variant.repeats}", variant.command, result.cli))
        if work_command:
            plan.append(("work", f"{n}/{variant.repeats}", work_command, result.work))
    for way, shown, command, runs in plan:
        if variant.prepare:
            variant.prepare()
        if variant.output:
            variant.output.unlink(missing_ok=True)  # so the check sees this run's output
        log_path = log_dir / f"{variant.key}-{way}-{shown.replace('/', 'of')}.log"
        wall, rss = run_timed(command, log_path)
        if variant.output and not variant.output.exists():
            raise BenchError(f"{variant.key}: no output at {variant.output} after {' '.join(command)}")
        seconds = reported_work(log_path) if way == "work" else wall
        if runs is not None:
            runs.seconds.append(seconds)
            runs.rss_kib.append(rss)
        detail = f" (process {wall:.2f} s)" if way == "work" else ""
        print(f"  {variant.key:<16} {way:<4} {shown:<7}: {seconds:7.2f} s{detail}  {rss * 1024 / 1e6:5.0f} MB",
              flush=True)
    return result


def warm_page_cache(paths: list[Path]) -> None:
    """Read every input once so all variants start with the files in the OS page cache.

    Otherwise whichever variant runs first would also pay for the disk; dropping the page cache
    instead (the truly cold case) needs root. A fixed buffer keeps this process's RSS small.
    """
    buf = bytearray(8 << 20)
    for path in paths:
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


def ensure_data(root: Path, size: Size) -> dict:
    """Generate the case (in a child process, to keep this one small) unless its stamp matches."""
    command = [sys.executable, str(BENCH_DIR / "make_large_signals.py"), "--out", str(root),
               "--strategies", str(size.strategies), "--years", str(size.years), "--assets", str(size.assets)]
    subprocess.run(command, check=True)
    return json.loads((root / "stamp.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------- variants


def build_variants(root: Path, stamp: dict, day: str, args: argparse.Namespace) -> list[Variant]:
    """The variants, in the order they must run (cold CSV fills the cache the warm one reads)."""
    py = sys.executable
    ids: list[str] = stamp["strategy_ids"]
    blend = ",".join(f"{sid}={1 / len(ids)!r}" for sid in ids)
    out_dir = root / "bench_out"
    out_dir.mkdir(exist_ok=True)
    cache_dir = root / CACHE_REL

    def m1(manifest: str, key: str) -> dict:
        argv = ["signal-bus", "--root", str(root), "--manifest", manifest, "--date", day, "--mode", "blend",
                "--blend", blend, "--out", str(out_dir / f"{key}.parquet"), "--run-id", f"bench-{key}"]
        return {"command": [py, "-m", "paper_trading", *argv], "work": ("m1", argv),
                "output": out_dir / f"{key}.parquet"}

    def naive(ext: str) -> dict:
        files = [str(root / "signals" / f"{sid}.{ext}") for sid in ids]
        argv = ["--date", day, "--out", str(out_dir / f"naive_{ext}.parquet"), *files]
        return {"command": [py, str(BENCH_DIR / "naive_signal_bus.py"), *argv], "work": ("naive", argv),
                "output": out_dir / f"naive_{ext}.parquet"}

    fast = Target(speedup=20, max_rss_mb=300)
    grown_manifest = "manifests/csv_grown.yaml"
    grown_state: dict[str, Path] = {}

    def grown_prepare() -> None:
        """Before each run of the grown variant: the index of yesterday's files in the cache, and
        the files one day longer (set up once, on the first call, after the cold and warm runs)."""
        if not grown_state:
            grown_state["snapshot"] = grow_files(
                root, ids, grown_manifest, m1(grown_manifest, "m1_csv_grown")["command"]
            )
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.copytree(grown_state["snapshot"], cache_dir)

    return [
        Variant(
            "startup_naive",
            "reference: naive script start-up only (`--help`: Python + pandas import)",
            [py, str(BENCH_DIR / "naive_signal_bus.py"), "--help"],
            args.repeats,
        ),
        Variant(
            "startup_m1",
            "reference: M1 start-up only (`signal-bus --help`: Python + imports)",
            [py, "-m", "paper_trading", "signal-bus", "--help"],
            args.repeats,
        ),
        Variant(
            BASELINE_KEY,
            "**baseline**: pandas `read_csv` of every CSV, filter, blend",
            repeats=args.baseline_repeats,
            **naive("csv"),
        ),
        Variant(
            "naive_parquet",
            "reference: pandas `read_parquet` of every Parquet, filter, blend",
            repeats=args.repeats,
            **naive("parquet"),
        ),
        Variant(
            "m1_parquet_new",
            "M1, Parquet input, changed file (content hash computed, as on each new day)",
            repeats=args.repeats,
            target=fast,
            prepare=lambda: (cache_dir / "hashes.json").unlink(missing_ok=True),
            **m1("manifests/parquet.yaml", "m1_parquet_new"),
        ),
        Variant(
            "m1_parquet",
            "M1, Parquet input, re-run (content hash memoized)",
            repeats=args.repeats,
            target=fast,
            **m1("manifests/parquet.yaml", "m1_parquet"),
        ),
        Variant(
            "m1_csv_cold",
            "M1, CSV input, cold (empty cache: hash, check and index every file)",
            repeats=args.cold_repeats,
            target=Target(speedup=2),
            prepare=lambda: shutil.rmtree(cache_dir, ignore_errors=True),
            **m1("manifests/csv.yaml", "m1_csv_cold"),
        ),
        Variant(
            "m1_csv_warm",
            "M1, CSV input, warm (index from the cold run)",
            repeats=args.repeats,
            target=fast,
            **m1("manifests/csv.yaml", "m1_csv_warm"),
        ),
        Variant(
            "m1_csv_grown",
            "M1, CSV input, each file grew by one day (index of the old content in the cache)",
            repeats=args.repeats,
            target=Target(speedup=10),
            prepare=grown_prepare,
            **m1(grown_manifest, "m1_csv_grown"),
        ),
    ]


def grow_files(root: Path, ids: list[str], manifest: str, prime: list[str]) -> Path:
    """Set up the daily-growth case; return the cache snapshot that each of its runs starts from.

    Copies every CSV to `grown/` (appending to the originals would change the generated data),
    runs M1 once on the copies (untimed: it indexes them as the previous day's run would have),
    keeps a copy of that cache, then appends one more trade date to every copy: the rows of its
    last date (3,000 assets) under the next weekday, as a strategy's daily export adds them.
    """
    grown = root / "grown"
    grown.mkdir(exist_ok=True)
    entries = []
    for sid in ids:
        shutil.copyfile(root / "signals" / f"{sid}.csv", grown / f"{sid}.csv")
        entries.append(
            f"  - id: {sid}\n    path: grown/{sid}.csv\n    format: csv\n"
            "    column_mapping: {trade_date: trade_date, gvkey: asset_id, weights: target_weight}\n"
        )
    (root / manifest).write_text(
        "# Written by bench/bench_signal_bus.py: the CSV files, one day longer.\nstrategies:\n" + "".join(entries),
        encoding="utf-8",
    )
    print("  m1_csv_grown     setup: copying the CSV files, indexing them once, appending a day ...", flush=True)
    subprocess.run(prime, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    snapshot = root / "bench_cache_before_growth"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(root / CACHE_REL, snapshot)
    for sid in ids:
        append_one_day(grown / f"{sid}.csv")
    return snapshot


def append_one_day(path: Path) -> None:
    """Append the rows of the file's last trade date again, dated the next weekday."""
    with open(path, "rb") as fh:
        fh.seek(max(0, fh.seek(0, os.SEEK_END) - (1 << 20)))
        tail = fh.read().splitlines()[1:]
    last = tail[-1].split(b",", 1)[0]
    rows = [line for line in tail if line.startswith(last + b",")]
    day = dt.date.fromisoformat(last.decode()) + dt.timedelta(days=1)
    while day.weekday() >= 5 or (day.month, day.day) == (1, 1):
        day += dt.timedelta(days=1)
    new = day.isoformat().encode()
    with open(path, "ab") as fh:
        fh.write(b"".join(new + row[len(last) :] + b"\n" for row in rows))


# ---------------------------------------------------------------------------------- correctness


def verify(measurements: list[Measurement], day: str, n_assets: int) -> list[str]:
    """Every output covers the whole universe once, sums to 1, and all agree with M1 on Parquet.

    Raises BenchError on the first disagreement; returns the checks made, for the README.
    Imports pyarrow here, after the timed runs (see the module docstring).
    """
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    outputs = {m.variant.key: m.variant.output for m in measurements if m.variant.output}
    tables = {}
    for key, path in outputs.items():
        if not path.exists():
            raise BenchError(f"{key}: no output at {path}")
        table = pq.read_table(path).sort_by("asset_id")
        ids = table["asset_id"].to_pylist()
        total = pc.sum(table["target_weight"]).as_py()
        if len(ids) != n_assets or len(set(ids)) != len(ids):
            raise BenchError(f"{key}: {len(ids)} rows for {len(set(ids))} assets; expected {n_assets} once each")
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise BenchError(f"{key}: weights sum to {total!r}; expected 1 within {SUM_TOLERANCE}")
        if key.startswith("m1_") and set(table["trade_date"].cast("string").to_pylist()) != {day}:
            raise BenchError(f"{key}: trade_date is not {day} on every row")
        tables[key] = table
    reference = tables["m1_parquet"]
    ref_weights = reference["target_weight"].to_numpy()
    for key, table in tables.items():
        if table["asset_id"].to_pylist() != reference["asset_id"].to_pylist():
            raise BenchError(f"{key}: assets differ from m1_parquet's")
        diff = float(np.max(np.abs(table["target_weight"].to_numpy() - ref_weights)))
        if diff > MATCH_TOLERANCE:
            raise BenchError(f"{key}: weights differ from m1_parquet's by up to {diff:.3g}")
    return [
        f"every output has {n_assets} assets, each once, and weights summing to 1 (± {SUM_TOLERANCE:g})",
        f"the M1 outputs carry trade_date {day} on every row",
        f"{', '.join(k for k in tables if k != 'm1_parquet')} match `m1_parquet` asset for asset "
        f"(max |Δweight| ≤ {MATCH_TOLERANCE:g})",
    ]


# ------------------------------------------------------------------------------------ reporting


def _ratio(a: float, b: float) -> str:
    """`a / b` as `12.3×` (one decimal always: a rounded 19.96 must not read as a met 20×)."""
    return f"{a / b:.1f}×"


def work_table(measurements: list[Measurement], quick: bool) -> str:
    """In-process work time (the targets' table): median, range, peak RSS, speed-up, target status."""
    baseline = next(m for m in measurements if m.variant.key == BASELINE_KEY).work.median
    lines = [
        "| variant | runs | work time (s, median) | min–max (s) | peak RSS (MB) | speed-up vs baseline "
        "| target | met? |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for m in measurements:
        if not m.work.seconds:
            continue
        target, status = "—", "—"
        if m.variant.target:
            target = m.variant.target.describe()
            status = "✅ met" if m.variant.target.met(baseline / m.work.median, m.work.rss_mb) else "❌ not met"
            if quick:
                status += " (quick: not meaningful)"
        lines.append(
            f"| {m.variant.label} | {len(m.work.seconds)} | {m.work.median:.3f} | {m.work.spread(3)} "
            f"| {m.work.rss_mb:.0f} | {_ratio(baseline, m.work.median)} | {target} | {status} |"
        )
    return "\n".join(lines)


def cli_table(measurements: list[Measurement]) -> str:
    """End-to-end CLI wall time, start-up included (for information): median, range, RSS, speed-up."""
    baseline = next(m for m in measurements if m.variant.key == BASELINE_KEY).cli.median
    lines = [
        "| variant | runs | wall time (s, median) | min–max (s) | peak RSS (MB) | speed-up vs baseline |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in measurements:
        lines.append(
            f"| {m.variant.label} | {len(m.cli.seconds)} | {m.cli.median:.2f} | {m.cli.spread(2)} "
            f"| {m.cli.rss_mb:.0f} | {_ratio(baseline, m.cli.median)} |"
        )
    return "\n".join(lines)


def _cpu_model() -> str:
    from benchlib import cpu_model

    return cpu_model()


def _ram_gb() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) * 1024 / 1e9:.1f} GB"
    except OSError:
        pass
    return "unknown"


def machine_info() -> list[tuple[str, str]]:
    """What the numbers depend on; versions via importlib.metadata, so nothing heavy is imported."""

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return [
        ("date", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _cpu_model()),
        ("cores", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
        ("RAM", _ram_gb()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("pandas / pyarrow / numpy", f"{version('pandas')} / {version('pyarrow')} / {version('numpy')}"),
    ]


def data_info(root: Path, stamp: dict, day: str) -> list[tuple[str, str]]:
    sizes = stamp["sizes"]
    csv_gb = sum(v for k, v in sizes.items() if k.endswith(".csv")) / 1e9
    pq_gb = sum(v for k, v in sizes.items() if k.endswith(".parquet")) / 1e9
    p = stamp["params"]
    return [
        (
            "case",
            f"{p['strategies']} strategies × {stamp['sessions']} XNYS sessions "
            f"({stamp['first_session']}..{stamp['last_session']}) × {p['assets']} assets "
            f"= {stamp['rows_per_strategy']:,} rows per strategy",
        ),
        ("files", f"CSV {csv_gb:.2f} GB in total, Parquet {pq_gb:.2f} GB in total (seed {p['seed']})"),
        ("trade date", day),
    ]


def run_info(args: argparse.Namespace) -> tuple[str, str]:
    return (
        "runs",
        f"{args.warmups} untimed warm-up run(s) of each variant's CLI, then the runs counted "
        "below, CLI and in-process alternating; environment as is",
    )


def results_section(
    measurements: list[Measurement], checks: list[str], info: list[tuple[str, str]], quick: bool
) -> str:
    """The README's generated part: machine and data, the two tables, the checks."""
    rows = "\n".join(f"- **{k}**: {v}" for k, v in info)
    checked = "\n".join(f"- {c}" for c in checks)
    note = "\n> Quick mode: tiny data, so the targets say nothing.\n" if quick else ""
    return (
        f"{RESULTS_START}\n"
        "<!-- generated by bench/bench_signal_bus.py; edits between these markers are overwritten -->\n\n"
        f"{rows}\n\n"
        "**In-process work time** (the targets are judged on this: the step's cost inside a running "
        "worker; each run a fresh process that imports everything, then times the work alone):\n\n"
        f"{work_table(measurements, quick)}\n{note}\n"
        "**End-to-end CLI, including interpreter start-up and imports** (for information):\n\n"
        f"{cli_table(measurements)}\n\n"
        f"Correctness checks (all passed):\n\n{checked}\n{RESULTS_END}"
    )


def update_readme(path: Path, section: str) -> None:
    """Replace the text between the results markers (append a results section if there is none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start, end = text.find(RESULTS_START), text.find(RESULTS_END)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(RESULTS_END) :]
    else:
        text = text.rstrip("\n") + "\n\n## M1 signal bus: results\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"tiny case ({QUICK.strategies}×{QUICK.years}y×{QUICK.assets}), 1 run each, "
        "README untouched unless --write-readme",
    )
    readme = p.add_mutually_exclusive_group()
    readme.add_argument("--no-readme", action="store_true", help="do not update bench/README.md")
    readme.add_argument("--write-readme", action="store_true", help="update bench/README.md even with --quick")
    p.add_argument("--data-root", type=Path, help="data root (default: bench/data/large, or bench/data/quick)")
    p.add_argument("--strategies", type=int)
    p.add_argument("--years", type=int)
    p.add_argument("--assets", type=int)
    p.add_argument("--date", help="trade date (default: the first session on or after June 15 of the middle year)")
    p.add_argument("--repeats", type=int, help="runs of each fast variant, each way (default 5; quick 1)")
    p.add_argument("--baseline-repeats", type=int, help="runs of the CSV baseline (default 3; quick 1)")
    p.add_argument("--cold-repeats", type=int, help="runs of M1 on CSV with an empty cache (default 3; quick 1)")
    p.add_argument("--warmups", type=int, help="untimed runs before each variant's timed ones (default 1; quick 0)")
    args = p.parse_args(argv)
    base = QUICK if args.quick else FULL
    args.size = Size(args.strategies or base.strategies, args.years or base.years, args.assets or base.assets)
    args.data_root = (args.data_root or BENCH_DIR / "data" / ("quick" if args.quick else "large")).resolve()
    for name, full, quick, least in (
        ("repeats", 5, 1, 1),
        ("baseline_repeats", 3, 1, 1),
        ("cold_repeats", 3, 1, 1),
        ("warmups", 1, 0, 0),
    ):
        value = getattr(args, name)
        setattr(args, name, value if value is not None else (quick if args.quick else full))
        if getattr(args, name) < least:
            p.error(f"--{name.replace('_', '-')} must be at least {least}")
    args.readme = not args.no_readme and (args.write_readme or not args.quick)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [WORK_FLAG]:
        return time_work(argv[1], argv[2:])
    args = parse_args(argv)
    root: Path = args.data_root
    stamp = ensure_data(root, args.size)
    day = args.date or stamp["default_trade_date"]
    inputs = [root / rel for rel in stamp["sizes"] if rel.startswith("signals/")]
    print(f"warming the page cache ({len(inputs)} files) ...", flush=True)
    warm_page_cache(inputs)
    log_dir = root / "bench_logs"
    log_dir.mkdir(exist_ok=True)
    variants = build_variants(root, stamp, day, args)
    print(f"timing {len(variants)} variants for {day} (logs in {log_dir}) ...", flush=True)
    try:
        measurements = [measure(v, log_dir, args.warmups) for v in variants]
        checks = verify(measurements, day, stamp["params"]["assets"])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info = machine_info() + data_info(root, stamp, day) + [run_info(args)]
    print()
    print("\n".join(f"{k}: {v}" for k, v in info))
    print("\nin-process work time (the targets):\n")
    print(work_table(measurements, args.quick))
    print("\nend-to-end CLI, start-up included:\n")
    print(cli_table(measurements))
    print("\ncorrectness: " + "; ".join(checks))
    if args.readme:
        update_readme(README, results_section(measurements, checks, info, args.quick))
        print(f"\nwrote the results into {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
