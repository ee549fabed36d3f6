"""`make airflow`: Airflow's UI on the embedded home and the broker it trades with, as one tree that
one Ctrl-C stops.

Why not `airflow standalone`: a terminal's Ctrl-C reaches every process of the foreground process
group, so the scheduler, its LocalExecutor workers and the API server each got a SIGINT of their
own, then standalone's SIGTERM on top; the scheduler, interrupted inside a lock, ignored the rest
and was left running with its workers. Here each Airflow component runs in a session of its own
(the terminal's Ctrl-C reaches only this supervisor), and stopping is one orderly signal per
component: SIGTERM to its whole process group, SIGKILL to what is left after `--stop-timeout`
seconds, then the simulator. Nothing of the tree outlives the command, and its port is free.

The terminal keeps to what a person needs: start-up, where to log in, errors (a component's ERROR
lines and tracebacks) and the stop. Everything else — access logs, the components' INFO lines —
goes to `$AIRFLOW_HOME/logs/ui/<component>.log`.

Safe by default: the API server listens on 127.0.0.1 (`AIRFLOW_UI_HOST=0.0.0.0` opens it to the
network, on purpose), and the JWT secret of the embedded home is 64 random bytes kept in
`$AIRFLOW_HOME/jwt_secret` (Airflow's generated one is 16 bytes: below what HMAC-SHA512 wants).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from paper_trading.paths import display_path

#: Started in this order, stopped in the reverse one: the API server first (no new requests), the
#: scheduler last (it finishes the task states its workers report).
COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: What the terminal shows of a component's log: errors, not its INFO lines or access logs.
SHOWN = re.compile(rb"\bERROR\b|\bCRITICAL\b|^Traceback|Error: ")
ROOT = Path(__file__).resolve().parents[1]


def jwt_secret(home: Path) -> str:
    """The embedded home's JWT secret: 64 random bytes, made once, readable by the owner only."""
    path = home / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(64))
    return path.read_text().strip()


def say(message: str) -> None:
    print(f"airflow-ui | {message}", flush=True)


class Tree:
    """The Airflow components (each the leader of its own process group) and the simulator."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.offsets: dict[str, int] = {}
        self.sim = None

    def start(self, name: str) -> None:
        log = self.logs / f"{name}.log"
        self.offsets[name] = log.stat().st_size if log.exists() else 0
        with open(log, "ab") as out:
            self.procs[name] = subprocess.Popen(["airflow", name], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def show_errors(self) -> None:
        """Print the components' new error lines (a traceback's lines follow its first one)."""
        for name in self.procs:
            log = self.logs / f"{name}.log"
            try:
                with open(log, "rb") as fh:
                    fh.seek(self.offsets[name])
                    chunk = fh.read()
            except OSError:
                continue
            complete = chunk.rfind(b"\n") + 1
            self.offsets[name] += complete
            in_traceback = False
            for line in chunk[:complete].splitlines():
                in_traceback = in_traceback and line[:1] in (b" ", b"\t") or line.startswith(b"Traceback")
                if in_traceback or SHOWN.search(line):
                    print(f"{name:13.13} | {line.decode(errors='replace')}", flush=True)

    def died(self) -> str | None:
        return next((name for name, proc in self.procs.items() if proc.poll() is not None), None)

    def stop(self, timeout: float) -> list[str]:
        """SIGTERM to each component's process group (workers included), SIGKILL to any group still
        alive after `timeout` seconds, then the simulator. Returns what had to be killed."""
        for name in reversed(COMPONENTS):
            if name in self.procs:
                _signal_group(self.procs[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_group_alive(p.pid) for p in self.procs.values()):
            for proc in self.procs.values():
                proc.poll()  # reap the leaders, so a dead leader does not count as alive
            time.sleep(0.2)
        killed = [name for name, proc in self.procs.items() if _group_alive(proc.pid)]
        for name in killed:
            _signal_group(self.procs[name].pid, signal.SIGKILL)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if self.sim is not None:
            self.sim.stop()
        return killed


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """A process of the group is still there (a leader that exited may leave its workers)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sim_clock(sim) -> str:
    """The simulator's clock in New York time, as its /v2/clock says it."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    try:
        now = sim.admin("GET", "/sim/health").json()["clock"]
        return f"{dt.datetime.fromisoformat(now).astimezone(ZoneInfo('America/New_York')):%Y-%m-%d %H:%M} New York"
    except Exception:  # the clock is information only
        return "the time in its database"


def _answering(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/airflow_ui.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default=os.environ.get("AIRFLOW_UI_HOST") or "127.0.0.1",
                        help="address the API server listens on (default 127.0.0.1; $AIRFLOW_UI_HOST)")
    parser.add_argument("--sim-db", default="data/sim/airflow.sqlite", help="the simulator's database")
    parser.add_argument("--bars", default="data/market/daily_bars.csv", help="the simulator's daily bars")
    parser.add_argument("--sim-clock", default=os.environ.get("SIM_CLOCK") or None,
                        help="move the simulator's clock (ISO 8601, e.g. 2026-01-02T09:45:00-05:00); default: "
                             "the clock in its database (a new one starts 30 minutes after the last open of the bars)")
    parser.add_argument("--stop-timeout", type=float, default=20.0,
                        help="seconds the components have to stop before they are killed (default 20)")
    args = parser.parse_args(argv)

    home = Path(os.environ.get("AIRFLOW_HOME") or ROOT / ".airflow")
    logs = home / "logs" / "ui"
    logs.mkdir(parents=True, exist_ok=True)
    shown_logs = display_path(logs, Path.cwd())
    shown_host = "localhost" if args.host in ("127.0.0.1", "localhost") else args.host
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
           "AIRFLOW__API__HOST": args.host, "AIRFLOW__API__PORT": str(args.port),
           "AIRFLOW__API_AUTH__JWT_SECRET": os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET") or jwt_secret(home),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": os.environ.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL")
           or f"http://127.0.0.1:{args.port}/execution/"}
    tree = Tree(env, logs)
    stopping: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        if stopping:  # a second Ctrl-C: no more waiting
            say("stopping now")
            for proc in tree.procs.values():
                _signal_group(proc.pid, signal.SIGKILL)
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    status = 0
    try:
        if subprocess.run([sys.executable, str(ROOT / "scripts" / "airflow_broker.py")], env=env).returncode != 0:
            from alpaca_sim.server import SimServer

            Path(args.sim_db).parent.mkdir(parents=True, exist_ok=True)
            tree.sim = SimServer(args.sim_db, bars=args.bars, log=logs / "alpaca-sim.log", own_group=True,
                                 clock=args.sim_clock).start()
            env.update(APCA_API_KEY_ID=tree.sim.key, APCA_API_SECRET_KEY=tree.sim.secret,
                       APCA_API_BASE_URL=tree.sim.url, APCA_API_DATA_URL=tree.sim.url)
            say(f"broker: the local Alpaca simulator on {tree.sim.url} ({args.sim_db}, sample bars), its clock at "
                f"{_sim_clock(tree.sim)} (make airflow SIM_CLOCK=... moves it); for Alpaca set APCA_API_KEY_ID "
                "or the Connection alpaca")
        for name in COMPONENTS:
            tree.start(name)
        say(f"starting {', '.join(COMPONENTS)}; their logs: {shown_logs}/")
        url = f"http://{shown_host}:{args.port}"
        ready = False
        while not stopping:
            tree.show_errors()
            if (name := tree.died()) is not None:
                say(f"{name} stopped on its own (exit {tree.procs[name].returncode}); see {shown_logs}/"
                    f"{name}.log. Stopping the rest.")
                status = 1
                break
            if not ready and _answering(f"http://127.0.0.1:{args.port}/api/v2/monitor/health"):
                ready = True
                passwords = Path(env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
                                 or home / "simple_auth_manager_passwords.json.generated")
                shown = display_path(passwords, Path.cwd())
                say(f"ready: {url} (user admin, password in {shown}); Ctrl-C stops everything")
            time.sleep(0.5)
    finally:
        if stopping:
            say(f"stopping ({signal.Signals(stopping[0]).name}): every component, then the broker "
                f"(at most {args.stop_timeout:g} s; Ctrl-C again to kill at once)")
        started = time.monotonic()
        killed = tree.stop(args.stop_timeout)
        tree.show_errors()
        said = f"; killed after {args.stop_timeout:g} s: {', '.join(killed)}" if killed else ""
        say(f"stopped in {time.monotonic() - started:.1f} s: no process of the tree is left{said}")
    return status


if __name__ == "__main__":
    sys.exit(main())
