"""The whole day once, without Airflow: `python -m paper_trading run` (for cron users).

The same step functions as the DAG's tasks, in the DAG's order, with one run id for the day:

    session?  -> signals ready -> signal_bus -> plan -> risk gate -> execute (dry | real)
    -> wait for fills -> wait until the reconcile time -> reconcile -> report

- Not an XNYS session: nothing is done (nothing is written, the broker is not contacted).
- Signals not ready: `SignalsNotReady`, naming each strategy still waited for (the CLI exits 75:
  run the same command again later). A published file that cannot be read is an `InputError`.
  With `signals_timeout` (a replay) the day instead waits as the DAG's `wait_for_signals` sensor
  does: it checks again every `signals_poke_interval` (`sleep`) until the signals are ready — then
  the day goes on, late — or until a failed check comes after the timeout (counted from the first
  check); then `SignalsNotReady`, saying how long it waited.
- `point_in_time` (a replay): the strategy files are read as they were at `now()` (the check that
  found them ready): rows whose `asof` is later were not published yet and are ignored, by the
  check and by M1. Off (`run`, like the DAG): a live file holds what was published by now.
- Real mode: a pre-flight refusal of the gate (market closed, kill switch, account blocked, trade
  date not today) is `TradingRefused` naming the reasons; nothing is sent (the DAG fails its gate).
  Real mode with `execution.require_approval: true` is refused before anything is done: the DAG
  then waits for a person's Approve, and a command run by cron has nobody to ask.
- Fills are polled with `wait_for_fills` every `execution.poll_interval_s`, for at most
  `execution.fills_timeout_s`; what is still open then is said, and the day goes on.
- The books are made at `trading_calendar.books_time` (`reconcile.timing`), against the real
  clock: if that is still ahead, the run sleeps until then (dry runs too: the day's books value the
  positions at the day's close, as the DAG's `wait_for_close` does).
- `wait=False` (`--no-wait`) never sleeps. If the reconcile time has passed, nothing changes. If it
  has not, the run stops after the fills and makes **no books**: reconciling before the close would
  classify orders that are merely still open (and raise plan-vs-actual alerts for them, which are
  de-duplicated per day, so the real outcome would not be raised again), value the positions at a
  price that is not the close, and write those as the day's end-of-day books that the next day's
  drift check and the returns build on. The run says when to run `reconcile` and `report`.
- Running the day again sends nothing twice: execution looks every deterministic client_order_id
  up first; the plan is made again on the positions now, and every output is rewritten in place.

The data-quality checks of the DAG (the `data_quality` group: `check_orders`, `check_fills`,
`check_books`) are Airflow SQL operators and are not run here; reconciliation's drift rows and alerts are.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paper_trading.errors import SignalsNotReady, TradingRefused
from paper_trading.paths import display_path
from paper_trading.steps.common import (
    check_round,
    config_or_defaults,
    load_settings,
    project_dir,
    resolve_broker,
    run_step,
    sharing_ledgers,
)

if TYPE_CHECKING:
    from paper_trading.broker.types import Broker

#: Sleep at most this long at a time while waiting for the close (a machine that slept, or a clock
#: that was set, is noticed within this).
MAX_SLEEP_S = 300.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_run_id(moment: dt.datetime) -> str:
    """`cli-YYYYMMDDTHHMMSS` (UTC): one id for every step of the day's run."""
    return f"cli-{moment.astimezone(dt.UTC):%Y%m%dT%H%M%S}"


@sharing_ledgers()
def run_day(
    trade_date: dt.date | str | None,
    *,
    mode: str,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    round_no: int = 1,
    broker: Broker | Callable[[], Broker] | None = None,
    db_url: str | None = None,
    run_id: str | None = None,
    wait: bool = True,
    signal_mode: str | None = None,
    pick: str | None = None,
    blend: dict[str, float] | str | None = None,
    blend_missing: str | None = None,
    sleep: Callable[[float], object] = time.sleep,
    now: Callable[[], dt.datetime] = _utc_now,
    max_sleep_s: float = MAX_SLEEP_S,
    report: bool = True,
    echo: Callable[[str], None] | None = None,
    debug: bool = False,
    point_in_time: bool = False,
    signals_timeout: dt.timedelta | None = None,
    signals_poke_interval: dt.timedelta | None = None,
    export_history: bool = True,
) -> dict:
    """Run the whole day once (see the module's docstring). `trade_date` None: today in New York.
    `broker`: a Broker, a factory of one, or None (from the environment and the config), made once
    and shared by the steps. `sleep` and `now` (an aware instant) are the clock, for tests. `echo`
    receives each step's summary line as the step ends. `max_sleep_s`: the longest single sleep
    while waiting for the close (a replay's clock jumps there at once). `report` False: the day
    ends with its books (a replay reports the whole period once, at its end). `point_in_time`,
    `signals_timeout`, `signals_poke_interval` (default: the DAG sensor's): see the module's docstring.
    `export_history` False: the whole-history CSVs are not rewritten (a replay writes them at its end).

    Returns {"trade_date", "mode", "round", "run_id", "session", "books", "signals": {"known_at"
    (ISO, or None without point_in_time), "checks", "waited_s"}, "steps": {step: what it returned},
    "lines": [{"step", "did", "paths"}]}; `books` is "made", "deferred" (no-wait before the
    reconcile time) or None (nothing traded: not a session)."""
    from paper_trading import steps
    from paper_trading.config import parse_blend
    from paper_trading.errors import ConfigError
    from paper_trading.trading_calendar import (
        EXCHANGE_TZ,
        books_time,
        is_session,
        resolve_trade_date,
    )

    if mode not in ("dry", "real"):
        raise ConfigError(f"mode must be dry or real, got {mode!r}")
    check_round(round_no)
    if isinstance(blend, str):
        try:
            blend = parse_blend(blend)
        except ValueError as exc:
            raise ConfigError(f"--blend: {exc}") from None
    started = now()
    day = resolve_trade_date(trade_date, None, started)
    project = project_dir(root)  # the root and the config are checked first: a bad one creates nothing
    settings = load_settings(project, config_path)
    cfg = config_or_defaults(settings)
    run_id = run_id or new_run_id(started)
    result: dict = {"trade_date": day.isoformat(), "mode": mode, "round": round_no, "run_id": run_id,
                    "session": True, "books": None, "steps": {}, "lines": []}

    def shown(path) -> str:
        return display_path(Path(path), project)

    def note(step: str, did: str, *paths, level: int = 20) -> None:
        line = {"step": step, "did": did, "paths": [shown(p) for p in paths]}
        result["lines"].append(line)
        with run_step("run", day, root=project, config_path=config_path, run_id=run_id, debug=debug) as ctx:
            ctx.log.log(level, "%s: %s%s", step, did, f" ({', '.join(line['paths'])})" if paths else "")
        if echo is not None:
            echo(format_line(line))

    if not is_session(day):
        result["session"] = False
        result["lines"].append({"step": "session", "did": f"{day} is not an XNYS session: nothing to do",
                                "paths": []})
        if echo is not None:
            echo(format_line(result["lines"][-1]))
        return result
    if mode == "real" and getattr(cfg.execution, "require_approval", False):  # refused before any work
        raise TradingRefused("execution.require_approval is true: a person approves real orders in the DAG's "
                             "approve_orders step, and `run` has nobody to ask; nothing was done")
    common: dict[str, Any] = {"root": project, "config_path": config_path, "run_id": run_id}

    known_at, statuses, waited = _wait_for_signals(day, common, now, sleep, point_in_time, signals_timeout,
                                                   signals_poke_interval)
    result["signals"] = {"known_at": known_at.isoformat() if known_at else None, **waited}
    late = (f" after waiting {duration(waited['waited_s'])} ({waited['checks']} checks)"
            if waited["waited_s"] else "")
    note("signals", f"ready{late}: {', '.join(s.strategy_id for s in statuses)}")

    made: list[Broker] = []

    def shared_broker() -> Broker:
        """One broker for the whole day, made on first use (a day without trading never needs one)."""
        if not made:
            made.append(resolve_broker(broker, settings))
        return made[0]

    online: dict[str, Any] = {"broker": shared_broker, "db_url": db_url}
    targets = steps.consolidate_signals(
        day,
        **common,
        mode=signal_mode,
        pick=pick,
        blend=blend,
        blend_missing=blend_missing,
        debug=debug,
        known_at=known_at,
    )
    result["steps"]["signal_bus"] = targets
    note(
        "signal_bus",
        f"{targets['assets']} assets, {targets['strategy_set_id']} ({targets['blend_mode']})",
        targets["targets_path"],
    )

    planned = steps.plan_rebalance(
        day,
        **common,
        targets=targets["targets_path"],
        broker=shared_broker,
        db_url=db_url,
        round_no=round_no,
        debug=debug,
    )
    result["steps"]["plan"] = planned
    note(
        "plan",
        f"{planned['orders']} order(s): {planned['sells']} sell(s), {planned['buys']} buy(s); "
        f"{planned['skipped']} skipped",
        planned["plan_path"],
        planned["orders_path"],
    )

    gated = steps.check_risk(
        day, mode=mode, round_no=round_no, **common, orders=planned["orders_path"], **online, debug=debug
    )
    result["steps"]["risk"] = gated
    refused = f"; pre-flight: {', '.join(gated['preflight'])}" if gated["preflight"] else ""
    note(
        "risk",
        f"{gated['approved']} approved, {gated['rejected']} rejected ({mode}){refused}",
        gated["risk_report_path"],
        gated["approved_path"],
        level=30 if refused else 20,
    )
    if mode == "real" and gated["preflight"]:
        raise TradingRefused(
            f"the risk gate refused to trade {day} in real mode: {', '.join(gated['preflight'])}; "
            "nothing was sent (see logs/alerts.log)"
        )

    executed = steps.execute_orders(
        day,
        mode=mode,
        round_no=round_no,
        **common,
        orders=gated["approved_path"],
        **online,
        debug=debug,
        sleep=sleep,
        now=now,
        export_history=export_history,
    )
    result["steps"]["execute"] = executed
    counts = ", ".join(f"{n} {s}" for s, n in sorted(executed["counts"].items())) or "no orders"
    note(
        "execute",
        f"{mode}, round {round_no}: {counts}; cancelled {executed['cancelled']} earlier order(s); "
        f"re-protected {len(executed['reprotected'])} name(s)",
        executed["execution_log_path"],
    )

    ec = cfg.execution
    deadline = now() + dt.timedelta(seconds=ec.fills_timeout_s)
    while True:
        done, fills = steps.wait_for_fills(
            day, mode=mode, round_no=round_no, **common, **online, export_history=export_history
        )
        if done:
            break
        if now() >= deadline:
            fills["timed_out"] = True
            break
        sleep(ec.poll_interval_s)
    result["steps"]["wait_for_fills"] = fills
    if fills["open"]:
        note(
            "fills",
            f"{len(fills['open'])} order(s) still open after {ec.fills_timeout_s:g} s: {', '.join(fills['open'])}",
            level=30,
        )
    else:
        note("fills", "dry run: nothing to wait for" if mode == "dry" else f"all {fills['orders']} order(s) done")

    rc = cfg.reconcile
    at = books_time(day, rc)
    local = f"{at.astimezone(EXCHANGE_TZ):%Y-%m-%d %H:%M} New York"
    if now() < at:
        if not wait:
            result["books"] = "deferred"
            note(
                "reconcile",
                f"not made: the books of {day} are made after {local} (reconcile.timing "
                f"{rc.timing}), and --no-wait does not wait; then run `reconcile --date {day} --mode "
                f"{mode}` and `report --date {day}`",
                level=30,
            )
            return result
        note("close", f"waiting until {local} to make the books")
        while (left := (at - now()).total_seconds()) > 0:
            sleep(min(left, max_sleep_s))
    else:
        note("close", f"reconcile time {local} has passed")

    books = steps.reconcile_books(day, mode=mode, **common, **online, debug=debug, export_history=export_history)
    result["steps"]["reconcile"] = books
    result["books"] = "made"
    classes = ", ".join(f"{n} {c}" for c, n in sorted(books["counts"].items())) or "no rows"
    note(
        "reconcile",
        f"{classes}; equity {books['equity']:,.2f}, {books['positions']} position(s), {books['alerts']} alert row(s)",
        books["recon_report_path"],
    )

    if not report:
        return result
    reported = steps.write_report(day, **common, **online, debug=debug)
    result["steps"]["report"] = reported
    note(
        "report",
        f"{reported['sessions']} session(s)",
        reported["metrics_path"],
        reported["pnl_daily_path"],
        reported["dashboard_path"],
    )
    return result


def _wait_for_signals(
    day: dt.date,
    common: dict,
    now: Callable[[], dt.datetime],
    sleep: Callable[[float], object],
    point_in_time: bool,
    timeout: dt.timedelta | None,
    poke_interval: dt.timedelta | None,
) -> tuple[dt.datetime | None, list, dict]:
    """Check the signals until they are ready, as the DAG's sensor does (see the module's
    docstring). Returns the instant they were read at (None: not point in time), the statuses, and
    {"checks", "waited_s"}; raises SignalsNotReady when they are not ready in time.

    The timeout is Airflow's: after a failed check, give up if the time since the first check has
    reached it (Airflow says "exceeded", but its check comes a little after the poke's instant; a
    clock that stands still during a check, as a replay's does, would otherwise poke once more)."""
    from paper_trading import steps
    from paper_trading.signals.wait_policy import SENSOR_POKE_INTERVAL

    poke = (poke_interval or SENSOR_POKE_INTERVAL).total_seconds()
    first = now()
    checks = 0
    while True:
        moment = now()
        known_at = moment if point_in_time else None
        checks += 1
        ready, statuses = steps.signals_ready(day, **common, known_at=known_at)
        waited = (moment - first).total_seconds()
        if ready:
            return known_at, statuses, {"checks": checks, "waited_s": waited}
        if timeout is None or waited >= timeout.total_seconds():
            break
        sleep(poke)
    pending = [f"{s.strategy_id} ({s.path}: {s.reason})" for s in statuses if not s.ready]
    if timeout is None:
        raise SignalsNotReady(f"signals for {day} not ready: {'; '.join(pending)}; run again once they are published")
    raise SignalsNotReady(
        f"signals for {day} not ready after waiting {duration(waited)} ({checks} checks, the "
        f"sensor's timeout is {duration(timeout.total_seconds())}): {'; '.join(pending)}"
    )


def duration(seconds: float) -> str:
    """`2 h 05 min`, `45 min`, `30 s`: a wait, as a person reads it."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def format_line(line: dict) -> str:
    """One line of the day's summary: the step, what it did, the paths of its outputs."""
    paths = f"  -> {', '.join(line['paths'])}" if line["paths"] else ""
    return f"{line['step']:<11}{line['did']}{paths}"
