"""The fault campaign (issue 12 §2): short replays with faults injected at random points, each
failed step re-run as Airflow would (its retry, or a clear), then the invariants checked.

    .venv/bin/python bench/chaos.py --trials 200 --seed 1 [--out DIR] [--no-docs]

A trial replays two consecutive sessions of the sample data (real mode, the local simulator) in a
replay workspace of its own, step by step as `run_day` runs them: signals, M1, M2, the gate,
execution, the fills, the close, M5. Before each step it may inject faults (seeded):

| kind | how |
|---|---|
| `submit_504_accepted`, `submit_500_accepted` | the simulator accepts `POST /v2/orders` and answers 504 / 500 |
| `submit_dropped` | the simulator accepts the order and drops the connection |
| `storm_429` | a burst of 429s on the submits (on reads, see below) |
| `read_5xx` | a burst of 500/503 on reads (`GET`) |
| `read_hang` | a read that hangs past the client's timeout |
| `sigkill_step` | the step runs as `python -m paper_trading ...` and is SIGKILLed at a random moment |
| `ledger_crash` | the step runs in a subprocess that dies (`os._exit`) inside a ledger transaction, before its commit |
| `sim_restart` | the simulator is stopped and started again (same database, same port) while the step runs |

429s hit only the submits: on reads a 429 is waited out until `X-RateLimit-Reset`, up to 60 s (tested in
`tests/e2e`), too slow for 200 trials.

A step that fails is run again, up to 8 times, as a retry would (a transient error), or as an
operator's clear would (a killed process). A step that fails with a non-transient error is a
violation: no fault here should make a step give up.

The invariants, after every trial (faults off):

1. **none twice, none extra**: every order of ours at the broker is an approved order of its day
   (by its deterministic client_order_id), and no (day, symbol, side) has two;
2. **none missing**: every approved order is at the broker, or in the ledger as refused for good
   with a reason (not sent: nothing held to sell, no cash; or rejected by the broker);
3. **the ledger equals the broker**: the same orders (every ledger order with a broker id is at
   the broker under that id and in the same status, and every order of ours at the broker is in
   the ledger), the same
   fills (activity ids), the same end-of-day positions and cash on the last day;
4. **every fault left a trace**: each fault the simulator fired shows in the steps' logs (a retry, a
   failure, a look-up), each process fault in the runner's log (`logs/chaos.log`) and a re-run;
5. **no exception swallowed**: every failed attempt of an in-process step has its error, as raised,
   in the step's log; every failed subprocess exited non-zero with an `error:` line;
6. **every position covered exactly**: for each long position at the end, the working take-profit
   legs (of brackets and OCOs) sell exactly its whole shares, and so do the working stop-loss
   legs — never fewer (shares left bare), never more (a trigger would sell past the position);
   and no exit works on a symbol that is not held.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BARS = REPO / "data" / "market" / "daily_bars.csv"
DOCS = REPO / "docs" / "reliability.md"
START, END = "<!-- chaos:start -->", "<!-- chaos:end -->"
KINDS = (
    "submit_504_accepted",
    "submit_500_accepted",
    "submit_dropped",
    "storm_429",
    "read_5xx",
    "read_hang",
    "sigkill_step",
    "ledger_crash",
    "sim_restart",
)
#: The steps of a day, in `run_day`'s order, and which faults may hit each.
STEPS = ("signals", "signal_bus", "plan", "risk", "execute", "fills", "reconcile")
BROKER_STEPS = ("plan", "risk", "execute", "fills", "reconcile")
SUBPROCESS_STEPS = ("plan", "risk", "execute", "reconcile")
ATTEMPTS = 8
#: What a fault the simulator fired leaves in the steps' logs.
TRACES = {
    "submit_504_accepted": r"looking it up|still unknown|outcome unknown|504",
    "submit_500_accepted": r"looking it up|still unknown|outcome unknown|500",
    "submit_dropped": r"looking it up|still unknown|outcome unknown|Connection|connection|RemoteDisconnected",
    "storm_429": r"429|rate.limit",
    "read_5xx": r"broker read failed|50[03]",
    "read_hang": r"broker read failed|[Tt]imed? ?out|timeout",
}
TRIAL_CONFIG = {  # short waits: a hang costs the client's timeout, a killed run's lock its lease
    "broker": {"timeout_s": 1},
    "execution": {
        "poll_interval_s": 0.05,
        "lock_wait_s": 6,
        "lock_lease_s": 2,
        "max_backoff_s": 0.2,
        "cancel_timeout_s": 10,
        "sell_timeout_s": 20,
        "buy_timeout_s": 20,
        "fills_timeout_s": 60,
    },
}


@dataclass
class Trial:
    number: int
    seed: int
    days: list[dt.date]
    faults: list[dict] = field(default_factory=list)  # each: kind, step, day, fired (bool), note
    attempts: int = 0
    failures: list[str] = field(default_factory=list)  # failed attempts, as the runner saw them
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Runner:
    """One trial: a workspace, a simulator, the steps with faults, the invariants."""

    def __init__(self, trial: Trial, project: Path, kinds: tuple[str, ...] = KINDS, sim=None) -> None:
        """`sim`: a running simulator to reset and use (the campaign shares one: starting one costs
        a second); else the trial starts its own in its workspace."""
        from alpaca_sim.server import SimServer, free_port
        from paper_trading.steps.replay import workspace

        self.trial, self.rng, self.kinds = trial, random.Random(trial.seed), kinds
        self.where = workspace(project, f"data/chaos/trial-{trial.number:03d}", None)
        self._configure()
        self.db_url = f"sqlite:///{self.where / 'data' / 'ledger.sqlite'}"
        self.shared = sim is not None
        self.sim = sim or SimServer(
            self.where / "data" / "sim" / "chaos.sqlite",
            bars=BARS,
            port=free_port(),
            log=self.where / "logs" / "alpaca_sim.log",
        )
        self.chaos_log = self.where / "logs" / "chaos.log"
        self.errors_raised: list[tuple[str, str]] = []  # (step log name, message) of in-process failures

    def _configure(self) -> None:
        import yaml

        path = self.where / "config" / "config.yaml"
        data = yaml.safe_load(path.read_text())
        for section, values in TRIAL_CONFIG.items():
            data.setdefault(section, {}).update(values)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def note(self, text: str) -> None:
        with open(self.chaos_log, "a", encoding="utf-8") as fh:
            fh.write(f"{dt.datetime.now(dt.UTC).isoformat()} {text}\n")

    # ------------------------------------------------------------------------------------ the run

    def run(self) -> Trial:
        from paper_trading.broker.alpaca import AlpacaBroker
        from paper_trading.steps.replay import REQUESTS_PER_MINUTE, RUN_AT, SimClock
        from paper_trading.trading_calendar import EXCHANGE_TZ

        began = time.perf_counter()
        first = dt.datetime.combine(self.trial.days[0], RUN_AT, EXCHANGE_TZ) - dt.timedelta(hours=1)
        if not self.shared:
            self.sim.start()
        try:
            self.sim.admin("POST", "/sim/reset", {"cash": "100000", "clock": first.isoformat()})
            self.sim.admin(
                "POST",
                "/sim/config",
                {"rate_limit_per_minute": REQUESTS_PER_MINUTE, "data_rate_limit_per_minute": REQUESTS_PER_MINUTE},
            )
            self.broker = AlpacaBroker(
                self.sim.key,
                self.sim.secret,
                self.sim.url,
                self.sim.url,
                timeout=1.0,
                backoff_seconds=0.05,
                requests_per_minute=REQUESTS_PER_MINUTE,
            )
            self.clock = SimClock(self.sim)
            plan = self._plan_faults()
            for day in self.trial.days:
                self.clock.set(dt.datetime.combine(day, RUN_AT, EXCHANGE_TZ))
                for step in STEPS:
                    if not self._step(day, step, [f for f in plan if f["day"] == day and f["step"] == step]):
                        return self.trial  # a step that gave up: the violation is recorded
            self.sim.admin("DELETE", "/sim/faults")
            self.check()
        finally:
            if not self.shared:
                self.sim.stop()
            self.trial.seconds = time.perf_counter() - began
        return self.trial

    def _plan_faults(self) -> list[dict]:
        chosen = []
        for _ in range(self.rng.randint(1, 3) if self.kinds else 0):
            kind = self.rng.choice(self.kinds)
            if kind.startswith("submit_") or kind == "storm_429":
                step = "execute"
            elif kind in ("sigkill_step", "ledger_crash"):
                step = self.rng.choice(SUBPROCESS_STEPS)
            else:
                step = self.rng.choice(BROKER_STEPS)
            chosen.append(
                {"kind": kind, "step": step, "day": self.rng.choice(self.trial.days), "fired": False, "note": ""}
            )
        self.trial.faults = chosen
        return chosen

    def _arm(self, fault: dict) -> None:
        """Install a simulator fault rule for the step (it fires a few times, at random)."""
        kind, seed = fault["kind"], self.rng.randrange(1 << 30)
        rules = {
            "submit_504_accepted": {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "status": 504},
            "submit_500_accepted": {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "status": 500},
            "submit_dropped": {"kind": "ambiguous", "method": "POST", "path": "/v2/orders", "drop": True},
            "storm_429": {"kind": "error", "status": 429, "method": "POST", "path": "/v2/orders"},
            "read_5xx": {"kind": "error", "method": "GET", "path": "/v2/*", "status": self.rng.choice([500, 503])},
            "read_hang": {"kind": "hang", "method": "GET", "path": "/v2/*", "seconds": 1.5},
        }
        rule = {
            **rules[kind],
            "times": self.rng.randint(1, 4),
            "probability": self.rng.choice([0.2, 0.5, 1.0]),
            "seed": seed,
        }
        made = self.sim.admin("POST", "/sim/faults", rule).json()
        fault["rule_id"] = made.get("id")
        self.note(f"inject {kind} before {fault['step']} {fault['day']}: {json.dumps(rule)}")

    def _step(self, day: dt.date, step: str, faults: list[dict]) -> bool:
        for fault in faults:
            if fault["kind"] in TRACES:
                self._arm(fault)
        killer = next((f for f in faults if f["kind"] in ("sigkill_step", "ledger_crash")), None)
        restart = next((f for f in faults if f["kind"] == "sim_restart"), None)
        try:
            for attempt in range(1, ATTEMPTS + 1):
                self.trial.attempts += 1
                timer = None
                if restart is not None and attempt == 1:
                    timer = threading.Timer(self.rng.uniform(0.0, 0.6), self._restart_sim, args=(restart,))
                    timer.start()
                try:
                    if killer is not None and attempt == 1 and step in SUBPROCESS_STEPS:
                        self._in_subprocess(day, step, killer)
                    else:
                        self._in_process(day, step)
                    return True
                except Transient as exc:
                    self.trial.failures.append(f"{day} {step} attempt {attempt}: {exc}")
                    self.note(f"{day} {step} attempt {attempt} failed: {exc}; running it again")
                except Exception as exc:
                    self.trial.violations.append(f"{day} {step} gave up: {type(exc).__name__}: {exc}")
                    self.note(f"{day} {step} gave up: {exc}")
                    return False
                finally:
                    if timer is not None:
                        timer.join()
            self.trial.violations.append(f"{day} {step} still failing after {ATTEMPTS} attempts")
            return False
        finally:
            self._collect(faults)

    def _collect(self, faults: list[dict]) -> None:
        """Which armed rules fired; then the rules are removed (faults are per step)."""
        rules = {r["id"]: r for r in self.sim.admin("GET", "/sim/faults").json()}
        for fault in faults:
            if "rule_id" in fault:
                fault["fired"] = fault["fired"] or bool(rules.get(fault["rule_id"], {}).get("fired"))
        self.sim.admin("DELETE", "/sim/faults")

    def _restart_sim(self, fault: dict) -> None:
        self.note(f"inject sim_restart: the simulator stopped and started again during {fault['step']} {fault['day']}")
        self.sim.stop()
        time.sleep(0.2)
        self.sim.start()
        fault["fired"] = True

    # ------------------------------------------------------------------------------------ steps

    def _in_process(self, day: dt.date, step: str) -> None:
        from paper_trading import steps
        from paper_trading.config import load_settings
        from paper_trading.errors import TRANSIENT_ERRORS, PaperTradingError
        from paper_trading.trading_calendar import books_time

        common = {"root": self.where, "run_id": f"chaos-{day:%Y%m%d}"}
        online = {"broker": self.broker, "db_url": self.db_url}
        try:
            if step == "signals":
                ready, statuses = steps.signals_ready(day, **common)
                if not ready:
                    raise RuntimeError(f"signals not ready: {statuses}")
            elif step == "signal_bus":
                steps.consolidate_signals(day, **common)
            elif step == "plan":
                steps.plan_rebalance(day, **common, **online)
            elif step == "risk":
                gated = steps.check_risk(day, mode="real", **common, **online)
                if gated["preflight"]:
                    raise RuntimeError(f"the gate refused to trade: {gated['preflight']}")
            elif step == "execute":
                steps.execute_orders(day, mode="real", **common, **online)
            elif step == "fills":
                for _ in range(200):
                    done, _fills = steps.wait_for_fills(day, mode="real", **common, **online)
                    if done:
                        break
                    self.clock.sleep(1)
            elif step == "reconcile":
                self.clock.set(books_time(day, load_settings(self.where, None).reconcile))
                steps.reconcile_books(day, mode="real", **common, **online)
        except TRANSIENT_ERRORS as exc:
            self.errors_raised.append((step, str(exc)))
            raise Transient(str(exc)) from exc
        except PaperTradingError as exc:
            self.errors_raised.append((step, str(exc)))
            raise
        except OSError as exc:  # the simulator restarting under a read: a connection error
            raise Transient(str(exc)) from exc

    def _in_subprocess(self, day: dt.date, step: str, fault: dict) -> None:
        """The step as `python -m paper_trading STEP`, killed at a random moment (sigkill_step) or dying
        inside its Nth ledger transaction (ledger_crash)."""
        argv = {
            "plan": ["plan"],
            "risk": ["risk", "--mode", "real"],
            "execute": ["execute", "--mode", "real"],
            "reconcile": ["reconcile", "--mode", "real"],
        }[step]
        if step == "reconcile":
            from paper_trading.config import load_settings
            from paper_trading.trading_calendar import books_time

            self.clock.set(books_time(day, load_settings(self.where, None).reconcile))
        args = [*argv, "--date", day.isoformat(), "--root", str(self.where), "--run-id", f"chaos-{day:%Y%m%d}"]
        env = {
            **os.environ,
            "APCA_API_KEY_ID": self.sim.key,
            "APCA_API_SECRET_KEY": self.sim.secret,
            "APCA_API_BASE_URL": self.sim.url,
            "APCA_API_DATA_URL": self.sim.url,
            "PAPER_TRADING_DB_URL": self.db_url,
        }
        code = "from paper_trading.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
        if fault["kind"] == "ledger_crash":
            nth = self.rng.randint(1, 6)
            code = CRASH_HOOK.replace("NTH", str(nth)) + code
            self.note(f"inject ledger_crash in {step} {day}: exit inside ledger transaction #{nth}")
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        if fault["kind"] == "sigkill_step":
            delay = self.rng.uniform(0.3, 3.0)
            self.note(f"inject sigkill_step in {step} {day} after {delay:.2f} s")
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                fault["fired"] = True
        out, err = proc.communicate(timeout=300)
        if proc.returncode == -signal.SIGKILL:
            raise Transient(f"{step} killed (SIGKILL)")
        if proc.returncode == CRASH_EXIT:
            fault["fired"] = True
            raise Transient(f"{step} died inside a ledger transaction")
        if proc.returncode != 0:
            line = err.strip().splitlines()[-1] if err.strip() else ""
            if not line.startswith("error:"):
                self.trial.violations.append(
                    f"{day} {step}: exit {proc.returncode} without an error line: {err[-300:]!r}"
                )
            if proc.returncode == 75:
                self.errors_raised.append((step, line.removeprefix("error: ").rsplit(" (temporary", 1)[0]))
                raise Transient(line)
            raise RuntimeError(line or f"exit {proc.returncode}")

    # ------------------------------------------------------------------------------- invariants

    def check(self) -> None:
        import pandas as pd

        from paper_trading.ledger import Ledger
        from paper_trading.orders import client_order_id

        v = self.trial.violations
        orders = self.sim_orders()  # (order, its parent's client_order_id for a leg)
        ours = {o["client_order_id"]: o for o, parent in orders if (parent or o["client_order_id"]).startswith("pt-")}
        entries = {cid: o for cid, o in ours.items() if cid.startswith("pt-") and "-oco-" not in cid}
        expected: dict[str, dt.date] = {}
        for day in self.trial.days:
            path = self.where / "data" / "outputs" / f"approved_orders_{day:%Y%m%d}.csv"
            for row in pd.read_csv(path).itertuples():
                expected[client_order_id("pt", day, row.symbol, row.side, 1, "real")] = day
        extra = sorted(set(entries) - set(expected))
        if extra:
            v.append(f"orders at the broker that no approved plan has: {extra[:5]}")
        keys = collections.Counter((cid.split("-")[1], o["symbol"], o["side"]) for cid, o in entries.items())
        if twice := [k for k, n in keys.items() if n > 1]:
            v.append(f"sent twice: {twice[:5]}")
        with Ledger(self.db_url) as ledger:
            rows = {r["client_order_id"]: r for r in ledger.orders(mode="real")}
            for cid in sorted(set(expected) - set(entries)):
                row = rows.get(cid)
                if (
                    row is None
                    or row["status"] not in ("not_sent", "rejected")
                    or not (row["reason"] or row["last_error"])
                ):
                    v.append(
                        f"missing: {cid} is approved, not at the broker, and not refused with a reason in the "
                        f"ledger ({row and row['status']})"
                    )
            ledger_sent = {cid: r for cid, r in rows.items() if r["broker_order_id"]}
            if missing := sorted(set(ours) - set(rows)):
                v.append(f"at the broker, not in the ledger: {missing[:5]}")
            for cid, row in ledger_sent.items():
                at = ours.get(cid)
                if at is None:
                    v.append(f"in the ledger as sent ({row['broker_order_id']}), not at the broker: {cid}")
                elif at["id"] != row["broker_order_id"]:
                    v.append(f"{cid}: the ledger's broker id {row['broker_order_id']} is not the broker's {at['id']}")
                elif at["status"] != row["status"]:  # M5 brought what finished on its own into the ledger
                    v.append(f"{cid}: {row['status']} in the ledger, {at['status']} at the broker")
            last = self.trial.days[-1]
            book = {r["symbol"]: float(r["qty"]) for r in ledger.table("positions_eod", until=last, since=last)}
            equity = ledger.table("equity_daily", until=last, since=last)
            fills = {r["activity_id"] for r in ledger.table("fills")}
        broker_positions = {p["symbol"]: float(p["qty"]) for p in self.sim.admin("GET", "/v2/positions").json()}
        if book != broker_positions:
            v.append(f"positions: ledger {book} != broker {broker_positions}")
        cash = float(self.sim.admin("GET", "/v2/account").json()["cash"])
        if not equity or abs(float(equity[0]["cash"]) - cash) > 0.005:
            v.append(f"cash: ledger {equity and equity[0]['cash']} != broker {cash}")
        activities = self.sim.admin("GET", "/v2/account/activities/FILL?page_size=100&direction=asc").json()
        broker_fills = self._all_fills(activities)
        if fills != broker_fills:
            v.append(
                f"fills: {len(fills)} in the ledger, {len(broker_fills)} at the broker "
                f"({sorted(broker_fills ^ fills)[:3]})"
            )
        self._check_coverage(orders, broker_positions)
        self._check_traces()

    def _check_coverage(self, orders: list[tuple[dict, str | None]], positions: dict[str, float]) -> None:
        """Invariant 6, from the broker's nested listing: a bracket's legs work once its entry is done
        (filled, or expired after filling in part); an OCO's take-profit is the order itself."""
        working = ("new", "accepted", "held", "partially_filled", "pending_new")
        cover: dict[str, list[float]] = {}
        for order, parent in orders:
            if parent is not None or order["order_class"] not in ("bracket", "oco"):
                continue
            if order["order_class"] == "bracket" and order["status"] in working:
                continue  # the entry still works: its legs are not working yet
            group = [order, *(order.get("legs") or [])] if order["order_class"] == "oco" else order.get("legs") or []
            for leg in group:
                if leg["side"] == "sell" and leg["status"] in working:
                    tp_sl = cover.setdefault(leg["symbol"], [0.0, 0.0])
                    tp_sl[0 if leg["type"] == "limit" else 1] += float(leg["qty"]) - float(leg["filled_qty"])
        held = {s: float(int(q)) for s, q in positions.items() if q > 0}
        for symbol in sorted(set(held) | set(cover)):
            want, (tp, sl) = held.get(symbol, 0.0), cover.get(symbol, (0.0, 0.0))
            if (tp, sl) != (want, want):
                self.trial.violations.append(
                    f"coverage: {symbol} holds {want:g}, its working take-profits sell "
                    f"{tp:g} and its stop-losses {sl:g}"
                )

    def _all_fills(self, first: list[dict]) -> set[str]:
        found, page = {a["id"] for a in first}, first
        while len(page) == 100:
            page = self.sim.admin(
                "GET", f"/v2/account/activities/FILL?page_size=100&direction=asc&page_token={page[-1]['id']}"
            ).json()
            found |= {a["id"] for a in page}
        return found

    def sim_orders(self) -> list[tuple[dict, str | None]]:
        out, until = [], None
        while True:
            query = "/v2/orders?status=all&limit=500&nested=true&direction=desc" + (f"&until={until}" if until else "")
            page = self.sim.admin("GET", query).json()
            for order in page:
                out += [(order, None), *((leg, order["client_order_id"]) for leg in order.get("legs") or [])]
            if len(page) < 500:
                return out
            until = page[-1]["submitted_at"]

    def _check_traces(self) -> None:
        logs = "\n".join(
            p.read_text(errors="replace")
            for p in (self.where / "logs").glob("*.log")
            if p.name not in ("chaos.log", "alpaca_sim.log")
        )
        runner = self.chaos_log.read_text() if self.chaos_log.exists() else ""
        for fault in self.trial.faults:
            if not fault["fired"]:
                continue
            if fault["kind"] in TRACES and not re.search(TRACES[fault["kind"]], logs):
                self.trial.violations.append(
                    f"{fault['kind']} fired in {fault['step']} {fault['day']} and left no trace in the steps' logs"
                )
            if fault["kind"] not in TRACES and fault["kind"] not in runner:
                self.trial.violations.append(f"{fault['kind']} fired and left no trace in logs/chaos.log")
        for step, message in self.errors_raised:
            head = message.splitlines()[0][:120] if message else ""
            if head and head not in logs:
                self.trial.violations.append(f"swallowed? the error of {step} is not in its log: {head!r}")


class Transient(Exception):
    """A failed attempt that a retry (or a clear) is for."""


CRASH_EXIT = 113
#: Prepended to the subprocess' code: die inside the Nth ledger transaction, after its statements
#: and before its commit.
CRASH_HOOK = """
import os
import paper_trading.ledger.store as _store
_seen = [0]
_original = _store.Ledger._upsert
def _crashing(self, conn, table, rows, keys):
    _original(self, conn, table, rows, keys)
    _seen[0] += 1
    if _seen[0] == NTH:
        os._exit(113)
_store.Ledger._upsert = _crashing
"""


def sessions_for(rng: random.Random, count: int = 2) -> list[dt.date]:
    from paper_trading.trading_calendar import sessions_between

    days = sessions_between(dt.date(2025, 7, 1), dt.date(2025, 12, 30))
    i = rng.randrange(len(days) - count + 1)
    return days[i : i + count]


def campaign(trials: int, seed: int, out: Path | None = None, progress=None, sessions: int = 2) -> list[Trial]:
    """`trials` seeded trials of `sessions` sessions each, in a copy of the sample project under
    `out` (default: a temporary one). The library's own log lines go to the steps' log files only."""
    import logging
    import shutil

    logging.getLogger("paper_trading").addHandler(logging.NullHandler())
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        project = Path(out or tmp) / "project"
        if project.exists():
            shutil.rmtree(project)
        for part in ("config", "data/raw_signals", "data/mapping"):
            shutil.copytree(REPO / part, project / part)
        from alpaca_sim.server import SimServer, free_port

        done = []
        with SimServer(Path(out or tmp) / "chaos-sim.sqlite", bars=BARS, port=free_port()) as sim:
            for number in range(1, trials + 1):
                trial_seed = rng.randrange(1 << 30)
                days = sessions_for(random.Random(trial_seed), sessions)
                runner = Runner(Trial(number, trial_seed, days), project, sim=sim)
                done.append(runner.run())
                warm, cache = runner.where / "data" / "cache" / "signals", project / "data" / "cache" / "signals"
                if warm.is_dir() and not cache.exists():  # the next trials start from M1's index of the files
                    shutil.copytree(warm, cache)
                if progress is not None:
                    progress(done[-1])
        return done


def table(trials: list[Trial], seed: int) -> str:
    injected, fired = collections.Counter(), collections.Counter()
    for t in trials:
        for f in t.faults:
            injected[f["kind"]] += 1
            fired[f["kind"]] += f["fired"]
    violations = [(t.number, v) for t in trials for v in t.violations]
    lines = [
        f"Command: `.venv/bin/python bench/chaos.py --trials {len(trials)} --seed {seed}` "
        f"({sum(t.seconds for t in trials):.0f} s on {os.cpu_count()} cores; {len(trials[0].days)} sessions a trial, "
        f"{sum(t.attempts for t in trials)} step runs, {sum(len(t.failures) for t in trials)} of them failed "
        "and were run again).",
        "",
        "| fault | injected | fired |",
        "|---|---:|---:|",
    ]
    lines += [f"| `{k}` | {injected[k]} | {fired[k]} |" for k in KINDS]
    lines += ["", f"**Invariant violations: {len(violations)}** in {len(trials)} trials."]
    lines += [f"- trial {n}: {v}" for n, v in violations[:50]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="keep the trials' workspaces here")
    parser.add_argument("--no-docs", action="store_true", help="do not write the table into docs/reliability.md")
    args = parser.parse_args()

    def show(trial: Trial) -> None:
        kinds = ",".join(f["kind"] + ("*" if f["fired"] else "") for f in trial.faults)
        print(
            f"trial {trial.number:3d} {trial.days[0]} {trial.seconds:5.1f}s faults {kinds}: "
            f"{'OK' if not trial.violations else '; '.join(trial.violations)}",
            flush=True,
        )

    trials = campaign(args.trials, args.seed, args.out, progress=show)
    text = table(trials, args.seed)
    print(text)
    if not args.no_docs:
        sys.path.insert(0, str(REPO / "bench"))
        import benchlib

        benchlib.write_readme(DOCS, START, END, text, "chaos.py", "Fault campaign")
        print(f"written to {DOCS.relative_to(REPO)}")
    sys.exit(1 if any(t.violations for t in trials) else 0)


if __name__ == "__main__":
    main()
