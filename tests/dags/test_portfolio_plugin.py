"""The portfolio plugin inside Airflow's own API app (`create_app`, as `airflow api-server` builds it):
the mounted routes, content types, 404s, authentication and authorization, the navigation entry,
and the "Portfolio dashboard" extra link of a `report` task read from its XCom."""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.airflow

DASHBOARD = "<!doctype html><html><body><div id='chart'>dashboard</div></body></html>"


@pytest.fixture(scope="module")
def api(airflow_db):
    """Airflow's API app with the plugins folder of the repository, and a token maker."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    app = create_app()

    def token(role: str | None = "admin") -> str:
        return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=f"u-{role}", role=role))

    return TestClient(app), token


@pytest.fixture
def reports(tmp_path, monkeypatch) -> Path:
    """A project whose reports directory has a dashboard, a CSV, a JSON, a hidden temporary file, a
    symlink out and a nested directory; a secret sits beside the reports directory."""
    root = tmp_path / "project"
    out = root / "data" / "reports"
    (out / "nested").mkdir(parents=True)
    (root / "data" / "secret.txt").write_text("TOPSECRET")
    (out / "summary_dashboard.html").write_text(DASHBOARD)
    (out / "summary_dashboard_20251231.html").write_text(DASHBOARD)
    (out / "pnl_daily_20251231.csv").write_text("date,equity\n2025-12-31,100000\n")
    (out / "metrics_20251231.json").write_text('{"as_of": "2025-12-31"}\n')
    (out / ".metrics_20251231.json.x1.tmp").write_text("{")
    (out / "nested" / "inner.csv").write_text("a\n")
    (out / "escape.csv").symlink_to(root / "data" / "secret.txt")
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(root))
    return out


@pytest.fixture
def client(api, reports):
    """A client logged in as the UI is: the `_token` cookie."""
    client, token = api
    client.cookies.clear()
    client.cookies.set("_token", token())
    yield client
    client.cookies.clear()


def test_latest_dashboard_and_files_with_their_types(client):
    page = client.get("/portfolio/")
    assert page.status_code == 200 and '<iframe id="dashboard" src="reports/summary_dashboard.html"' in page.text
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    latest = client.get("/portfolio/reports/summary_dashboard.html")
    assert latest.status_code == 200 and latest.text == DASHBOARD
    assert latest.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    csv = client.get("/portfolio/reports/pnl_daily_20251231.csv")
    assert csv.status_code == 200 and csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv.text.startswith("date,equity")
    metrics = client.get("/portfolio/reports/metrics_20251231.json")
    assert metrics.headers["content-type"] == "application/json" and metrics.json() == {"as_of": "2025-12-31"}


def test_the_list_shows_every_file_newest_first_with_links(client, reports):
    import os

    os.utime(reports / "metrics_20251231.json", (2_000_000_000, 2_000_000_000))  # the newest
    page = client.get("/portfolio/reports/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    for name in ("summary_dashboard.html", "summary_dashboard_20251231.html", "pnl_daily_20251231.csv"):
        assert f'<a href="{name}">{name}</a>' in page.text
    assert page.text.index("metrics_20251231.json") < page.text.index("pnl_daily_20251231.csv")
    for hidden in (".metrics_20251231.json.x1.tmp", "escape.csv", "inner.csv", "secret"):
        assert hidden not in page.text
    assert client.get("/portfolio/reports", follow_redirects=False).headers["location"] == "reports/"


def test_without_a_dashboard_the_entry_says_so_and_links_the_files(client, reports):
    (reports / "summary_dashboard.html").unlink()
    page = client.get("/portfolio/").text
    assert "No dashboard yet" in page and '<a class="files" href="reports/">all report files</a>' in page


def replay_of(reports: Path, sessions: int) -> Path:
    """A replay workspace beside the live reports, as `make demo` leaves it."""
    workspace = reports.parent.parent / "data" / "replay"
    out = workspace / "data" / "reports"
    out.mkdir(parents=True)
    (workspace / ".paper-trading-replay").write_text("")
    (out / "summary_dashboard.html").write_text(DASHBOARD.replace("dashboard", "replayed"))
    (out / "metrics_20251231.json").write_text(f'{{"sessions": {sessions}, "first_session": "2025-10-31"}}')
    return out


def test_the_page_switches_between_the_live_books_and_the_latest_replay(client, reports):
    (reports / "metrics_20251231.json").write_text('{"sessions": 1, "first_session": "2025-12-31"}')
    replay_of(reports, 41)
    live = client.get("/portfolio/").text
    assert '<a class="tab on" href="?view=live"' in live and 'href="?view=replay"' in live
    assert "The live books have one session so far" in live
    assert 'The <a href="?view=replay">latest replay</a> has 41 sessions since 2025-10-31' in live
    replayed = client.get("/portfolio/?view=replay").text
    assert '<iframe id="dashboard" src="replay/reports/summary_dashboard.html"' in replayed
    assert "one session so far" not in replayed
    assert client.get("/portfolio/replay/reports/summary_dashboard.html").text == DASHBOARD.replace(
        "dashboard", "replayed")
    assert "summary_dashboard.html" in client.get("/portfolio/replay/reports/").text


def test_without_a_replay_there_is_no_switch_and_the_page_says_how_to_make_one(client, reports):
    (reports / "metrics_20251231.json").write_text('{"sessions": 1, "first_session": "2025-12-31"}')
    page = client.get("/portfolio/?view=replay").text
    assert 'href="?view=replay"' not in page and "make demo" in page
    assert client.get("/portfolio/replay/reports/summary_dashboard.html").status_code == 404


def test_a_dated_dashboard_is_shown_by_name_and_an_unknown_name_falls_back_to_the_latest(client):
    page = client.get("/portfolio/?report=summary_dashboard_20251231.html").text
    assert 'src="reports/summary_dashboard_20251231.html"' in page
    assert 'src="reports/summary_dashboard.html"' in client.get("/portfolio/?report=..%2Fsecret.txt").text


@pytest.mark.parametrize("path", [
    "../secret.txt", "..%2fsecret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt",
    "%252e%252e%252fsecret.txt", "..%5csecret.txt", "/etc/passwd", "%2fetc%2fpasswd", "escape.csv", "nested/inner.csv",
    "nested", ".metrics_20251231.json.x1.tmp", "missing.csv", "summary_dashboard.html%00.csv",
    "..%5c..%5csecret.txt", "%c0%ae%c0%ae/secret.txt", "%c0%ae%c0%ae%c0%afsecret.txt", "....//secret.txt",
    ".%2e/secret.txt", "%2e./secret.txt", "nested%2f..%2f..%2fsecret.txt", "~/secret.txt", "~root/.bashrc",
    "summary_dashboard.html%3f.csv", "summary_dashboard.html%23", "summary_dashboard.html%2f", "%2e",
    "file:%2f%2f%2fetc%2fpasswd", "..;/secret.txt", "%u002e%u002e/secret.txt", "..%ef%bc%8fsecret.txt"])
def test_anything_but_a_report_is_404(client, path):
    response = client.get(f"/portfolio/reports/{path}", follow_redirects=False)
    assert response.status_code == 404, (path, response.status_code)
    assert "TOPSECRET" not in response.text and "root:" not in response.text


def test_a_reports_folder_configured_outside_the_project_is_not_served(api, reports, tmp_path):
    """`paths.reports` pointing out of the root is a config error: no file is served from there."""
    from fastapi.testclient import TestClient

    client, token = api
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "pnl_daily_20251231.csv").write_text("TOPSECRET")
    config = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
    (reports.parent.parent / "config").mkdir()
    (reports.parent.parent / "config" / "config.yaml").write_text(
        config.read_text().replace("  reports: data/reports", "  reports: ../../elsewhere"))
    strict = TestClient(client.app, raise_server_exceptions=False)
    for path in ("/portfolio/reports/pnl_daily_20251231.csv", "/portfolio/reports/", "/portfolio/"):
        response = strict.get(path, headers={"Authorization": f"Bearer {token()}"}, follow_redirects=False)
        assert response.status_code == 500 and "TOPSECRET" not in response.text, (path, response.status_code)


def test_an_expired_token_is_not_let_in(api, reports):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    client, _ = api
    expired = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="u-admin", role="admin"),
                                              expiration_time_in_seconds=-3600)
    response = client.get("/portfolio/reports/pnl_daily_20251231.csv", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code in (401, 403) and "equity" not in response.text


def test_a_token_signed_with_another_secret_is_not_let_in(api, reports):
    import jwt

    client, token = api
    claims = jwt.decode(token(), options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-api-secret-" + "x" * 64, algorithm="HS512")
    response = client.get("/portfolio/reports/pnl_daily_20251231.csv", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code in (401, 403) and "equity" not in response.text


def test_a_method_other_than_get_serves_nothing(client):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        response = client.request(method, "/portfolio/reports/pnl_daily_20251231.csv")
        assert response.status_code == 405 and "equity" not in response.text, method


def test_the_project_root_falls_back_to_the_dags_folder_parent(api, reports, monkeypatch):
    """Without PAPER_TRADING_ROOT the API server serves `<dags folder>/../data/reports`."""
    client, token = api
    monkeypatch.delenv("PAPER_TRADING_ROOT")
    (reports.parent.parent / "dags").mkdir()
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(reports.parent.parent / "dags"))
    response = client.get("/portfolio/reports/pnl_daily_20251231.csv", headers={"Authorization": f"Bearer {token()}"})
    assert response.status_code == 200


def test_only_logged_in_readers(api, reports):
    client, token = api
    client.cookies.clear()
    assert client.get("/portfolio/reports/").status_code == 401
    assert client.get("/portfolio/reports/pnl_daily_20251231.csv").status_code == 401
    browser = client.get("/portfolio/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/auth/login?next=%2Fportfolio%2F"
    assert client.get("/portfolio/reports/", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    no_role = client.get("/portfolio/reports/", headers={"Authorization": f"Bearer {token(None)}"})
    assert no_role.status_code == 403  # a user without a role may not read the DAG
    for role in ("viewer", "admin"):
        assert client.get("/portfolio/reports/", headers={"Authorization": f"Bearer {token(role)}"}).status_code == 200


def test_the_navigation_entry_and_the_link_are_registered(client):
    plugins = {p["name"]: p for p in client.get("/api/v2/plugins").json()["plugins"]}
    portfolio = plugins["portfolio"]
    assert portfolio["external_views"] == [
        {**portfolio["external_views"][0], "name": "Portfolio", "href": "/portfolio/", "destination": "nav",
         "url_route": "portfolio"}]
    assert portfolio["fastapi_apps"][0]["url_prefix"] == "/portfolio"
    assert portfolio["global_operator_extra_links"] == ["<portfolio_plugin.PortfolioDashboardLink object>"]
    assert client.get("/api/v2/plugins/importErrors").json()["import_errors"] == []


LINK_DAG = '''
from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="portfolio_link_demo", schedule=None, start_date=pendulum.datetime(2025, 1, 1, tz="UTC"), catchup=False)
def portfolio_link_demo():
    @task
    def report() -> dict:
        return {"dashboard_path": "{path}", "sessions": 2}

    @task
    def other() -> dict:
        return {"dashboard_path": "{path}"}

    report() >> other()


portfolio_link_demo()
'''


def test_the_report_task_links_to_its_dated_dashboard(client, reports, tmp_path, monkeypatch):
    """A `report` task returning `dashboard_path` gets the link (through the REST API the UI calls);
    other tasks get none."""
    from airflow.models import DagBag

    dags = tmp_path / "link_dags"
    dags.mkdir()
    dashboard = reports / "summary_dashboard_20251231.html"
    (dags / "link_demo.py").write_text(textwrap.dedent(LINK_DAG).replace("{path}", str(dashboard)))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(dags))  # dag.test() serializes the dags-folder bundle
    dag = DagBag(dag_folder=str(dags)).dags["portfolio_link_demo"]
    run = dag.test()
    links = {}
    for task_id in ("report", "other"):
        response = client.get(f"/api/v2/dags/portfolio_link_demo/dagRuns/{quote(run.run_id)}/taskInstances/{task_id}/links")
        assert response.status_code == 200, response.text
        links[task_id] = response.json()["extra_links"]
    # inside the UI: its Portfolio page, which shows the dashboard named after the '#'
    assert links["report"] == {"Portfolio dashboard": "/plugin/portfolio#summary_dashboard_20251231.html"}
    assert links["other"] == {"Portfolio dashboard": None}
    name = links["report"]["Portfolio dashboard"].partition("#")[2]
    assert f'src="reports/{name}"' in client.get(f"/portfolio/?report={name}").text
