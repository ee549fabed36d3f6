"""What Airflow itself costs us, measured (issue 11 §4).

1. Parse time of dags/paper_trading_daily.py in a DagBag, against a trivial DAG file with the same
   number of tasks (EmptyOperators in a chain), each parsed in a fresh interpreter (Airflow already
   imported, as the dag-processor has it), median of N. Target: ≤ 2× the trivial DAG.
2. Scheduling overhead: one full dry run of the daily DAG through a deployed Airflow (api-server,
   scheduler, dag-processor, triggerer as processes on PostgreSQL; tests/deploy/cluster.py),
   triggered through the REST API, on LocalExecutor and on CeleryExecutor (one worker, local
   Redis): the run's wall time against the sum of its tasks' own durations.

    .venv/bin/python bench/bench_airflow.py [--runs 7] [--no-deploy] [--no-readme]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import benchlib  # noqa: E402

README = REPO / "bench" / "README.md"
START, END = "<!-- bench_airflow:start -->", "<!-- bench_airflow:end -->"
DAG_ID = "paper_trading_daily"

PARSE = """
import importlib, sys, time, os
from airflow.models import DagBag
import airflow.sdk
from airflow.utils.file import iter_airflow_imports
if sys.argv[2] == "warm":  # what the dag-processor does before it forks the parsing child
    for module in iter_airflow_imports(sys.argv[1]):
        importlib.import_module(module)
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
took = time.perf_counter() - t
assert not bag.import_errors, bag.import_errors
print("\\n", took, len(next(iter(bag.dags.values())).tasks))
"""

TRIVIAL = {
    "EmptyOperators in a chain": '''
from __future__ import annotations
import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, chain

with DAG("trivial", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False):
    chain(*[EmptyOperator(task_id=f"t{i}") for i in range(N)])
''',
    "TaskFlow @task functions in a chain": '''
from __future__ import annotations
import pendulum
from airflow.sdk import chain, dag, task

@dag(schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False)
def trivial_taskflow():
    def make(i):
        @task(task_id=f"t{i}")
        def step():
            return None
        return step()
    chain(*[make(i) for i in range(N)])

trivial_taskflow()
''',
}


def parse_once(path: Path, env: dict, mode: str) -> tuple[float, int]:
    out = subprocess.run([sys.executable, "-c", PARSE, str(path), mode], env=env, capture_output=True, text=True,
                         timeout=120)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    took, tasks = out.stdout.split()[-2:]
    return float(took), int(tasks)


def parse_times(runs: int, tmp: Path) -> dict:
    """Medians per file and mode: `warm` = the dag-processor's way (the Airflow modules the file
    imports are imported before the parsing child forks: `[dag_processor] parsing_pre_import_modules`,
    on by default), `cold` = nothing imported but Airflow itself."""
    env = dict(os.environ, AIRFLOW_HOME=str(tmp / "home"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"), AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"))
    ours = REPO / "dags" / "paper_trading_daily.py"
    _, n_tasks = parse_once(ours, env, "warm")
    files = {"ours": ours}
    for i, (name, text) in enumerate(TRIVIAL.items()):
        path = tmp / f"trivial_{i}.py"
        path.write_text(text.replace("range(N)", f"range({n_tasks})"))
        files[name] = path
    result = {"tasks": n_tasks, "times": {(f, m): [] for f in files for m in ("warm", "cold")}}
    for _ in range(runs):  # interleaved, so a slow moment of the machine hits every file alike
        for name, path in files.items():
            for mode in ("warm", "cold"):
                result["times"][(name, mode)].append(parse_once(path, env, mode)[0])
    return result


def deployed_run(executor: str, tmp: Path) -> dict:
    from alpaca_sim.server import SimServer
    from tests.deploy.cluster import AirflowCluster

    project = tmp / f"project-{executor}"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, project / part)
    sim = SimServer(tmp / f"sim-{executor}.db", bars=REPO / "data" / "market" / "daily_bars.csv",
                    clock="2025-12-31T14:45:00Z")
    sim.start()
    host, port = sim.url.removeprefix("http://").split(":")
    alpaca = {"conn_type": "http", "login": sim.key, "password": sim.secret, "host": host, "port": int(port),
              "schema": "http"}
    cluster = AirflowCluster(tmp / f"airflow-{executor}", project, executor=executor,
                             extra_env={"AIRFLOW_CONN_ALPACA": json.dumps(alpaca)})
    try:
        t = time.perf_counter()
        cluster.start()
        cluster.wait_for_dag(DAG_ID)
        ready = time.perf_counter() - t
        run_id = cluster.trigger(DAG_ID, {"run_date": "2025-12-31", "mode": "dry"})
        run = cluster.wait_for_run(DAG_ID, run_id)
        if run["state"] != "success":
            raise RuntimeError(f"{executor}: the run ended {run['state']}: {cluster.task_states(DAG_ID, run_id)}")
        tis = cluster.task_instances(DAG_ID, run_id)
    finally:
        cluster.stop()
        sim.stop()
    from datetime import datetime

    def at(s: str) -> datetime:
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    wall = (at(run["end_date"]) - at(run["start_date"])).total_seconds()
    ran = [ti for ti in tis if ti["state"] == "success" and ti["duration"] is not None]
    own = sum(ti["duration"] for ti in ran)
    return {"executor": executor, "wall": wall, "own": own, "tasks": len(ran), "ready": ready,
            "slowest": sorted(((ti["duration"], ti["task_id"]) for ti in ran), reverse=True)[:3]}


def table(parse: dict, deploys: list[dict], skipped: str | None, runs: int) -> str:
    med = {k: statistics.median(v) for k, v in parse["times"].items()}
    names = [n for n in dict.fromkeys(f for f, _ in parse["times"]) if n != "ours"]
    lines = [
        f"Machine: {benchlib.cpu_model()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}; "
        f"Airflow 3.3.2. Command: `.venv/bin/python bench/bench_airflow.py --runs {runs}`.",
        "",
        f"**DAG parse time**: a DagBag of one file in a fresh interpreter with Airflow imported, median of {runs}. "
        "*Dag-processor* = what Airflow's dag-processor does: the Airflow modules the file imports are imported "
        "before the parsing process forks (`[dag_processor] parsing_pre_import_modules`, on by default), so each "
        "parse pays for the file's own work; *cold* = nothing imported beforehand (a first parse).",
        "",
        "| DAG file | tasks | dag-processor parse | ratio | cold parse | ratio |",
        "|---|---:|---:|---:|---:|---:|",
        f"| `dags/paper_trading_daily.py` | {parse['tasks']} | {med[('ours', 'warm')] * 1000:.0f} ms | | "
        f"{med[('ours', 'cold')] * 1000:.0f} ms | |",
    ]
    for name in names:
        lines.append(f"| trivial: {parse['tasks']} {name} | {parse['tasks']} | {med[(name, 'warm')] * 1000:.0f} ms | "
                     f"ours **{med[('ours', 'warm')] / med[(name, 'warm')]:.2f}×** | "
                     f"{med[(name, 'cold')] * 1000:.0f} ms | ours {med[('ours', 'cold')] / med[(name, 'cold')]:.2f}× |")
    if deploys:
        lines += [
            "",
            "**Scheduling overhead** (one full dry run of 2025-12-31 through a deployed Airflow on PostgreSQL, "
            "triggered through the REST API):",
            "",
            "| executor | tasks run | run wall time | sum of task durations | overhead | overhead per task | "
            "start-up to DAG parsed |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for d in deploys:
            over = d["wall"] - d["own"]
            lines.append(f"| {d['executor']} | {d['tasks']} | {d['wall']:.1f} s | {d['own']:.1f} s | {over:.1f} s "
                         f"({d['wall'] / max(d['own'], 1e-9):.1f}×) | {over / max(d['tasks'], 1):.2f} s | "
                         f"{d['ready']:.0f} s |")
        lines += ["", "Slowest tasks: " + "; ".join(
            f"{d['executor']}: " + ", ".join(f"{task} {sec:.1f} s" for sec, task in d["slowest"]) for d in deploys)]
    elif skipped:
        lines += ["", f"Scheduling overhead not measured: {skipped}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-deploy", action="store_true", help="parse times only")
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-airflow-") as tmp_name:
        tmp = Path(tmp_name)
        print("-- parse times", flush=True)
        parse = parse_times(args.runs, tmp)
        deploys, skipped = [], None
        if args.no_deploy:
            skipped = "--no-deploy"
        else:
            skipped = benchlib.pg_available()
            if not skipped:
                for executor in ("LocalExecutor", "CeleryExecutor"):
                    print(f"-- a deployed dry run on {executor}", flush=True)
                    deploys.append(deployed_run(executor, tmp))
    text = table(parse, deploys, skipped, args.runs)
    print()
    print(text)
    if not args.no_readme:
        benchlib.write_readme(
            README, START, END, text, "bench_airflow.py", "Airflow: DAG parse time and scheduling overhead"
        )
        print(f"\nwritten to {README.relative_to(REPO)}")


if __name__ == "__main__":
    main()
