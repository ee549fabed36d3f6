"""The report files as a web server may show them: where they are, which may be served, what they are.

The Airflow plugin (`plugins/portfolio_plugin.py`) serves the reports directory to logged-in users.
Everything that decides *which* file a URL may reach lives here, without Airflow, so it can be tested
on its own: a URL names one file directly inside the reports directory, by its plain name, or
nothing is served. Names with a separator, `..`, a leading dot (the atomic writer's temporary files
are `.<name>.<random>.tmp`), a NUL or any percent-encoding left after the server's decoding are
refused before the file system is asked; a name that passes is then resolved (symlinks followed)
and must still be a regular file whose parent is the reports directory itself, so a symlink that
points out of it is refused too.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path

from paper_trading.paths import ROOT_ENV

#: The latest dashboard, rewritten by every report run (the dated copies stay beside it).
LATEST_DASHBOARD = "summary_dashboard.html"
DEFAULT_REPORTS = "data/reports"
DEFAULT_CONFIG = "config/config.yaml"

#: Media types of the files the report step writes; anything else is offered as a download.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".js": "text/javascript; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".pdf": "application/pdf",
}
DOWNLOAD_TYPE = "application/octet-stream"
#: The names the report step writes: nothing else is served, even if `paths.reports` points at a
#: folder holding other files (the ledger, the config).
REPORT_NAME = re.compile(
    r"summary_dashboard(_\d{8})?\.html|(pnl_daily|risk_snapshot)_\d{8}\.csv|metrics_\d{8}\.json"
    r"|plotly-\d+(\.\d+)*\.min\.js"  # the dashboards' shared plotly.js
)


@dataclass(frozen=True)
class ReportFile:
    """One servable file of the reports directory."""

    name: str
    size: int
    modified: dt.datetime  # UTC
    media_type: str


def dashboard_name(trade_date: dt.date) -> str:
    """The dated dashboard of a trade date: `summary_dashboard_YYYYMMDD.html`."""
    return f"summary_dashboard_{trade_date:%Y%m%d}.html"


def media_type(name: str) -> str:
    """The Content-Type a file is served with (by its extension, never by sniffing its content)."""
    return MEDIA_TYPES.get(Path(name).suffix.lower(), DOWNLOAD_TYPE)


def is_inline(name: str) -> bool:
    """Whether the browser may show the file in place (known types) rather than download it."""
    return media_type(name) != DOWNLOAD_TYPE


def project_root_for_server(dags_folder: str | os.PathLike[str] | None = None) -> Path:
    """The project root as a long-running server sees it: `$PAPER_TRADING_ROOT`, else the parent of
    the DAGs folder (`<root>/dags` in this project's layout), else the current directory. The API
    server is not started from the project directory, so the current directory is the last resort."""
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).expanduser().resolve()
    if dags_folder:
        return Path(dags_folder).expanduser().resolve().parent
    return Path.cwd().resolve()


def reports_dir(root: str | os.PathLike[str], config_path: str | os.PathLike[str] = DEFAULT_CONFIG) -> Path:
    """`paths.reports` of the project's config (resolved inside the root), or `data/reports` when
    the project has no config file. A broken config raises, as it does for every step: serving
    another directory than the one the steps write to would be worse than an error page."""
    root = Path(root).resolve()
    config = Path(config_path) if Path(config_path).is_absolute() else root / config_path
    relative = DEFAULT_REPORTS
    if config.is_file():
        from paper_trading.config import load_config

        relative = load_config(config, root).paths.reports
    from paper_trading.paths import resolve_inside

    return resolve_inside(root, relative)


def is_safe_name(name: str) -> bool:
    """Whether `name` may name a report at all: one plain path component, not hidden, no encoding
    left over (the server already decoded the URL once; `%2e%2e` or `..%2f` still here means a
    double-encoded attempt, and no report file has a `%` in its name)."""
    if not name or len(name) > 255:
        return False
    if name in (".", "..") or name.startswith("."):
        return False
    forbidden = ("/", "\\", "\x00", "%", ":")
    if any(ch in name for ch in forbidden):
        return False
    if any(ord(ch) < 32 for ch in name):
        return False
    return REPORT_NAME.fullmatch(name) is not None


def resolve_report(directory: str | os.PathLike[str], name: str) -> Path | None:
    """The file `name` directly inside `directory`, or None if it must not (or cannot) be served:
    an unsafe name, a missing file, a directory, or anything whose real path is not a regular file
    whose parent is the real reports directory (a symlink out of it included)."""
    if not is_safe_name(name):
        return None
    base = Path(directory).resolve()
    try:
        real = (base / name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, a name the OS refuses
        return None
    if real.parent != base or not real.is_file():
        return None
    return real


def list_reports(directory: str | os.PathLike[str]) -> list[ReportFile]:
    """Every servable file of the reports directory, newest first (then by name, descending, so
    the dated files of one run stay together in a stable order). A missing directory is empty: no
    report has been written yet."""
    base = Path(directory)
    if not base.is_dir():
        return []
    files = []
    for entry in base.iterdir():
        real = resolve_report(base, entry.name)
        if real is None:
            continue
        stat = real.stat()
        files.append(ReportFile(entry.name, stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                                media_type(entry.name)))
    return sorted(files, key=lambda f: (f.modified, f.name), reverse=True)


def report_name_of(path: str | os.PathLike[str]) -> str | None:
    """The servable name of a report path as a step returns it (e.g. the report task's
    `dashboard_path`), or None when its last component could not be served."""
    name = Path(str(path)).name
    return name if is_safe_name(name) else None


#: Where `python -m paper_trading replay` (and `make demo`) writes, under the project root, and the
#: file that says a replay made the folder (`steps.replay.MARKER`).
REPLAY_WORKSPACE = "data/replay"
REPLAY_MARKER = ".paper-trading-replay"


def replay_reports_dir(root: str | os.PathLike[str]) -> Path | None:
    """The reports directory of the latest replay in its default workspace, or None when there is
    no replay there (a replay with `--out` elsewhere is not looked for)."""
    workspace = Path(root).resolve() / REPLAY_WORKSPACE
    if not (workspace / REPLAY_MARKER).is_file():
        return None
    try:
        return reports_dir(workspace)
    except Exception:  # a replay workspace the config of which cannot be read: no replay to show
        return None


def books_summary(directory: str | os.PathLike[str]) -> dict | None:
    """What the newest `metrics_YYYYMMDD.json` of a reports directory says of its books: the
    sessions, the first and the last, or None when there is no report there yet."""
    import json

    base = Path(directory)
    if not base.is_dir():
        return None
    newest = max((p for p in base.glob("metrics_*.json") if resolve_report(base, p.name)), default=None,
                 key=lambda p: p.name)
    if newest is None:
        return None
    try:
        metrics = json.loads(newest.read_text(encoding="utf-8"))
        sessions = int(metrics.get("sessions") or 0)
    except (OSError, ValueError, AttributeError, TypeError):  # a file that is not the report's metrics
        return None
    first = metrics.get("first_session")
    return {"sessions": sessions, "first": first if isinstance(first, str) else None,
            "last": newest.stem.removeprefix("metrics_"), "dashboard": (base / LATEST_DASHBOARD).is_file()}

