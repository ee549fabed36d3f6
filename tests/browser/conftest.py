"""Headless Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by playwright (its
Python package only; no browser download).

`.ci/run` installs chromium and sets `PAPER_TRADING_TEST_BROWSER=required`: in CI a missing browser
fails these tests, it never skips them. Elsewhere they skip with a message when it is missing.
"""

from __future__ import annotations

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
