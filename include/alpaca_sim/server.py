"""Running the simulator: the `serve` command, and `SimServer`, which starts it as a child process.

The child process matters: the simulator then has its own interpreter (and core), exactly as a
remote broker would, and a test or a demo can stop and restart it to check durability.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SimServer:
    """A simulator child process on 127.0.0.1; use as a context manager or start()/stop()."""

    def __init__(self, db: str | Path, bars: str | Path | None = None, port: int | None = None,
                 key: str | None = None, secret: str | None = None, clock: str | None = None,
                 log: str | Path | None = None, own_group: bool = False) -> None:
        """`own_group`: the child gets a process group of its own, so a Ctrl-C at the terminal does
        not stop the broker under a command that is still shutting down (`run` stops it after)."""
        self.db, self.bars, self.clock, self.own_group = Path(db), bars, clock, own_group
        self.port = port or free_port()
        self.key = key or f"PK{secrets.token_hex(8).upper()}"
        self.secret = secret or secrets.token_urlsafe(30)
        self.log = Path(log) if log else self.db.with_suffix(".log")
        self.proc: subprocess.Popen | None = None
        self._local = threading.local()  # a kept-alive session per thread for `admin`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"APCA-API-KEY-ID": self.key, "APCA-API-SECRET-KEY": self.secret}

    def start(self, timeout: float = 30.0) -> SimServer:
        args = [sys.executable, "-m", "alpaca_sim", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--db", str(self.db), "--parent-pid", str(os.getpid())]
        if self.bars:
            args += ["--bars", str(self.bars)]
        if self.clock:
            args += ["--clock", self.clock]
        env = {**os.environ, "ALPACA_SIM_KEY": self.key, "ALPACA_SIM_SECRET": self.secret}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         process_group=0 if self.own_group else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"alpaca_sim exited with {self.proc.returncode}; see {self.log}")
            try:
                if requests.get(f"{self.url}/sim/health", headers=self.headers, timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"alpaca_sim did not answer on {self.url} within {timeout}s; see {self.log}")

    def stop(self) -> None:
        self._local = threading.local()  # the next start is another server: no connection kept
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def admin(self, method: str, path: str, json: dict | None = None) -> requests.Response:
        """Call a /sim admin endpoint; raise on an error status."""
        session = getattr(self._local, "session", None)
        if session is None:
            # one connection kept alive (a replay moves the clock a dozen times a session); the
            # simulator is on loopback, so no proxy or ~/.netrc from the environment applies
            session = self._local.session = requests.Session()
            session.trust_env = False
        response = session.request(method, f"{self.url}{path}", json=json, headers=self.headers, timeout=30)
        response.raise_for_status()
        return response

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m alpaca_sim serve",
        description="Serve the Alpaca-compatible paper broker (Trading API v2 + Market Data API v2) on one port.",
        epilog="Credentials: --key/--secret, else $ALPACA_SIM_KEY/$ALPACA_SIM_SECRET, else "
               "$APCA_API_KEY_ID/$APCA_API_SECRET_KEY. Prefer the environment: arguments show in `ps`.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--db", required=True, help="SQLite file holding the account, orders, positions, clock")
    parser.add_argument(
        "--bars", help="daily bars (CSV or Parquet: symbol,date,open,high,low,close,volume[,trade_count,vwap])"
    )
    parser.add_argument("--key", help="API key id clients must send")
    parser.add_argument("--secret", help="API secret clients must send")
    parser.add_argument("--clock", help="set the simulated clock (ISO 8601) at start")
    parser.add_argument(
        "--parent-pid",
        type=int,
        help="stop when this process is gone (SimServer passes its own: no broker outlives a killed test)",
    )
    args = parser.parse_args(argv)
    key = args.key or os.environ.get("ALPACA_SIM_KEY") or os.environ.get("APCA_API_KEY_ID")
    secret = args.secret or os.environ.get("ALPACA_SIM_SECRET") or os.environ.get("APCA_API_SECRET_KEY")
    if not key or not secret:
        parser.error("no credentials: give --key/--secret or set ALPACA_SIM_KEY/ALPACA_SIM_SECRET")

    import uvicorn

    from .app import create_app
    from .engine import Engine, parse_time
    from .market import load_bars_file
    from .store import Store

    bars = load_bars_file(args.bars) if args.bars else None
    clock = parse_time(args.clock) if args.clock else None
    engine = Engine(Store(args.db), bars=bars, clock=clock)
    app = create_app(engine, key, secret)
    print(
        f"alpaca_sim on http://{args.host}:{args.port} db={args.db} clock={engine.now():%Y-%m-%dT%H:%M:%SZ}", flush=True
    )
    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


def _exit_with_parent(pid: int, interval_s: float = 0.5) -> None:
    """Stop this server (SIGTERM to itself: uvicorn's graceful shutdown) once `pid` is no longer its
    parent, i.e. the process that started it died, even by SIGKILL."""
    import threading

    def watch() -> None:
        while os.getppid() == pid:
            time.sleep(interval_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


#: Signals that ask `run` to stop: each becomes the command's own Ctrl-C (SIGINT).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _terminal_sent_it() -> bool:
    """Whether a SIGINT came from the terminal's Ctrl-C: then the whole foreground process group,
    the command included, got it already, and forwarding it would be a second Ctrl-C."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False


def run_command(command: list[str], env: dict[str, str], stop_timeout_s: float = 60.0) -> int:
    """Run `command` and return its exit status (128 + N for signal N), stopping it the way its own
    user would: a Ctrl-C, SIGTERM or SIGHUP to us becomes one SIGINT to it (`airflow standalone` then
    stops its scheduler, api-server, dag-processor and triggerer, where a SIGKILL would leave them
    running); only if it is still running `stop_timeout_s` later is it terminated, then killed."""
    proc = subprocess.Popen(command, env=env)
    stop_asked: list[float] = []

    def stop(signum: int, _frame) -> None:
        if not stop_asked:
            stop_asked.append(time.monotonic())
            if proc.poll() is None and not (signum == signal.SIGINT and _terminal_sent_it()):
                proc.send_signal(signal.SIGINT)

    previous = {s: signal.signal(s, stop) for s in STOP_SIGNALS}
    try:
        while proc.poll() is None:
            if stop_asked and time.monotonic() - stop_asked[0] > stop_timeout_s:
                print(
                    f"alpaca_sim: the command did not stop within {stop_timeout_s:g}s of the stop request: "
                    "terminating it",
                    file=sys.stderr,
                    flush=True,
                )
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                break
            time.sleep(0.1)
        status = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status if status >= 0 else 128 - status


def run(argv: list[str] | None = None) -> int:
    """`python -m alpaca_sim run [options] -- COMMAND ...`: COMMAND against a fresh local broker.

    Starts the simulator, runs COMMAND with APCA_API_KEY_ID, APCA_API_SECRET_KEY,
    APCA_API_BASE_URL and APCA_API_DATA_URL pointing at it, stops the simulator, and exits with
    COMMAND's status. The demo uses it so that nothing can reach the real Alpaca. Ctrl-C stops
    COMMAND as its own Ctrl-C would, and the simulator only after it (see `run_command`).

    The simulator's keys: --key/--secret, else $ALPACA_SIM_KEY/$ALPACA_SIM_SECRET, else random ones.
    Never $APCA_API_KEY_ID/$APCA_API_SECRET_KEY: those may be a real account's, and COMMAND gets
    the simulator's keys in their place.
    """
    import tempfile

    about = (run.__doc__ or "").split("\n\n")[1:2]  # the docstring's second paragraph (none under python -OO)
    parser = argparse.ArgumentParser(
        prog="python -m alpaca_sim run", description=" ".join(about).replace("\n    ", " ")
    )
    parser.add_argument("--db", help="SQLite file (default: a fresh temporary one)")
    parser.add_argument("--bars", help="daily bars file (CSV or Parquet)")
    parser.add_argument("--clock", help="simulated clock at start (ISO 8601)")
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=60.0,
        help="seconds COMMAND has to stop after Ctrl-C/SIGTERM before it is terminated (default 60)",
    )
    parser.add_argument(
        "--key",
        help="API key id of the simulator (default: $ALPACA_SIM_KEY, else a random one; "
        "prefer the environment: arguments show in `ps`)",
    )
    parser.add_argument("--secret", help="API secret of the simulator (default: $ALPACA_SIM_SECRET, else a random one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    key = args.key or os.environ.get("ALPACA_SIM_KEY") or None
    secret = args.secret or os.environ.get("ALPACA_SIM_SECRET") or None
    with tempfile.TemporaryDirectory(prefix="alpaca-sim-") as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "sim.db"
        with SimServer(
            db, bars=args.bars, clock=args.clock, key=key, secret=secret, log=Path(tmp) / "sim.log", own_group=True
        ) as sim:
            print(
                f"alpaca_sim: local paper broker on {sim.url} (clock {args.clock or 'from its database'})", flush=True
            )
            env = {
                **os.environ,
                "APCA_API_KEY_ID": sim.key,
                "APCA_API_SECRET_KEY": sim.secret,
                "APCA_API_BASE_URL": sim.url,
                "APCA_API_DATA_URL": sim.url,
            }
            return run_command(command, env, args.stop_timeout)
