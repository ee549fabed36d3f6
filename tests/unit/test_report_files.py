"""Which report files a URL may reach: only plain names directly inside the reports directory."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest

from paper_trading.reporting import files as rf


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    """A reports directory with the step's kinds of files, a hidden temporary file, a nested
    directory, and a secret beside the reports directory that nothing may reach."""
    root = tmp_path / "project"
    out = root / "data" / "reports"
    out.mkdir(parents=True)
    (root / "data" / "secret.txt").write_text("secret")
    (root / "config.yaml").write_text("x: 1")
    for i, name in enumerate(["metrics_20251231.json", "pnl_daily_20251231.csv", "summary_dashboard_20251231.html",
                              "summary_dashboard.html"]):
        (out / name).write_text(name)
        os.utime(out / name, (time.time() - 100 + i, time.time() - 100 + i))
    (out / ".summary_dashboard.html.abc123.tmp").write_text("half written")
    (out / "nested").mkdir()
    (out / "nested" / "inner.csv").write_text("a")
    return out


TRAVERSAL = ["../secret.txt", "..%2fsecret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", "%2e%2e%2fsecret.txt",
             "..", ".", "", "/etc/passwd", "//etc/passwd", "..\\secret.txt", "nested/inner.csv", "nested",
             "nested%2finner.csv", "./summary_dashboard.html", "summary_dashboard.html/", "summary_dashboard.html\x00.csv",
             "C:secret.txt", "a\nb.csv", "x" * 300]


@pytest.mark.parametrize("name", TRAVERSAL)
def test_only_plain_names_inside_the_directory_are_served(reports, name):
    assert rf.resolve_report(reports, name) is None


def test_absolute_path_of_a_real_report_is_refused(reports):
    assert rf.resolve_report(reports, str(reports / "summary_dashboard.html")) is None


def test_hidden_files_are_never_served(reports):
    assert rf.resolve_report(reports, ".summary_dashboard.html.abc123.tmp") is None
    assert ".summary_dashboard.html.abc123.tmp" not in [f.name for f in rf.list_reports(reports)]


def test_missing_file_is_not_found(reports):
    assert rf.resolve_report(reports, "metrics_20200101.json") is None


def test_a_symlink_pointing_out_is_refused_and_not_listed(reports):
    (reports / "evil.csv").symlink_to(reports.parent / "secret.txt")
    (reports / "loop.csv").symlink_to(reports / "loop.csv")
    assert rf.resolve_report(reports, "evil.csv") is None
    assert rf.resolve_report(reports, "loop.csv") is None
    assert {"evil.csv", "loop.csv"}.isdisjoint(f.name for f in rf.list_reports(reports))


def test_a_symlink_to_a_report_beside_it_is_served(reports):
    (reports / "metrics_20260102.json").symlink_to("metrics_20251231.json")
    assert rf.resolve_report(reports, "metrics_20260102.json") == (reports / "metrics_20251231.json").resolve()


@pytest.mark.parametrize("name", ["ledger.sqlite", "config.yaml", "notes.txt", "summary_dashboard_2025.html",
                                  "metrics_20251231.json.bak", "pnl_daily_latest.csv"])
def test_only_the_names_the_report_step_writes_are_served_or_listed(reports, name):
    (reports / name).write_text("not a report")  # paths.reports pointed at a folder holding other files
    assert rf.resolve_report(reports, name) is None
    assert name not in {f.name for f in rf.list_reports(reports)}


def test_a_symlinked_reports_directory_still_works(reports, tmp_path):
    link = tmp_path / "linked-reports"
    link.symlink_to(reports, target_is_directory=True)
    assert rf.resolve_report(link, "summary_dashboard.html") == (reports / "summary_dashboard.html").resolve()


def test_report_files_resolve(reports):
    assert rf.resolve_report(reports, "pnl_daily_20251231.csv") == (reports / "pnl_daily_20251231.csv").resolve()


def test_list_is_newest_first_with_types(reports):
    files = rf.list_reports(reports)
    assert [f.name for f in files] == ["summary_dashboard.html", "summary_dashboard_20251231.html",
                                       "pnl_daily_20251231.csv", "metrics_20251231.json"]
    assert {f.name: f.media_type for f in files}["pnl_daily_20251231.csv"] == "text/csv; charset=utf-8"
    assert all(f.modified.tzinfo is dt.UTC and f.size > 0 for f in files)


def test_a_missing_directory_lists_nothing(tmp_path):
    assert rf.list_reports(tmp_path / "nope") == []
    assert rf.resolve_report(tmp_path / "nope", "summary_dashboard.html") is None


@pytest.mark.parametrize(("name", "expected"), [
    ("summary_dashboard.html", "text/html; charset=utf-8"), ("pnl_daily_20251231.csv", "text/csv; charset=utf-8"),
    ("metrics_20251231.json", "application/json"), ("chart.PNG", "image/png"), ("data.parquet", rf.DOWNLOAD_TYPE),
    ("noextension", rf.DOWNLOAD_TYPE)])
def test_media_types_by_extension(name, expected):
    assert rf.media_type(name) == expected
    assert rf.is_inline(name) == (expected != rf.DOWNLOAD_TYPE)


def test_dashboard_names():
    assert rf.dashboard_name(dt.date(2025, 12, 31)) == "summary_dashboard_20251231.html"
    assert rf.report_name_of("/x/data/reports/summary_dashboard_20251231.html") == "summary_dashboard_20251231.html"
    assert rf.report_name_of("/x/data/reports/.hidden") is None


def test_reports_dir_follows_the_config(tmp_path):
    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    assert rf.reports_dir(root) == (root / "data" / "reports").resolve()  # no config file: the default
    repo_config = Path(__file__).resolve().parents[2] / "config" / "config.yaml"
    text = repo_config.read_text()
    assert "  reports: data/reports" in text
    (root / "config" / "config.yaml").write_text(text.replace("  reports: data/reports", "  reports: out/web"))
    assert rf.reports_dir(root) == (root / "out" / "web").resolve()


def test_reports_dir_may_not_leave_the_root(tmp_path, monkeypatch):
    from paper_trading.reporting import files as report_files

    class Paths:
        reports = "../elsewhere"

    class Config:
        paths = Paths()

    root = tmp_path / "p"
    (root / "config").mkdir(parents=True)
    (root / "config" / "config.yaml").write_text("")
    monkeypatch.setattr("paper_trading.config.load_config", lambda path, root: Config())
    with pytest.raises(ValueError, match="inside the project root"):
        report_files.reports_dir(root)


def test_project_root_for_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ROOT", str(tmp_path))
    assert rf.project_root_for_server("/somewhere/dags") == tmp_path.resolve()
    monkeypatch.delenv("PAPER_TRADING_ROOT")
    assert rf.project_root_for_server(str(tmp_path / "dags")) == tmp_path.resolve()
    monkeypatch.chdir(tmp_path)
    assert rf.project_root_for_server(None) == tmp_path.resolve()


def test_the_dashboards_shared_plotly_is_served_as_javascript():
    from paper_trading.reporting.files import is_safe_name, media_type

    assert is_safe_name("plotly-6.5.0.min.js") and media_type("plotly-6.5.0.min.js").startswith("text/javascript")
    assert not is_safe_name("evil.js") and not is_safe_name("plotly-x.min.js")


def test_only_the_newest_dated_dashboards_are_kept_and_a_rerun_date_stays(tmp_path):
    import datetime as dt

    from paper_trading.steps.report import write_dashboard

    days = [dt.date(2025, 12, d) for d in (22, 23, 24, 26, 29, 30)]
    for day in days:
        write_dashboard(tmp_path, day, f"<p>{day}</p>", keep=3)
    dated = sorted(p.name for p in tmp_path.glob("summary_dashboard_*.html"))
    assert dated == ["summary_dashboard_20251226.html", "summary_dashboard_20251229.html",
                     "summary_dashboard_20251230.html"]
    write_dashboard(tmp_path, days[0], "<p>again</p>", keep=3)  # an old date re-run: written, kept, latest unmoved
    assert (tmp_path / "summary_dashboard_20251222.html").read_text() == "<p>again</p>"
    assert (tmp_path / "summary_dashboard.html").read_text() == "<p>2025-12-30</p>"


def test_the_books_summary_of_a_reports_folder_is_none_without_a_readable_metrics_file(tmp_path):
    from paper_trading.reporting.files import books_summary

    assert books_summary(tmp_path / "missing") is None
    (tmp_path / "metrics_20251230.json").write_text('{"sessions": 41, "first_session": "2025-10-31"}')
    (tmp_path / "summary_dashboard.html").write_text("<html></html>")
    assert books_summary(tmp_path) == {"sessions": 41, "first": "2025-10-31", "last": "20251230", "dashboard": True}
    (tmp_path / "metrics_20251231.json").write_text('["not the metrics of a report"]')
    assert books_summary(tmp_path) is None  # the newest is unreadable: no summary, not a broken page
