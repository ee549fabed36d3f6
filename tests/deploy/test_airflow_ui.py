"""`make airflow` and `make demo` driven from a real pseudo-terminal, the way a person does it: the
terminal shows start-up, the login and errors; the UI listens on 127.0.0.1 with a 64-byte JWT
secret; and one Ctrl-C typed in the terminal (the line discipline's SIGINT to the whole foreground
process group) stops every process of the tree and frees the port within 30 s."""

from __future__ import annotations

import fcntl
import os
import re
import select
import socket
import subprocess
import termios
import time
from pathlib import Path

import psutil
import pytest

from alpaca_sim.server import free_port

ROOT = Path(__file__).resolve().parents[2]
STOP_WITHIN_S = 30


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


class Terminal:
    """A command in a new session whose controlling terminal is a pty we hold the other end of."""

    def __init__(self, *command: str) -> None:
        master, slave = os.openpty()

        def take_terminal() -> None:
            os.setsid()
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        # a person's shell: none of the test session's Airflow settings (its JWT secret among them)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "APCA_", "PAPER_TRADING_"))}
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     preexec_fn=take_terminal, close_fds=True)
        os.close(slave)
        self.master, self.output = master, b""

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.output += os.read(self.master, 65536)
                except OSError:  # the other end closed: every process of the terminal is gone
                    return
            elif self.proc.poll() is not None:
                return

    def wait_for(self, text: bytes, timeout: float) -> None:
        end = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < end and self.proc.poll() is None:
            self.read(1)
        assert text in self.output, f"{text!r} not shown within {timeout}s; the terminal said:\n{self.text}"

    def tree(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def ctrl_c(self) -> float:
        """Type Ctrl-C; return the seconds until the command exited."""
        os.write(self.master, b"\x03")
        start = time.monotonic()
        while self.proc.poll() is None and time.monotonic() - start < 90:
            self.read(0.5)
        took = time.monotonic() - start
        self.read(1)
        return took

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")


def _alive(processes: list[psutil.Process]) -> list[str]:
    left = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {' '.join(p.cmdline())[:100]}")
        except psutil.NoSuchProcess:
            pass
    return left


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-ui")
    port = free_port()
    term = Terminal("make", "--no-print-directory", "airflow", f"AIRFLOW_HOME={home}", f"AIRFLOW_PORT={port}",
                    f"SIM_DB={home / 'sim.sqlite'}")
    term.wait_for(b"Ctrl-C stops everything", timeout=240)
    term.home, term.port = home, port
    yield term
    if term.proc.poll() is None:
        tree = term.tree()
        term.ctrl_c()
        for p in tree:
            if _alive([p]):
                p.kill()


def test_make_airflow_serves_the_ui_on_the_loopback_address_only(ui):
    listening = {(c.laddr.ip, c.laddr.port) for p in ui.tree() for c in p.net_connections(kind="tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port == ui.port}
    assert listening == {("127.0.0.1", ui.port)}
    assert f"http://localhost:{ui.port}" in ui.text


def test_the_embedded_home_has_a_64_byte_jwt_secret_and_no_hmac_key_warning(ui):
    secret = (ui.home / "jwt_secret").read_text().strip()
    assert len(secret) >= 86  # token_urlsafe(64): 64 random bytes
    assert oct((ui.home / "jwt_secret").stat().st_mode & 0o777) == "0o600"
    logs = "".join(p.read_text(errors="replace") for p in (ui.home / "logs" / "ui").glob("*.log"))
    assert "api-server" in {p.stem for p in (ui.home / "logs" / "ui").glob("*.log")}
    assert not re.search(r"HMAC key|below 64 bytes|InsecureKeyLengthWarning", logs)
    assert secret not in ui.text and secret not in logs


def test_the_terminal_shows_start_up_the_login_and_errors_not_the_components_logs(ui):
    ui.read(3)
    lines = [line for line in ui.text.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("airflow-ui |")]
    assert any("user admin, password in" in line for line in ours)
    others = [line for line in lines if not line.startswith("airflow-ui |") and "db migrate" not in line]
    assert others == [], "the terminal shows more than start-up, the login and errors"
    assert not re.search(r"GET /|POST /|INFO", ui.text)


def test_ctrl_c_in_the_terminal_of_make_airflow_stops_every_process_and_frees_the_port(ui):
    tree = ui.tree()
    assert len(tree) >= 5  # the simulator and the four components, with the scheduler's workers
    took = ui.ctrl_c()
    assert ui.proc.poll() is not None and took < STOP_WITHIN_S, ui.text
    assert _alive(tree) == []
    assert _port_free(ui.port)
    assert "no process of the tree is left" in ui.text


def test_ctrl_c_in_the_terminal_of_make_demo_stops_every_process(tmp_path):
    term = Terminal("make", "--no-print-directory", "demo", f"AIRFLOW_HOME={tmp_path / 'home'}")
    term.wait_for(b"running DAG paper_trading_daily", timeout=240)
    term.read(6)  # the run is under way: the simulator, the wrapper, `airflow dags test`
    tree = term.tree()
    assert any("dags" in " ".join(p.cmdline()) for p in tree if _alive([p]))
    took = term.ctrl_c()
    assert term.proc.poll() is not None and took < STOP_WITHIN_S, term.text
    assert _alive(tree) == []
