"""M4 — the execution runner: approved orders -> orders at the broker, exactly once.

No retry, crash, cleared task, second run or ambiguous broker answer may send an order twice or
lose one. What makes that true:

- **Deterministic ids.** Every order's `client_order_id` is `PREFIX-YYYYMMDD-SYMBOL-side-rN`
  (`dry-...` in dry mode, which never reaches the broker). Alpaca keeps an id unique for good,
  even after a cancel or a reject, so an id's outcome is final for its round; `--round` trades a
  symbol again on purpose.
- **Look before sending.** Before each submit the id is looked up (the ledger for a final outcome,
  then the broker). One listing of the day's orders at the start of the run answers for every id
  the ledger has never journaled (the run holds the ledger's lock for the day, so nobody else can
  send them meanwhile); any other id is looked up one by one just before its submit. A timeout, a 5xx
  or a dropped connection after the POST is an unknown outcome: the id is looked up before anything
  else, and only sent again (with the same id) when the broker does not have it; a 422
  "client_order_id must be unique" means it is there. A 429 created nothing: wait what the broker
  says, look up, send again.
- **Journal.** The intent is written to the ledger (`submitting`) before the POST and the answer
  after it, so a run killed between the two leaves a row that the next run resolves. The new orders
  of one phase (sells, buys, protective OCOs) are journaled together before the first POST, and each
  answer rides with the next write: a few transactions per phase, not two per order.

The order of a real run (dry runs the same code, with writes replaced by ledger rows `dry_run`):

1. pre-flight again (market open now and today, account flags, kill switch) — done by the step;
2. cancel the open orders on every symbol about to be sold (and, with `whole_position`, bought) —
   earlier brackets' and OCOs' exit legs included, since they hold the shares — and wait until they
   are `canceled` (Alpaca answers a cancel before it is done). One `status=open` listing without
   nesting finds them all: it lists each working leg as an order of its own, so a filled bracket's
   take-profit (`new`) is there, while a nested listing shows it only under a parent that
   `status=open` no longer lists. The stop-loss beside it stays `held` (Alpaca triggers it itself)
   and is never "open"; cancelling either leg cancels the other. Which parent a leg belongs to
   (Alpaca's listing does not say) is in our ledger, for our own orders;
3. sells as MARKET DAY orders, each capped to what is held now (on a margin account the rest
   would open a short), and wait until they are done (or a timeout);
4. re-read cash and prices, and scale the buys down (never up) if cash is short, saying why;
5. buys (protection `per_lot`, the default, as the spec says: 新开仓/加仓使用 Bracket): every buy
   is a BRACKET over the shares it buys (market entry, take-profit limit, stop-loss stop priced on
   the price now) — a new position and an increase alike; the exits already working on the name
   stay as they are. A fractional quantity cannot be a bracket at Alpaca and goes as a simple DAY
   market order; a cover is a MARKET buy. With `whole_position`, an increase of a held, protected
   name is a MARKET buy and step 6 re-protects the whole position with one OCO;
6. coverage: after the buys are done, every protected long position (traded in this run, or with
   an exit working) ends the run with its working take-profit legs covering exactly its whole
   shares (each take-profit's stop-loss covers what it covers: Alpaca cancels one leg with the
   other and shrinks the stop to what a partial take-profit left). A name covered by less (a
   reduction whose exits were cancelled in 2; an entry that filled in part, whose rest is
   cancelled after `buy_timeout_s`) gets one OCO for the uncovered rest; a name covered by more,
   or whose exits lapse within `exit_renew_days` (Alpaca cancels GTC orders 90 days after they are
   created), has its earlier exits cancelled and one OCO placed over the whole position.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from paper_trading.broker.trade_updates import CATCH_UP_S
from paper_trading.broker.types import Broker, OrderInfo, OrderRequest, group_states, unwatch_orders, watch_orders
from paper_trading.errors import (
    AmbiguousSubmitError,
    BrokerError,
    LedgerBusy,
    OrderRejected,
    SubmitRateLimited,
)
from paper_trading.ledger import Ledger
from paper_trading.logging_setup import get_logger
from paper_trading.orders import (
    DONE_TODAY,
    EXIT_CLASSES,
    FINAL,
    NOT_SENT_AGAIN,
    TERMINAL,
    UNRESOLVED,
    client_order_id,
)
from paper_trading.planning.rebalance import bracket_prices, round_to_tick

log = get_logger("execution")

REPROTECT_REASON = "re-protect: one take-profit/stop-loss pair over the whole position"
REST_REASON = "protect the rest: an OCO over the shares no working take-profit/stop-loss covers"
RENEW_REASON = (
    "renew: the earlier exits lapse within {days} days (Alpaca cancels GTC orders after 90); "
    "one take-profit/stop-loss pair over the whole position"
)
CONSOLIDATE_REASON = (
    "consolidate: the working exits covered more than the position; one take-profit/stop-loss "
    "pair over the whole position"
)
MIN_GAP = 0.01
#: After this many submits in a row whose outcome stays unknown, the run stops sending (the broker is
#: failing); what is left is sent by the next run, after each id was looked up.
UNKNOWN_BREAKER = 3


def day_window_start(trade_date: dt.date) -> dt.datetime:
    """Where a listing of one trade date's orders starts: midnight UTC the day before (every New York
    time of the date, and orders accepted before its open, fall after it)."""
    return dt.datetime.combine(trade_date - dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)


def exit_prices(base: float, take_profit_pct: float, stop_loss_pct: float) -> tuple[float, float]:
    """Take-profit and stop-loss around one price, on Alpaca's ticks (see `rebalance.bracket_prices`)."""
    tp, sl = bracket_prices(np.array([base]), take_profit_pct, stop_loss_pct)
    return float(tp[0]), float(sl[0])


@dataclass(frozen=True)
class ExecutionSettings:
    prefix: str = "pt"
    reprotect: bool = True
    protection: str = "per_lot"
    exit_renew_days: int = 7
    take_profit_pct: float = 0.05
    stop_loss_pct: float = 0.03
    bracket_time_in_force: str = "gtc"
    entry_type: str = "market"  # market | limit (at the price now + entry_limit_offset_pct)
    entry_limit_offset_pct: float = 0.0
    simple_time_in_force: str = "day"
    cancel_timeout_s: float = 30.0
    sell_timeout_s: float = 120.0
    buy_timeout_s: float = 120.0
    poll_interval_s: float = 1.0
    market_buy_collar: float = 0.025
    cash_floor_pct: float = 0.01
    submit_attempts: int = 5
    max_backoff_s: float = 60.0


@dataclass
class Intent:
    """One approved order on its way to the broker."""

    cid: str
    symbol: str
    side: str
    qty: float
    planned_qty: float
    order_type: str  # market | bracket (approved); the form sent may differ (see `form`)
    time_in_force: str
    ref_price: float
    tp_price: float | None = None
    sl_price: float | None = None
    plan_reason: str = ""
    form: str = ""  # market | bracket | oco, decided when it is sent
    status: str = "pending"
    broker_id: str | None = None
    reason: str = ""
    error: str = ""
    legs: tuple[OrderInfo, ...] = ()
    limit_price: float | None = None  # a limit bracket entry's
    filled_qty: float | None = None
    filled_avg_price: float | None = None
    submitted_at: dt.datetime | None = None

    @property
    def settled(self) -> bool:
        return self.status not in UNRESOLVED and self.status != "pending"

    @classmethod
    def oco(cls, cid: str, symbol: str, qty: float, time_in_force: str, ref_price: float, tp: float | None,
            sl: float | None, reason: str) -> Intent:
        """A protective take-profit/stop-loss pair over `qty` held shares (placed, or adopted)."""
        return cls(cid, symbol, "sell", qty, qty, "oco", time_in_force, ref_price, tp, sl, form="oco", reason=reason)


@dataclass
class ExecutionResult:
    intents: list[Intent]
    cancelled: list[str] = field(default_factory=list)  # broker ids of foreign open orders cancelled
    cancelled_symbols: set[str] = field(default_factory=set)
    protective: list[Intent] = field(default_factory=list)  # the re-protection OCOs placed (or tried)
    reprotected: list[str] = field(default_factory=list)  # symbols with an OCO at the broker
    unprotected: list[str] = field(default_factory=list)  # held, not re-protected yet (orders still open)
    problems: list[str] = field(default_factory=list)  # what a person must look at (alerts)

    @property
    def unresolved(self) -> list[Intent]:
        """Orders whose fate is unknown (or not tried because the broker kept failing)."""
        return [i for i in self.intents + self.protective if not i.settled]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.intents:
            out[i.status] = out.get(i.status, 0) + 1
        return out


def scale_buys(qty: dict[str, float], prices: dict[str, float], budget: float) -> tuple[dict[str, float], float]:
    """Whole-share buys scaled down by one factor so their cost fits `budget` (never up).

    Returns the new quantities and the factor (1.0 when they already fit). Pure: the tests pin it.
    """
    cost = math.fsum(q * prices[s] for s, q in qty.items())
    if cost <= budget or cost <= 0:
        return dict(qty), 1.0
    factor = max(budget, 0.0) / cost
    return {s: float(math.floor(q * factor + 1e-9)) for s, q in qty.items()}, factor


class Executor:
    """Sends (or, dry, records) one trade date's approved orders. See the module docstring."""

    def __init__(
        self,
        broker: Broker,
        ledger: Ledger,
        settings: ExecutionSettings,
        *,
        mode: str,
        trade_date: dt.date,
        round_no: int,
        run_id: str,
        env: str,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        preflight: Callable[[], None] | None = None,
        keep_alive: Callable[[], None] | None = None,
    ) -> None:
        """`preflight` runs once, just before the first write to the broker (real mode): a run that
        finds everything already sent only reads, so it can record an earlier attempt's orders even
        after the close. `keep_alive` is called while the run works (it renews the ledger lock and
        raises if the lock was lost)."""
        self.broker, self.s = broker, settings
        self.ledger = _Batched(ledger)
        self.mode, self.trade_date, self.round_no, self.run_id, self.env = mode, trade_date, round_no, run_id, env
        self.sleep, self.clock = sleep, clock
        self.real = mode == "real"
        self._unknown_in_a_row = 0
        #: ids that the broker's listing at the start of the run did not have and the ledger never
        #: journaled: their first submit needs no look-up (`_place`)
        self._absent: set[str] = set()
        #: the run's opening listing of its own orders (`_resolve_all`), and the symbols it covered
        self._listed: dict[str, OrderInfo] = {}
        self._listed_symbols: set[str] = set()
        self._preflight, self._cleared = preflight, preflight is None
        self._keep_alive = keep_alive or (lambda: None)
        self.own_prefix = f"{'dry' if mode == 'dry' else settings.prefix}-{trade_date:%Y%m%d}-"
        self.own_suffix = f"-r{round_no}"
        self._watching = False  # this run started the broker's order updates (`_cancel_and_wait`)

    # ----------------------------------------------------------------------------- the run

    def run(self, approved: pd.DataFrame) -> ExecutionResult:
        try:
            result = self._run(approved)
        except BaseException as exc:
            # the run's own error is the one to see; after the lock was lost, another run owns the
            # day's rows and its writes must not be overwritten with what this one held back
            self._finish(quietly=True, flush=not isinstance(exc, LedgerBusy))
            raise
        self._finish()
        return result

    def _finish(self, quietly: bool = False, flush: bool = True) -> None:
        """Stop the order updates this run started; write the records still held back."""
        if self._watching:
            self._watching = False
            unwatch_orders(self.broker)
        if not flush:
            return
        try:
            self.ledger.flush()
        except Exception:
            if not quietly:
                raise
            log.warning("the records of the last orders sent could not be written; the next run looks them up",
                        exc_info=True)

    def _run(self, approved: pd.DataFrame) -> ExecutionResult:
        intents = [self._intent(row) for row in approved.itertuples(index=False)]
        result = ExecutionResult(intents)
        if self.real:
            self._resolve_all(intents)
        todo = [i for i in intents if not i.settled]
        log.info(
            "execute (%s, round %d): %d approved order(s), %d already accounted for",
            self.mode,
            self.round_no,
            len(intents),
            len(intents) - len(todo),
        )
        per_lot = self.s.protection == "per_lot"
        # per lot, a bracket buy leaves the name's working exits alone (Alpaca exempts complex orders
        # from its wash-trade rule); a sell must free the shares they hold
        clash = {i.symbol for i in todo if not per_lot or i.side == "sell" or i.order_type != "bracket"}
        result.cancelled, result.cancelled_symbols = self._cancel_conflicts(clash)
        sells = [i for i in todo if i.side == "sell"]
        if sells:
            self._cap_sells(sells)
        to_sell = [i for i in sells if i.status == "pending"]
        for intent in to_sell:
            intent.form = "market"
        self._send_all([(i, self._request(i, "market")) for i in to_sell])
        self._wait([i for i in intents if i.side == "sell"], self.s.sell_timeout_s, "sells")
        buys = [i for i in todo if i.side == "buy"]
        if buys:
            self._size_and_price_buys(buys)
            self._send_all([(i, self._request(i, i.form)) for i in buys if i.status == "pending"])
        if self.s.reprotect and self.real:
            self._protect(intents, result)
        if self.real:
            self._refresh(intents)
        return result

    def _writing(self) -> None:
        """Before any write to the broker: the pre-flight (once), and the lock still ours."""
        self._keep_alive()
        if not self._cleared:
            self._cleared = True
            if self._preflight is not None:  # (None: cleared from the start)
                self._preflight()

    # ------------------------------------------------------------------------------ intents

    def _intent(self, row) -> Intent:
        cid = client_order_id(self.s.prefix, self.trade_date, row.symbol, row.side, self.round_no, self.mode)
        tp = None if pd.isna(row.tp_price) else float(row.tp_price)
        sl = None if pd.isna(row.sl_price) else float(row.sl_price)
        return Intent(
            cid,
            row.symbol,
            row.side,
            float(row.qty),
            float(row.qty),
            row.order_type,
            row.time_in_force,
            float(row.ref_price),
            tp,
            sl,
            str(row.reason or ""),
        )

    def _row(self, intent: Intent, status: str | None = None, **extra) -> dict:
        price = intent.filled_avg_price or intent.ref_price
        row = {
            "client_order_id": intent.cid,
            "trade_date": self.trade_date,
            "round": self.round_no,
            "run_id": self.run_id,
            "mode": self.mode,
            "env": self.env,
            "symbol": intent.symbol,
            "side": intent.side,
            "qty": intent.qty,
            "planned_qty": intent.planned_qty,
            "order_type": intent.form or intent.order_type,
            "order_class": {"bracket": "bracket", "oco": "oco"}.get(intent.form, "simple"),
            "time_in_force": intent.time_in_force if intent.form in ("bracket", "oco") else self._simple_tif(intent),
            "tp_price": intent.tp_price if intent.form in ("bracket", "oco") else None,
            "sl_price": intent.sl_price if intent.form in ("bracket", "oco") else None,
            "ref_price": intent.ref_price,
            "notional": round(intent.qty * price, 2),
            "status": status or intent.status,
            "broker_order_id": intent.broker_id,
            "filled_qty": intent.filled_qty,
            "filled_avg_price": intent.filled_avg_price,
            "submitted_at": intent.submitted_at,
            "reason": intent.reason or None,
            "last_error": intent.error or None,
        }
        row.update(extra)
        return row

    def _record(self, intent: Intent, info: OrderInfo | None = None) -> None:
        """Take the broker's view of the order (if given) and write it, legs included, with the next
        journal line or before the next read (one transaction per order, not two). Were the run to
        die first, the order's row says `submitting` and the next run looks it up at the broker, as
        after a crash right after the POST. A refusal is written at once: the broker keeps nothing
        of a refused order, so only the ledger can say it must not be sent again."""
        rows = self._rows(intent, info)
        if intent.status in NOT_SENT_AGAIN:  # the broker keeps no refused order: only our ledger says it
            self.ledger.upsert_orders(rows)
        else:
            self.ledger.defer(rows)

    def _record_changes(self, intents: list[Intent], orders: dict[str, OrderInfo]) -> None:
        """The broker's view of several orders, written in one transaction — only those that changed."""
        rows: list[dict] = []
        for intent in intents:
            info = orders.get(intent.cid)
            if info is None:
                continue
            before = (intent.status, intent.filled_qty, tuple((leg.id, leg.status) for leg in intent.legs))
            fresh = self._rows(intent, info)
            if before != (intent.status, intent.filled_qty, tuple((leg.id, leg.status) for leg in intent.legs)):
                rows += fresh
        self.ledger.upsert_orders(rows)

    def _rows(self, intent: Intent, info: OrderInfo | None = None) -> list[dict]:
        """The ledger rows of an order (and its legs), after taking the broker's view if given."""
        if info is not None:
            intent.status, intent.broker_id, intent.legs = info.status, info.id, info.legs
            intent.filled_qty = float(info.filled_qty) if info.filled_qty is not None else None
            intent.filled_avg_price = float(info.filled_avg_price) if info.filled_avg_price is not None else None
            intent.submitted_at = info.submitted_at
            if not intent.form:
                intent.form = (
                    "bracket" if info.order_class == "bracket" else ("oco" if info.order_class == "oco" else "market")
                )
            if info.qty is not None:
                intent.qty = float(info.qty)
        rows = [self._row(intent)]
        for leg in intent.legs:
            rows.append(
                {
                    "client_order_id": leg.client_order_id,
                    "trade_date": self.trade_date,
                    "round": self.round_no,
                    "run_id": self.run_id,
                    "mode": self.mode,
                    "env": self.env,
                    "symbol": leg.symbol,
                    "side": leg.side,
                    "qty": float(leg.qty or 0),
                    "order_type": "take_profit" if leg.order_type == "limit" else "stop_loss",
                    "order_class": info.order_class if info else None,
                    "time_in_force": intent.time_in_force,
                    "tp_price": float(leg.limit_price) if leg.limit_price is not None else None,
                    "sl_price": float(leg.stop_price) if leg.stop_price is not None else None,
                    "ref_price": intent.ref_price,
                    "notional": None,
                    "status": leg.status,
                    "broker_order_id": leg.id,
                    "parent_client_order_id": intent.cid,
                    "filled_qty": float(leg.filled_qty),
                    "filled_avg_price": float(leg.filled_avg_price) if leg.filled_avg_price is not None else None,
                    "submitted_at": leg.submitted_at,
                }
            )
        return rows

    # ------------------------------------------------------------------- exactly-once send

    def _resolve_all(self, intents: list[Intent]) -> None:
        """What is already known of each id: a final refusal in the ledger (never sent again in this
        round), or the order at the broker (sent by an earlier attempt: recorded, not sent again).
        One listing of the day's orders answers for all: an id neither there nor ever journaled goes
        to `_absent` (its first submit is not looked up again); any other is looked up before its submit."""
        self._listed_symbols = {i.symbol for i in intents}
        self._listed = at_broker = self._own_orders(self._listed_symbols) if intents else {}
        journaled = self.ledger.orders_by_id([i.cid for i in intents])
        for intent in intents:
            row = journaled.get(intent.cid)
            if row is None and intent.cid not in at_broker:
                self._absent.add(intent.cid)
            if (found := at_broker.get(intent.cid)) is not None:  # the broker is the truth, whatever we wrote
                # known to the ledger as sent: its reason stays; unknown (an answer lost): say how it was found
                intent.reason = (
                    (row.get("reason") or "")
                    if row and row.get("broker_order_id")
                    else ((row or {}).get("reason") or "found at the broker (sent by an earlier attempt)")
                )
                self._record(intent, found)
            elif row and row["status"] in NOT_SENT_AGAIN:
                intent.status, intent.form, intent.qty = row["status"], row["order_type"], row["qty"]
                intent.reason, intent.error = row["reason"] or "", row["last_error"] or ""

    def _cap_sells(self, sells: list[Intent]) -> None:
        """Never sell more than is held now: on a margin account the rest would open a short (the
        plan is hours old; a stop-loss may have sold the shares since)."""
        held = {p.symbol: float(p.qty) for p in self.broker.positions()}
        self._held_now = held
        for intent in sells:
            now = held.get(intent.symbol, 0.0)
            if now <= 0:
                self._not_sent(
                    intent,
                    f"nothing held now (planned to sell {intent.planned_qty:g}): a sell would open a short position",
                )
            elif intent.qty > now + 1e-9:
                intent.reason = f"capped to the {now:g} held now (planned {intent.planned_qty:g})"
                intent.qty = now

    def _send_all(self, orders: list[tuple[Intent, OrderRequest | None]]) -> None:
        """Send the orders of one phase (the sells, the buys, the protective OCOs), each once.

        A real run journals those that go straight to their POST (the ids the opening listing
        showed absent and the ledger never had: `_absent`) `submitting` in one transaction before
        the first POST, not one transaction per order: the row says "may be at the broker, look it
        up", which is true of each from then on. A run that dies on the way leaves the rest
        `submitting`; the next run looks them up (absent: sent then, with the same id), as it does
        for an order whose POST it lost; so does the next run for one this run never tried (the
        breaker stopped sending: it stays `pending` here and unresolved in the run's result). An id
        that must be looked up first keeps its own journal line after the look-up (`_place`), so a
        row the ledger already has is never marked `submitting` before the broker is asked."""
        sending = self.real and self._unknown_in_a_row < UNKNOWN_BREAKER
        batch = [intent for intent, request in orders if sending and request is not None and intent.cid in self._absent]
        if batch:
            self._writing()
            for intent in batch:
                intent.status = "submitting"
            self.ledger.upsert_orders([self._row(intent) for intent in batch])
        journaled = {intent.cid for intent in batch}
        for intent, request in orders:
            if not self._place(intent, request, journaled=intent.cid in journaled) and intent.cid in journaled:
                intent.status = "pending"  # never tried

    def _place(self, intent: Intent, request: OrderRequest | None, journaled: bool = False) -> bool:
        """Send `request` once, whatever happens on the way (see the module docstring). `journaled`:
        its `submitting` line is written already (`_send_all`). Returns whether it was tried (not:
        no request, or the breaker stopped sending)."""
        if request is None:
            return False
        if self._unknown_in_a_row >= UNKNOWN_BREAKER:
            return False  # the broker is failing every submit: stop sending; the next run resumes from here
        if not self.real:
            intent.status = "dry_run"
            self._record(intent)
            log.info(
                "dry run: would send %s %s %g %s (%s)", intent.side, intent.symbol, intent.qty, intent.form, intent.cid
            )
            return True
        for attempt in range(1, self.s.submit_attempts + 1):
            self._writing()
            if intent.cid not in self._absent:
                found = self.broker.get_order_by_client_id(intent.cid)
                if found is not None:
                    self._record(intent, found)
                    return True
            if not journaled:
                self._journal(intent, "submitting")
            journaled = False  # a later attempt journals its own line
            self._absent.discard(intent.cid)  # from now on, whatever happens to this POST, look first
            try:
                info = self.broker.submit_order(request)
            except SubmitRateLimited as exc:
                wait = min(exc.retry_after if exc.retry_after is not None else 2.0**attempt, self.s.max_backoff_s)
                log.warning("submit of %s rate-limited (nothing created); waiting %.1f s", intent.cid, wait)
                self._journal(intent, "unknown", error=str(exc))
                self.sleep(wait)
            except AmbiguousSubmitError as exc:
                log.warning("%s; looking it up", exc)
                self._journal(intent, "unknown", error=str(exc))
                self.sleep(min(0.5 * 2**attempt, self.s.max_backoff_s))
            except OrderRejected as exc:
                if _duplicate(exc) or self.broker.get_order_by_client_id(intent.cid) is not None:
                    log.warning("%s is already at the broker (duplicate client_order_id); recording it", intent.cid)
                    continue
                intent.status, intent.error = "rejected", str(exc)
                self._record(intent)
                log.warning("rejected by the broker: %s", exc)
                return True
            else:
                intent.error = ""
                self._unknown_in_a_row = 0
                self._record(intent, info)
                log.info(
                    "sent %s %s %g %s: %s (%s)",
                    intent.side,
                    intent.symbol,
                    intent.qty,
                    intent.form,
                    info.status,
                    intent.cid,
                )
                return True
        intent.status = "unknown"
        self._unknown_in_a_row += 1
        log.error(
            "the outcome of %s is still unknown after %d attempt(s): %s",
            intent.cid,
            self.s.submit_attempts,
            intent.error,
        )
        self._record(intent)
        if self._unknown_in_a_row >= UNKNOWN_BREAKER:
            log.error(
                "%d submits in a row with an unknown outcome: no more orders are sent in this run",
                self._unknown_in_a_row,
            )
        return True

    def _journal(self, intent: Intent, status: str, error: str = "") -> None:
        intent.status = status
        if error:
            intent.error = error
        self.ledger.upsert_orders([self._row(intent)])

    def _request(self, intent: Intent, form: str) -> OrderRequest | None:
        common: dict[str, Any] = {
            "symbol": intent.symbol,
            "side": intent.side,
            "qty": Decimal(str(intent.qty)),
            "client_order_id": intent.cid,
        }
        if form == "bracket":
            limit = (
                {}
                if intent.limit_price is None
                else {"order_type": "limit", "limit_price": Decimal(str(intent.limit_price))}
            )
            return OrderRequest(
                **{"order_type": "market", **common, **limit},
                time_in_force=intent.time_in_force,
                take_profit=Decimal(str(intent.tp_price)),
                stop_loss=Decimal(str(intent.sl_price)),
            )
        return OrderRequest(**common, order_type="market", time_in_force=self._simple_tif(intent))

    def _simple_tif(self, intent: Intent) -> str:
        """A simple order's time in force: the configured one, but DAY for a fractional quantity
        (Alpaca takes fractional orders as DAY orders only)."""
        return self.s.simple_time_in_force if float(intent.qty).is_integer() else "day"

    # ------------------------------------------------------------------------ sizing buys

    def _size_and_price_buys(self, buys: list[Intent]) -> dict[str, float]:
        """Step 4 and the shape of step 5: cash after the sells, prices now, bracket prices on them."""
        account = self.broker.account()
        held = {p.symbol: float(p.qty) for p in self.broker.positions()}
        quotes, missing = self.broker.latest_prices({i.symbol for i in buys})
        prices = {s: float(q.price) for s, q in quotes.items()}
        for intent in buys:
            if intent.symbol not in prices:
                self._not_sent(intent, "no price now for the symbol: not sent")
        pending = [i for i in buys if i.status == "pending"]
        equity, cash, power = float(account.equity), float(account.cash), float(account.buying_power)
        budget = min(cash - self.s.cash_floor_pct * equity, power / (1 + self.s.market_buy_collar))
        scaled, factor = scale_buys({i.cid: i.qty for i in pending}, {i.cid: prices[i.symbol] for i in pending}, budget)
        for intent in pending:
            if factor < 1.0:
                intent.qty = scaled[intent.cid]
                intent.reason = (
                    f"scaled for cash: planned {intent.planned_qty:g}, sending {intent.qty:g} (cash "
                    f"{cash:.2f}, buying power {power:.2f}, buys cost {budget / factor:.2f} at prices now)"
                )
                if intent.qty <= 0:
                    self._not_sent(intent, intent.reason + ": nothing left to buy")
                    continue
            self._shape_buy(intent, prices[intent.symbol], held.get(intent.symbol, 0.0))
        return held

    def _shape_buy(self, intent: Intent, base: float, held_qty: float) -> None:
        """Bracket on the price now; an increase of a held name as a market buy when re-protecting;
        a cover capped to the short held now (the rest would turn the position long)."""
        if intent.plan_reason == "cover" or held_qty < 0:
            intent.form = "market"
            if intent.plan_reason == "cover" and intent.qty > -held_qty + 1e-9:
                if held_qty >= 0:
                    self._not_sent(intent, f"no short held now (planned to cover {intent.planned_qty:g})")
                else:
                    intent.reason = f"capped to the {-held_qty:g} short now (planned {intent.planned_qty:g})"
                    intent.qty = -held_qty
            return
        if intent.order_type != "bracket":
            intent.form = "market"
            return
        if not float(intent.qty).is_integer():
            intent.form = "market"
            intent.reason = _also(intent.reason, "fractional: Alpaca takes no bracket for it, a simple DAY order")
            return
        if held_qty > 0 and self.s.reprotect and self.s.protection == "whole_position":
            intent.form = "market"
            intent.reason = _also(
                intent.reason, "increase of a held name: market entry, the whole position re-protected by one OCO"
            )
            return
        if held_qty > 0:
            intent.reason = _also(
                intent.reason,
                "increase of a held name: a bracket over the added shares; the exits already working stay",
            )
        if self.s.entry_type == "limit":  # Alpaca's base price of a limit bracket is its limit
            base = float(round_to_tick(np.array([base * (1 + self.s.entry_limit_offset_pct)]), "up")[0])
            intent.limit_price = base
            intent.reason = _also(intent.reason, f"limit entry at {base:g}")
        tp, sl = exit_prices(base, self.s.take_profit_pct, self.s.stop_loss_pct)
        if not (tp >= base + MIN_GAP - 1e-9 and 0 < sl <= base - MIN_GAP + 1e-9 and tp > sl):
            self._not_sent(
                intent,
                f"bracket_invalid: take-profit {tp:g} / stop-loss {sl:g} do not fit Alpaca's rule "
                f"around the price now {base:g}",
            )
            return
        intent.form, intent.tp_price, intent.sl_price = "bracket", tp, sl
        intent.time_in_force = self.s.bracket_time_in_force

    def _not_sent(self, intent: Intent, reason: str) -> None:
        """Record that this order is not sent (final for the round) — unless the broker has it already
        (another attempt sent it meanwhile): then the broker's view is what is recorded."""
        if (
            self.real
            and intent.cid not in self._absent
            and (found := self.broker.get_order_by_client_id(intent.cid)) is not None
        ):
            self._record(intent, found)
            return
        intent.status, intent.reason = "not_sent", reason
        self._record(intent)
        log.warning("%s %s %g not sent: %s", intent.side, intent.symbol, intent.planned_qty, reason)

    # ---------------------------------------------------------------- conflicts and waits

    def _own(self, order: OrderInfo, parent: str | None = None) -> bool:
        """This round's order, or a leg of one (`parent`: the client_order_id of the leg's parent)."""
        cid = parent or order.client_order_id or ""
        return cid.startswith(self.own_prefix) and cid.endswith(self.own_suffix)

    def _live_orders(self, symbols: Iterable[str]) -> list[tuple[OrderInfo, str | None]]:
        """Every order and leg on `symbols` still working at the broker, each with the
        client_order_id of its parent when it is a leg of ours (the ledger recorded the legs of every
        bracket and OCO we sent), else None: one `status=open` listing without nesting (see step 2
        of the module docstring). It costs the same on the first day and after a year: no window of
        days to page through, however long a protected position has been held."""
        listed = [
            o
            for o in self.broker.list_orders(status="open", symbols=sorted(symbols), nested=False)
            if o.status not in TERMINAL
        ]
        known = self.ledger.orders_by_id(sorted(o.client_order_id for o in listed))
        # what the broker says of our earlier orders goes to the ledger (a leg now working, say)
        self._sync({o.client_order_id: o for o in listed if o.client_order_id in known}, known=known)
        return [(o, (known.get(o.client_order_id) or {}).get("parent_client_order_id")) for o in listed]

    def _cancel_conflicts(self, symbols: set[str]) -> tuple[list[str], set[str]]:
        """Step 2: cancel the open orders (and legs) on the symbols to trade that are not this round's.
        Returns the broker ids cancelled and their symbols (whose protection step 6 rebuilds)."""
        if not symbols:
            return [], set()
        foreign = [(o, p) for o, p in self._live_orders(symbols) if not self._own(o, p)]
        if not self.real:
            for order, _ in foreign:
                log.info("dry run: would cancel %s %s %s (%s)", order.status, order.side, order.symbol, order.id)
            return [], set()
        cancelled = self._cancel_and_wait(foreign, "before trading the symbol")
        return sorted(cancelled), {o.symbol for o, _ in cancelled.values()}

    def _cancel_and_wait(
        self, orders: list[tuple[OrderInfo, str | None]], why: str
    ) -> dict[str, tuple[OrderInfo, str | None]]:
        """Cancel `orders` (each with its parent's client_order_id, for a leg of ours), wait until the
        broker lists none of them as working (Alpaca answers a cancel before it is done), and record
        how each ended. Raises `OutcomeUnknown` when they are not all cancelled in time: nothing that
        depends on their shares may be sent then."""
        if not orders:
            return {}
        self._writing()
        # listen before cancelling, so the final state of each cancelled group is heard, not read back
        self._watching = watch_orders(self.broker) or self._watching
        cancelled: dict[str, tuple[OrderInfo, str | None]] = {}
        for order, parent in orders:
            if order.id in cancelled:
                continue
            try:
                self.broker.cancel_order(order.id)
            except BrokerError as exc:
                if exc.status not in (404, 422):  # 422: no longer cancelable (it filled or was cancelled)
                    raise
            cancelled[order.id] = (order, parent)
            log.info("cancelled %s %s %s %s %s", order.status, order.order_type, order.side, order.symbol, why)
        symbols = {o.symbol for o, _ in cancelled.values()}
        deadline = self.clock() + self.s.cancel_timeout_s
        while (left := [o for o, _ in self._live_orders(symbols) if o.id in cancelled]) and self.clock() < deadline:
            self._keep_alive()
            self.sleep(self.s.poll_interval_s)
        self._record_cancelled(cancelled, why)
        if left:
            from paper_trading.errors import OutcomeUnknown

            raise OutcomeUnknown(
                f"{len(left)} open order(s) on the symbols to trade were not cancelled within "
                f"{self.s.cancel_timeout_s:g} s ({', '.join(sorted({o.symbol for o in left}))}); "
                "nothing was sent; run again"
            )
        return cancelled

    def _record_cancelled(self, cancelled: dict[str, tuple[OrderInfo, str | None]], why: str) -> None:
        """Earlier orders of ours that were just cancelled: their final state as the broker says it
        (a cancel may come too late: the order filled), never assumed. A leg of ours goes with its
        whole group, so the held leg cancelled with it is recorded too. The order updates stream says
        it for most groups (every member still unfinished in the ledger, and the cancelled order,
        announced final); any other group is read back, by its root, nested."""
        if not cancelled:
            return
        parents = self.ledger.orders_by_id(sorted({p for _, p in cancelled.values() if p}))
        roots: dict[str, str] = {}  # the root's broker id -> its client_order_id
        for order, parent in cancelled.values():
            roots.setdefault((parents.get(parent) or {}).get("broker_order_id") or order.id,
                             parent or order.client_order_id)
        groups = self.ledger.order_groups(sorted(set(roots.values())))
        need: dict[str, set[str]] = {
            root_id: {m["broker_order_id"] for m in groups.get(cid, [])
                      if m["broker_order_id"] and m["status"] not in FINAL}
            for root_id, cid in roots.items()
        }
        for order, parent in cancelled.values():
            need[(parents.get(parent) or {}).get("broker_order_id") or order.id].add(order.id)
        seen, _ = group_states(self.broker, {root_id: need[root_id] for root_id in sorted(roots)}, CATCH_UP_S)
        self._sync(seen, f"cancelled {why} ({self.trade_date} round {self.round_no})")

    def _sync(
        self, seen: dict[str, OrderInfo], cancel_note: str | None = None, known: dict[str, dict] | None = None
    ) -> None:
        """The ledger rows of `seen` orders that the broker reports differently, updated in one
        transaction (see `changed_rows`). `known`: the ledger rows of `seen`, when the caller has
        just read them."""
        known = self.ledger.orders_by_id(sorted(seen)) if known is None else known
        if rows := changed_rows(known, seen, cancel_note):
            self.ledger.upsert_orders(rows)

    def _own_orders(self, symbols: Iterable[str]) -> dict[str, OrderInfo]:
        after = day_window_start(self.trade_date)
        return {
            o.client_order_id: o
            for o in self.broker.list_orders(status="all", after=after, symbols=sorted(symbols))
            if self._own(o)
        }

    def _wait(self, intents: list[Intent], timeout: float, what: str) -> None:
        """Until every sent order of `intents` is terminal (legs may stay open), or `timeout`."""
        if not self.real:
            return
        waiting = [i for i in intents if i.broker_id and i.status not in DONE_TODAY]
        deadline = self.clock() + timeout
        while waiting:
            self._record_changes(waiting, self._own_orders({i.symbol for i in waiting}))
            waiting = [i for i in waiting if i.status not in DONE_TODAY]
            if not waiting or self.clock() >= deadline:
                break
            self._keep_alive()
            self.sleep(self.s.poll_interval_s)
        if waiting:
            log.warning(
                "%d %s not done after %g s: %s",
                len(waiting),
                what,
                timeout,
                ", ".join(f"{i.symbol} {i.status}" for i in waiting),
            )

    def _refresh(self, intents: list[Intent]) -> None:
        sent = [i for i in intents if i.broker_id]
        if sent:
            self._record_changes(sent, self._own_orders({i.symbol for i in sent}))

    # --------------------------------------------------------------------------- protection

    def _protect(self, intents: list[Intent], result: ExecutionResult) -> None:
        """Step 6: every protected long position ends the run covered exactly by its working exits
        (see the module docstring). Protected: traded in this run, its exits cancelled in step 2, or
        with an exit working — a position that never had exits is not given one unasked."""
        touched = {i.symbol for i in intents if i.settled and i.status not in NOT_SENT_AGAIN} | result.cancelled_symbols
        buys = [i for i in intents if i.side == "buy"]
        self._wait(buys, self.s.buy_timeout_s, "buys")
        if self.s.protection == "per_lot":
            self._cancel_rest_of_entries(
                [i for i in buys if i.broker_id and i.status == "partially_filled" and i.form == "bracket"]
            )
        busy = {i.symbol for i in intents if i.broker_id and i.status not in DONE_TODAY}
        result.unprotected = sorted(touched & busy)
        positions = {
            p.symbol: float(math.floor(float(p.qty) + 1e-9)) for p in self.broker.positions() if float(p.qty) > 0
        }
        symbols = (set(positions) | touched) - busy
        if not symbols:
            return
        listed = self._live_orders(symbols)
        cids = {s: client_order_id(self.s.prefix, self.trade_date, s, "oco", self.round_no, self.mode) for s in symbols}
        journaled = self.ledger.orders_by_id(sorted(cids.values()))
        self._adopt_reprotections(cids, journaled, result, {o.client_order_id: o for o, _ in listed})
        exits: dict[str, list[tuple[OrderInfo, str | None]]] = {}
        for order, parent in listed:
            if (
                order.side == "sell"
                and order.order_type == "limit"
                and (parent is not None or order.order_class in EXIT_CLASSES)
            ):
                exits.setdefault(order.symbol, []).append((order, parent))
        renew_by = dt.datetime.combine(
            self.trade_date + dt.timedelta(days=self.s.exit_renew_days), dt.time(0), tzinfo=dt.UTC
        )
        need: dict[str, tuple[float, str]] = {}
        replace: list[tuple[OrderInfo, str | None]] = []
        for symbol in sorted(symbols):
            held, working = positions.get(symbol, 0.0), exits.get(symbol, [])
            if not working and symbol not in touched:
                continue
            covered = _remaining(working)
            lapsing = [
                o for o, p in working if not self._own(o, p) and o.expires_at is not None and o.expires_at < renew_by
            ]
            if covered == held and not lapsing:
                if held > 0 and symbol in touched:
                    result.reprotected.append(symbol)
            elif covered < held and not lapsing:
                need[symbol] = (held - covered, REST_REASON if covered else REPROTECT_REASON)
            else:
                earlier = [(o, p) for o, p in working if not self._own(o, p)]
                replace += earlier
                left = held - _remaining([(o, p) for o, p in working if self._own(o, p)])
                reason = RENEW_REASON.format(days=self.s.exit_renew_days) if lapsing else CONSOLIDATE_REASON
                if left > 0:
                    need[symbol] = (left, reason)
                elif left < 0:
                    result.problems.append(f"{symbol}: this round's exits cover {held - left:g} shares, {held:g} held")
        if replace:
            self._cancel_and_wait(replace, "to consolidate the exits")
        self._place_ocos(need, cids, journaled, result)

    def _cancel_rest_of_entries(self, entries: list[Intent]) -> None:
        """Bracket entries still filling in part after `buy_timeout_s`: the rest is cancelled, so what
        filled ends the run covered exactly — by the entry's own legs if the broker keeps them for
        what filled, else by the OCO of step 6 — and never twice once the rest would fill later."""
        if not entries:
            return
        self._writing()
        for intent in entries:
            if intent.broker_id is None:  # never sent: nothing to cancel (the caller passes sent ones)
                continue
            try:
                self.broker.cancel_order(intent.broker_id)
            except BrokerError as exc:
                if exc.status not in (404, 422):
                    raise
            intent.reason = _also(
                intent.reason,
                f"entry filled {intent.filled_qty or 0:g} of {intent.qty:g} in "
                f"{self.s.buy_timeout_s:g} s: the rest cancelled",
            )
            log.warning(
                "%s %s: the entry filled %g of %g within %g s; the rest is cancelled",
                intent.symbol,
                intent.cid,
                intent.filled_qty or 0,
                intent.qty,
                self.s.buy_timeout_s,
            )
        self._wait(entries, self.s.cancel_timeout_s, "cancelled entries")

    def _place_ocos(
        self,
        need: dict[str, tuple[float, str]],
        cids: dict[str, str],
        journaled: dict[str, dict],
        result: ExecutionResult,
    ) -> None:
        """One OCO (take-profit limit + stop-loss stop on the price now) per name in `need`, over the
        quantity given."""
        if not need:
            return
        quotes, _ = self.broker.latest_prices(sorted(need))
        placed: list[Intent] = []
        sendable: list[tuple[Intent, OrderRequest | None]] = []
        for symbol, (qty, reason) in sorted(need.items()):
            base = float(quotes[symbol].price) if symbol in quotes else None
            tp = sl = None
            if base is not None:
                tp, sl = exit_prices(base, self.s.take_profit_pct, self.s.stop_loss_pct)
            intent = Intent.oco(cids[symbol], symbol, qty, self.s.bracket_time_in_force, base or 0.0, tp, sl, reason)
            result.protective.append(intent)
            placed.append(intent)
            if symbol in self._listed_symbols and intent.cid not in self._listed and intent.cid not in journaled:
                self._absent.add(intent.cid)  # the run's opening listing covered the symbol: no look-up first
            if base is None or sl is None or sl <= 0:
                self._not_sent(
                    intent,
                    "no price now to set the take-profit/stop-loss around"
                    if base is None
                    else f"no valid stop-loss under the price now {base:g}",
                )
            else:
                sendable.append((intent, OrderRequest(
                    symbol=symbol,
                    side="sell",
                    qty=Decimal(str(qty)),
                    order_type="limit",
                    time_in_force=self.s.bracket_time_in_force,
                    client_order_id=intent.cid,
                    take_profit=Decimal(str(tp)),
                    stop_loss=Decimal(str(sl)),
                    order_class="oco",
                )))
        self._send_all(sendable)
        for intent in placed:
            symbol, qty = intent.symbol, intent.qty
            if intent.broker_id:
                result.reprotected.append(symbol)
            elif intent.status in NOT_SENT_AGAIN:
                result.problems.append(
                    f"{symbol} ({qty:g} held) has no take-profit/stop-loss: {intent.reason or intent.error}"
                )

    def _adopt_reprotections(
        self, cids: dict[str, str], journaled: dict[str, dict], result: ExecutionResult, working: dict[str, OrderInfo]
    ) -> None:
        """This round's OCOs that an earlier attempt sent but never recorded (it died, or lost the
        answer, between the POST and the record): the run's opening listing or the listing of working
        orders (`working`, by client_order_id) has them. Each is read
        again (its status and legs now) and recorded, legs included; it is not sent again, and the
        coverage check then counts it."""
        for symbol, cid in cids.items():
            listed, row = self._listed.get(cid) or working.get(cid), journaled.get(cid) or {}
            if listed is None or row.get("broker_order_id") == listed.id:  # absent, or recorded with its legs
                continue
            order = self.broker.get_order(listed.id)
            qty = float(order.qty or 0)
            stop = next((leg.stop_price for leg in order.legs if leg.stop_price is not None), None)
            intent = Intent.oco(
                cid,
                symbol,
                qty,
                self.s.bracket_time_in_force,
                row.get("ref_price") or 0.0,
                row.get("tp_price") or (float(order.limit_price) if order.limit_price is not None else None),
                row.get("sl_price") or (float(stop) if stop is not None else None),
                row.get("reason") or REPROTECT_REASON,
            )
            self._record(intent, order)
            result.protective.append(intent)
            log.warning(
                "%s was at the broker but not recorded (an earlier attempt sent it): recorded now, not sent again", cid
            )


class _Batched:
    """The ledger, with the record of a sent order held back until the next write or read, which
    then carries it: one transaction per order instead of two. Everything else is the ledger's."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._held: list[dict] = []

    def defer(self, rows: list[dict]) -> None:
        self._held += rows

    def flush(self) -> None:
        if self._held:
            rows, self._held = self._held, []
            self._ledger.upsert_orders(rows)

    def upsert_orders(self, rows: list[dict]) -> None:
        rows, self._held = [*self._held, *rows], []
        self._ledger.upsert_orders(rows)

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._ledger, name)


def _remaining(orders: Iterable[tuple[OrderInfo, str | None]]) -> float:
    """The shares that working exit orders may still sell."""
    return math.fsum(float(o.qty or 0) - float(o.filled_qty) for o, _ in orders)


def _also(reason: str, more: str) -> str:
    return f"{reason}; {more}" if reason else more


def changed_rows(known: dict[str, dict], seen: dict[str, OrderInfo], cancel_note: str | None = None) -> list[dict]:
    """The ledger rows (`known`, by client_order_id) that the broker's view of the same orders
    (`seen`) changes — status, filled quantity, average fill price — as they are to be written; a
    cancellation gets `cancel_note` added to its reason. Shared by execution (what it cancels and
    finds working) and order sync (what finished at the broker on its own)."""
    rows = []
    for cid, info in seen.items():
        row = known.get(cid)
        filled = float(info.filled_qty)
        if row is None or (info.status == row["status"] and filled == (row["filled_qty"] or 0.0)):
            continue
        reason = row["reason"]
        if cancel_note and info.status == "canceled" and row["status"] != "canceled":
            reason = f"{reason}; {cancel_note}" if reason else cancel_note
        rows.append(
            {
                **row,
                "status": info.status,
                "filled_qty": filled,
                "reason": reason,
                "updated_at": None,
                "filled_avg_price": float(info.filled_avg_price)
                if info.filled_avg_price is not None
                else row["filled_avg_price"],
            }
        )
    return rows


def _duplicate(exc: OrderRejected) -> bool:
    """The broker's answer to an id it already has: 422 with "client_order_id must be unique"."""
    return exc.status == 422 and ("unique" in str(exc).lower() or exc.code == 40010001)
