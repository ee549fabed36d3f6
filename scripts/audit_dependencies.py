"""Known vulnerabilities of the locked requirements: pip-audit over constraints.txt, as CI runs it.

    .venv/bin/python scripts/audit_dependencies.py [--requirements constraints.txt]
                                                  [--ignore-file .pip-audit-ignore] [--markdown]

Runs `pip-audit -r constraints.txt --no-deps --disable-pip --progress-spinner off --format json`
(every package is pinned there: nothing is resolved or installed) and decides:

* exit 1 — a vulnerability that the ignore file does not list (each one is printed: package,
  version, id, aliases, the versions that fix it), or an ignore-file line without a reason;
* exit 0 — no such finding; a listed one is printed as ignored, with its reason;
* exit 0 with a WARNING on stderr — the audit could not be done: pip-audit failed or timed out, or
  the vulnerability service answered for none of the packages (it is an outside service: its outage
  is not the project's failure). Packages it could not audit while others were are named in a
  warning too.

pip-audit reads PyPI's per-release page (`/pypi/<name>/<version>/json`). Some PyPI mirrors serve
only the project page (`/pypi/<name>/json`), which lists the known vulnerabilities of the latest
release. So a package pip-audit could not audit is looked up there: when the locked version is the
latest release, that list is its audit; when it is not, it stays "not audited" (a fixed-before-latest
vulnerability would not be on the page), with the latest version named.

The ignore file: one vulnerability id per line (PYSEC-..., GHSA-..., CVE-...; an alias matches
too), `#` and the reason after it; blank lines and lines that are only a comment are skipped.
`--markdown` prints the findings (and what could not be audited) as the table of
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 900
PYPI_URL = "https://pypi.org/pypi"


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    def ids(self) -> set[str]:
        return {self.id, *self.aliases}

    def line(self) -> str:
        aliases = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fixed = f"fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "no fixed version yet"
        return f"{self.package} {self.version}: {self.id}{aliases}, {fixed}"


@dataclass(frozen=True)
class Audit:
    findings: list[Finding]
    audited: list[str]  # "name==version"
    skipped: dict[str, str]  # name -> why it could not be audited


def read_ignore_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """id -> reason, and the problems (a line without a reason)."""
    ignored, problems = {}, []
    if not path.is_file():
        return ignored, problems
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        entry, _, reason = raw.partition("#")
        if not entry.strip():
            continue
        if not reason.strip():
            problems.append(f"{path.name} line {number}: {entry.strip()} has no reason (write it after '#')")
        ignored[entry.strip()] = reason.strip()
    return ignored, problems


def parse_report(report: dict) -> Audit:
    """pip-audit's JSON report -> what was found, what was audited, what was not."""
    findings, audited, skipped = [], [], {}
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped[dep["name"]] = dep["skip_reason"]
            continue
        audited.append(f"{dep['name']}=={dep.get('version', '?')}")
        for vuln in dep.get("vulns", []):
            findings.append(Finding(dep["name"], dep.get("version", "?"), vuln["id"], tuple(vuln.get("aliases", [])),
                                    tuple(vuln.get("fix_versions", []))))
    return Audit(findings, audited, skipped)


def run_pip_audit(requirements: Path) -> tuple[dict | None, str]:
    """pip-audit's JSON report, or None and why there is none."""
    with tempfile.TemporaryDirectory(prefix="pip-audit-") as tmp:
        out = Path(tmp) / "report.json"
        command = [
            str(Path(sys.executable).parent / "pip-audit"),
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(out),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"pip-audit did not run: {exc}"
        try:
            return json.loads(out.read_text(encoding="utf-8")), ""
        except (OSError, ValueError):
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"pip-audit exited with {done.returncode}: {tail[0][:300]}"


def locked_versions(requirements: Path) -> dict[str, str]:
    """Canonical name -> the pinned version, for every `name==version` line."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        exact = [spec.version for spec in requirement.specifier if spec.operator in ("==", "===")]
        if exact:
            pins[canonicalize_name(requirement.name)] = exact[0]
    return pins


def audit_at_latest(audit: Audit, pins: dict[str, str], pypi_url: str = PYPI_URL) -> Audit:
    """Audit the packages pip-audit skipped from PyPI's project page, where the lock is the latest release.

    The project page's `vulnerabilities` are those of its latest release only, so it answers for a
    locked version only when that version is the latest; anything else stays skipped, with why.
    """
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from packaging.utils import canonicalize_name

    if not audit.skipped:
        return audit
    findings, audited, skipped = list(audit.findings), list(audit.audited), {}

    def page(name: str) -> tuple[dict | None, str]:
        try:
            response = requests.get(f"{pypi_url.rstrip('/')}/{name}/json", timeout=30)
            response.raise_for_status()
            return response.json(), ""
        except (requests.RequestException, ValueError) as exc:
            return None, f"{type(exc).__name__} on the project page"

    names = [name for name in sorted(audit.skipped) if canonicalize_name(name) in pins]
    with ThreadPoolExecutor(max_workers=8) as pool:
        pages = dict(zip(names, pool.map(page, names)))
    for name in sorted(audit.skipped):
        if name not in pages:
            skipped[name] = audit.skipped[name]
            continue
        version = pins[canonicalize_name(name)]
        document, error = pages[name]
        latest = (document or {}).get("info", {}).get("version")
        if document is None or "vulnerabilities" not in document:
            skipped[name] = error or "no vulnerability list on the project page"
            continue
        if latest != version:
            skipped[name] = f"locked {version}, latest {latest}: the project page covers only the latest release"
            continue
        audited.append(f"{name}=={version}")
        for vuln in document["vulnerabilities"]:
            if vuln.get("withdrawn"):
                continue
            findings.append(
                Finding(name, version, vuln["id"], tuple(vuln.get("aliases") or ()), tuple(vuln.get("fixed_in") or ()))
            )
    return Audit(findings, audited, skipped)


def decide(audit: Audit, ignored: dict[str, str], problems: list[str]) -> tuple[int, list[str], list[str]]:
    """(exit status, lines for stdout, warnings for stderr)."""
    out, warnings = [], []
    total = len(audit.audited) + len(audit.skipped)
    if not audit.audited:
        first = next(iter(audit.skipped.values()), "no package in the report")
        warnings.append(
            f"WARNING: pip-audit could not audit any of the {total} packages (the vulnerability service "
            f"is unreachable or does not know them; e.g. {first}); dependencies NOT audited"
        )
    elif audit.skipped:
        names = ", ".join(sorted(audit.skipped)[:10]) + (" ..." if len(audit.skipped) > 10 else "")
        warnings.append(f"WARNING: {len(audit.skipped)} of {total} packages could not be audited: {names}")
    new = [f for f in audit.findings if not f.ids() & ignored.keys()]
    for finding in audit.findings:
        if finding not in new:
            reason = next(ignored[i] for i in finding.ids() if i in ignored)
            out.append(f"ignored: {finding.line()} — {reason}")
    for finding in new:
        out.append(f"VULNERABLE: {finding.line()}")
    if audit.audited:
        out.append(
            f"audit: {len(audit.audited)} package(s) audited, {len(new)} vulnerability(ies) not in the "
            f"ignore file, {len(audit.findings) - len(new)} ignored"
        )
    out += problems
    return (1 if new or problems else 0), out, warnings


def markdown(audit: Audit, version: str) -> str:
    today = dt.date.today().isoformat()
    total = len(audit.audited) + len(audit.skipped)
    lines = [
        (
            f"pip-audit {version} (and PyPI's project pages for what it skipped), {today}: "
            f"{len(audit.audited)} of {total} locked packages audited."
        ),
        "",
    ]
    if audit.findings:
        lines += ["| package | version | vulnerability | aliases | fixed in |", "|---|---|---|---|---|"]
        lines += [
            f"| {f.package} | {f.version} | {f.id} | {', '.join(f.aliases) or '—'} | "
            f"{', '.join(f.fix_versions) or '—'} |"
            for f in audit.findings
        ]
    elif audit.audited:
        lines.append("Findings: none.")
    else:
        lines.append("Findings: unknown — no package could be audited.")
    if audit.skipped:
        lines += ["", f"Not audited ({len(audit.skipped)}): {', '.join(sorted(audit.skipped))}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--ignore-file", type=Path, default=ROOT / ".pip-audit-ignore")
    parser.add_argument("--markdown", action="store_true", help="print the findings as a Markdown table")
    parser.add_argument("--pypi-url", default=PYPI_URL, help="PyPI's JSON API, for the packages pip-audit skipped")
    args = parser.parse_args(argv)
    ignored, problems = read_ignore_file(args.ignore_file)
    report, why = run_pip_audit(args.requirements)
    if report is None:
        print(f"WARNING: the dependency audit could not be done ({why}); dependencies NOT audited", file=sys.stderr)
        return 1 if problems else 0
    audit = audit_at_latest(parse_report(report), locked_versions(args.requirements), args.pypi_url)
    status, out, warnings = decide(audit, ignored, problems)
    for line in warnings:
        print(line, file=sys.stderr)
    if out:
        print("\n".join(out))
    if args.markdown:
        from importlib.metadata import version

        print(markdown(audit, version("pip-audit")))
    return status


if __name__ == "__main__":
    sys.exit(main())
