"""What every step shares: the project root, the settings, the step log, output paths, the broker."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from paper_trading.config import AppConfig, config_or_defaults, load_settings
from paper_trading.connections import url_from_parts
from paper_trading.errors import ConfigError, InputError, PaperTradingError
from paper_trading.logging_setup import FILE_ONLY, step_logging
from paper_trading.paths import ROOT_ENV, display_path

if TYPE_CHECKING:
    from paper_trading.broker.alpaca import AlpacaBroker
    from paper_trading.broker.types import Broker
    from paper_trading.ledger import Ledger


def project_dir(root: str | Path | None) -> Path:
    """The project root as given (else `$PAPER_TRADING_ROOT`, else the current directory); it must
    be an existing directory, checked before anything is read or created in it."""
    if root not in (None, ""):
        given, origin = str(root), "--root"
    elif os.environ.get(ROOT_ENV):
        given, origin = os.environ[ROOT_ENV], f"${ROOT_ENV}"
    else:
        return Path.cwd().resolve()
    path = Path(given).expanduser()
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise ConfigError(f"{origin} {given}: the project root {what}")
    return path.resolve()


def resolve(root: Path, path: str | Path | None) -> Path | None:
    """A path from the user or the config: absolute as is, relative to the project root."""
    if path is None or path == "":
        return None
    return Path(path) if Path(path).is_absolute() else root / path


@dataclass(frozen=True)
class StepContext:
    """A running step: where the project is, its settings, its log."""

    root: Path
    settings: AppConfig | None
    trade_date: dt.date
    run_id: str
    log: logging.Logger

    @property
    def cfg(self) -> AppConfig:
        return config_or_defaults(self.settings)

    @property
    def log_dir(self) -> Path:
        return self.root / self.cfg.paths.logs

    def path(self, path: str | Path | None) -> Path | None:
        return resolve(self.root, path)

    def shown(self, path: Path) -> str:
        return display_path(path, self.root)


@contextlib.contextmanager
def run_step(name: str, trade_date: dt.date, *, root: str | Path | None, config_path: str | Path | None,
             run_id: str, debug: bool = False) -> Iterator[StepContext]:
    """Open a step: check the root and the config first (a bad one creates nothing), then the step
    log. A failure is written to the step's log file once; the caller (CLI, Airflow) reports it."""
    project = project_dir(root)
    settings = load_settings(project, config_path)
    log_dir = project / config_or_defaults(settings).paths.logs
    try:
        with step_logging(name, trade_date, run_id, log_dir, debug) as log:
            try:
                yield StepContext(project, settings, trade_date, run_id, log)
            except PaperTradingError as exc:
                log.error("%s", exc, extra=FILE_ONLY)
                raise
            except OSError as exc:
                if (error := _path_error(exc, project)) is None:
                    log.exception("unexpected error", extra=FILE_ONLY)
                    raise
                log.error("%s", error, extra=FILE_ONLY)
                raise error from None
            except Exception:
                log.exception("unexpected error", extra=FILE_ONLY)
                raise
    except OSError as exc:  # the step log itself could not be opened
        if (error := _path_error(exc, project)) is None:
            raise
        raise error from None


_PATH_ERRORS = (FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError, FileNotFoundError)


def _path_error(exc: OSError, root: Path) -> InputError | None:
    """A file-system refusal on one of our paths (a folder where a file belongs, no permission, ...)
    as one line naming the path; None for other OS errors (network ones, say), which stay as they are."""
    if not isinstance(exc, _PATH_ERRORS) or not exc.filename:
        return None
    path = Path(exc.filename2 or exc.filename)
    return InputError(f"{display_path(path, root)}: {exc.strerror or type(exc).__name__} (check the paths in "
                      "config/config.yaml and the options given)")


def output_paths(root: Path, settings: AppConfig | None, trade_date: dt.date) -> dict[str, Path]:
    cfg = config_or_defaults(settings)
    out = root / cfg.paths.outputs
    stamp = f"{trade_date:%Y%m%d}"
    targets_dir = settings.signal_bus.output_dir if settings and settings.signal_bus else "data/intermediate"
    return {
        "targets": root / targets_dir / f"targets_consolidated_{stamp}.parquet",
        "plan": out / f"rebalance_plan_{stamp}.csv",
        "orders": out / f"planned_orders_{stamp}.csv",
        "latest_plan": out / "rebalance_plan.csv",  # the spec's names: the latest plan, as written last
        "latest_orders": out / "planned_orders.csv",
        "summary": out / f"plan_summary_{stamp}.json",
        "risk_report": out / f"risk_report_{stamp}.csv",
        "approved": out / f"approved_orders_{stamp}.csv",
        "execution_log": out / "execution_log.csv",
    }


def make_broker(settings: AppConfig | None, key: str | None = None, secret: str | None = None,
                trading_url: str | None = None, data_url: str | None = None) -> AlpacaBroker:
    """The Alpaca adapter. Credentials as given (the DAG passes an Airflow Connection's), else from
    the environment; URLs as given, else from the environment, else from the config."""
    from paper_trading.broker.alpaca import AlpacaBroker

    b = config_or_defaults(settings).broker
    env = os.environ
    return AlpacaBroker(key or env.get("APCA_API_KEY_ID", ""), secret or env.get("APCA_API_SECRET_KEY", ""),
                        trading_url or env.get("APCA_API_BASE_URL") or b.trading_url,
                        data_url or env.get("APCA_API_DATA_URL") or b.data_url,
                        allow_live=b.allow_live, timeout=b.timeout_s, requests_per_minute=b.requests_per_minute,
                        data_feed=b.data_feed, trade_updates=b.trade_updates)


def resolve_broker(broker: Broker | Callable[[], Broker] | None, settings: AppConfig | None) -> Broker:
    """The broker a step uses: the one given, one made by the factory given (the DAG passes a
    factory over its Airflow Connection, so a bad connection is reported inside the step, in its
    log), else one from the environment and the config."""
    if broker is None:
        return make_broker(settings)
    return broker() if callable(broker) else broker


def file_sha256(path: Path) -> str:
    """The SHA-256 of a (small) output file: what a later step checks it was handed."""
    import hashlib

    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


#: The ledgers opened inside `sharing_ledgers` (by URL), or None outside it.
_SHARED_LEDGERS: contextvars.ContextVar[dict[str, Ledger] | None] = contextvars.ContextVar(
    "paper_trading_shared_ledgers", default=None)


@contextlib.contextmanager
def sharing_ledgers() -> Iterator[None]:
    """Steps run inside this share each ledger they open, and it is closed at the end.

    A day runs four to six steps that each open the ledger; one after another in one process (`run`,
    a replay's sessions) each would make its own engine: a new connection, SQLite's WAL checkpoint
    when it closes, and SQLAlchemy's statement cache cold again, about a tenth of a replayed
    session. A DAG's tasks are processes of their own and open theirs as before. Nested uses join
    the outermost (a replay's year holds each session's `run_day`)."""
    if _SHARED_LEDGERS.get() is not None:
        yield
        return
    opened: dict[str, Ledger] = {}
    token = _SHARED_LEDGERS.set(opened)
    try:
        yield
    finally:
        _SHARED_LEDGERS.reset(token)
        for ledger in opened.values():
            ledger.close()


def open_ledger(ctx: StepContext, db_url: str | None = None) -> contextlib.AbstractContextManager[Ledger]:
    """The ledger of the project: `db_url` (the DAG's Connection), else $PAPER_TRADING_DB_URL, else
    `ledger.url` of the config, else `data/ledger.sqlite` under the root. Use it as a context
    manager: it closes the ledger after the step, unless the step runs in `sharing_ledgers`."""
    from paper_trading.ledger import Ledger, ledger_url

    url = ledger_url(ctx.root, ctx.cfg.ledger.url, db_url)
    opened = _SHARED_LEDGERS.get()
    if opened is None:
        return Ledger(url)
    key = url.render_as_string(hide_password=False)
    if key not in opened:
        opened[key] = Ledger(url)
    return contextlib.nullcontext(opened[key])


def broker_for(root: str | Path | None = None, config_path: str | Path | None = None, *,
               key: str | None = None, secret: str | None = None, host: str | None = None,
               port: int | str | None = None, schema: str | None = None, data_url: str | None = None,
               trading_url: str | None = None, conn_id: str = "connection 'alpaca'") -> AlpacaBroker:
    """`make_broker` with the project's config, for callers that hold credentials (the DAG, from
    the Airflow Connection's fields: host, port and schema make the trading URL, every one used)."""
    project = project_dir(root)
    url = trading_url or url_from_parts(host, port, schema, conn_id=conn_id)
    return make_broker(load_settings(project, config_path), key=key, secret=secret, trading_url=url,
                       data_url=data_url)


def check_round(round_no: int) -> int:
    """The round of the day: a whole number from 1 (the CLI's `--round`, the DAG's `round` param)."""
    if isinstance(round_no, bool) or not isinstance(round_no, int) or round_no < 1:
        raise ConfigError(f"--round: expected a whole number >= 1, got {round_no!r}")
    return round_no


def traded_round(ctx: StepContext, round_no: int = 1, db_url: str | None = None) -> dict | None:
    """The ledger's successful real `execute` that traded this trade date's `round`, by this run or
    by an earlier one, if there is one.

    Once a round has traded, its plan and its gate are history: re-running them (a cleared task, a
    cleared run, the same `run_date` triggered again) must give the same files, not a new plan from
    the account the trades changed. A new round plans again. No ledger yet: nothing was traded."""
    from paper_trading.ledger import ledger_url

    url = ledger_url(ctx.root, ctx.cfg.ledger.url, db_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None  # no ledger file: nothing was traded (and a plan does not create one)
    with open_ledger(ctx, db_url) as ledger:
        return round_trader(ledger, ctx.trade_date, round_no)


def round_trader(ledger, trade_date: dt.date, round_no: int) -> dict | None:
    """The runs row of the first successful real `execute` that traded `round` of `trade_date`."""
    rows = [r for r in ledger.runs(trade_date) if r["step"] == "execute" and r["mode"] == "real"
            and r["outcome"] == "success" and r["round"] == round_no and not traded_by(r)]
    return rows[0] if rows else None


def traded_by(row: dict) -> str | None:
    """The run that really traded, for a runs row of a later run that found its round already traded."""
    import json

    try:
        return (json.loads(row.get("detail") or "{}") or {}).get("traded_by")
    except (ValueError, AttributeError):
        return None


def run_note(conf: dict, logical_date: dt.datetime | None, run_after: dt.datetime,
             default_mode: str = "dry") -> str:
    """What a DAG run is, in a few words for Airflow's run note: its trade date, its mode and its
    round (`2025-12-31 · dry · round 1`). A manual run's logical date is when it was triggered, so
    without a note the grid does not tell the run for one date from another, nor dry from real.
    The date is the `trade_date` task's (`run_date`, else the New York date of the run)."""
    from paper_trading.alerts.delivery import failure_trade_date

    day = failure_trade_date(conf.get("run_date") or None, logical_date, run_after)
    mode = conf.get("mode") or default_mode
    round_no = conf.get("round") or 1
    return f"{day.isoformat()} · {mode} · round {round_no}"

