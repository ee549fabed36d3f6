"""Step logs: `logs/<step>_YYYYMMDD.log` plus stderr (which is the Airflow task log).

Every line carries the trade date and the run id, so a line copied out of context still says which
run wrote it. Secrets never reach a log: a filter masks the values of secret-looking environment
variables (API keys, passwords, tokens) and anything registered with `register_secret`.
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
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask `value` in every log line from now on (for secrets that do not come from the env)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        _registered.add(value)


def secret_values() -> list[str]:
    """Values to mask, longest first so a secret that contains another is masked whole."""
    found = set(_registered)
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name) and value and len(value) >= _MIN_SECRET_LEN:
            found.add(value)
        elif name.startswith("AIRFLOW_CONN_") and value:
            found.add(value)
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


FORMAT = "%(asctime)s %(levelname)s trade_date=%(trade_date)s run_id=%(run_id)s %(name)s: %(message)s"


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


@contextlib.contextmanager
def step_logging(
    step: str,
    trade_date: dt.date,
    run_id: str,
    log_dir: str | Path,
    debug: bool = False,
) -> Iterator[logging.Logger]:
    """Attach the step's file and stderr handlers to the package logger for the duration of a step.

    The handlers are removed afterwards, so steps run one after another in one process (tests,
    `dag.test()`) never write into each other's files. Lines go to stderr directly, not through the
    root logger, so Airflow shows each line once.
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{step.replace('-', '_')}_{trade_date:%Y%m%d}.log"
    logger = logging.getLogger(LOGGER_NAME)
    context = _RunContextFilter(trade_date.isoformat(), run_id)
    formatter = _RedactingFormatter(FORMAT)
    handlers: list[logging.Handler] = [logging.FileHandler(path, encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    for handler in handlers:
        handler.addFilter(context)
        handler.setFormatter(formatter)
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
