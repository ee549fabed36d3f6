"""The portfolio reports inside Airflow: a "Portfolio" entry in the UI's navigation, the report files
served by the API server to logged-in users, and a "Portfolio dashboard" link on the `report` task.

URLs (mounted by the API server under `/portfolio`):

* `/portfolio/` — the page of the "Portfolio" entry: a switch between the live books and the latest
  replay (`make demo`'s, in `data/replay`), a line saying how many sessions each has and why
  performance figures need two, and the chosen dashboard below (`?view=live|replay`,
  `?report=<name>` for a dated one; the "Portfolio dashboard" link of a `report` task opens the UI's
  Portfolio page at `#<name>`, which this page reads from the UI's address, so it stays inside Airflow);
* `/portfolio/reports/` — every file of the reports directory, newest first, with links;
* `/portfolio/replay/reports/...` — the same for the latest replay's reports;
* `/portfolio/reports/<name>` — one file, only a plain name directly inside the reports directory
  (`paper_trading.reporting.files` decides, and anything else is a 404), served as text/html, text/csv
  or application/json by its extension, never sniffed.

Where the reports are: `$PAPER_TRADING_ROOT` (else the parent of the DAGs folder) and the project
config's `paths.reports`, looked up on every request so a config change needs no restart.

Authentication is Airflow's own: the routes depend on `get_user` of the core API
(`airflow.api_fastapi.core_api.security`), which takes a `Authorization: Bearer <JWT>` header, else
the `_token` cookie that the UI's login sets (httponly, path `/`). The UI shows an external view in
an iframe of the same origin, so the browser sends that cookie with the iframe's requests and a
logged-in user sees the page with no extra step; a request without a valid token gets 401 (a
browser page is redirected to the login page instead), and the user must also be allowed to read
the `paper_trading_daily` DAG (the reports are that DAG's output).

Plugins are imported by every Airflow process, each task's included, so this file imports nothing
heavy at module level: FastAPI and the app are built on the API server's first request to them,
and Airflow's security module and the XCom model are imported inside the functions that need them.
"""

import html
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.responses import Response

# No `from __future__ import annotations` here: FastAPI reads the annotations of the routes, which are
# defined inside `build_app` with FastAPI's names imported there; evaluated eagerly, they resolve
# against those local names (strings would be looked up in this module's globals, where they are not).


URL_PREFIX = "/portfolio"
URL_ROUTE = "portfolio"  # the UI shows the view at /plugin/portfolio
DAG_ID = "paper_trading_daily"
REPORT_TASK_ID = "report"
# A small line-chart icon for the navigation bar (the UI draws it with <img src=...>).
ICON = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
        "stroke='%23888' stroke-width='2' stroke-linecap='round' stroke-linejoin='round'>"
        "<path d='M3 3v18h18'/><path d='M7 15l4-4 3 3 5-6'/></svg>")
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
           "Content-Security-Policy": "frame-ancestors 'self'"}


def _project_root():
    """The root of the project this Airflow serves (see the module docstring)."""
    from airflow.configuration import conf

    from paper_trading.reporting.files import project_root_for_server

    return project_root_for_server(conf.get("core", "dags_folder", fallback=None))


def _reports_dir():
    """The reports directory of the project this Airflow serves."""
    from paper_trading.reporting.files import reports_dir

    return reports_dir(_project_root())


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5rem; color: #1a202c; }}
 h1 {{ font-size: 1.4rem; margin: 0 0 .5rem; }}
 p.where {{ color: #4a5568; font-size: .9rem; }}
 table {{ border-collapse: collapse; min-width: 40rem; }}
 th, td {{ text-align: left; padding: .35rem .9rem .35rem 0; border-bottom: 1px solid #e2e8f0; font-size: .95rem; }}
 td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
 a {{ color: #0b6bcb; text-decoration: none; }} a:hover {{ text-decoration: underline; }}
</style></head><body>
{body}
</body></html>
"""


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover


def _list_html(directory, files) -> str:
    from paper_trading.reporting.files import LATEST_DASHBOARD

    rows = "\n".join(
        f'<tr><td><a href="{quote(f.name)}">{html.escape(f.name)}</a></td><td>{html.escape(f.media_type.split(";")[0])}'
        f'</td><td class="num">{_size(f.size)}</td><td>{f.modified:%Y-%m-%d %H:%M:%S} UTC</td></tr>'
        for f in files)
    latest = (f'<p><a href="{LATEST_DASHBOARD}">Latest dashboard</a></p>'
              if any(f.name == LATEST_DASHBOARD for f in files) else "<p>No dashboard yet.</p>")
    table = ("<table><thead><tr><th>File</th><th>Type</th><th>Size</th><th>Modified</th></tr></thead>"
             f"<tbody>\n{rows}\n</tbody></table>") if files else "<p>No report has been written yet.</p>"
    return _page("Portfolio reports", f"<h1>Portfolio reports</h1><p class=\"where\">"
                                      f"{len(files)} file(s), newest first</p>{latest}{table}")


def _replay_dir():
    """The reports directory of the latest replay (`data/replay`), or None when there is none."""
    from paper_trading.reporting.files import replay_reports_dir

    return replay_reports_dir(_project_root())


def _books_line(label: str, summary) -> str:
    if summary is None:
        return f"{label}: no report yet"
    first = f" since {summary['first']}" if summary.get("first") else ""
    return f"{label}: {summary['sessions']} session(s){first}"


def _switch_html(view: str, report: str, live, replay) -> str:
    """The Portfolio page: the switch, what each view holds, why figures may be empty, the dashboard."""
    from paper_trading.reporting.files import LATEST_DASHBOARD, books_summary

    live_books = books_summary(live)
    replay_books = books_summary(replay) if replay is not None else None
    tabs = [("live", "Live books", _books_line("the live books", live_books))]
    if replay is not None:
        tabs.append(("replay", "Latest replay", _books_line("the latest replay", replay_books)))
    links = " ".join(
        f'<a class="tab{" on" if key == view else ""}" href="?view={key}" title="{html.escape(hint)}">{name}</a>'
        for key, name, hint in tabs)
    shown = live_books if view == "live" else replay_books
    notes = []
    if view == "live" and (shown is None or shown["sessions"] < 2):
        had = "no session" if shown is None else "one session"
        notes.append(f"The live books have {had} so far: returns, Sharpe and drawdown need two sessions or more, "
                     "so those figures and charts are empty until the next trading day.")
        if replay_books is not None:
            notes.append(f'The <a href="?view=replay">latest replay</a> has {replay_books["sessions"]} sessions'
                         + (f" since {html.escape(str(replay_books['first']))}" if replay_books.get("first") else "")
                         + ": the whole curve against the benchmark.")
        elif replay is None:
            notes.append("No replay yet: <code>make demo</code> or <code>python -m paper_trading replay</code> "
                         "replays the history through the same steps.")
    base = "reports/" if view == "live" else "replay/reports/"
    frame = f"{base}{quote(report or LATEST_DASHBOARD)}" if shown is not None and shown["dashboard"] else None
    body = (f'<div class="bar"><strong>Portfolio</strong> {links}'
            f'<a class="files" href="{base}">all report files</a></div>'
            + "".join(f'<p class="note">{n}</p>' for n in notes)
            + (f'<iframe id="dashboard" src="{frame}" title="dashboard"></iframe>' if frame else
               '<p class="note">No dashboard yet: the <code>report</code> task of a run writes one.</p>'))
    # The UI's "Portfolio dashboard" link opens /plugin/portfolio#<dated dashboard>: that page is our
    # parent (same origin), so its address says which dashboard to show.
    deep_link = """<script>
try { var h = window.parent !== window ? window.parent.location.hash.slice(1) : "";
      if (h && location.search.indexOf("report=") < 0) {
        window.parent.history.replaceState(null, "", window.parent.location.pathname);
        location.replace("?view=live&report=" + encodeURIComponent(decodeURIComponent(h))); } } catch (e) {}
</script>"""
    style = """<style> body { margin: 0; } .bar { display: flex; gap: .6rem; align-items: center; padding: .6rem 1rem;
 border-bottom: 1px solid #e2e8f0; font-size: .95rem; } a.tab { padding: .2rem .7rem; border: 1px solid #cbd5e0;
 border-radius: 1rem; color: #2d3748; } a.tab.on { background: #2b6cb0; color: #fff; border-color: #2b6cb0; }
 a.files { margin-left: auto; font-size: .85rem; } p.note { margin: .5rem 1rem; color: #744210; background: #fffbeb;
 padding: .4rem .7rem; border-radius: .3rem; font-size: .9rem; } iframe { border: 0; width: 100%;
 height: calc(100vh - 3.2rem); display: block; } </style>"""
    return _page("Portfolio", style + deep_link + body)


def _not_found(name: str) -> "Response":
    from fastapi.responses import HTMLResponse

    body = (f"<h1>Not found</h1><p>No report named <code>{html.escape(name)}</code>.</p>"
            '<p><a href="/portfolio/reports/">All reports</a></p>')
    return HTMLResponse(_page("Not found", body), status_code=404, headers=HEADERS)


def build_app() -> "FastAPI":
    """The FastAPI app the API server mounts at /portfolio (every route needs a logged-in reader)."""
    from fastapi import Depends, FastAPI, HTTPException, Request, status
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
    from fastapi.security import HTTPBearer
    from starlette.responses import Response

    from paper_trading.reporting.files import LATEST_DASHBOARD, is_inline, list_reports, media_type, resolve_report

    bearer = HTTPBearer(auto_error=False)

    async def _require_reader(request: Request) -> None:
        """Airflow's authentication (Bearer header, else the UI's `_token` cookie, as the core API
        does), then read access to the DAG whose reports these are."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
        from airflow.api_fastapi.core_api.security import get_user

        credentials = await bearer(request)
        user = await get_user(request, None, credentials)
        if not get_auth_manager().is_authorized_dag(method="GET", details=DagDetails(id=DAG_ID), user=user):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden: you may not read the DAG " + DAG_ID)

    app = FastAPI(title="Portfolio reports", dependencies=[Depends(_require_reader)],
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def _auth_error(request: Request, exc: HTTPException):
        """A browser that is not logged in goes to the login page and comes back; API clients get
        the status (401 no or expired token, 403 invalid token or no access)."""
        if exc.status_code == 401 and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            from airflow.api_fastapi.app import get_auth_manager

            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(get_auth_manager().get_url_login(next_url=target), status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/", include_in_schema=False)
    def portfolio(view: str = "", report: str = "") -> Response:
        """The Portfolio page: the live books or the latest replay, and the chosen dashboard."""
        live, replay = _reports_dir(), _replay_dir()
        if view not in ("live", "replay") or (view == "replay" and replay is None):
            view = "replay" if replay is not None and resolve_report(live, LATEST_DASHBOARD) is None else "live"
        if report and resolve_report(live if view == "live" else replay, report) is None:
            report = ""
        return HTMLResponse(_switch_html(view, report, live, replay), headers=HEADERS)

    def add_reports(prefix: str, directory_of, whose: str) -> None:
        """`<prefix>/reports/` (the list) and `<prefix>/reports/<name>` (one file) of a reports
        directory; `directory_of()` is None when there is none (then the list is empty, files 404)."""

        @app.get(f"{prefix}/reports", include_in_schema=False)
        def redirect() -> Response:
            return RedirectResponse("reports/", status_code=307)

        @app.get(f"{prefix}/reports/", response_class=HTMLResponse, name=f"{whose} reports")
        def listing() -> Response:
            """Every file of the reports directory, newest first."""
            directory = directory_of()
            return HTMLResponse(_list_html(directory, list_reports(directory) if directory else []), headers=HEADERS)

        @app.get(f"{prefix}/reports/{{name:path}}", name=f"{whose} report file")
        def report_file(name: str) -> Response:
            """One file directly inside the reports directory, by its plain name; anything else 404."""
            directory = directory_of()
            path = resolve_report(directory, name) if directory is not None else None
            if path is None:
                return _not_found(name)
            disposition = "inline" if is_inline(path.name) else "attachment"
            return FileResponse(path, media_type=media_type(path.name), headers=HEADERS,
                                content_disposition_type=disposition, filename=path.name)

    add_reports("", _reports_dir, "live")
    add_reports("/replay", _replay_dir, "replay")

    return app


@lru_cache(maxsize=1)
def _app() -> "FastAPI":
    return build_app()


class LazyPortfolioApp:
    """The ASGI app registered with Airflow: builds the FastAPI app on its first request, so the
    processes that import plugins but serve nothing (scheduler, DAG processor, every task) never
    import FastAPI for it."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await _app()(scope, receive, send)


class PortfolioDashboardLink(BaseOperatorLink):
    """"Portfolio dashboard" on the `report` task: the dated dashboard of that task instance, from
    the `dashboard_path` of its return value, shown inside the UI's Portfolio page (the page reads
    the name after `#`), so following it does not leave Airflow. Empty (no link) for every other
    task, and for a report try that has not returned one. Airflow calls this in the API server, with
    the serialized operator, so reading the XCom from the metadata DB is allowed here."""

    name = "Portfolio dashboard"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if ti_key.task_id != REPORT_TASK_ID:
            return ""
        from paper_trading.reporting.files import report_name_of

        value = _return_value(ti_key)
        path = value.get("dashboard_path") if isinstance(value, dict) else None
        name = report_name_of(path) if isinstance(path, str) and path else None
        return f"/plugin/{URL_ROUTE}#{quote(name)}" if name else ""


def _return_value(ti_key: Any) -> Any:
    """The task instance's `return_value` XCom as JSON (None when there is none)."""
    import json

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(key="return_value", run_id=ti_key.run_id, dag_ids=ti_key.dag_id,
                               task_ids=ti_key.task_id, map_indexes=ti_key.map_index)
            .with_only_columns(XComModel.value)).first()
    if row is None:
        return None
    value = row.value
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value


class PortfolioPlugin(AirflowPlugin):
    """Registers the app, the navigation entry and the extra link (see the module docstring)."""

    name = "portfolio"
    fastapi_apps = [{"app": LazyPortfolioApp(), "url_prefix": URL_PREFIX, "name": "Portfolio reports"}]
    external_views = [{"name": "Portfolio", "href": f"{URL_PREFIX}/", "destination": "nav", "url_route": URL_ROUTE,
                       "icon": ICON}]
    global_operator_extra_links = [PortfolioDashboardLink()]
