"""The paper broker: account, orders, fills, positions and activities, the way Alpaca paper does it.

Fill rules (Alpaca paper trading, notes §5): market orders fill at the quote (ask for buys, bid
for sells) when the market is open, else they wait as `accepted` and fill at the next open; limit
orders fill once marketable (at the limit when the price crosses it, at the quote when they are
marketable on arrival or after a gap); DAY orders expire at the session's close, GTC orders at the
close 90 days after their creation (`expires_at`); a configurable share of fills are partial (a
random 10-90 %), the rest filling at the next clock step.

Stop orders [AD orders.md "Order Types"] trigger when the bid (sell) or ask (buy) reaches the stop
price, only in the regular session: at the stop when the path crosses it, at the quote after a gap.
A stop then fills as a market order, a stop-limit rests as a limit order; a buy stop is capped, as
Alpaca converts it, at a limit 4 % above a stop under $50 (2.5 % at $50 and above). A trailing stop
first moves its `hwm` (highest bid for a sell, lowest ask for a buy) and its stop price with the
price, then triggers like a stop and fills as a market order.

Bracket orders: both legs are `held` until the entry is completely filled; then the take-profit
is `new` and the stop-loss stays `held` (Alpaca triggers it itself); they trigger on the price
path as the clock advances (the stop first when both trigger in one step), and one cancels the
other. OCO orders (orders.py) are the same two exit legs without an entry. Legs have the entry's
time in force. A take-profit that fills in part shrinks the stop-loss to what remains of it
[AD orders.md "Bracket Orders"]; `exit_partial_fill_probability` (default 0) makes take-profit fills
partial. Assumption where Alpaca's docs are silent: an entry that expires partially filled keeps its
legs, resized to the filled quantity.

Validation (orders.py) follows Alpaca's rules and error bodies (notes §2.8): buying power (margin,
accounts.py; market buys valued at the ask plus a collar), shares available (open sells and bracket
or OCO legs hold shares), short sales, duplicate client_order_id, bracket prices against the base
price, sub-penny prices, fractional orders only simple DAY on fractionable assets, potential wash
trades by Alpaca's table (complex orders and trailing stops exempt), account flags.

Halts and delistings (market.py): an order for a symbol without a bar on a session on which others
trade does not fill that session (it rests; a DAY order expires at the close); a symbol whose bars
end before the others' is an inactive, non-tradable asset once the clock is past its last close.

Dividends (market.py `Dividend`, from a dividends.csv next to the bars file): the position at the
close before the ex-date is entitled; at the open of the pay date a `DIV` activity moves the cash
by qty x amount (a short position pays it). A reset forgets the dividends due.

Partial fills draw from a generator seeded with (seed, client_order_id, fill number), so the same
orders give the same fills run after run.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import asdict
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from .accounts import AccountsMixin, check_configurations
from .common import (
    ASSET_NAMESPACE,
    DEFAULT_CASH,
    OPEN_STATUSES,
    QTY_QUANTUM,
    Settings,
    SimError,
    _activity_id,
    _check_query,
    _is_whole,
    _ny_iso,
    _time_range,
    dec,
    fmt,
    iso,
    loads,
    parse_time,
)
from .market import Bar, Dividend, Market, _next_session, round_price
from .orders import OrdersMixin, trailing_stop_price
from .sessions import (
    UTC,
    Session,
    is_open,
    latest_started_session,
    next_close,
    next_open,
    ny_date,
    session,
)
from .store import Store


class Engine(AccountsMixin, OrdersMixin):
    """All broker state transitions. Every public method runs in one store transaction."""

    def __init__(self, store: Store, bars: dict[str, list[Bar]] | None = None, clock: dt.datetime | None = None):
        self.store = store
        with store.tx():
            if bars:
                self._save_bars(bars)
            if (dividends := getattr(bars, "dividends", None)) is not None:
                self._save_dividends(dividends)
            self.market = Market(self._load_bars(), Decimal(str(self.settings().spread_bps)))
            self.dividends = self._load_dividends()
            if store.get("account") is None:
                self._init_account(DEFAULT_CASH, clock or self._default_clock())
            elif clock is not None:
                store.put("clock", iso(clock))

    # ------------------------------------------------------------------------------ setup

    def _default_clock(self) -> dt.datetime:
        """Half an hour after the open of the last session with bars (or of today's)."""
        last = max((rows[-1].date for rows in self.market.bars.values() if rows), default=dt.date.today())
        s = latest_started_session(dt.datetime.combine(last, dt.time(23, 0), tzinfo=UTC))
        return s.open + dt.timedelta(minutes=30)

    def _init_account(self, cash: Decimal, clock: dt.datetime) -> None:
        self.store.put("account", {
            "id": str(uuid.uuid4()),
            "account_number": f"PA{uuid.uuid4().int % 10**10:010d}",
            "created_at": iso(clock),
            "trading_blocked": False,
            "account_blocked": False,
            "transfers_blocked": False,
            "trade_suspended_by_user": False,
        })
        self.store.put("cash", fmt(cash))
        self.store.put("clock", iso(clock))

    def _save_bars(self, bars: dict[str, list[Bar]]) -> None:
        rows = [(sym, b.date.isoformat(), fmt(b.o), fmt(b.h), fmt(b.l), fmt(b.c), b.v, b.n, fmt(b.vw))
                for sym, bs in bars.items() for b in bs]
        self.store.conn.executemany(
            "INSERT OR REPLACE INTO bars (symbol, date, o, h, l, c, v, n, vw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for sym in bars:
            if self.store.asset(sym) is None:
                self.store.put_asset(sym, self._new_asset(sym))

    def _load_bars(self) -> dict[str, list[Bar]]:
        out: dict[str, list[Bar]] = {}
        for r in self.store.conn.execute("SELECT * FROM bars ORDER BY symbol, date"):
            out.setdefault(r["symbol"], []).append(Bar(
                dt.date.fromisoformat(r["date"]), dec(r["o"]), dec(r["h"]), dec(r["l"]), dec(r["c"]), r["v"],
                r["n"], None if r["vw"] is None else dec(r["vw"])))
        return out

    @staticmethod
    def _new_asset(symbol: str) -> dict:
        return {
            "id": str(uuid.uuid5(ASSET_NAMESPACE, symbol)), "class": "us_equity", "exchange": "NYSE",
            "symbol": symbol, "name": symbol, "status": "active", "tradable": True, "marginable": True,
            "maintenance_margin_requirement": 30, "shortable": True, "easy_to_borrow": True,
            "fractionable": True, "attributes": [],
        }

    def load_bars(self, bars: dict[str, list[Bar]], replace: bool = False) -> None:
        """Add (or update) daily bars; with `replace`, the bars loaded are all there is (a symbol
        left out has no price any more, as a delisted or halted one)."""
        with self.store.tx():
            if replace:
                self.store.conn.execute("DELETE FROM bars")
            self._save_bars(bars)
            self.market = Market(self._load_bars(), self.market.spread_bps)
            dividends = getattr(bars, "dividends", None)
            if dividends is not None or replace:  # a bars file's dividends.csv, or none with the bars replaced
                self._save_dividends(dividends or [])

    def load_dividends(self, dividends: list[Dividend]) -> None:
        """Replace the dividends the clock pays (see `_dividends_at_close`)."""
        with self.store.tx():
            self._save_dividends(dividends)

    def _save_dividends(self, dividends: list[Dividend]) -> None:
        self.store.put("dividends", [{"symbol": d.symbol, "ex_date": d.ex_date.isoformat(),
                                      "pay_date": d.pay_date.isoformat(), "amount": fmt(d.amount)} for d in dividends])
        self.dividends = self._load_dividends()

    def _load_dividends(self) -> list[Dividend]:
        return [Dividend(d["symbol"], dt.date.fromisoformat(d["ex_date"]), dt.date.fromisoformat(d["pay_date"]),
                         dec(d["amount"])) for d in self.store.get("dividends") or []]

    # --------------------------------------------------------------------------- settings

    def settings(self) -> Settings:
        return Settings(**(self.store.get("settings") or {}))

    def configure(self, **changes: Any) -> Settings:
        with self.store.tx():
            current = asdict(self.settings())
            unknown = set(changes) - set(current)
            if unknown:
                raise SimError(422, 42210000, f"unknown setting(s): {', '.join(sorted(unknown))}")
            current.update({k: v for k, v in changes.items() if v is not None or k == "data_rate_limit_per_minute"})
            settings = Settings(**current)
            self.store.put("settings", asdict(settings))
            self.market.spread_bps = Decimal(str(settings.spread_bps))
            return settings

    def reset(self, cash: Decimal = DEFAULT_CASH, clock: dt.datetime | None = None,
              account_configurations: dict | None = None) -> None:
        """A new account with `cash`: orders, positions, activities and history are wiped, the account
        configurations are Alpaca's defaults (margin, shorting allowed) plus `account_configurations`, and
        assets edited through /sim/assets are as new again."""
        with self.store.tx():
            changes = check_configurations(account_configurations or {})
            self.store.reset_trading_state()
            self.store.put("last_order_stamp", None)
            self.store.put("maintenance_at_close", None)
            self.store.put("account_config", {})
            self.store.put("dividends_due", [])
            for doc in self.store.assets():  # /sim/assets edits
                self.store.put_asset(doc["symbol"], self._new_asset(doc["symbol"]))
            self._init_account(dec(cash), clock or self.now())
            self._apply_configurations(changes)

    def set_account_flags(self, **flags: bool) -> dict:
        with self.store.tx():
            account = self.store.get("account")
            for key, value in flags.items():
                if key not in ("trading_blocked", "account_blocked", "transfers_blocked", "trade_suspended_by_user"):
                    raise SimError(422, 42210000, f"unknown account flag {key!r}")
                account[key] = bool(value)
            self.store.put("account", account)
            return account

    def update_asset(self, symbol: str, **changes: Any) -> dict:
        with self.store.tx():
            doc = self.store.asset(symbol)
            if doc is None:
                raise SimError(404, 40410000, "asset not found")
            for key, value in changes.items():
                if key not in (
                    "status",
                    "tradable",
                    "fractionable",
                    "shortable",
                    "easy_to_borrow",
                    "marginable",
                    "name",
                    "exchange",
                ):
                    raise SimError(422, 42210000, f"unknown asset field {key!r}")
                doc[key] = value
            self.store.put_asset(symbol, doc)
            return doc

    # -------------------------------------------------------------------------------- clock

    def now(self) -> dt.datetime:
        return parse_time(self.store.get("clock"))

    def set_clock(self, to: dt.datetime) -> dt.datetime:
        """Move the simulated clock forward, filling, triggering and expiring orders on the way."""
        with self.store.tx():
            start = self.now()
            if to < start:
                raise SimError(422, 42210000, f"the clock only moves forward (now {iso(start)}, asked {iso(to)})")
            times = sorted(set(Market.event_times(start, to)) | {to})
            prev = start
            for t in times:
                self.store.put("clock", iso(t))
                s = session(ny_date(t))
                if s is not None and t == s.open:
                    self._pay_dividends(s)
                if s is not None and s.open <= t <= s.close:
                    self._match(t, prev)
                if s is not None and t == s.close:
                    self._close_session(s)
                    self._dividends_at_close(s)
                prev = t
            return self.now()

    def clock_doc(self) -> dict:
        now = self.now()
        return {
            "timestamp": _ny_iso(now),
            "is_open": is_open(now),
            "next_open": _ny_iso(next_open(now)),
            "next_close": _ny_iso(next_close(now)),
        }

    # ---------------------------------------------------------------------------------- assets

    def _asset_doc(self, symbol: str) -> dict | None:
        """The asset as Alpaca reports it now: once the clock is past the close of the session of
        its last bar (and other symbols trade on), delisted: `status: inactive`, not `tradable`
        (so orders are refused as for any inactive asset)."""
        doc = self.store.asset(symbol)
        clock = self.store.get("clock")
        if doc is not None and clock is not None and self.market.delisted(symbol, parse_time(clock)):
            doc |= {"status": "inactive", "tradable": False}
        return doc

    def asset(self, symbol_or_id: str) -> dict:
        doc = self._asset_doc(symbol_or_id.upper())
        if doc is None:
            for candidate in self.store.assets():
                if candidate["id"] == symbol_or_id and (found := self._asset_doc(candidate["symbol"])) is not None:
                    return found
            raise SimError(404, 40410000, f"asset not found for {symbol_or_id}")
        return doc

    # ------------------------------------------------------------------------------- matching

    def _match(self, t: dt.datetime, prev: dt.datetime | None, only: str | None = None) -> None:
        """Fill, at instant `t`, every open order that is marketable or whose trigger was crossed.

        `only`: just this new order and its legs — every other open order was already matched at
        `t` (quotes depend on the symbol and the instant only), so a submit costs one order's work,
        not a pass over the whole book."""
        s = session(ny_date(t))
        if s is None:
            return  # no session that day: nothing trades
        same_session = prev is not None and s.open <= prev
        rows = self.store.open_orders(group=only)
        # stop-losses first: when both legs trigger in one step, assume the worse outcome
        docs = sorted(
            ((loads(r["doc"]), r["seq"]) for r in rows),
            key=lambda d: (d[0]["_sim"].get("leg") != "stop_loss", d[1]),
        )
        filled = False
        for doc, _ in docs:
            if filled:  # re-read: a fill earlier in this loop may have cancelled (or activated) this order
                if (row := self.store.open_order(doc["id"])) is None:
                    continue
                doc = loads(row["doc"])
            sim = doc["_sim"]
            if doc["status"] not in OPEN_STATUSES or not sim["active"]:
                continue
            if dt.date.fromisoformat(sim["session"]) > s.date:
                continue
            if self.market.halted(doc["symbol"], s.date):
                continue  # no bar this session: halted (or delisted), nothing trades
            quote = self.market.quote(doc["symbol"], t)
            if quote is None:
                continue
            bid, ask = quote
            prev_quote = self.market.quote(doc["symbol"], prev) if same_session and prev is not None else None
            price = self._fill_price(doc, bid, ask, prev_quote)
            if price is None:
                continue
            self._fill(doc, price, t)
            filled = True

    def _fill_price(
        self, doc: dict, bid: Decimal, ask: Decimal, prev: tuple[Decimal, Decimal] | None
    ) -> Decimal | None:
        side, otype = doc["side"], doc["type"]
        touch = ask if side == "buy" else bid
        if otype == "market":
            return touch
        limit = None if doc["limit_price"] is None else dec(doc["limit_price"])
        if otype == "limit":
            assert limit is not None  # a limit order has its limit price
            return _limit_fill(side, limit, bid, ask, prev)
        # stop, stop_limit, trailing_stop (simple orders and bracket or OCO stop-loss legs)
        if otype == "stop" and side == "buy":
            limit = buy_stop_limit(dec(doc["stop_price"]))
        sim = doc["_sim"]
        if sim["triggered"]:
            return touch if limit is None else _limit_fill(side, limit, bid, ask, prev)
        if otype == "trailing_stop":
            self._trail(doc, touch)
        # written for a sell; a buy is the mirror image (prices negated, the ask instead of the bid)
        sign = 1 if side == "sell" else -1
        stop = dec(doc["stop_price"])
        if sign * touch > sign * stop:
            return None
        sim["triggered"] = True
        prev_touch = None if prev is None else (prev[0] if side == "sell" else prev[1])
        fill = stop if prev_touch is not None and sign * prev_touch > sign * stop else touch
        if limit is not None and sign * fill < sign * limit:
            self.store.update_order(doc, True)  # triggered past its limit: now waiting as a limit order
            return None
        return fill

    def _trail(self, doc: dict, touch: Decimal) -> None:
        """Move a trailing stop's high water mark to `touch` when it is better (higher for a sell, lower
        for a buy), and its stop price with it [AD orders.md "Trailing Stop Orders"]."""
        hwm = dec(doc["hwm"])
        if (touch > hwm) if doc["side"] == "sell" else (touch < hwm):
            doc["hwm"] = fmt(touch)
            doc["stop_price"] = fmt(
                trailing_stop_price(
                    doc["side"],
                    touch,
                    None if doc["trail_price"] is None else dec(doc["trail_price"]),
                    None if doc["trail_percent"] is None else dec(doc["trail_percent"]),
                )
            )
            self.store.update_order(doc, True)

    def _fill(self, doc: dict, price: Decimal, t: dt.datetime) -> None:
        sim = doc["_sim"]
        if doc["notional"] is not None:
            remaining_value = dec(doc["notional"]) - dec(sim["filled_value"])
            qty = (remaining_value / price).quantize(QTY_QUANTUM, ROUND_DOWN)
            total = dec(doc["filled_qty"]) + qty
            complete = True
        else:
            remaining = dec(doc["qty"]) - dec(doc["filled_qty"])
            qty = remaining
            settings = self.settings()
            rng = random.Random(f"{settings.seed}:{doc['client_order_id']}:{sim['fills']}")
            probability = (
                settings.partial_fill_probability
                if sim["leg"] is None
                else (settings.exit_partial_fill_probability if sim["leg"] == "take_profit" else 0.0)
            )
            if rng.random() < probability:
                part = remaining * Decimal(str(rng.uniform(0.1, 0.9)))
                part = (
                    part.to_integral_value(ROUND_DOWN)
                    if _is_whole(dec(doc["qty"]))
                    else part.quantize(QTY_QUANTUM, ROUND_DOWN)
                )
                if 0 < part < remaining:
                    qty = part
            total = dec(doc["filled_qty"]) + qty
            complete = total == dec(doc["qty"])
        if qty <= 0:
            return
        value = qty * price
        sim["filled_value"] = fmt(dec(sim["filled_value"]) + value)
        sim["fills"] += 1
        doc["filled_qty"] = fmt(total)
        doc["filled_avg_price"] = fmt((dec(sim["filled_value"]) / total).quantize(Decimal("0.0001")))
        doc["updated_at"] = iso(t)
        doc["status"] = "filled" if complete else "partially_filled"
        if complete:
            doc["filled_at"] = iso(t)
        self.store.update_order(doc, not complete)
        self._book(doc["symbol"], doc["side"], qty, price)
        self._fill_activity(doc, qty, price, t, complete)
        if complete and doc["order_class"] == "bracket" and sim["leg"] is None:
            self._activate_legs(doc, total)
        if sim["leg"] is not None and complete:  # an exit leg (bracket or OCO) filled: one cancels the other
            for row in self._group_rows(doc):
                self._finish(loads(row["doc"]), "canceled", t)
        elif sim["leg"] == "take_profit":
            self._resize_stop_loss(doc, t)

    def _resize_stop_loss(self, take_profit: dict, t: dt.datetime) -> None:
        """A take-profit filled in part: the stop-loss of its group now closes only what the take-profit
        has left [AD orders.md "Bracket Orders"; notes §5]."""
        remaining = fmt(dec(take_profit["qty"]) - dec(take_profit["filled_qty"]))
        for row in self._group_rows(take_profit):
            leg = loads(row["doc"])
            if leg["_sim"]["leg"] == "stop_loss":
                leg["qty"] = remaining
                leg["updated_at"] = iso(t)
                self.store.update_order(leg, True)

    def _activate_legs(self, parent: dict, qty: Decimal) -> None:
        for row in self.store.open_orders(parent=parent["id"]):
            leg = loads(row["doc"])
            leg["_sim"]["active"] = True
            leg["qty"] = fmt(qty)
            leg["status"] = "new" if leg["_sim"]["leg"] == "take_profit" else "held"
            leg["updated_at"] = parent["updated_at"]
            self.store.update_order(leg, True)

    def _fill_activity(self, doc: dict, qty: Decimal, price: Decimal, t: dt.datetime, complete: bool) -> None:
        self.store.add_activity(
            {
                "id": _activity_id(t),
                "activity_type": "FILL",
                "transaction_time": iso(t),
                "type": "fill" if complete else "partial_fill",
                "price": fmt(price),
                "qty": fmt(qty),
                "side": doc["side"],
                "symbol": doc["symbol"],
                "leaves_qty": fmt(dec(doc["qty"]) - dec(doc["filled_qty"])) if doc["qty"] else "0",
                "cum_qty": doc["filled_qty"],
                "order_id": doc["id"],
                "order_status": doc["status"],
            },
            iso(t),
        )

    def _close_session(self, s: Session) -> None:
        """At the close: orders whose time is up expire (DAY today; GTC after 90 days); an expiring
        entry keeps its legs for what filled; the day's equity is recorded for the portfolio history."""
        for row in self.store.open_orders():
            doc = loads(row["doc"])
            if parse_time(doc["expires_at"]) > s.close:
                continue
            if doc["status"] not in OPEN_STATUSES:
                continue
            filled = dec(doc["filled_qty"])
            self._finish(doc, "expired", s.close)
            if doc["order_class"] == "bracket" and doc["_sim"]["leg"] is None:
                if filled > 0:
                    self._activate_legs(doc, filled)
                else:
                    for leg in self.store.open_orders(parent=doc["id"]):
                        self._finish(loads(leg["doc"]), "canceled", s.close)
        margin = self._margin(s.close)
        equity = margin["equity"]
        self._record_close_margin(s.date, margin["maintenance"])
        self.store.conn.execute(
            "INSERT OR REPLACE INTO equity_history (date, equity) VALUES (?, ?)", (s.date.isoformat(), fmt(equity))
        )

    # ------------------------------------------------------------------------------- dividends

    def _dividends_at_close(self, s: Session) -> None:
        """At the close of the session before an ex-date: the position then (long or short) is what
        the dividend is paid on (Alpaca: holders of record; no DIV for a position opened on the
        ex-date)."""
        if not self.dividends:
            return
        nxt = _next_session(s)
        going_ex = [d for d in self.dividends if s.date < d.ex_date and (nxt is None or d.ex_date <= nxt.date)]
        due = self.store.get("dividends_due") or []
        for d in going_ex:
            qty = self._position_qty(d.symbol)
            if qty != 0:
                due.append(
                    {
                        "symbol": d.symbol,
                        "ex_date": d.ex_date.isoformat(),
                        "pay_date": d.pay_date.isoformat(),
                        "amount": fmt(d.amount),
                        "qty": fmt(qty),
                    }
                )
        if going_ex:
            self.store.put("dividends_due", due)

    def _pay_dividends(self, s: Session) -> None:
        """At the open of a pay date: a DIV activity for each dividend due, cash moved by qty x amount
        (rounded to the cent; negative for a short position, which owes the dividend)."""
        due = self.store.get("dividends_due") or []
        paying = [d for d in due if dt.date.fromisoformat(d["pay_date"]) <= s.date]
        if not paying:
            return
        self.store.put("dividends_due", [d for d in due if d not in paying])
        for d in paying:
            qty, amount = dec(d["qty"]), dec(d["amount"])
            net = (qty * amount).quantize(Decimal("0.01"), ROUND_HALF_UP)
            self.add_non_trade_activity(
                "DIV",
                fmt(net),
                symbol=d["symbol"],
                qty=d["qty"],
                per_share_amount=d["amount"],
                description=f"Cash DIV @ {d['amount']}, Pos QTY: {d['qty']}, Ex Date: {d['ex_date']}",
            )

    # ------------------------------------------------------------------------------ activities

    def add_non_trade_activity(
        self,
        activity_type: str,
        net_amount: str,
        symbol: str | None = None,
        qty: str | None = None,
        per_share_amount: str | None = None,
        description: str = "",
    ) -> dict:
        """Post a dividend, fee, deposit or journal (DIV, FEE, CSD, CSW, JNLC, ...): cash moves by net_amount."""
        with self.store.tx():
            now = self.now()
            amount = dec(net_amount)
            doc = {
                "id": _activity_id(now),
                "activity_type": activity_type,
                "date": ny_date(now).isoformat(),
                "created_at": iso(now),
                "net_amount": fmt(amount),
                "status": "executed",
                "currency": "USD",
            }
            # like Alpaca, fields that do not apply to the activity type are absent, not null
            doc |= {
                k: v
                for k, v in (
                    ("symbol", symbol),
                    ("qty", qty),
                    ("per_share_amount", per_share_amount),
                    ("description", description),
                )
                if v
            }
            self.store.add_activity(doc, iso(now))
            self._set_cash(self._cash() + amount)
            return doc

    def activities(
        self,
        types: list[str] | None = None,
        category: str | None = None,
        date: dt.date | None = None,
        after: dt.datetime | None = None,
        until: dt.datetime | None = None,
        direction: str = "desc",
        page_size: int = 100,
        page_token: str | None = None,
    ) -> list[dict]:
        _check_query(not (types and category), "activity_types and category cannot be combined")
        _check_query(direction in ("asc", "desc"), "direction must be asc or desc")
        _check_query(1 <= page_size <= 100, "page_size must be between 1 and 100")
        where, params = ["1=1"], []
        if types:
            where.append(f"activity_type IN ({','.join('?' * len(types))})")
            params += types
        if category == "trade_activity":
            where.append("activity_type = 'FILL'")
        elif category == "non_trade_activity":
            where.append("activity_type != 'FILL'")
        elif category is not None:
            raise SimError(422, 40010000, "category must be trade_activity or non_trade_activity")
        if date is not None:
            where.append("substr(at, 1, 10) = ?")
            params.append(date.isoformat())
        _time_range(where, params, "at", after, until)
        if page_token:
            row = self.store.conn.execute("SELECT seq FROM activities WHERE id = ?", (page_token,)).fetchone()
            if row is None:
                raise SimError(422, 40010000, "invalid page_token")
            where.append("seq < ?" if direction == "desc" else "seq > ?")
            params.append(row["seq"])
        order = "DESC" if direction == "desc" else "ASC"
        rows = self.store.conn.execute(
            f"SELECT doc FROM activities WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?", (*params, page_size)
        ).fetchall()
        return [loads(r["doc"]) for r in rows]

    def portfolio_history(self, days: int | None = None, date_end: dt.date | None = None) -> dict:
        rows = self.store.conn.execute("SELECT date, equity FROM equity_history ORDER BY date").fetchall()
        if date_end is not None:
            rows = [r for r in rows if r["date"] <= date_end.isoformat()]
        if days is not None:
            rows = rows[-days:]
        equity = [float(r["equity"]) for r in rows]
        base = equity[0] if equity else float(DEFAULT_CASH)
        stamps = [
            int(
                dt.datetime.combine(
                    dt.date.fromisoformat(r["date"]), dt.time(0), tzinfo=dt.timezone(dt.timedelta(hours=-5))
                ).timestamp()
            )
            for r in rows
        ]
        return {
            "timestamp": stamps,
            "equity": equity,
            "profit_loss": [round(e - base, 4) for e in equity],
            "profit_loss_pct": [round((e - base) / base, 6) if base else 0.0 for e in equity],
            "base_value": base,
            "timeframe": "1D",
        }


def _limit_fill(
    side: str, limit: Decimal, bid: Decimal, ask: Decimal, prev: tuple[Decimal, Decimal] | None
) -> Decimal | None:
    """A limit order's fill price once marketable: the limit when the path crossed it since `prev`
    (same session), else the quote (marketable on arrival, or after a gap)."""
    if side == "buy" and ask <= limit:
        return limit if prev is not None and prev[1] > limit else ask
    if side == "sell" and bid >= limit:
        return limit if prev is not None and prev[0] < limit else bid
    return None


def buy_stop_limit(stop: Decimal) -> Decimal:
    """The limit Alpaca gives a buy stop order once elected: 4 % above a stop price under $50, 2.5 %
    above one of $50 or more [AD orders.md "Stop Order"] (sell stops stay market orders)."""
    return round_price(stop * (Decimal("1.04") if stop < 50 else Decimal("1.025")))
