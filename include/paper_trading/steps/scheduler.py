"""M3 without Airflow (the spec's `scheduler.py --once` and `--daemon`): run the day once, or stay
resident and run it at `scheduler.time` (New York) on every XNYS session until stopped.

Airflow (the `paper_trading_daily` DAG, on the same `scheduler.time`) is the recommended scheduler:
retries, a UI, a person's approval, history. This resident mode is for a machine without it.

- **Time is the broker's.** The daemon asks the broker's clock (`GET /v2/clock`) what time it is:
  Alpaca's is the exchange's, and the local simulator's is the one a test or a demo sets. Without a
  broker (no credentials in a dry run) it uses this machine's clock, and says so.
- **Sessions only.** It runs on XNYS sessions — weekends and exchange holidays are skipped, with or
  without `--skip-weekends` (accepted as the spec writes it). A session whose time has passed while
  the daemon was down is run if the market is still open, else skipped with a line in the log.
- **One run per day.** A day that ran (or failed) is not run again by the same daemon; a failure is
  logged with its error and the daemon goes on with the next session (every step is safe to run
  again by hand for that date).
- **Stopping.** SIGINT or SIGTERM stops it: between runs at once; during a run, the step under way is
  interrupted (each step is safe to run again for the date) and the daemon exits 0.
- **Logs.** Every start, wake-up, run and stop is a line in `logs/scheduler.log`; each run's own
  lines go to `logs/run_YYYYMMDD.log` as `run` writes them.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from paper_trading.errors import PaperTradingError
from paper_trading.logging_setup import redact
from paper_trading.steps.common import (
    config_or_defaults,
    load_settings,
    make_broker,
    project_dir,
)

#: The daemon looks at the clock at least this often while it waits (seconds).
DEFAULT_POLL_S = 30.0


def scheduler_log(root: Path, logs: str = "logs") -> logging.Logger:
    """`logs/scheduler.log` (appended): one line per event of the scheduler, once or resident."""
    path = root / logs / "scheduler.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"paper_trading.scheduler.{path}")
    if not logger.handlers:
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def note_once(root: str | Path | None, config_path: str | Path | None, day, mode: str,
              began: dt.datetime, outcome: str) -> None:
    """`run --once`'s lines in logs/scheduler.log: when it started and how it ended — written only
    where the run wrote its logs (a date that is not a session, or a bad root or config, creates
    nothing, as `run` promises)."""
    try:
        project = project_dir(root)
        logs = project / str(config_or_defaults(load_settings(project, config_path)).paths.logs)
    except PaperTradingError:
        return
    if not logs.is_dir():
        return
    echo = scheduler_log(project, str(logs.relative_to(project)))
    echo.info("once: %s, mode %s, started %s", day or "today", mode, began.strftime("%Y-%m-%d %H:%M:%S UTC"))
    (echo.info if outcome == "done" else echo.error)("once: %s", redact(outcome))


def run_at(day: dt.date, hhmm: str) -> dt.datetime:
    """`day` at `hhmm` New York time, as an aware instant."""
    from paper_trading.trading_calendar import EXCHANGE_TZ

    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=EXCHANGE_TZ)


def next_run(now: dt.datetime, hhmm: str, done: set[dt.date]) -> tuple[dt.date, dt.datetime]:
    """The next session (today included) not in `done`, and when it runs."""
    from paper_trading.trading_calendar import exchange_date, is_session, next_session

    day = exchange_date(now)
    if not is_session(day):
        day = next_session(day)
    while day in done:
        day = next_session(day)
    return day, run_at(day, hhmm)


def _broker_clock(settings, echo: logging.Logger) -> Callable[[], dt.datetime]:
    """The broker's clock (`GET /v2/clock`), else this machine's (said in the log)."""
    import os

    if os.environ.get("APCA_API_KEY_ID") and os.environ.get("APCA_API_SECRET_KEY"):
        broker = make_broker(settings)
        try:
            broker.clock()
        except PaperTradingError as exc:
            echo.warning("the broker's clock cannot be read (%s): using this machine's clock", redact(str(exc)))
        else:
            echo.info("time: the broker's clock")
            return lambda: broker.clock().timestamp
    echo.info("time: this machine's clock (no broker credentials in the environment)")
    return lambda: dt.datetime.now(dt.UTC)


def daemon(*, mode: str, root: str | Path | None = None, config_path: str | Path | None = None,
           run_id_prefix: str = "daemon", poll_s: float = DEFAULT_POLL_S, run: Callable[..., dict] | None = None,
           clock: Callable[[], dt.datetime] | None = None, stop: threading.Event | None = None,
           debug: bool = False, **day_options) -> int:
    """Stay resident: run the day at `scheduler.time` on every session until `stop` is set (or
    SIGINT / SIGTERM). `run` (default `run_day`) and `clock` are for tests. Returns the number of
    days run."""
    from paper_trading.steps.day import run_day
    from paper_trading.trading_calendar import EXCHANGE_TZ, exchange_date

    project = project_dir(root)
    settings = load_settings(project, config_path)
    cfg = config_or_defaults(settings)
    hhmm = cfg.scheduler.time
    echo = scheduler_log(project, str(cfg.paths.logs))
    stop = stop or threading.Event()
    run = run or run_day
    now = clock or _broker_clock(settings, echo)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    def stopping(signum: int, _frame) -> None:
        stop.set()
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, stopping)
    echo.info("daemon started: mode %s, every session at %s New York (scheduler.time), root %s", mode, hhmm, project)
    done: set[dt.date] = set()
    ran, announced = 0, None
    try:
        while not stop.is_set():
            moment = now()
            day, at = next_run(moment, hhmm, done)
            if moment < at:
                if announced != day:
                    announced = day
                    echo.info("next run: %s at %s", day, at.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M %Z"))
                stop.wait(min(poll_s, (at - moment).total_seconds()))
                continue
            if exchange_date(moment) > day or _closed(day, moment):
                echo.warning("%s: missed (the market closed before the daemon could run it)", day)
                done.add(day)
                continue
            echo.info("%s: run starts (mode %s; it is %s New York)", day, mode,
                      moment.astimezone(EXCHANGE_TZ).strftime("%Y-%m-%d %H:%M"))
            done.add(day)
            try:
                result = run(day, mode=mode, root=project, config_path=config_path, now=now, sleep=stop.wait,
                             max_sleep_s=poll_s, run_id=f"{run_id_prefix}-{day:%Y%m%d}", debug=debug, **day_options)
            except KeyboardInterrupt:
                echo.warning("%s: run interrupted by a stop signal (every step is safe to run again)", day)
                break
            except PaperTradingError as exc:
                echo.error("%s: run failed: %s", day, redact(str(exc)))
                continue
            except Exception as exc:  # a bug: logged, the daemon goes on with the next session
                echo.exception("%s: run failed unexpectedly: %s", day, redact(str(exc)))
                continue
            ran += 1
            echo.info("%s: run done (books %s)", day, result.get("books"))
    except KeyboardInterrupt:
        pass
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    echo.info("daemon stopped after %d run(s)", ran)
    return ran


def _closed(day: dt.date, moment: dt.datetime) -> bool:
    """The session of `day` has closed at `moment`."""
    import pandas as pd

    from paper_trading.trading_calendar import xnys

    return moment >= xnys().session_close(pd.Timestamp(day)).to_pydatetime()
