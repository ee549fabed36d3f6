"""The simulator's command line: `serve --help`, and `run -- COMMAND` as the demo uses it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from ..conftest import BARS


def test_serve_help_documents_the_options():
    result = subprocess.run([sys.executable, "-m", "alpaca_sim", "serve", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for option in ("--host", "--port", "--db", "--bars", "--key", "--secret", "--clock"):
        assert option in result.stdout


def test_run_points_the_command_at_a_fresh_broker_and_passes_its_exit_status(tmp_path):
    script = ("import os, sys; from alpaca.trading.client import TradingClient; "
              "c = TradingClient(os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY'], "
              "url_override=os.environ['APCA_API_BASE_URL']); "
              "assert os.environ['APCA_API_DATA_URL'] == os.environ['APCA_API_BASE_URL'].rstrip('/'); "
              "print(c.get_account().cash, c.get_clock().is_open); sys.exit(7)")
    result = subprocess.run([sys.executable, "-m", "alpaca_sim", "run", "--bars", str(BARS), "--clock",
                             "2025-12-31T09:45:00-05:00", "--", sys.executable, "-c", script],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 7, result.stderr
    assert result.stdout.splitlines()[-1] == "100000 True"


#: The command's view of its broker: exit 0 when its keys are the ones expected and the broker takes them.
CHECKS_ITS_KEYS = ("import os, sys; from alpaca.trading.client import TradingClient; "
                   "key, secret = os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY']; "
                   "TradingClient(key, secret, url_override=os.environ['APCA_API_BASE_URL']).get_account(); "
                   "sys.exit(0 if (key, secret) == tuple(sys.argv[1:3]) else 3)")


def run_with_keys(env: dict[str, str], *options: str, expect: tuple[str, str]) -> int:
    return subprocess.run([sys.executable, "-m", "alpaca_sim", "run", *options, "--", sys.executable, "-c",
                           CHECKS_ITS_KEYS, *expect], env={**os.environ, **env}, capture_output=True, timeout=120,
                          check=False).returncode


def test_run_takes_the_simulators_keys_from_the_environment():
    keys = {"ALPACA_SIM_KEY": "PKENVKEY0000000000000", "ALPACA_SIM_SECRET": "env-secret-for-the-sim"}
    assert run_with_keys(keys, expect=("PKENVKEY0000000000000", "env-secret-for-the-sim")) == 0


def test_run_never_hands_an_accounts_own_keys_to_the_simulator():
    """APCA_API_KEY_ID/APCA_API_SECRET_KEY of the caller may be a real account's: replaced, not reused."""
    real = {"APCA_API_KEY_ID": "PKREALACCOUNTKEY0000", "APCA_API_SECRET_KEY": "real-account-secret"}
    assert run_with_keys({**real, "ALPACA_SIM_KEY": "", "ALPACA_SIM_SECRET": ""},
                         expect=("PKREALACCOUNTKEY0000", "real-account-secret")) == 3


def start_run(tmp_path, script: str, *options: str) -> tuple[subprocess.Popen, str]:
    """`alpaca_sim run -- python -c script` in a session of its own (no terminal); returns it and the
    broker's URL once the script has written `ready`."""
    proc = subprocess.Popen([sys.executable, "-m", "alpaca_sim", "run", "--bars", str(BARS), "--clock",
                             "2025-12-31T09:45:00-05:00", *options, "--", sys.executable, "-c", script],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    url = proc.stdout.readline().split(" on ", 1)[1].split()[0]
    deadline = time.monotonic() + 60
    while not (tmp_path / "ready").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the command never got ready"
        time.sleep(0.05)
    return proc, url


def port_closed(url: str, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=0.5)
        except requests.ConnectionError:
            return True
        time.sleep(0.1)
    return False


#: A command that stops cleanly on Ctrl-C, and needs the broker while it stops (an order in flight).
STOPS_ON_CTRL_C = """
import os, pathlib, signal, sys, time
from alpaca.trading.client import TradingClient
def stop(*_):
    time.sleep(1)
    c = TradingClient(os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY'],
                      url_override=os.environ['APCA_API_BASE_URL'])
    pathlib.Path('stopped').write_text(str(c.get_account().cash))
    sys.exit(3)
signal.signal(signal.SIGINT, stop)
pathlib.Path('ready').write_text('')
time.sleep(120)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_stop_request_becomes_the_commands_own_ctrl_c_and_the_broker_outlives_it(tmp_path, sig):
    proc, url = start_run(tmp_path, STOPS_ON_CTRL_C)
    proc.send_signal(sig)
    assert proc.wait(60) == 3
    assert (tmp_path / "stopped").read_text() == "100000"  # the broker answered while the command stopped
    assert port_closed(url, within_s=5)


def test_a_command_that_ignores_the_stop_is_terminated_after_the_stop_timeout(tmp_path):
    script = ("import pathlib, signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
              "pathlib.Path('ready').write_text(''); time.sleep(120)")
    proc, url = start_run(tmp_path, script, "--stop-timeout", "1")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert port_closed(url, within_s=5)


def test_the_broker_stops_when_the_process_that_started_it_is_killed(tmp_path):
    proc, url = start_run(tmp_path, "import pathlib, time; pathlib.Path('ready').write_text(''); time.sleep(120)")
    try:
        proc.kill()  # SIGKILL: no cleanup runs in the wrapper
        proc.wait(10)
        assert port_closed(url, within_s=10)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command, orphaned by the SIGKILL


#: Counts its Ctrl-Cs; once stopping, waits a moment (for a second one, which would be a bug), then
#: needs the broker.
COUNTS_CTRL_C = """
import os, pathlib, signal, sys, time
from alpaca.trading.client import TradingClient
got = []
signal.signal(signal.SIGINT, lambda *_: got.append(1))
pathlib.Path('ready').write_text('')
while not got:
    time.sleep(0.05)
time.sleep(1.5)
c = TradingClient(os.environ['APCA_API_KEY_ID'], os.environ['APCA_API_SECRET_KEY'],
                  url_override=os.environ['APCA_API_BASE_URL'])
pathlib.Path('stopped').write_text(f"{len(got)} {c.get_account().cash}")
sys.exit(3)
"""


def test_ctrl_c_at_a_terminal_reaches_the_command_once_and_the_broker_outlives_it(tmp_path):
    """As in `make airflow`: the terminal sends SIGINT to the whole foreground process group; the
    wrapper must not send a second one, and the broker (a group of its own) must not stop first."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()

    def controlling_terminal() -> None:  # after setsid: the pty becomes this session's terminal
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "alpaca_sim", "run", "--bars", str(BARS), "--", sys.executable,
                             "-c", COUNTS_CTRL_C], cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the command never got ready"
            time.sleep(0.05)
        os.write(master, b"\x03")  # Ctrl-C
        assert proc.wait(60) == 3
        assert (tmp_path / "stopped").read_text() == "1 100000"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        os.close(master)
