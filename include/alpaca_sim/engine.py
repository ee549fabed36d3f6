"""The paper broker: account, orders, fills, positions and activities, the way Alpaca paper does it.

Fill rules (Alpaca paper trading, notes §5): market orders fill at the quote (ask for buys, bid
for sells) when the market is open, else they wait as `accepted` and fill at the next open; limit
orders fill once marketable (at the limit when the price crosses it, at the quote when they are
marketable on arrival or after a gap); DAY orders expire at the session's close; a configurable
share of fills are partial (a random 10-90 %), the rest filling at the next clock step.

Bracket orders: both legs are `held` until the entry is completely filled; then the take-profit
is `new` and the stop-loss stays `held` (Alpaca triggers it itself); they trigger on the price
path as the clock advances (the stop first when both trigger in one step), and one cancels the
other. Legs have the entry's time in force. Assumption where Alpaca's docs are silent: an entry
that expires partially filled keeps its legs, resized to the filled quantity.

Validation follows Alpaca's rules and error bodies (notes §2.8): buying power (market buys are
valued at the ask plus a collar), shares available (open sells and bracket legs hold shares),
duplicate client_order_id, bracket prices against the base price, sub-penny prices, fractional
orders only simple DAY on fractionable assets, potential wash trades, account flags.

Partial fills draw from a generator seeded with (seed, client_order_id, fill number), so the same
orders give the same fills run after run.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from .market import CENT, Bar, Market, price_increment
from .sessions import UTC, Session, is_open, latest_started_session, next_close, next_open, ny_date, session
from .store import Store

OPEN_STATUSES = {"new", "partially_filled", "accepted", "pending_new", "held", "accepted_for_bidding",
                 "pending_cancel", "pending_replace", "done_for_day"}
ASSET_NAMESPACE = uuid.UUID("6f1f6a52-3c3c-4a53-9a7e-5d1c1f0b7a10")
DEFAULT_CASH = Decimal("100000")
MAX_CLIENT_ORDER_ID = 48
QTY_QUANTUM = Decimal("0.000000001")


class SimError(Exception):
    """An HTTP error with Alpaca's status code and body."""

    def __init__(self, status: int, code: int | None, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = ({"code": code} if code is not None else {}) | {"message": message} | extra


@dataclass
class Settings:
    spread_bps: float = 2.0
    partial_fill_probability: float = 0.0
    market_buy_collar: float = 0.025
    seed: int = 0
    rate_limit_per_minute: int = 200


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def fmt(value: Decimal | None) -> str | None:
    """Alpaca sends decimals as strings without exponent or trailing zeros ("10", "187.32")."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _is_whole(q: Decimal) -> bool:
    return q == q.to_integral_value()


class Engine:
    """All broker state transitions. Every public method runs in one store transaction."""

    def __init__(self, store: Store, bars: dict[str, list[Bar]] | None = None, clock: dt.datetime | None = None):
        self.store = store
        with store.tx():
            if bars:
                self._save_bars(bars)
            self.market = Market(self._load_bars(), Decimal(str(self.settings().spread_bps)))
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
            if self._asset_doc(sym) is None:
                self.store.conn.execute("INSERT INTO assets (symbol, doc) VALUES (?, ?)",
                                        (sym, json.dumps(self._new_asset(sym))))

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
            "maintenance_margin_requirement": 30, "shortable": False, "easy_to_borrow": False,
            "fractionable": True, "attributes": [],
        }

    def load_bars(self, bars: dict[str, list[Bar]]) -> None:
        with self.store.tx():
            self._save_bars(bars)
            self.market = Market(self._load_bars(), self.market.spread_bps)

    # --------------------------------------------------------------------------- settings

    def settings(self) -> Settings:
        return Settings(**(self.store.get("settings") or {}))

    def configure(self, **changes: Any) -> Settings:
        with self.store.tx():
            current = asdict(self.settings())
            unknown = set(changes) - set(current)
            if unknown:
                raise SimError(422, 42210000, f"unknown setting(s): {', '.join(sorted(unknown))}")
            current.update({k: v for k, v in changes.items() if v is not None})
            settings = Settings(**current)
            self.store.put("settings", asdict(settings))
            self.market.spread_bps = Decimal(str(settings.spread_bps))
            return settings

    def reset(self, cash: Decimal = DEFAULT_CASH, clock: dt.datetime | None = None) -> None:
        """A new account with `cash`: orders, positions, activities and history are wiped."""
        with self.store.tx():
            self.store.reset_trading_state()
            self.store.put("last_order_stamp", None)
            self._init_account(dec(cash), clock or self.now())

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
            doc = self._asset_doc(symbol)
            if doc is None:
                raise SimError(404, 40410000, "asset not found")
            for key, value in changes.items():
                if key not in ("status", "tradable", "fractionable", "shortable", "marginable", "name", "exchange"):
                    raise SimError(422, 42210000, f"unknown asset field {key!r}")
                doc[key] = value
            self.store.conn.execute("UPDATE assets SET doc = ? WHERE symbol = ?", (json.dumps(doc), symbol))
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
                if s is not None and s.open <= t <= s.close:
                    self._match(t, prev)
                if s is not None and t == s.close:
                    self._close_session(s)
                prev = t
            return self.now()

    def clock_doc(self) -> dict:
        now = self.now()
        return {"timestamp": _ny_iso(now), "is_open": is_open(now),
                "next_open": _ny_iso(next_open(now)), "next_close": _ny_iso(next_close(now))}

    # ------------------------------------------------------------------------------- account

    def _cash(self) -> Decimal:
        return dec(self.store.get("cash"))

    def _set_cash(self, cash: Decimal) -> None:
        self.store.put("cash", fmt(cash))

    def _price(self, symbol: str, at: dt.datetime | None = None) -> Decimal | None:
        return self.market.last_trade(symbol, at or self.now())

    def _long_market_value(self, at: dt.datetime) -> Decimal:
        total = Decimal(0)
        for symbol, (qty, cost) in self.store.positions().items():
            price = self._price(symbol, at)
            total += dec(qty) * (price if price is not None else dec(cost) / dec(qty))
        return total

    def _reserved_for_buys(self, now: dt.datetime) -> Decimal:
        collar = Decimal(str(self.settings().market_buy_collar))
        total = Decimal(0)
        for row in self.store.order_rows("open = 1"):
            doc = json.loads(row["doc"])
            if doc["side"] != "buy":
                continue
            if doc["notional"] is not None:
                total += dec(doc["notional"]) - dec(doc["_sim"]["filled_value"])
                continue
            remaining = dec(doc["qty"]) - dec(doc["filled_qty"])
            if doc["limit_price"] is not None:
                total += remaining * dec(doc["limit_price"])
            else:
                quote = self.market.quote(doc["symbol"], now)
                total += remaining * (quote[1] if quote else Decimal(0)) * (1 + collar)
        return total

    def buying_power(self) -> Decimal:
        return max(self._cash() - self._reserved_for_buys(self.now()), Decimal(0))

    def account_doc(self) -> dict:
        now = self.now()
        account = self.store.get("account")
        cash = self._cash()
        lmv = self._long_market_value(now)
        equity = cash + lmv
        bp = self.buying_power()
        last = self._last_equity(now)
        return {
            "id": account["id"], "account_number": account["account_number"], "status": "ACTIVE",
            "crypto_status": "INACTIVE", "currency": "USD",
            "buying_power": fmt(bp), "regt_buying_power": fmt(bp), "non_marginable_buying_power": fmt(bp),
            "options_buying_power": fmt(bp), "cash": fmt(cash), "accrued_fees": "0", "pending_transfer_in": "0",
            "pending_transfer_out": "0", "portfolio_value": fmt(equity), "equity": fmt(equity),
            "last_equity": fmt(last if last is not None else equity), "long_market_value": fmt(lmv),
            "short_market_value": "0", "initial_margin": "0", "maintenance_margin": "0",
            "last_maintenance_margin": "0", "sma": "0", "multiplier": "1", "shorting_enabled": False,
            "pattern_day_trader": False, "trading_blocked": account["trading_blocked"],
            "transfers_blocked": account["transfers_blocked"], "account_blocked": account["account_blocked"],
            "trade_suspended_by_user": account["trade_suspended_by_user"], "created_at": account["created_at"],
            "balance_asof": ny_date(now).isoformat(), "options_approved_level": 0, "options_trading_level": 0,
        }

    def _last_equity(self, now: dt.datetime) -> Decimal | None:
        row = self.store.conn.execute(
            "SELECT equity FROM equity_history WHERE date < ? ORDER BY date DESC LIMIT 1", (ny_date(now).isoformat(),)
        ).fetchone()
        return None if row is None else dec(row["equity"])

    # ------------------------------------------------------------------------------ positions

    def _held_for_sells(self, symbol: str) -> Decimal:
        """Shares reserved by open sell orders; a bracket's two legs reserve its quantity once."""
        held = Decimal(0)
        by_parent: dict[str, Decimal] = {}
        for row in self.store.order_rows("open = 1 AND symbol = ?", (symbol,)):
            doc = json.loads(row["doc"])
            if doc["side"] != "sell":
                continue
            remaining = dec(doc["qty"] or 0) - dec(doc["filled_qty"])
            parent = doc["_sim"].get("parent")
            if parent:
                by_parent[parent] = max(by_parent.get(parent, Decimal(0)), remaining)
            else:
                held += remaining
        return held + sum(by_parent.values(), Decimal(0))

    def position_doc(self, symbol: str, qty: str, cost: str) -> dict:
        now = self.now()
        q, basis = dec(qty), dec(cost)
        price = self._price(symbol, now) or basis / q
        s = latest_started_session(now)
        prev_bar = self.market.bar_on_or_before(symbol, s.date - dt.timedelta(days=1))
        lastday = prev_bar.c if prev_bar else price
        mv = q * price
        pl = mv - basis
        intraday = q * (price - lastday)
        asset = self._asset_doc(symbol) or self._new_asset(symbol)
        return {
            "asset_id": asset["id"], "symbol": symbol, "exchange": asset["exchange"], "asset_class": "us_equity",
            "asset_marginable": asset["marginable"], "avg_entry_price": fmt((basis / q).quantize(Decimal("0.0001"))),
            "qty": fmt(q), "qty_available": fmt(q - self._held_for_sells(symbol)), "side": "long",
            "market_value": fmt(mv.quantize(CENT)), "cost_basis": fmt(basis.quantize(CENT)),
            "unrealized_pl": fmt(pl.quantize(CENT)), "unrealized_plpc": fmt((pl / basis).quantize(Decimal("1e-10"))),
            "unrealized_intraday_pl": fmt(intraday.quantize(CENT)),
            "unrealized_intraday_plpc": fmt((intraday / (q * lastday)).quantize(Decimal("1e-10"))),
            "current_price": fmt(price), "lastday_price": fmt(lastday),
            "change_today": fmt(((price - lastday) / lastday).quantize(Decimal("1e-10"))),
        }

    def positions_docs(self) -> list[dict]:
        return [self.position_doc(sym, q, c) for sym, (q, c) in self.store.positions().items()]

    def get_position(self, symbol: str) -> dict:
        pos = self.store.positions().get(symbol.upper())
        if pos is None:
            raise SimError(404, 40410000, "position does not exist")
        return self.position_doc(symbol.upper(), *pos)

    def close_position(self, symbol: str, qty: str | None = None, percentage: str | None = None) -> dict:
        """Liquidate (part of) a position with a market order, as DELETE /v2/positions/{symbol} does."""
        with self.store.tx():
            symbol = symbol.upper()
            pos = self.store.positions().get(symbol)
            if pos is None:
                raise SimError(404, 40410000, "position does not exist")
            held = dec(pos[0])
            amount = held if qty is None and percentage is None else (
                dec(qty) if qty is not None else (held * dec(percentage) / 100).quantize(QTY_QUANTUM, ROUND_DOWN))
            return self.submit({"symbol": symbol, "qty": fmt(amount), "side": "sell", "type": "market",
                                "time_in_force": "day"})

    # ---------------------------------------------------------------------------------- assets

    def _asset_doc(self, symbol: str) -> dict | None:
        row = self.store.conn.execute("SELECT doc FROM assets WHERE symbol = ?", (symbol,)).fetchone()
        return None if row is None else json.loads(row["doc"])

    def asset(self, symbol_or_id: str) -> dict:
        doc = self._asset_doc(symbol_or_id.upper())
        if doc is None:
            for row in self.store.conn.execute("SELECT doc FROM assets"):
                candidate = json.loads(row["doc"])
                if candidate["id"] == symbol_or_id:
                    return candidate
            raise SimError(404, 40410000, f"asset not found for {symbol_or_id}")
        return doc

    # ---------------------------------------------------------------------------------- orders

    def submit(self, body: dict) -> dict:
        """Validate and accept an order; return it as accepted (fills happen right after)."""
        with self.store.tx():
            now = self._order_stamp()
            req = self._validate(body, now)
            parent = self._new_order(req, now, parent=None)
            legs = []
            if req["order_class"] == "bracket":
                for leg, spec in (("take_profit", req["take_profit"]), ("stop_loss", req["stop_loss"])):
                    stop_type = "stop_limit" if spec.get("limit_price") else "stop"
                    leg_doc = self._new_order({
                        "symbol": req["symbol"], "qty": req["qty"], "notional": None, "side": "sell",
                        "type": "limit" if leg == "take_profit" else stop_type,
                        "time_in_force": req["time_in_force"], "order_class": "bracket",
                        "limit_price": spec.get("limit_price"), "stop_price": spec.get("stop_price"),
                        "client_order_id": str(uuid.uuid4()), "extended_hours": False,
                    }, now, parent=parent["id"], leg=leg)
                    leg_doc["status"] = "held"
                    legs.append(leg_doc)
            self.store.insert_order(parent, None, True)
            for leg_doc in legs:
                self.store.insert_order(leg_doc, parent["id"], True)
            snapshot = self._api_order(parent, nested=True)
            if is_open(now):
                self._match(now, None)
            return snapshot

    def _order_stamp(self) -> dt.datetime:
        """The simulated time, nudged a microsecond past the previous order's when the clock stands
        still: like Alpaca's real timestamps, no two orders share one, so time-based paging works."""
        now = self.now()
        last = self.store.get("last_order_stamp")
        if last is not None and parse_time(last) >= now:
            now = parse_time(last) + dt.timedelta(microseconds=1)
        self.store.put("last_order_stamp", iso(now))
        return now

    def _new_order(self, req: dict, now: dt.datetime, parent: str | None, leg: str | None = None) -> dict:
        open_now = is_open(now)
        trade_session = _order_session(now)
        asset = self._asset_doc(req["symbol"])
        return {
            "id": str(uuid.uuid4()), "client_order_id": req["client_order_id"],
            "created_at": iso(now), "updated_at": iso(now), "submitted_at": iso(now),
            "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": asset["id"], "symbol": req["symbol"], "asset_class": "us_equity",
            "notional": fmt(req["notional"]), "qty": fmt(req["qty"]), "filled_qty": "0", "filled_avg_price": None,
            "order_class": "" if req["order_class"] == "simple" else req["order_class"],
            "order_type": req["type"], "type": req["type"], "side": req["side"],
            "position_intent": "buy_to_open" if req["side"] == "buy" else "sell_to_close",
            "time_in_force": req["time_in_force"],
            "limit_price": fmt(req["limit_price"]), "stop_price": fmt(req["stop_price"]),
            "status": "new" if open_now else "accepted", "extended_hours": bool(req["extended_hours"]),
            "legs": None, "trail_percent": None, "trail_price": None, "hwm": None,
            "expires_at": iso(_expiry(trade_session, req["time_in_force"])),
            "_sim": {"parent": parent, "leg": leg, "active": leg is None, "session": trade_session.date.isoformat(),
                     "filled_value": "0", "fills": 0, "triggered": False},
        }

    def _validate(self, body: dict, now: dt.datetime) -> dict:
        account = self.store.get("account")
        if account["account_blocked"] or account["trading_blocked"]:
            raise SimError(403, 40310000, "account is not authorized to trade")
        if account["trade_suspended_by_user"]:
            raise SimError(403, 40310000, "new orders are rejected by user request")

        symbol = str(body.get("symbol") or "").upper()
        if not symbol:
            raise SimError(422, 40010000, "symbol is required")
        asset = self._asset_doc(symbol)
        if asset is None:
            raise SimError(422, 40010001, f"asset \"{symbol}\" not found")
        if asset["status"] != "active":
            raise SimError(422, 42210000, f"asset {symbol} is not active")
        if not asset["tradable"]:
            raise SimError(422, 42210000, f"asset {symbol} is not tradable")

        side = body.get("side")
        if side not in ("buy", "sell"):
            raise SimError(422, 40010000, "side must be buy or sell")
        otype = body.get("type") or body.get("order_type")
        if otype not in ("market", "limit"):
            raise SimError(422, 40010000, f"order type {otype!r} is not supported (market, limit)")
        tif = body.get("time_in_force")
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            raise SimError(422, 40010000, "invalid time_in_force")
        if tif not in ("day", "gtc"):
            raise SimError(422, 40010000, f"time_in_force {tif!r} is not supported by the simulator (day, gtc)")
        order_class = body.get("order_class") or "simple"
        if order_class not in ("simple", "bracket"):
            raise SimError(422, 40010000, f"order_class {order_class!r} is not supported (simple, bracket)")
        if body.get("extended_hours"):
            raise SimError(422, 42210000, "extended hours orders are not supported by the simulator")

        qty, notional = _decimal_field(body, "qty"), _decimal_field(body, "notional")
        if (qty is None) == (notional is None):
            raise SimError(422, 40010000, "qty or notional is required, not both")
        for name, value in (("qty", qty), ("notional", notional)):
            if value is not None and value <= 0:
                raise SimError(422, 40010000, f"{name} must be > 0")
            if value is not None and value != value.quantize(QTY_QUANTUM, ROUND_DOWN):
                raise SimError(422, 40010000, f"{name} must have at most 9 decimal places")
        fractional = notional is not None or not _is_whole(qty)
        if fractional:
            if order_class != "simple":
                raise SimError(422, 42210000, "fractional orders must be simple orders")
            if tif != "day":
                raise SimError(422, 42210000, "fractional orders must be DAY orders")
            if not asset["fractionable"]:
                raise SimError(422, 42210000, "requested asset is not fractionable")
            if notional is not None and otype != "market":
                raise SimError(422, 42210000, "notional orders must be market orders")

        cid = body.get("client_order_id") or str(uuid.uuid4())
        if len(cid) > MAX_CLIENT_ORDER_ID:
            raise SimError(422, 40010000, f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
        if self.store.conn.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)).fetchone():
            raise SimError(422, 40010001, "client_order_id must be unique")

        limit_price = _price_field(body, "limit_price")
        if otype == "limit" and limit_price is None:
            raise SimError(422, 40010000, "limit_price is required for limit orders")
        if otype == "market" and limit_price is not None:
            raise SimError(422, 40010000, "limit_price must not be set for market orders")
        quote = self.market.quote(symbol, now)

        take_profit = stop_loss = None
        if order_class == "bracket":
            take_profit, stop_loss = body.get("take_profit") or {}, body.get("stop_loss") or {}
            tp = _price_field(take_profit, "limit_price", "take_profit.limit_price")
            sl = _price_field(stop_loss, "stop_price", "stop_loss.stop_price")
            sl_limit = _price_field(stop_loss, "limit_price", "stop_loss.limit_price")
            if tp is None or sl is None:
                raise SimError(422, 40010000, "bracket orders need take_profit.limit_price and stop_loss.stop_price")
            if side != "buy" or self._position_qty(symbol) < 0:
                raise SimError(422, 42210000, "bracket orders must be entry orders")
            base = limit_price if limit_price is not None else (quote[1] if quote else None)
            if base is None:
                raise SimError(422, 42210000, f"no market price for {symbol}")
            if tp < base + CENT:
                raise SimError(422, 42210000, "take_profit.limit_price must be >= base_price + 0.01",
                               base_price=fmt(base))
            if sl > base - CENT:
                raise SimError(422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01",
                               base_price=fmt(base))
            if sl_limit is not None and sl_limit > sl:
                raise SimError(422, 42210000, "stop_loss.limit_price must be <= stop_loss.stop_price")
            take_profit = {"limit_price": tp}
            stop_loss = {"stop_price": sl, "limit_price": sl_limit}

        self._check_wash_trade(symbol, side, otype, limit_price, now)
        if side == "sell":
            available = self._position_qty(symbol) - self._held_for_sells(symbol)
            wanted = qty if qty is not None else (notional / quote[0] if quote else Decimal(0))
            if wanted > available:
                raise SimError(403, 40310000,
                               f"insufficient qty available for order (requested: {fmt(wanted)}, available: "
                               f"{fmt(max(available, Decimal(0)))})",
                               symbol=symbol, available=fmt(max(available, Decimal(0))),
                               existing_qty=fmt(self._position_qty(symbol)),
                               held_for_orders=fmt(self._held_for_sells(symbol)))
        else:
            if quote is None and limit_price is None:
                raise SimError(422, 42210000, f"no market price for {symbol}")
            collar = Decimal(str(self.settings().market_buy_collar))
            cost = notional if notional is not None else qty * (
                limit_price if limit_price is not None else quote[1] * (1 + collar))
            bp = self.buying_power()
            if cost > bp:
                raise SimError(403, 40310000, "insufficient buying power",
                               buying_power=fmt(bp.quantize(CENT)), cost_basis=fmt(cost.quantize(CENT)))
        return {"symbol": symbol, "side": side, "type": otype, "time_in_force": tif, "order_class": order_class,
                "qty": qty, "notional": notional, "limit_price": limit_price, "stop_price": None,
                "client_order_id": cid, "extended_hours": False, "take_profit": take_profit, "stop_loss": stop_loss}

    def _position_qty(self, symbol: str) -> Decimal:
        pos = self.store.positions().get(symbol)
        return dec(pos[0]) if pos else Decimal(0)

    def _check_wash_trade(self, symbol: str, side: str, otype: str, limit: Decimal | None, now: dt.datetime) -> None:
        """An incoming order that could fill against our own opposite-side open order is refused."""
        for row in self.store.order_rows("open = 1 AND symbol = ?", (symbol,)):
            doc = json.loads(row["doc"])
            if doc["side"] == side or doc["type"] in ("stop", "stop_limit") or not doc["_sim"]["active"]:
                continue
            other = None if doc["limit_price"] is None else dec(doc["limit_price"])
            crosses = otype == "market" or other is None or (
                (side == "buy" and limit >= other) or (side == "sell" and limit <= other))
            if crosses:
                raise SimError(403, 40310000, "potential wash trade detected. use complex orders",
                               reject_reason="opposite side market/limit order exists")

    # -------------------------------------------------------------------------- order queries

    def _api_order(self, doc: dict, nested: bool) -> dict:
        out = {k: v for k, v in doc.items() if k != "_sim"}
        if nested and doc["order_class"] == "bracket" and not doc["_sim"]["parent"]:
            out["legs"] = [self._api_order(json.loads(r["doc"]), False)
                           for r in self.store.order_rows("parent_id = ?", (doc["id"],))]
        return out

    def _doc(self, order_id: str) -> dict:
        rows = self.store.order_rows("id = ?", (order_id,))
        if not rows:
            raise SimError(404, 40410000, "order not found")
        return json.loads(rows[0]["doc"])

    def get_order(self, order_id: str, nested: bool = False) -> dict:
        return self._api_order(self._doc(order_id), nested)

    def get_order_by_client_id(self, client_order_id: str) -> dict:
        rows = self.store.order_rows("client_order_id = ?", (client_order_id,))
        if not rows:
            raise SimError(404, 40410000, "order not found")
        return self._api_order(json.loads(rows[0]["doc"]), True)

    def list_orders(self, status: str = "open", limit: int = 50, after: dt.datetime | None = None,
                    until: dt.datetime | None = None, direction: str = "desc", nested: bool = False,
                    symbols: list[str] | None = None, side: str | None = None) -> list[dict]:
        _check_query(status in ("open", "closed", "all"), "status must be open, closed or all")
        _check_query(direction in ("asc", "desc"), "direction must be asc or desc")
        _check_query(1 <= limit <= 500, "limit must be between 1 and 500")
        where, params = ["1=1"], []
        if status == "open":
            where.append("open = 1 AND status != 'held'")
        elif status == "closed":
            where.append("open = 0")
        if nested:
            where.append("parent_id IS NULL")
        if symbols:
            where.append(f"symbol IN ({','.join('?' * len(symbols))})")
            params += [s.upper() for s in symbols]
        _time_range(where, params, "submitted_at", after, until)
        rows = self.store.order_rows(" AND ".join(where), tuple(params),
                                     order=f"submitted_at {direction.upper()}, seq {direction.upper()}")
        out = []
        for row in rows:
            doc = json.loads(row["doc"])
            if side and doc["side"] != side:
                continue
            out.append(self._api_order(doc, nested))
            if len(out) >= limit:
                break
        return out

    def cancel(self, order_id: str) -> None:
        with self.store.tx():
            doc = self._doc(order_id)
            if doc["status"] not in OPEN_STATUSES:
                raise SimError(422, 42210000, f"order is already in \"{doc['status']}\" state")
            self._cancel_doc(doc, self.now())

    def cancel_all(self) -> list[dict]:
        with self.store.tx():
            now, out = self.now(), []
            for row in self.store.order_rows("open = 1 AND parent_id IS NULL"):
                doc = json.loads(row["doc"])
                self._cancel_doc(doc, now)
                out.append({"id": doc["id"], "status": 200, "body": self._api_order(self._doc(doc["id"]), False)})
            for row in self.store.order_rows("open = 1"):  # legs of filled entries
                doc = json.loads(row["doc"])
                self._cancel_doc(doc, now)
                out.append({"id": doc["id"], "status": 200, "body": self._api_order(self._doc(doc["id"]), False)})
            return out

    def _cancel_doc(self, doc: dict, now: dt.datetime) -> None:
        self._finish(doc, "canceled", now)
        parent = doc["_sim"]["parent"]
        siblings = self.store.order_rows("parent_id = ? AND open = 1", (parent or doc["id"],))
        for row in siblings:  # cancelling an entry cancels its legs; a leg cancels the other (OCO)
            self._finish(json.loads(row["doc"]), "canceled", now)

    def _finish(self, doc: dict, status: str, now: dt.datetime) -> None:
        doc["status"] = status
        doc["updated_at"] = iso(now)
        doc[{"canceled": "canceled_at", "expired": "expired_at", "filled": "filled_at"}[status]] = iso(now)
        self.store.update_order(doc, False)

    # ------------------------------------------------------------------------------- matching

    def _match(self, t: dt.datetime, prev: dt.datetime | None) -> None:
        """Fill, at instant `t`, every open order that is marketable or whose trigger was crossed."""
        s = session(ny_date(t))
        same_session = prev is not None and s is not None and s.open <= prev
        rows = self.store.order_rows("open = 1")
        # stop-losses first: when both legs trigger in one step, assume the worse outcome
        rows = sorted(rows, key=lambda r: (json.loads(r["doc"])["_sim"].get("leg") != "stop_loss", r["seq"]))
        for row in rows:
            # re-read: a fill earlier in this loop may have cancelled this order (the other leg)
            doc = json.loads(self.store.order_rows("id = ?", (row["id"],))[0]["doc"])
            sim = doc["_sim"]
            if doc["status"] not in OPEN_STATUSES or not sim["active"]:
                continue
            if dt.date.fromisoformat(sim["session"]) > s.date:
                continue
            quote = self.market.quote(doc["symbol"], t)
            if quote is None:
                continue
            bid, ask = quote
            prev_quote = self.market.quote(doc["symbol"], prev) if same_session else None
            price = self._fill_price(doc, bid, ask, prev_quote)
            if price is None:
                continue
            self._fill(doc, price, t)

    def _fill_price(self, doc: dict, bid: Decimal, ask: Decimal, prev: tuple[Decimal, Decimal] | None) -> Decimal | None:
        side, otype = doc["side"], doc["type"]
        touch = ask if side == "buy" else bid
        if otype == "market":
            return touch
        if otype == "limit":
            limit = dec(doc["limit_price"])
            if side == "buy" and ask <= limit:
                return limit if prev is not None and prev[1] > limit else ask
            if side == "sell" and bid >= limit:
                return limit if prev is not None and prev[0] < limit else bid
            return None
        # stop / stop_limit (sell stop-loss legs)
        stop = dec(doc["stop_price"])
        sim = doc["_sim"]
        if not sim["triggered"]:
            if bid > stop:
                return None
            sim["triggered"] = True
            fill = stop if prev is not None and prev[0] > stop else bid
        else:
            fill = bid
        if doc["limit_price"] is not None and fill < dec(doc["limit_price"]):
            if bid >= dec(doc["limit_price"]):
                return dec(doc["limit_price"])
            self.store.update_order(doc, True)  # triggered, now waiting as a limit order
            return None
        return fill

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
            if sim["leg"] is None and rng.random() < settings.partial_fill_probability:
                part = remaining * Decimal(str(rng.uniform(0.1, 0.9)))
                part = part.to_integral_value(ROUND_DOWN) if _is_whole(dec(doc["qty"])) else part.quantize(QTY_QUANTUM, ROUND_DOWN)
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
        if sim["leg"] is not None:
            for row in self.store.order_rows("parent_id = ? AND open = 1 AND id != ?", (sim["parent"], doc["id"])):
                self._finish(json.loads(row["doc"]), "canceled", t)

    def _activate_legs(self, parent: dict, qty: Decimal) -> None:
        for row in self.store.order_rows("parent_id = ? AND open = 1", (parent["id"],)):
            leg = json.loads(row["doc"])
            leg["_sim"]["active"] = True
            leg["qty"] = fmt(qty)
            leg["status"] = "new" if leg["_sim"]["leg"] == "take_profit" else "held"
            leg["updated_at"] = parent["updated_at"]
            self.store.update_order(leg, True)

    def _book(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> None:
        held, cost = (dec(x) for x in self.store.positions().get(symbol, ("0", "0")))
        if side == "buy":
            held, cost = held + qty, cost + qty * price
            self._set_cash(self._cash() - qty * price)
        else:
            cost = cost - (cost / held) * qty if held else Decimal(0)
            held = held - qty
            self._set_cash(self._cash() + qty * price)
        self.store.set_position(symbol, fmt(held), fmt(cost))

    def _fill_activity(self, doc: dict, qty: Decimal, price: Decimal, t: dt.datetime, complete: bool) -> None:
        self.store.add_activity({
            "id": _activity_id(t), "activity_type": "FILL", "transaction_time": iso(t),
            "type": "fill" if complete else "partial_fill", "price": fmt(price), "qty": fmt(qty),
            "side": doc["side"], "symbol": doc["symbol"],
            "leaves_qty": fmt(dec(doc["qty"]) - dec(doc["filled_qty"])) if doc["qty"] else "0",
            "cum_qty": doc["filled_qty"], "order_id": doc["id"], "order_status": doc["status"],
        }, iso(t))

    def _close_session(self, s: Session) -> None:
        """At the close: orders whose time is up expire (DAY today; GTC after 90 days); an expiring
        entry keeps its legs for what filled; the day's equity is recorded for the portfolio history."""
        for row in self.store.order_rows("open = 1"):
            doc = json.loads(row["doc"])
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
                    for leg in self.store.order_rows("parent_id = ? AND open = 1", (doc["id"],)):
                        self._finish(json.loads(leg["doc"]), "canceled", s.close)
        equity = self._cash() + self._long_market_value(s.close)
        self.store.conn.execute("INSERT OR REPLACE INTO equity_history (date, equity) VALUES (?, ?)",
                                (s.date.isoformat(), fmt(equity)))

    # ------------------------------------------------------------------------------ activities

    def add_non_trade_activity(self, activity_type: str, net_amount: str, symbol: str | None = None,
                               qty: str | None = None, per_share_amount: str | None = None,
                               description: str = "") -> dict:
        """Post a dividend, fee, deposit or journal (DIV, FEE, CSD, CSW, JNLC, ...): cash moves by net_amount."""
        with self.store.tx():
            now = self.now()
            amount = dec(net_amount)
            doc = {"id": _activity_id(now), "activity_type": activity_type, "date": ny_date(now).isoformat(),
                   "created_at": iso(now), "net_amount": fmt(amount), "status": "executed", "currency": "USD"}
            # like Alpaca, fields that do not apply to the activity type are absent, not null
            doc |= {k: v for k, v in (("symbol", symbol), ("qty", qty), ("per_share_amount", per_share_amount),
                                      ("description", description)) if v}
            self.store.add_activity(doc, iso(now))
            self._set_cash(self._cash() + amount)
            return doc

    def activities(self, types: list[str] | None = None, category: str | None = None, date: dt.date | None = None,
                   after: dt.datetime | None = None, until: dt.datetime | None = None, direction: str = "desc",
                   page_size: int = 100, page_token: str | None = None) -> list[dict]:
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
            f"SELECT doc FROM activities WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?",
            (*params, page_size)).fetchall()
        return [json.loads(r["doc"]) for r in rows]

    def portfolio_history(self, days: int | None = None, date_end: dt.date | None = None) -> dict:
        rows = self.store.conn.execute("SELECT date, equity FROM equity_history ORDER BY date").fetchall()
        if date_end is not None:
            rows = [r for r in rows if r["date"] <= date_end.isoformat()]
        if days is not None:
            rows = rows[-days:]
        equity = [float(r["equity"]) for r in rows]
        base = equity[0] if equity else float(DEFAULT_CASH)
        stamps = [int(dt.datetime.combine(dt.date.fromisoformat(r["date"]), dt.time(0),
                                          tzinfo=dt.timezone(dt.timedelta(hours=-5))).timestamp()) for r in rows]
        return {"timestamp": stamps, "equity": equity, "profit_loss": [round(e - base, 4) for e in equity],
                "profit_loss_pct": [round((e - base) / base, 6) if base else 0.0 for e in equity],
                "base_value": base, "timeframe": "1D"}


def _time_range(where: list[str], params: list, column: str, after: dt.datetime | None,
                until: dt.datetime | None) -> None:
    """Alpaca's `after` / `until` filters (both exclusive) on an ISO timestamp column."""
    if after is not None:
        where.append(f"{column} > ?")
        params.append(iso(after))
    if until is not None:
        where.append(f"{column} < ?")
        params.append(iso(until))


def _check_query(ok: bool, message: str) -> None:
    """A bad query parameter: 422 with Alpaca's generic invalid-request code."""
    if not ok:
        raise SimError(422, 40010000, message)


def _order_session(now: dt.datetime) -> Session:
    """The session an order placed at `now` is for: today's until the close, then the next one."""
    s = session(ny_date(now))
    if s is not None and now < s.close:
        return s
    nxt = next_open(now)
    return session(ny_date(nxt))


def _expiry(trade_session: Session, tif: str) -> dt.datetime:
    """DAY orders expire at their session's close; GTC orders, like Alpaca's, after 90 days."""
    if tif == "day":
        return trade_session.close
    from .sessions import session_on_or_before

    return session_on_or_before(trade_session.date + dt.timedelta(days=90)).close


def _activity_id(t: dt.datetime) -> str:
    return f"{t.astimezone(UTC):%Y%m%d%H%M%S}{t.microsecond // 1000:03d}::{uuid.uuid4()}"


def _ny_iso(t: dt.datetime) -> str:
    from .sessions import NY

    return t.astimezone(NY).isoformat()


def _decimal_field(body: dict, key: str) -> Decimal | None:
    value = body.get(key)
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise SimError(422, 40010000, f"{key} must be a number") from None


def _price_field(body: dict, key: str, label: str | None = None) -> Decimal | None:
    value = _decimal_field(body, key)
    if value is None:
        return None
    if value <= 0:
        raise SimError(422, 40010000, f"{label or key} must be > 0")
    if value != value.quantize(price_increment(value)):
        raise SimError(422, 42210000, f"invalid {label or key} {value}. sub-penny increment does not fulfill "
                                      "minimum pricing criteria")
    return value
