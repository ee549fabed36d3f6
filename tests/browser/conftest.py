"""Headless Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by playwright (its
Python package only; no browser download).

`.ci/run` installs chromium and sets `PAPER_TRADING_TEST_BROWSER=required`: in CI a missing browser
fails these tests, it never skips them. Elsewhere they skip with a message when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("PAPER_TRADING_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("PAPER_TRADING_TEST_BROWSER", "").lower() in ("1", "true", "required")


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason}; PAPER_TRADING_TEST_BROWSER=required: the browser tests must run", pytrace=False)
    pytest.skip(f"{reason} (set PAPER_TRADING_TEST_BROWSER=required to make this a failure)")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per module (`--no-sandbox`: CI runs as root, where Chromium's sandbox
    refuses to start). Not per session: while playwright's sync API is open it keeps an event loop
    running in the main thread, and the DAG tests' dag.test() runs triggers with asyncio.run()."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not importable: {exc}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def keep_screenshot(tmp_path):
    """`keep_screenshot(page_or_locator, name)`: save a PNG in the test's tmp dir, and copy it to
    `$PAPER_TRADING_SCREENSHOTS/<name>` when that is set (how docs/img is refreshed)."""

    def save(shot, name: str, **kwargs) -> Path:
        path = tmp_path / name
        shot.screenshot(path=str(path), **kwargs)
        if target := os.environ.get("PAPER_TRADING_SCREENSHOTS"):
            Path(target).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(target) / name)
        return path

    return save


# ---------------------------------------------------------------------------------------------
# A real `airflow api-server` for browser tests, in a throw-away AIRFLOW_HOME.


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def airflow_api_server(home: Path, env: dict[str, str] | None = None, *, serialize_dags: bool = False,
                       timeout: float = 180):
    """`airflow api-server` on a free loopback port over the AIRFLOW_HOME `home`: a migrated SQLite DB,
    this repository's DAGs and plugins, SimpleAuthManager with one admin whose password is in a file,
    and `env` on top (e.g. PAPER_TRADING_ROOT). With `serialize_dags`, the DAGs are written to the
    metadata DB first (`airflow dags reserialize`: the UI shows only serialized DAGs; no dag-processor
    needed). Yields (base URL, username, password); the process group is killed at the end."""
    import json
    import secrets
    import signal
    import subprocess
    import sys
    import time

    import requests

    repo = Path(__file__).resolve().parents[2]
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    env = {**os.environ, "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo / "plugins"), "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64), **(env or {})}
    airflow = [sys.executable, "-m", "airflow"]
    for step in (["db", "migrate"], *([["dags", "reserialize"]] if serialize_dags else [])):
        done = subprocess.run([*airflow, *step], env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"airflow {' '.join(step)}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
    port = free_port()
    log_path = home / "api-server.log"
    log = log_path.open("w")
    proc = subprocess.Popen([*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"airflow api-server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}",
                            pytrace=False)
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"airflow api-server did not answer in {timeout:.0f} s:\n{log_path.read_text()[-4000:]}",
                            pytrace=False)
            time.sleep(0.3)
        yield base, "admin", password
    finally:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        log.close()


@pytest.fixture(scope="module")
def airflow_dag_server(tmp_path_factory):
    """An api-server whose metadata DB holds this repository's DAGs (serialized, never run), with
    PAPER_TRADING_ROOT at a copy of config/. Yields (base URL, username, password)."""
    repo = Path(__file__).resolve().parents[2]
    root = tmp_path_factory.mktemp("dag-ui") / "project"
    shutil.copytree(repo / "config", root / "config")
    home = tmp_path_factory.mktemp("airflow-home")
    with airflow_api_server(home, {"PAPER_TRADING_ROOT": str(root)}, serialize_dags=True) as server:
        yield server


def login_cookie(browser_context, base: str, user: str, password: str) -> str:
    """Log `browser_context` in as the UI's login does (the JWT of POST /auth/token in the httponly
    `_token` cookie); returns the JWT, for REST calls."""
    import requests

    token = requests.post(f"{base}/auth/token", json={"username": user, "password": password}, timeout=10)
    assert token.status_code == 201, token.text
    jwt = token.json()["access_token"]
    browser_context.add_cookies([{"name": "_token", "value": jwt, "url": base, "httpOnly": True}])
    return jwt
