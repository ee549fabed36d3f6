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
        command = [str(Path(sys.executable).parent / "pip-audit"), "-r", str(requirements), "--no-deps", "--disable-pip",
                   "--progress-spinner", "off", "--format", "json", "--output", str(out)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"pip-audit did not run: {exc}"
        try:
            return json.loads(out.read_text(encoding="utf-8")), ""
        except (OSError, ValueError):
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return None, f"pip-audit exited with {done.returncode}: {tail[0][:300]}"


def decide(audit: Audit, ignored: dict[str, str], problems: list[str]) -> tuple[int, list[str], list[str]]:
    """(exit status, lines for stdout, warnings for stderr)."""
    out, warnings = [], []
    total = len(audit.audited) + len(audit.skipped)
    if not audit.audited:
        first = next(iter(audit.skipped.values()), "no package in the report")
        warnings.append(f"WARNING: pip-audit could not audit any of the {total} packages (the vulnerability service "
                        f"is unreachable or does not know them; e.g. {first}); dependencies NOT audited")
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
        out.append(f"pip-audit: {len(audit.audited)} package(s) audited, {len(new)} vulnerability(ies) not in the "
                   f"ignore file, {len(audit.findings) - len(new)} ignored")
    out += problems
    return (1 if new or problems else 0), out, warnings


def markdown(audit: Audit, version: str) -> str:
    today = dt.date.today().isoformat()
    total = len(audit.audited) + len(audit.skipped)
    lines = [f"pip-audit {version}, {today}: {len(audit.audited)} of {total} locked packages audited.", ""]
    if audit.findings:
        lines += ["| package | version | vulnerability | aliases | fixed in |", "|---|---|---|---|---|"]
        lines += [f"| {f.package} | {f.version} | {f.id} | {', '.join(f.aliases) or '—'} | "
                  f"{', '.join(f.fix_versions) or '—'} |" for f in audit.findings]
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
    args = parser.parse_args(argv)
    ignored, problems = read_ignore_file(args.ignore_file)
    report, why = run_pip_audit(args.requirements)
    if report is None:
        print(f"WARNING: the dependency audit could not be done ({why}); dependencies NOT audited", file=sys.stderr)
        return 1 if problems else 0
    audit = parse_report(report)
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
