"""The trigger form of the DAG in Airflow's own UI, as a newcomer fills it in: every param that defers
to config.yaml offers "the config's default" as a named choice (no literal "null"), and
`require_approval` is a dropdown whose choice shows once picked and can go back to the config's
default. The picture goes to `$PAPER_TRADING_SCREENSHOTS/trigger_form.png` when that is set."""

from __future__ import annotations

import json

import pytest

from tests.browser.conftest import login_cookie

pytestmark = pytest.mark.browser

DAG_ID = "paper_trading_daily"


def conf_of(page) -> dict:
    """The conf the form would send, from its JSON editor (the form keeps the two in step)."""
    return json.loads(page.evaluate("() => document.querySelector('.cm-content')?.innerText || '{}'"))


def test_the_trigger_form_names_the_configs_defaults_and_require_approval_can_go_back(
        browser, airflow_dag_server, keep_screenshot):
    base, user, password = airflow_dag_server
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    login_cookie(context, base, user, password)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.goto(f"{base}/dags/{DAG_ID}", wait_until="load")
    page.get_by_role("button", name="Trigger").first.click(timeout=30_000)
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible", timeout=30_000)
    approval = dialog.locator("#element_require_approval")
    approval.wait_for(state="attached", timeout=30_000)
    text = dialog.inner_text()
    assert "the config's default (signal_bus.mode)" in text
    assert "the config's default (execution.require_approval)" in text
    assert "null" not in [line.strip().lower() for line in text.splitlines()]  # no choice shown as a bare null

    def choose(label: str) -> str:
        """Pick `label` in the require_approval dropdown; the form's text after (the menu closed,
        so a label in it is the one the field shows)."""
        approval.click()
        page.get_by_role("option", name=label).click(timeout=10_000)
        page.get_by_role("option").first.wait_for(state="detached", timeout=10_000)
        return dialog.inner_text()

    assert "yes: a person approves before anything is sent" in choose("yes: a person approves before anything is sent")
    section = dialog.locator("div").filter(has=page.get_by_text("Run Parameters", exact=True)).filter(
        has=page.locator("#element_require_approval")).last  # the innermost: the params' section
    keep_screenshot(section, "trigger_form.png")
    shown = choose("the config's default (execution.require_approval)")
    assert "the config's default (execution.require_approval)" in shown and "yes: a person" not in shown
    assert "no: send without asking" in choose("no: send without asking")
    assert errors == [], errors
    context.close()
