"""Step logs: `logs/<step>_YYYYMMDD.log`, and the same lines to the host's logging.

Every line carries the trade date and the run id, so a line copied out of context still says which
run wrote it. Secrets never reach a log: the values of secret-looking environment variables (API
keys, passwords, tokens) and anything registered with `register_secret` are masked before a line
leaves this module, whichever handler takes it.

The host decides where the lines show: each record is handed, redacted, to the root logger. Inside
an Airflow task, the root logger is the task log, which then shows every line at its own level
(lines written to stderr would all be shown as errors); the command line (`cli.py`) puts a stderr
handler on the root logger. A step's failure line goes to its file only (`FILE_ONLY`): the CLI
prints the error once as `error: ...`, and Airflow logs the exception the task raised.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

LOGGER_NAME = "paper_trading"
MASK = "***"
_SECRET_ENV = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|API_KEY|KEY_ID|PRIVATE)", re.IGNORECASE)
_MIN_SECRET_LEN = 6
#: Apprise URLs of the alert channels (alerts.py): each carries a token, so each is a secret.
ALERT_URLS_ENV = "PAPER_TRADING_ALERT_URLS"
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` in every log line from now on (for secrets that do not come from the env)."""
    if value and len(value) >= _MIN_SECRET_LEN and value not in _registered:
        _registered.add(value)
        _cache.clear()


def secret_values() -> list[str]:
    """Values to mask, longest first so a secret that contains another is masked whole.

    Every log line asks, so the answer is kept until the environment or the registered values
    change. The environment is compared as CPython keeps it (`os.environ._data`, its raw strings
    or bytes): one comparison of two dicts in C, where decoding and matching it cost far more;
    where that is not available, the answer is worked out again each time."""
    env = getattr(os.environ, "_data", None)
    if not isinstance(env, dict) or "values" not in _cache or _cache["env"] != env:
        _cache.update(env=dict(env) if isinstance(env, dict) else None, values=_secret_values())
    return _cache["values"]


_cache: dict = {}


def _secret_values() -> list[str]:
    found = set(_registered)
    for name, value in os.environ.items():
        if (
            _SECRET_ENV.search(name)
            and value
            and len(value) >= _MIN_SECRET_LEN
            or name.startswith("AIRFLOW_CONN_")
            and value
        ):
            found.add(value)
        elif name == ALERT_URLS_ENV and value:
            found.add(value)
            found.update(u for u in re.split(r"[\s,]+", value) if len(u) >= _MIN_SECRET_LEN)
    return sorted(found, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every known secret value replaced by `***`."""
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return text


class _RunContextFilter(logging.Filter):
    def __init__(self, trade_date: str, run_id: str) -> None:
        super().__init__()
        self.trade_date = trade_date
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.trade_date = self.trade_date
        record.run_id = self.run_id
        return True


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _ToHost(logging.Handler):
    """Hands each record, its message redacted, to the root logger's handlers (the host's logging)."""

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "file_only", False):
            return
        try:
            copy = logging.makeLogRecord(record.__dict__)
            copy.msg, copy.args = redact(record.getMessage()), None
            if record.exc_info:
                copy.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                copy.exc_info = None
            logging.getLogger().handle(copy)
        except Exception:
            self.handleError(record)


#: `log.error(..., extra=FILE_ONLY)`: the line goes to the step's file, not to the host's log.
FILE_ONLY = {"file_only": True}
FORMAT = "%(asctime)s %(levelname)s trade_date=%(trade_date)s run_id=%(run_id)s %(name)s: %(message)s"


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def console_logging(level: int = logging.WARNING) -> None:
    """For the command line: step lines of `level` and above on stderr (the root logger's handler).

    Warnings by default, so a failure shows as its one `error:` line and a success is quiet; the
    step's log file always has every line.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_paper_trading_console", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_RedactingFormatter(FORMAT, defaults={"trade_date": "-", "run_id": "-"}))
        handler._paper_trading_console = True  # type: ignore[attr-defined]  # our mark on the handler
        root.addHandler(handler)
    handler.setLevel(level)
    root.setLevel(min(level, logging.INFO))


#: The steps whose lines also go to `logs/execution_YYYYMMDD.log`, the spec's log of its "M2"
#: (targets -> orders -> Alpaca): our plan, risk gate, execute and the wait for fills.
SPEC_EXECUTION_LOG_STEPS = frozenset({"plan", "risk", "execute", "wait_for_fills"})


@contextlib.contextmanager
def step_logging(
    step: str,
    trade_date: dt.date,
    run_id: str,
    log_dir: str | Path,
    debug: bool = False,
) -> Iterator[logging.Logger]:
    """Attach the step's file handler (and the hand-over to the host's logging) to the package
    logger for the duration of a step.

    The handlers are removed afterwards, so steps run one after another in one process (tests,
    `dag.test()`) never write into each other's files. The package logger does not propagate:
    records reach the root logger once, redacted, through `_ToHost`.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    names = [f"{step.replace('-', '_')}_{trade_date:%Y%m%d}.log"]
    if step in SPEC_EXECUTION_LOG_STEPS:  # the spec's logs/execution_YYYYMMDD.log: its M2 (plan ... send)
        names.append(f"execution_{trade_date:%Y%m%d}.log")
    logger = logging.getLogger(LOGGER_NAME)
    context = _RunContextFilter(trade_date.isoformat(), run_id)
    handlers: list[logging.Handler] = []
    for name in names:
        file_handler = logging.FileHandler(log_dir / name, encoding="utf-8")
        file_handler.setFormatter(_RedactingFormatter(FORMAT))
        handlers.append(file_handler)
    handlers.append(_ToHost())
    for handler in handlers:
        handler.addFilter(context)
        logger.addHandler(handler)
    old_level, old_propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    try:
        yield get_logger(step.replace("-", "_"))
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(old_level)
        logger.propagate = old_propagate
