"""scripts/audit_dependencies.py, CI's dependency audit: a finding fails CI unless the ignore file
lists it with a reason; an audit that could not be done (the outside service unreachable) warns
and does not fail."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def audit():
    spec = importlib.util.spec_from_file_location("audit_dependencies", REPO / "scripts" / "audit_dependencies.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


REPORT = {"dependencies": [
    {"name": "requests", "version": "2.34.2", "vulns": []},
    {"name": "jinja2", "version": "3.1.0", "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"], "description": "xss"}]},
    {"name": "local-thing", "skip_reason": "Dependency not found on PyPI and could not be audited: local-thing (1.0)"},
], "fixes": []}


def fake_pip_audit(monkeypatch, audit, report: dict | None, error: str = "") -> None:
    monkeypatch.setattr(audit, "run_pip_audit", lambda requirements: (report, error))


def test_a_finding_not_in_the_ignore_file_fails(audit, monkeypatch, tmp_path, capsys):
    fake_pip_audit(monkeypatch, audit, REPORT)
    assert audit.main(["--ignore-file", str(tmp_path / "none")]) == 1
    out = capsys.readouterr()
    assert "VULNERABLE: jinja2 3.1.0: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195), fixed in 3.1.3" in out.out
    assert "1 of 3 packages could not be audited: local-thing" in out.err


def test_a_finding_ignored_by_an_alias_with_a_reason_passes(audit, monkeypatch, tmp_path, capsys):
    fake_pip_audit(monkeypatch, audit, REPORT)
    (tmp_path / "ignore").write_text("# accepted\nCVE-2024-22195  # only the docs build renders templates\n")
    assert audit.main(["--ignore-file", str(tmp_path / "ignore")]) == 0
    assert "ignored: jinja2 3.1.0: GHSA-h5c8-rqwp-cp95" in capsys.readouterr().out


def test_an_ignore_entry_without_a_reason_fails(audit, monkeypatch, tmp_path, capsys):
    fake_pip_audit(monkeypatch, audit, REPORT)
    (tmp_path / "ignore").write_text("GHSA-h5c8-rqwp-cp95\n")
    assert audit.main(["--ignore-file", str(tmp_path / "ignore")]) == 1
    assert "ignore line 1: GHSA-h5c8-rqwp-cp95 has no reason" in capsys.readouterr().out


def test_an_audit_that_could_not_run_warns_and_passes(audit, monkeypatch, tmp_path, capsys):
    fake_pip_audit(monkeypatch, audit, None, "pip-audit exited with 1: ConnectionError: pypi.org")
    assert audit.main(["--ignore-file", str(tmp_path / "none")]) == 0
    assert "WARNING: the dependency audit could not be done (pip-audit exited with 1" in capsys.readouterr().err


def test_a_service_that_audited_no_package_warns_and_passes(audit, monkeypatch, tmp_path, capsys):
    skipped = {"dependencies": [{"name": "a", "skip_reason": "Dependency not found on PyPI"}], "fixes": []}
    fake_pip_audit(monkeypatch, audit, skipped)
    assert audit.main(["--ignore-file", str(tmp_path / "none")]) == 0
    assert "could not audit any of the 1 packages" in capsys.readouterr().err


def test_the_markdown_table_lists_each_finding(audit):
    table = audit.markdown(audit.parse_report(REPORT), "2.10.1")
    assert "| jinja2 | 3.1.0 | GHSA-h5c8-rqwp-cp95 | CVE-2024-22195 | 3.1.3 |" in table
    assert "2 of 3 locked packages audited" in table and "Not audited (1): local-thing." in table


def test_the_real_report_format_is_what_the_script_reads(audit, tmp_path):
    """pip-audit itself, on a requirement it need not look up (a local path is skipped, not fetched)."""
    (tmp_path / "req.txt").write_text("")
    report, why = audit.run_pip_audit(tmp_path / "req.txt")
    assert why == "" and json.loads(json.dumps(report)).keys() >= {"dependencies"}


@pytest.fixture
def project_pages():
    """A PyPI JSON API on 127.0.0.1 that serves only project pages, as the mirror here does."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages = {
        "jinja2": {"info": {"version": "3.1.0"}, "vulnerabilities": [
            {"id": "GHSA-h5c8-rqwp-cp95", "aliases": ["CVE-2024-22195"], "fixed_in": ["3.1.3"], "withdrawn": None},
            {"id": "PYSEC-0000-1", "aliases": [], "fixed_in": [], "withdrawn": "2024-01-01T00:00:00Z"}]},
        "requests": {"info": {"version": "2.34.2"}, "vulnerabilities": []},
        "celery": {"info": {"version": "5.7.0"}, "vulnerabilities": []},
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = self.path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "pypi" or parts[2] != "json" or parts[1] not in pages:
                self.send_error(404)
                return
            body = json.dumps(pages[parts[1]]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    server.shutdown()


SKIPPED_ALL = {"dependencies": [
    {"name": name, "skip_reason": f"Dependency not found on PyPI and could not be audited: {name}"}
    for name in ("jinja2", "requests", "celery", "local-thing")], "fixes": []}


def test_a_package_locked_at_its_latest_release_is_audited_from_the_project_page(audit, monkeypatch, tmp_path,
                                                                                  capsys, project_pages):
    fake_pip_audit(monkeypatch, audit, SKIPPED_ALL)
    (tmp_path / "lock.txt").write_text("jinja2==3.1.0\nrequests==2.34.2 ; python_version >= '3.9'\n"
                                       "celery==5.6.3\n")
    status = audit.main(["--requirements", str(tmp_path / "lock.txt"), "--ignore-file", str(tmp_path / "none"),
                         "--pypi-url", project_pages])
    out = capsys.readouterr()
    assert status == 1
    assert "VULNERABLE: jinja2 3.1.0: GHSA-h5c8-rqwp-cp95 (CVE-2024-22195), fixed in 3.1.3" in out.out
    assert "PYSEC-0000-1" not in out.out  # withdrawn
    assert "audit: 2 package(s) audited" in out.out
    assert "2 of 4 packages could not be audited: celery, local-thing" in out.err


def test_a_package_locked_below_its_latest_release_stays_not_audited_with_why(audit, project_pages):
    report = audit.audit_at_latest(audit.parse_report(SKIPPED_ALL), {"celery": "5.6.3"}, project_pages)
    assert report.audited == [] and report.findings == []
    assert report.skipped["celery"] == "locked 5.6.3, latest 5.7.0: the project page covers only the latest release"
    assert report.skipped["local-thing"].startswith("Dependency not found on PyPI")
