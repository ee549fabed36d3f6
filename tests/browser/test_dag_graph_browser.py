"""The DAG's graph in Airflow's own UI: a real `airflow api-server` with the DAG serialized into its
metadata DB, headless Chromium logged in, the DAG page in graph view. Every task of the DAG (as the
DagBag has it, so the test follows the DAG's changes) must be a node of the rendered graph, with no
script error. The picture goes to `$PAPER_TRADING_SCREENSHOTS/dag_graph.png` when that is set
(`PAPER_TRADING_SCREENSHOTS=docs/img` refreshes the README's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.conftest import login_cookie

pytestmark = pytest.mark.browser

DAG_ID = "paper_trading_daily"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    from airflow.models import DagBag

    dagbag = DagBag(dag_folder=str(REPO / "dags"))
    assert dagbag.import_errors == {}, dagbag.import_errors
    return dagbag.dags[DAG_ID]


def test_the_dag_graph_shows_every_task(browser, airflow_dag_server, dag, keep_screenshot):
    base, user, password = airflow_dag_server
    groups = [g for g in dag.task_group.get_task_group_dict() if g]  # the root group's id is None
    context = browser.new_context(viewport={"width": 1800, "height": 680}, device_scale_factor=1.5)
    jwt = login_cookie(context, base, user, password)
    # The UI keeps the grid/graph choice and the expanded task groups in localStorage.
    context.add_init_script(f"""
        window.localStorage.setItem("default_dag_view", {json.dumps(json.dumps("graph"))});
        window.localStorage.setItem("{DAG_ID}/open-groups", {json.dumps(json.dumps(groups))});
    """)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    import requests

    served = requests.get(f"{base}/api/v2/dags/{DAG_ID}/tasks", headers={"Authorization": f"Bearer {jwt}"},
                          timeout=10).json()
    assert sorted(t["task_id"] for t in served["tasks"]) == sorted(dag.task_ids)

    page.goto(f"{base}/dags/{DAG_ID}", wait_until="load")
    nodes = page.locator(".react-flow__node")
    nodes.first.wait_for(state="visible", timeout=30_000)
    for task in dag.tasks:
        node = page.locator(f'.react-flow__node[data-id="{task.task_id}"]')
        node.wait_for(state="attached", timeout=10_000)
        assert task.label in node.inner_text(), (task.task_id, node.inner_text())
    edges = page.locator(".react-flow__edge")
    assert edges.count() >= sum(len(t.downstream_task_ids) for t in dag.tasks) > 0
    assert errors == [], errors
    # The picture: the graph over the whole width (details panel collapsed), fitted to the view.
    collapse = page.get_by_role("button", name="Collapse Details Panel")
    if collapse.count():
        collapse.click()
        page.wait_for_timeout(300)
    page.get_by_role("button", name="Fit View").click()
    page.wait_for_timeout(700)  # the fit-to-view animation
    assert errors == [], errors
    keep_screenshot(page, "dag_graph.png")
    context.close()
