"""Alerts: conditions a person must look at, written down once and sent to the team's channels.

**The file.** Each alert is one JSON line in `logs/alerts.log` (the spec's file, appended, never
rewritten) and an ERROR (or WARNING) line in the step's log. Keys of a line: ts (UTC, ISO 8601),
trade_date, run_id, step, rule, key, severity (error | warning), message.

**De-duplication.** An alert is identified by (trade_date, rule, key) — by (trade_date, rule,
message) when it has no key. alerts.log is the memory: an alert already in the file is neither
appended nor sent again, so a retried or cleared task, or a step run again by hand, does not page
anyone twice. A batch (`raise_alerts`) reads the file once, under an exclusive lock, keeps the
identities of its trade date(s), and appends all its new lines in one write before the lock is
released — so two tasks raising the same alert at once write one line. A file whose last line was
cut short (a crash mid-write) gets a newline first, so the next line is whole. The lines are
written before delivery; a channel that was down then is not tried again by a re-run (the line,
and the WARNING about the channel, are the record of it).

**Channels.** Apprise URLs (Slack, Feishu, WeCom, e-mail, webhooks, ... — one URL per channel, see
https://github.com/caronc/apprise/wiki) from `alerts.channels` of config/config.yaml and from
`$PAPER_TRADING_ALERT_URLS` (separated by commas or spaces). Delivery is best effort and bounded:
ONE notification per batch (a single alert as itself; several as a digest: their count, then each
one's rule, key and message, the first `DIGEST_LIMIT` of them), to all channels at once, within
`alerts.timeout_s` for the whole batch; a channel that refuses, fails or times out is a WARNING
naming it by `channel_label` only — never an exception. URLs carry tokens, so they are secrets:
never written to alerts.log, not shown in error messages, and masked in every log line
(`logging_setup.register_secret`): the whole URL, and its parts that may be secrets
(`_secret_parts`: everything after the scheme for token schemes such as slack:// or ntfy://; the
password, the query values and the random-looking path segments of server URLs such as
json://host/path, whose words stay readable).

**Task failures** of the DAG are recorded here as `task_failed` by `record_task_failure` (the DAG's
failure callback), which says whether the line is new; only then does the DAG send the notice,
with Airflow's apprise provider notifier (the Airflow Connection `paper_trading_alerts`), not
from here — so a task cleared and failing again on the same trade date pages nobody twice.

No Airflow import in this module: the DAG passes plain values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from paper_trading.logging_setup import (
    ALERT_URLS_ENV,
    get_logger,
    redact,
    register_secret,
)

if TYPE_CHECKING:
    from paper_trading.config import AlertsConfig

log = get_logger("alerts")

ALERTS_FILE = "alerts.log"
DEFAULT_TIMEOUT_S = 10.0

#: The rules an alert can be raised under, with what its key is. Every `raise_alert` names one.
RULES: dict[str, str] = {
    "trading_refused": "a pre-flight check stopped the run before trading (kill switch, blocked account, market "
    "closed in real mode; risk gate or execution); key: the failed checks, comma-separated",
    "order_failed": "an order was rejected by the broker, not sent (cash, price, bracket rule, ...), expired "
    "unfilled, or its outcome is unknown at the end of the day; key: client_order_id",
    "order_duplicate": "an order at the broker that nobody planned, on a symbol and side our own orders traded the "
    "same day (a second, duplicate order); key: its client_order_id (order:<id> without one)",
    "manual_trade": "an order at the broker that nobody planned (a manual trade?); key: its client_order_id "
    "(order:<id> without one)",
    "unprotected_position": "a traded, still-held name could not be given its take-profit/stop-loss; key: "
    "symbol:r<round> (AAPL:r2), so a later round's failure on the same name is news",
    "plan_deviation": "an order's filled quantity is off its planned quantity by more than "
    "alerts.plan_deviation_pct (partial fills, scaled or capped orders, unfilled); key: client_order_id",
    "position_drift": "the broker's position differs from what the ledger implies (M5); key: symbol",
    "cash_drift": "the broker's cash differs from what the ledger implies (M5); key: cash",
    "price_missing": "no close for a held symbol on the day: it is valued at an older close, or at nothing; "
    "key: symbol",
    "cash_short": "negative cash at the end of the day (borrowing on margin: the portfolio is meant to be "
    "cash-funded); key: cash",
    "cash_buffer": "end-of-day cash below risk.min_cash_buffer_pct of equity; key: cash",
    "exposure_limit": "the end-of-day book crosses risk.max_gross_exposure, max_net_exposure or max_margin_pct; "
    "key: the setting",
    "daily_drawdown": "the day's return at or below alerts.daily_drawdown (default -3 %); key: daily_return",
    "orders_rejected": "the risk gate rejected some orders of a run that traded the rest (warning); key: side:SYMBOL",
    "approval_rejected": "a person rejected the run's orders in Airflow's approval step, or nobody answered by "
    "execution.approval_timeout_minutes (warning): nothing was sent; key: approval",
    "task_failed": "a task of the DAG failed (after its retries); key: dag_id.task_id",
    "other": "anything else; key: free (the message identifies it when empty)",
}
SEVERITIES = ("error", "warning")

#: Apprise schemes whose host is a server's name, not a secret (json://hooks.example.com/...): the
#: host is shown in channel labels and never masked. Every other scheme is a token scheme: its
#: host may be a token or a topic (slack://TOKEN/..., ntfy://TOPIC, gotify://host/TOKEN), so its
#: label is the scheme alone and everything after the scheme is a secret.
_SERVER_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"})
#: apprise's own URL options: their values are words (format=markdown, overflow=split), not secrets.
_OPTION_KEYS = frozenset(
    {
        "format",
        "overflow",
        "emojis",
        "verify",
        "rto",
        "cto",
        "priority",
        "mode",
        "method",
        "image",
        "store",
        "tz",
        "lang",
    }
)
#: a path segment of a server URL at least this long is masked even when it is letters only.
_LONG_SEGMENT = 24
#: a digest lists this many alerts (then "... and N more"); each message cut to MESSAGE_CHARS.
DIGEST_LIMIT = 50
MESSAGE_CHARS = 300
_SPLIT = re.compile(r"[\s,]+")
_lock = threading.Lock()  # the flock below is per process; this serializes threads of one process


# ----------------------------------------------------------------------------------- channels


def env_channels() -> list[str]:
    """The apprise URLs of `$PAPER_TRADING_ALERT_URLS` (comma- or space-separated)."""
    return [u for u in _SPLIT.split(os.environ.get(ALERT_URLS_ENV, "")) if u]


def channel_urls(settings: AlertsConfig | None = None) -> list[str]:
    """Every channel: the config's, then the environment's, each once. Each is registered as a
    secret (its whole URL and the parts that may be secrets: `_secret_parts`), so no log line shows
    it from now on."""
    out: list[str] = []
    for url in [*(settings.channels if settings is not None else ()), *env_channels()]:
        if url not in out:
            out.append(url)
            _register_url(url)
    return out


def _looks_random(segment: str) -> bool:
    """A path segment of a server URL that may be a token: letters and digits mixed, or long."""
    return len(segment) >= _LONG_SEGMENT or (any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment))


def _secret_parts(url: str) -> list[str]:
    """The parts of an apprise URL that may be secrets (see the module docstring), each as written
    and percent-decoded. Token schemes: everything after the scheme (the rest as a whole, the host,
    the user, the password, every path segment and query value). Server schemes: the password,
    the query values and the path segments that look random; the host and plain words
    (json://host/hooks/paper_trading_daily) are not secrets, so masking never garbles log lines.
    Values of apprise's own options (format=, overflow=, ...) are never secrets."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return [url]
    scheme = scheme.lower()
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    path, query = path.split("#", 1)[0], query.split("#", 1)[0]
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = hostport[1:].partition("]")[0] if hostport.startswith("[") else hostport.partition(":")[0]
    segments = [seg for seg in path.split("/") if seg]
    values = [
        v
        for k, v in (item.partition("=")[::2] for item in query.split("&") if item)
        if unquote(k).lower() not in _OPTION_KEYS
    ]
    if scheme in _SERVER_SCHEMES:
        found = [password, *values, *(seg for seg in segments if _looks_random(unquote(seg)))]
    else:
        found = [rest.split("#", 1)[0].rstrip("/"), netloc, hostport, host, user, password, *segments, *values]
    out: list[str] = []
    for value in found:
        for v in (value, unquote(value)):
            if v and v not in out:
                out.append(v)
    return out


def _register_url(url: str) -> None:
    """Mask the URL and the parts of it that may be secrets (`_secret_parts`) in every log line.
    (`logging_setup.register_secret` leaves out values shorter than its minimum, 6 characters.)"""
    register_secret(url)
    for part in _secret_parts(url):
        register_secret(part)


def channel_label(url: str, index: int) -> str:
    """How a channel is named in a log line: its scheme, and its host for server schemes only
    (json://hooks.example.com, mailto://example.com); never a path, a query, a user or a token
    (slack://, ntfy://, gotify://)."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower() or "?", parts.hostname or ""
    except ValueError:
        scheme, host = "?", ""
    shown = f"{scheme}://{host}" if scheme in _SERVER_SCHEMES and host else f"{scheme}://"
    return f"{shown} (channel {index + 1})"


# ----------------------------------------------------------------------------------- delivery


class _Redact(logging.Filter):
    """Masks secrets in records of the libraries that send (apprise logs URLs with tokens at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        with contextlib.suppress(Exception):
            record.msg, record.args = redact(record.getMessage()), None
        return True


@contextlib.contextmanager
def _redacted_library_logs() -> Iterator[None]:
    names = ("apprise", "urllib3.connectionpool")
    flt = _Redact()
    for name in names:
        logging.getLogger(name).addFilter(flt)
    try:
        yield
    finally:
        for name in names:
            logging.getLogger(name).removeFilter(flt)


def _cut(text: str, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notification_text(records: dict | Sequence[dict], where: str = f"logs/{ALERTS_FILE}") -> tuple[str, str]:
    """The title and body of a notification. One alert: its rule, date and message. Several (a
    digest): their count, step and date in the title; the body lists each one's rule, key and
    message (cut to MESSAGE_CHARS), the first DIGEST_LIMIT of them, then "... and N more — see
    `where`"."""
    if isinstance(records, dict):
        records = [records]
    if len(records) == 1:
        record = records[0]
        title = f"paper-trading {record['severity']}: {record['rule']} on {record['trade_date']}"
        body = (
            f"{record['message']}\n\nrule: {record['rule']}\nkey: {record['key']}\ntrade date: "
            f"{record['trade_date']}\nstep: {record['step']}\nrun: {record['run_id']}"
        )
        return title, body
    severity = "error" if any(r["severity"] == "error" for r in records) else "warning"
    steps = ", ".join(dict.fromkeys(str(r["step"]) for r in records))
    dates = ", ".join(dict.fromkeys(str(r["trade_date"]) for r in records))
    runs = ", ".join(dict.fromkeys(str(r["run_id"]) for r in records))
    counts: dict[str, int] = {}
    for r in records:
        counts[r["rule"]] = counts.get(r["rule"], 0) + 1
    title = f"paper-trading {severity}: {len(records)} alerts from {steps} on {dates}"
    lines = [f"{len(records)} new alerts ({', '.join(f'{rule} {n}' for rule, n in counts.items())})", ""]
    for r in records[:DIGEST_LIMIT]:
        lines.append(f"- [{r['rule']}] {_cut(r['key'], 80) or '-'}: {_cut(r['message'])}")
    if len(records) > DIGEST_LIMIT:
        lines.append(f"… and {len(records) - DIGEST_LIMIT} more — see {where}")
    lines += ["", f"trade date: {dates}", f"step: {steps}", f"run: {runs}"]
    return title, "\n".join(lines)


def deliver(
    records: dict | Sequence[dict],
    channels: Sequence[str],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    *,
    where: str = f"logs/{ALERTS_FILE}",
) -> dict[str, bool]:
    """Send ONE notification for `records` (an alert, or a batch of them as a digest:
    `notification_text`) with apprise to every channel at once, within `timeout_s` for the call.

    Returns {channel label: delivered}. Never raises: an invalid URL, a refused connection, an
    error status or a timeout is a WARNING naming the channel by `channel_label` only."""
    records = [records] if isinstance(records, dict) else list(records)
    if not records or not channels:
        return {}
    out: dict[str, bool] = {}
    try:
        import apprise

        labels = {}
        notifier = apprise.Apprise()
        for i, url in enumerate(channels):
            _register_url(url)
            label = channel_label(url, i)
            with _redacted_library_logs():
                plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                log.warning("alert channel %s: not a valid apprise URL; nothing sent there", label)
                out[label] = False
                continue
            # a channel's own limit too, so one that hangs cannot hold a worker beyond the call's limit
            plugin.socket_connect_timeout = plugin.socket_read_timeout = float(timeout_s)
            labels[plugin.url_id()] = label
            notifier.add(plugin)
        if not labels:
            return out
        title, body = notification_text(records, where)
        error = any(r["severity"] == "error" for r in records)
        kind = apprise.NotifyType.FAILURE if error else apprise.NotifyType.WARNING
        with _redacted_library_logs():
            result = notifier.notify(body=body, title=title, notify_type=kind, timeout=float(timeout_s))
        for service in result:
            label = labels.get(service.url_id, service.name)
            out[label] = bool(service)
            if not service:
                why = "; ".join(e.message for a in service.attempts for e in a.logs if e.level in ("WARNING", "ERROR"))
                log.warning(
                    "alert channel %s: not delivered (%s%s)",
                    label,
                    service.status.name.lower(),
                    f": {redact(why)}" if why else "",
                )
        for label in labels.values():
            if label not in out:
                out[label] = False
                log.warning("alert channel %s: not delivered (not attempted within %g s)", label, timeout_s)
    except Exception as exc:
        log.warning("alerts not delivered: %s", redact(f"{type(exc).__name__}: {exc}"))
    return out


# ----------------------------------------------------------------------------------- the file


def _identity(record: dict) -> tuple[str, str, str]:
    return (
        str(record.get("trade_date", "")),
        str(record.get("rule", "")),
        str(record.get("key") or record.get("message", "")),
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator:
    """alerts.log opened for reading and appending, under an exclusive lock (POSIX; elsewhere the
    in-process lock only)."""
    with _lock, open(path, "a+", encoding="utf-8") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            pass
        else:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield fh
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _append_new(path: Path, records: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Under the lock: read alerts.log once, keep the lines of the batch's trade date(s) by
    identity, append the records that are not there yet (nor earlier in the batch) in one write.
    Returns (for each record its line: the earlier one for a repeat; the new records)."""
    dates = {str(r["trade_date"]) for r in records}
    marks = [f'"{d}"' for d in dates]
    one = marks[0] if len(marks) == 1 else None
    with _locked(path) as fh:
        fh.seek(0)
        seen: dict[tuple[str, str, str], dict] = {}
        last = ""
        for line in fh:
            last = line
            if (one not in line) if one is not None else not any(m in line for m in marks):
                continue  # cheap: most lines are of other days
            try:
                earlier = json.loads(line)
            except ValueError:
                continue
            if isinstance(earlier, dict) and str(earlier.get("trade_date", "")) in dates:
                seen.setdefault(_identity(earlier), earlier)
        out: list[dict] = []
        new: list[dict] = []
        for record in records:
            identity = _identity(record)
            if identity not in seen:
                seen[identity] = record
                new.append(record)
            out.append(seen[identity])
        if new:
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new)
            fh.seek(0, os.SEEK_END)
            fh.write(("\n" if last and not last.endswith("\n") else "") + text)  # a line cut short stays apart
            fh.flush()
    return out, new


def _record(trade_date: dt.date, run_id: str, step: str, message: str, rule: str, key: str, severity: str) -> dict:
    if rule not in RULES:
        raise ValueError(f"unknown alert rule {rule!r}; expected one of {', '.join(RULES)}")
    if severity not in SEVERITIES:
        raise ValueError(f"unknown alert severity {severity!r}; expected error or warning")
    return {
        "ts": f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}",
        "trade_date": trade_date.isoformat(),
        "run_id": run_id,
        "step": step,
        "rule": rule,
        "key": redact(key),
        "severity": severity,
        "message": redact(message),
    }


def _raise(
    log_dir: Path, records: list[dict], channels: Sequence[str], timeout_s: float
) -> tuple[list[dict], list[dict]]:
    """Write the batch's new lines, log each alert, send ONE notification for the new ones."""
    if not records:
        return [], []
    log_dir.mkdir(parents=True, exist_ok=True)
    lines, new = _append_new(log_dir / ALERTS_FILE, records)
    for record, line in zip(records, lines):
        if line is not record:
            log.info(
                "alert [%s] %s of %s was raised already (run %s): not repeated",
                record["rule"],
                record["key"] or "-",
                record["trade_date"],
                line.get("run_id"),
            )
    for record in new:
        (log.error if record["severity"] == "error" else log.warning)(
            "ALERT [%s] %s", record["rule"], record["message"]
        )
    if new and channels:
        deliver(new[0] if len(new) == 1 else new, channels, timeout_s, where=f"{log_dir.name}/{ALERTS_FILE}")
    return lines, new


def raise_alert(
    log_dir: Path,
    trade_date: dt.date,
    run_id: str,
    step: str,
    message: str,
    *,
    rule: str = "other",
    key: str = "",
    severity: str = "error",
    settings: AlertsConfig | None = None,
    deliver_to_channels: bool = True,
) -> dict:
    """Append the alert to `log_dir/alerts.log`, log it and send it to the channels (`settings`:
    the config's `alerts`, with `$PAPER_TRADING_ALERT_URLS`; without settings, the environment's
    channels only). An alert already in the file for (trade_date, rule, key) is not written nor
    sent again. Returns the alert's line (the earlier one for a repeat). Raises ValueError only
    for a rule or severity that is not in `RULES` / `SEVERITIES` (a programming error)."""
    channels = channel_urls(settings)  # registers them as secrets before anything is logged
    record = _record(trade_date, run_id, step, message, rule, key, severity)
    lines, _ = _raise(log_dir, [record], channels if deliver_to_channels else (), _timeout(settings))
    return lines[0]


def raise_alerts(
    log_dir: Path,
    trade_date: dt.date,
    run_id: str,
    step: str,
    alerts: Iterable[dict],
    *,
    settings: AlertsConfig | None = None,
) -> list[dict]:
    """The alert dicts of `alerts.rules` ({rule, key, severity, message}) as one batch: every new
    line appended under one lock after one read of alerts.log, then ONE notification for the new
    ones (the alert itself when there is one, a digest when there are several), within
    `alerts.timeout_s` overall. Returns each alert's line (the earlier one for a repeat)."""
    channels = channel_urls(settings)
    records = [
        _record(trade_date, run_id, step, a["message"], a["rule"], a.get("key", ""), a.get("severity", "error"))
        for a in alerts
    ]
    lines, _ = _raise(log_dir, records, channels, _timeout(settings))
    return lines


def _timeout(settings: AlertsConfig | None) -> float:
    return settings.timeout_s if settings is not None else DEFAULT_TIMEOUT_S


def read_alerts(log_dir: Path, *, until: dt.date | None = None, limit: int | None = None) -> list[dict]:
    """The alerts of `log_dir/alerts.log`, oldest first (the last `limit` of them, of trade dates up to
    `until`). A line that is not a JSON object (a hand edit, an older plain-text line) is skipped."""
    path = log_dir / ALERTS_FILE
    if not path.is_file():
        return []
    out: list[dict] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if until is not None and str(record.get("trade_date", "")) > until.isoformat():
            continue
        out.append(record)
    return out[-limit:] if limit else out


# ----------------------------------------------------------------------------------- task failures


def failure_trade_date(run_date: str | None, logical_date: dt.datetime | None, run_after: dt.datetime) -> dt.date:
    """The trade date a failed task belongs to, as the DAG's `trade_date` task finds it; when that
    cannot be found (a bad `run_date` may be why the task failed), the New York date of `run_after`."""
    from paper_trading.trading_calendar import exchange_date, resolve_trade_date

    try:
        return resolve_trade_date(run_date, logical_date, run_after)
    except Exception:
        return exchange_date(run_after)


def record_task_failure(
    root: Path,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    trade_date: dt.date,
    try_number: int | None = None,
    error: BaseException | str | None = None,
) -> bool:
    """The DAG's failure callback: the failure as a `task_failed` line of alerts.log (key
    `dag_id.task_id`), not delivered from here. Returns True when the line is new — the DAG then
    sends the notice (Airflow's apprise provider notifier) — and False when this failure was
    recorded already for the trade date (a cleared task failing again): nobody is paged twice.
    Never raises: the logs folder is the config's `paths.logs`, else `logs/` if the config cannot be
    read; when the line cannot be written at all, True (it is not a known repeat: better a notice
    than none)."""
    try:
        from paper_trading.config import config_or_defaults, load_settings

        try:
            log_dir = root / config_or_defaults(load_settings(root, None)).paths.logs
        except Exception:
            log_dir = root / "logs"
        channel_urls(None)  # the environment's channels are secrets in these lines too
        what = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else (error or "no error given")
        attempt = f" (try {try_number})" if try_number else ""
        record = _record(
            trade_date,
            run_id,
            task_id,
            f"task {dag_id}.{task_id} failed{attempt}: {what}",
            "task_failed",
            f"{dag_id}.{task_id}",
            "error",
        )
        _, new = _raise(log_dir, [record], (), DEFAULT_TIMEOUT_S)
        return bool(new)
    except Exception:
        log.exception("could not record the failure of %s.%s in alerts.log", dag_id, task_id)
        return True
