"""A real Airflow deployment on this machine, without Docker: the api-server, scheduler,
dag-processor and triggerer (and Celery workers) as processes, the metadata in a PostgreSQL
database of their own, the ledger in another, Celery on the local Redis, every port free-picked.

Used by the deployment test and the scheduling-overhead benchmark; it starts and stops all it needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
PG = "postgres@127.0.0.1:5432"
USER, PASSWORD = "operator", "deploy-test-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://{PG}/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://{PG}/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class AirflowCluster:
    """Airflow's components as processes on 127.0.0.1, driven through the REST API like an operator."""

    def __init__(self, home: Path, project: Path, *, executor: str = "CeleryExecutor", workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> None:
        self.home, self.project, self.executor, self.workers = home, project, executor, workers
        tag = uuid.uuid4().hex[:10]
        self.meta_db, self.ledger_db = f"pt_airflow_{tag}", f"pt_ledger_{tag}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        home.mkdir(parents=True, exist_ok=True)
        (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        self.env.update({
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG}/{self.meta_db}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # the tests trigger their own runs; the XNYS timetable's run of the wall clock's trading day
            # (09:35 in New York) would otherwise take the one active run (max_active_runs=1), wait for
            # signals that never come, and queue every triggered run behind it
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # the scheduler's sleep between idle loops (default 1 s): each task of a run waits on a few
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            # how often the scheduler resolves approvals past their deadline (default every 15 s)
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG}/{self.meta_db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            # a queue of its own: a worker of another test run on the same Redis never takes our tasks
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"pt-{tag}",
            "PAPER_TRADING_ROOT": str(project),
            "AIRFLOW_CONN_PAPER_TRADING_LEDGER": json.dumps({
                "conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "schema": self.ledger_db,
                "login": "postgres"}),
            "PYTHONUNBUFFERED": "1",
        })
        self.env.update(extra_env or {})

    # ------------------------------------------------------------------ lifecycle

    def _airflow(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "airflow", *args]

    def start(self, timeout: float = 180.0) -> AirflowCluster:
        create_database(self.meta_db)
        create_database(self.ledger_db)
        migrate = subprocess.run(self._airflow("db", "migrate"), env=self.env, capture_output=True, text=True,
                                 timeout=300)
        if migrate.returncode:
            raise RuntimeError(f"airflow db migrate failed: {migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
        commands = {"api-server": self._airflow("api-server", "--port", str(self.port)),
                    "scheduler": self._airflow("scheduler"), "dag-processor": self._airflow("dag-processor"),
                    "triggerer": self._airflow("triggerer")}
        if self.executor == "CeleryExecutor":
            for i in range(self.workers):
                commands[f"worker-{i}"] = self._airflow("celery", "worker", "--concurrency", "4",
                                                        "--celery-hostname", f"pt-worker-{i}@%h")
        for name, command in commands.items():
            self.spawn(name, command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if requests.get(f"{self.url}/api/v2/monitor/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the api-server did not answer in {timeout:.0f} s\n{self.tails()}")
        return self

    def spawn(self, name: str, command: list[str]) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, cwd=self.home)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def check_alive(self) -> None:
        dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"Airflow process(es) exited: {dead}\n{self.tails()}")

    def tails(self, lines: int = 40) -> str:
        out = []
        for name in self.procs:
            path = self.home / f"{name}.log"
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {name} ---\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        for name in list(self.procs):
            proc = self.procs[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name in list(self.procs):
            try:
                self.procs[name].wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(name)
        self.procs.clear()
        for db in (self.meta_db, self.ledger_db):
            with contextlib.suppress(Exception):
                drop_database(db)

    # ------------------------------------------------------------------ REST API

    @property
    def token(self) -> str:
        if self._token is None:
            got = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10)
            got.raise_for_status()
            self._token = got.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        got = requests.request(method, f"{self.url}/api/v2{path}", json=body, params=params or None, timeout=30,
                               headers={"Authorization": f"Bearer {self.token}"})
        if not got.ok:
            raise RuntimeError(f"{method} {path}: {got.status_code} {got.text[:500]}")
        return got.json() if got.content else {}

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                return self.api("GET", f"/dags/{dag_id}")
            except RuntimeError:
                time.sleep(1)
        errors = self.api("GET", "/importErrors")
        raise RuntimeError(f"{dag_id} was not parsed in {timeout:.0f} s; import errors: {errors}\n{self.tails()}")

    def trigger(self, dag_id: str, conf: dict) -> str:
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0, poll: float = 0.25) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} {run_id} not finished in {timeout:.0f} s: {self.task_states(dag_id, run_id)}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in tis}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]

    def clear(self, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool = False) -> list[dict]:
        return self.api("POST", f"/dags/{dag_id}/clearTaskInstances",
                        {"dry_run": False, "dag_run_id": run_id, "task_ids": task_ids, "only_failed": False,
                         "include_downstream": downstream})["task_instances"]
