"""Orders: validation with Alpaca's rules and bodies (notes §2.8), creation of simple, bracket and OCO
orders, queries and cancellation.

Order types [AD orders.md "Order Types"]: market, limit, stop (`stop_price`), stop_limit (`stop_price`
and `limit_price`) and trailing_stop (exactly one of `trail_price` / `trail_percent`; a simple order,
whole shares). A trailing stop's `hwm` is the best price since it was accepted (the highest bid for a
sell, the lowest ask for a buy) and its `stop_price` the trail away from it; the engine moves both as
the clock runs.

Position rules (Alpaca margin account): a sell may close at most the long position not already held
by open sells ("insufficient qty available"); from a flat or short position a sell is a short sale,
which needs `shorting_enabled` ("account is not allowed to short"), an easy-to-borrow asset ("cannot
be sold short"), whole shares and buying power (valued at max(limit, ask + 3 %)). A buy against a
short position covers it (no buying-power check) and may not exceed it. No single order turns a long
position short or a short one long.

OCO (`order_class: "oco"`, [AD orders.md "OCO Orders"]): an exit-only pair sent as one limit order:
the take-profit (`take_profit.limit_price`, which is also the order's limit and its base price) is the
parent, `new`; the stop-loss (`stop_loss.stop_price`, optional `stop_loss.limit_price`) is its one leg,
`held` until triggered. Both work like a bracket's exit legs.

Wash trades ([AD docs.alpaca.markets "User Protection" → "Preventing Wash Trades"], notes "User
protections"): a new order is refused (403 40310000 "potential wash trade detected. use complex
orders") when an open order of the opposite side on the same symbol could trade with it, by Alpaca's
table (`_check_wash_trade`). Complex orders (bracket, OCO, OTO) and trailing stops are Alpaca's
exceptions; we read that both ways: such a new order is never refused, and an open order of a complex
group (parent or leg) or a trailing stop never conflicts — as bots see it, a plain market buy is
refused while a plain sell stop rests, a bracket buy is accepted beside working exit legs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING

from .accounts import SHORT_COLLAR, opening_buy_price
from .common import (
    MAX_CLIENT_ORDER_ID,
    OPEN_STATUSES,
    QTY_QUANTUM,
    SimError,
    _check_query,
    _decimal_field,
    _expiry,
    _is_whole,
    _order_session,
    _price_field,
    _time_range,
    dec,
    fmt,
    iso,
    loads,
    parse_time,
)
from .market import CENT, round_price
from .sessions import is_open

if TYPE_CHECKING:
    from .common import Settings
    from .market import Market
    from .store import Store

GROUP_CLASSES = ("bracket", "oco")
#: Alpaca's complex orders, the exception to its wash-trade protection (OTO is refused by the simulator)
COMPLEX_CLASSES = ("bracket", "oco", "oto")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit", "trailing_stop")


def trailing_stop_price(side: str, hwm: Decimal, trail_price: Decimal | None, trail_percent: Decimal | None) -> Decimal:
    """A trailing stop's stop price: `trail_price` or `trail_percent` below the high water mark for a
    sell (above it for a buy) [AD orders.md "Trailing Stop Orders": "hwm - 2.00", "hwm * 0.99"]."""
    sign = -1 if side == "sell" else 1
    if trail_price is not None:
        return hwm + sign * trail_price
    assert trail_percent is not None, "a trailing stop has trail_price or trail_percent"
    return round_price(hwm * (1 + sign * trail_percent / 100))


class OrdersMixin:
    """Mixed into `Engine`: needs the store, the market, the account mixin and `_match`/`_finish`."""

    if TYPE_CHECKING:  # what `Engine` and `AccountsMixin` provide (declared for the type checker only)
        store: Store
        market: Market

        def now(self) -> dt.datetime: ...
        def settings(self) -> Settings: ...
        def _asset_doc(self, symbol: str) -> dict | None: ...
        def _match(self, t: dt.datetime, prev: dt.datetime | None, only: str | None = None) -> None: ...
        def shorting_enabled(self, equity: Decimal | None = None) -> bool: ...
        def buying_power(self) -> Decimal: ...
        def _position_qty(self, symbol: str) -> Decimal: ...
        def _held(self, symbol: str, side: str) -> Decimal: ...
        def _holding_orders(self, symbol: str, side: str) -> list[str]: ...

    def submit(self, body: dict) -> dict:
        """Validate and accept an order; return it as accepted (fills happen right after)."""
        with self.store.tx():
            now = self._order_stamp()
            req = self._validate(body, now)
            legs = []
            if req["order_class"] == "oco":
                parent = self._new_order(req, now, parent=None, leg="take_profit")
                sl = req["stop_loss"]
                legs.append(self._new_order(req | {
                    "type": "stop_limit" if sl["limit_price"] is not None else "stop",
                    "limit_price": sl["limit_price"], "stop_price": sl["stop_price"],
                    "client_order_id": str(uuid.uuid4()),
                }, now, parent=parent["id"], leg="stop_loss"))
            else:
                parent = self._new_order(req, now, parent=None)
            if req["order_class"] == "bracket":
                for leg, spec in (("take_profit", req["take_profit"]), ("stop_loss", req["stop_loss"])):
                    stop_type = "stop_limit" if spec.get("limit_price") else "stop"
                    legs.append(self._new_order({
                        "symbol": req["symbol"], "qty": req["qty"], "notional": None, "side": "sell",
                        "type": "limit" if leg == "take_profit" else stop_type,
                        "time_in_force": req["time_in_force"], "order_class": "bracket",
                        "limit_price": spec.get("limit_price"), "stop_price": spec.get("stop_price"),
                        "client_order_id": str(uuid.uuid4()), "extended_hours": False,
                        "intent": "sell_to_close",
                    }, now, parent=parent["id"], leg=leg, active=False))
            for leg_doc in legs:
                leg_doc["status"] = "held"
            self.store.insert_order(parent, None, True)
            for leg_doc in legs:
                self.store.insert_order(leg_doc, parent["id"], True)
            snapshot = self.api_order(parent, nested=True)
            if is_open(now):
                self._match(now, None, only=parent["id"])
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

    def _new_order(self, req: dict, now: dt.datetime, parent: str | None, leg: str | None = None,
                   active: bool = True) -> dict:
        open_now = is_open(now)
        trade_session = _order_session(now)
        asset = self._asset_doc(req["symbol"])
        assert asset is not None  # _validate refused an unknown symbol
        return {
            "id": str(uuid.uuid4()), "client_order_id": req["client_order_id"],
            "created_at": iso(now), "updated_at": iso(now), "submitted_at": iso(now),
            "filled_at": None, "expired_at": None, "canceled_at": None, "failed_at": None,
            "replaced_at": None, "replaced_by": None, "replaces": None,
            "asset_id": asset["id"], "symbol": req["symbol"], "asset_class": "us_equity",
            "notional": fmt(req["notional"]), "qty": fmt(req["qty"]), "filled_qty": "0", "filled_avg_price": None,
            "order_class": "" if req["order_class"] == "simple" else req["order_class"],
            "order_type": req["type"], "type": req["type"], "side": req["side"],
            "position_intent": req["intent"],
            "time_in_force": req["time_in_force"],
            "limit_price": fmt(req["limit_price"]), "stop_price": fmt(req["stop_price"]),
            "status": "new" if open_now else "accepted", "extended_hours": bool(req["extended_hours"]),
            "legs": None, "trail_percent": fmt(req.get("trail_percent")), "trail_price": fmt(req.get("trail_price")),
            "hwm": fmt(req.get("hwm")),
            "expires_at": iso(_expiry(trade_session, req["time_in_force"], now)),
            "_sim": {"parent": parent, "leg": leg, "active": active, "session": trade_session.date.isoformat(),
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
        if otype not in ORDER_TYPES:
            raise SimError(422, 40010000, f"order type {otype!r} is not supported ({', '.join(ORDER_TYPES)})")
        tif = body.get("time_in_force")
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            raise SimError(422, 40010000, "invalid time_in_force")
        if tif not in ("day", "gtc"):
            raise SimError(422, 40010000, f"time_in_force {tif!r} is not supported by the simulator (day, gtc)")
        order_class = body.get("order_class") or "simple"
        if order_class not in ("simple", "bracket", "oco"):
            raise SimError(422, 40010000, f"order_class {order_class!r} is not supported (simple, bracket, oco)")
        if body.get("extended_hours"):
            raise SimError(422, 42210000, "extended hours orders are not supported by the simulator")
        if otype == "trailing_stop" and order_class != "simple":  # not yet a leg, nor an entry [AD orders.md]
            raise SimError(422, 42210000, "trailing stop orders must be simple orders")

        qty, notional = _decimal_field(body, "qty"), _decimal_field(body, "notional")
        if (qty is None) == (notional is None):
            raise SimError(422, 40010000, "qty or notional is required, not both")
        for name, value in (("qty", qty), ("notional", notional)):
            if value is not None and value <= 0:
                raise SimError(422, 40010000, f"{name} must be > 0")
            if value is not None and value != value.quantize(QTY_QUANTUM, ROUND_DOWN):
                raise SimError(422, 40010000, f"{name} must have at most 9 decimal places")
        fractional = qty is None or not _is_whole(qty)  # (qty None: a notional order)
        if fractional:
            if order_class != "simple":
                raise SimError(422, 42210000, "fractional orders must be simple orders")
            if tif != "day":
                raise SimError(422, 42210000, "fractional orders must be DAY orders")
            if not asset["fractionable"]:
                raise SimError(422, 42210000, "requested asset is not fractionable")
            if notional is not None and otype != "market":
                raise SimError(422, 42210000, "notional orders must be market orders")
            if otype == "trailing_stop":
                raise SimError(422, 42210000, "fractional orders cannot be trailing stop orders")

        cid = body.get("client_order_id") or str(uuid.uuid4())
        if len(cid) > MAX_CLIENT_ORDER_ID:
            raise SimError(422, 40010000, f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")
        if self.store.conn.execute("SELECT 1 FROM orders WHERE client_order_id = ?", (cid,)).fetchone():
            raise SimError(422, 40010001, "client_order_id must be unique")

        quote = self.market.quote(symbol, now)
        take_profit = stop_loss = None
        stop_price = trail_price = trail_percent = hwm = None
        limit_price: Decimal | None
        if order_class == "oco":
            limit_price, stop_loss = self._validate_oco(body, side, otype)
            take_profit = {"limit_price": limit_price}
        else:
            limit_price, stop_price, trail_price, trail_percent = self._validate_prices(body, otype)
        if order_class == "bracket":
            take_profit, stop_loss = self._validate_bracket(
                body, symbol, side, limit_price if otype == "limit" else None, quote)
        if otype == "trailing_stop":
            if quote is None:
                raise SimError(422, 42210000, f"no market price for {symbol}")
            hwm = quote[0] if side == "sell" else quote[1]
            stop_price = trailing_stop_price(side, hwm, trail_price, trail_percent)

        self._check_wash_trade(symbol, side, otype, limit_price, order_class)
        position = self._position_qty(symbol)
        if qty is not None:
            wanted = qty
        else:
            assert notional is not None  # one of the two, checked above
            wanted = notional / (quote[0] if side == "sell" else quote[1]) if quote else Decimal(0)
        closing = position > 0 if side == "sell" else position < 0
        if closing or order_class == "oco":
            # closing (or exit-only): at most what the position has that open orders do not hold
            held = self._held(symbol, side)
            available = max((position if side == "sell" else -position) - held, Decimal(0)) if closing else Decimal(0)
            if wanted > available:
                raise SimError(403, 40310000,
                               f"insufficient qty available for order (requested: {fmt(wanted)}, available: "
                               f"{fmt(available)})",
                               symbol=symbol, available=fmt(available), existing_qty=fmt(position),
                               held_for_orders=fmt(held), related_orders=self._holding_orders(symbol, side))
            intent = "sell_to_close" if side == "sell" else "buy_to_close"
        else:
            if quote is None and limit_price is None and not (side == "buy" and otype == "stop"):
                raise SimError(422, 42210000, f"no market price for {symbol}")
            if side == "sell":
                if not self.shorting_enabled():
                    raise SimError(403, 40310000, "account is not allowed to short")
                if fractional:
                    raise SimError(422, 42210000, "fractional orders cannot be sold short")
                if not (asset.get("shortable") and asset.get("easy_to_borrow")):
                    raise SimError(422, 42210000, f"asset {symbol} cannot be sold short")
                ask = quote[1] if quote else Decimal(0)
                assert qty is not None  # a notional order is fractional, refused just above
                cost = qty * max(limit_price or Decimal(0), ask * (1 + SHORT_COLLAR))
            else:
                collar = Decimal(str(self.settings().market_buy_collar))
                ask = quote[1] if quote else Decimal(0)
                if notional is not None:
                    cost = notional
                else:
                    assert qty is not None  # one of the two, checked above
                    cost = qty * opening_buy_price(otype, limit_price, stop_price, ask, collar)
            bp = self.buying_power()
            if cost > bp:
                raise SimError(403, 40310000, "insufficient buying power",
                               buying_power=fmt(bp.quantize(CENT)), cost_basis=fmt(cost.quantize(CENT)))
            intent = "buy_to_open" if side == "buy" else "sell_to_open"
        return {"symbol": symbol, "side": side, "type": otype, "time_in_force": tif, "order_class": order_class,
                "qty": qty, "notional": notional, "limit_price": limit_price, "stop_price": stop_price,
                "trail_price": trail_price, "trail_percent": trail_percent, "hwm": hwm,
                "client_order_id": cid, "extended_hours": False, "take_profit": take_profit, "stop_loss": stop_loss,
                "intent": intent}

    @staticmethod
    def _validate_prices(body: dict, otype: str) -> tuple[Decimal | None, Decimal | None, Decimal | None,
                                                          Decimal | None]:
        """(limit_price, stop_price, trail_price, trail_percent) of a simple or bracket entry order: each
        type takes its own prices and no other [AD orders.md "Order Types", "Trailing Stop Orders"]."""
        limit_price, stop_price = _price_field(body, "limit_price"), _price_field(body, "stop_price")
        for name, value, needed in (("limit_price", limit_price, otype in ("limit", "stop_limit")),
                                    ("stop_price", stop_price, otype in ("stop", "stop_limit"))):
            if needed and value is None:
                raise SimError(422, 40010000, f"{name} is required for {otype} orders")
            if not needed and value is not None:
                raise SimError(422, 40010000, f"{name} must not be set for {otype} orders")
        if otype != "trailing_stop":
            return limit_price, stop_price, None, None
        trail_price, trail_percent = _price_field(body, "trail_price"), _decimal_field(body, "trail_percent")
        if (trail_price is None) == (trail_percent is None):
            raise SimError(422, 40010000, "trailing stop orders need trail_price or trail_percent, not both")
        if trail_percent is not None and trail_percent <= 0:
            raise SimError(422, 40010000, "trail_percent must be > 0")
        return None, None, trail_price, trail_percent

    def _validate_bracket(self, body: dict, symbol: str, side: str, limit_price: Decimal | None,
                          quote: tuple[Decimal, Decimal] | None) -> tuple[dict, dict]:
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
            raise SimError(422, 42210000, "take_profit.limit_price must be >= base_price + 0.01", base_price=fmt(base))
        if sl > base - CENT:
            raise SimError(422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01", base_price=fmt(base))
        if sl_limit is not None and sl_limit > sl:
            raise SimError(422, 42210000, "stop_loss.limit_price must be <= stop_loss.stop_price")
        return {"limit_price": tp}, {"stop_price": sl, "limit_price": sl_limit}

    @staticmethod
    def _validate_oco(body: dict, side: str, otype: str) -> tuple[Decimal, dict]:
        """An OCO's prices: the take-profit limit is the order's limit and its base price; the stop
        must be a cent beyond it (below for a sell, above for a buy) [AD orders.md, "Threshold on stop
        price of stop-loss orders"]. A top-level limit_price is ignored, as Alpaca ignores it."""
        if otype != "limit":
            raise SimError(422, 42210000, "oco orders must be limit orders")
        take_profit, stop_loss = body.get("take_profit") or {}, body.get("stop_loss") or {}
        tp = _price_field(take_profit, "limit_price", "take_profit.limit_price")
        sl = _price_field(stop_loss, "stop_price", "stop_loss.stop_price")
        sl_limit = _price_field(stop_loss, "limit_price", "stop_loss.limit_price")
        if tp is None or sl is None:
            raise SimError(422, 40010000, "oco orders need take_profit.limit_price and stop_loss.stop_price")
        if side == "sell":
            if sl > tp - CENT:
                raise SimError(422, 42210000, "stop_loss.stop_price must be <= base_price - 0.01", base_price=fmt(tp))
            if sl_limit is not None and sl_limit > sl:
                raise SimError(422, 42210000, "stop_loss.limit_price must be <= stop_loss.stop_price")
        else:
            if sl < tp + CENT:
                raise SimError(422, 42210000, "stop_loss.stop_price must be >= base_price + 0.01", base_price=fmt(tp))
            if sl_limit is not None and sl_limit < sl:
                raise SimError(422, 42210000, "stop_loss.limit_price must be >= stop_loss.stop_price")
        return tp, {"stop_price": sl, "limit_price": sl_limit}

    def _check_wash_trade(self, symbol: str, side: str, otype: str, limit: Decimal | None, order_class: str) -> None:
        """Alpaca's wash-trade table (existing open order E, opposite side, same symbol → new order N):
        E market → any N; E stop → any N; E limit or stop_limit → N market or stop; E limit or
        stop_limit → N limit or stop_limit when the buy limit is at or above the sell limit. Held legs
        count as open, but complex orders and trailing stops are exempt on either side (module
        docstring)."""
        if order_class in COMPLEX_CLASSES or otype == "trailing_stop":
            return
        for row in self.store.open_orders(symbol):
            doc = loads(row["doc"])
            if doc["side"] == side or doc["order_class"] in COMPLEX_CLASSES or doc["type"] == "trailing_stop":
                continue
            if doc["type"] in ("market", "stop") or otype in ("market", "stop"):
                conflict = True
            else:
                assert limit is not None  # the new order is a limit or stop_limit order here
                other = dec(doc["limit_price"])
                buy_limit, sell_limit = (limit, other) if side == "buy" else (other, limit)
                conflict = buy_limit >= sell_limit
            if conflict:
                raise SimError(403, 40310000, "potential wash trade detected. use complex orders",
                               reject_reason=f"opposite side {doc['type']} order exists", existing_order_id=doc["id"])

    def close_position(self, symbol: str, qty: str | None = None, percentage: str | None = None) -> dict:
        """Liquidate (part of) a position, long or short, with a market order, as DELETE
        /v2/positions/{symbol} does."""
        with self.store.tx():
            symbol = symbol.upper()
            pos = self.store.position(symbol)
            if pos is None:
                raise SimError(404, 40410000, "position does not exist")
            held = abs(dec(pos[0]))
            amount = held if qty is None and percentage is None else (
                dec(qty) if qty is not None else (held * dec(percentage) / 100).quantize(QTY_QUANTUM, ROUND_DOWN))
            return self.submit({"symbol": symbol, "qty": fmt(amount), "side": "sell" if dec(pos[0]) > 0 else "buy",
                                "type": "market", "time_in_force": "day"})

    # -------------------------------------------------------------------------- order queries

    def api_order(self, doc: dict, nested: bool, legs: dict[str, list[dict]] | None = None) -> dict:
        """The order as the API shows it; `nested`: a group's root with its legs inside (`legs`:
        the legs by parent id, read already for a whole listing)."""
        out = {k: v for k, v in doc.items() if k != "_sim"}
        if nested and self._is_root_of_group(doc):
            out["legs"] = [self.api_order(leg, False) for leg in
                           (self._legs_of([doc["id"]]) if legs is None else legs).get(doc["id"], [])]
        return out

    @staticmethod
    def _is_root_of_group(doc: dict) -> bool:
        return doc["order_class"] in GROUP_CLASSES and not doc["_sim"]["parent"]

    def _legs_of(self, parent_ids: list[str]) -> dict[str, list[dict]]:
        """The legs of these orders, by parent id, in the order they were made: one query."""
        legs: dict[str, list[dict]] = {}
        for start in range(0, len(parent_ids), 500):  # (SQLite's limit on the parameters of a query)
            chunk = parent_ids[start:start + 500]
            for row in self.store.order_rows(f"parent_id IN ({','.join('?' * len(chunk))})", tuple(chunk)):
                legs.setdefault(row["parent_id"], []).append(loads(row["doc"]))
        return legs

    def _doc(self, order_id: str) -> dict:
        row = self.store.open_order(order_id) or next(iter(self.store.order_rows("id = ?", (order_id,))), None)
        if row is None:
            raise SimError(404, 40410000, "order not found")
        return loads(row["doc"])

    def get_order(self, order_id: str, nested: bool = False) -> dict:
        return self.api_order(self._doc(order_id), nested)

    def get_order_by_client_id(self, client_order_id: str) -> dict:
        rows = self.store.order_rows("client_order_id = ?", (client_order_id,))
        if not rows:
            raise SimError(404, 40410000, "order not found")
        return self.api_order(loads(rows[0]["doc"]), True)

    def list_orders(self, status: str = "open", limit: int = 50, after: dt.datetime | None = None,
                    until: dt.datetime | None = None, direction: str = "desc", nested: bool = False,
                    symbols: list[str] | None = None, side: str | None = None) -> list[dict]:
        """Alpaca's listing: `held` legs are not open orders (alpaca-trade-api-python#322); with
        `nested` the legs appear only inside their parent, so the legs of a filled bracket entry are
        not listed under status=open (alpaca-trade-api-js#80, #87)."""
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
                                     order=f"submitted_at {direction.upper()}, seq {direction.upper()}",
                                     limit=None if side else limit)  # `side` is filtered below, on the docs
        docs = list(itertools.islice((doc for doc in (loads(row["doc"]) for row in rows)
                                      if not side or doc["side"] == side), limit))
        legs = self._legs_of([d["id"] for d in docs if self._is_root_of_group(d)]) if nested else {}
        return [self.api_order(doc, nested, legs) for doc in docs]

    def cancel(self, order_id: str) -> None:
        with self.store.tx():
            doc = self._doc(order_id)
            if doc["status"] not in OPEN_STATUSES:
                raise SimError(422, 42210000, f"order is already in \"{doc['status']}\" state")
            self._cancel_doc(doc, self.now())

    def cancel_all(self) -> list[dict]:
        with self.store.tx():
            now, out = self.now(), []
            # parents first (their legs go with them), then the legs of filled entries
            for where in ("open = 1 AND parent_id IS NULL", "open = 1"):
                for row in self.store.order_rows(where):
                    doc = self._doc(row["id"])
                    if doc["status"] not in OPEN_STATUSES:
                        continue
                    self._cancel_doc(doc, now)
                    out.append({"id": doc["id"], "status": 200, "body": self.api_order(self._doc(doc["id"]), False)})
            return out

    def _group_rows(self, doc: dict) -> list:
        """The other open orders of `doc`'s bracket or OCO group (the root and its legs)."""
        root = doc["_sim"]["parent"] or doc["id"]
        return [row for row in self.store.open_orders(group=root) if row["id"] != doc["id"]]

    def _cancel_doc(self, doc: dict, now: dt.datetime) -> None:
        """Cancelling any order of a group cancels the rest of it [AD orders.md, bracket orders]."""
        self._finish(doc, "canceled", now)
        for row in self._group_rows(doc):
            self._finish(loads(row["doc"]), "canceled", now)

    def _finish(self, doc: dict, status: str, now: dt.datetime) -> None:
        doc["status"] = status
        doc["updated_at"] = iso(now)
        doc[{"canceled": "canceled_at", "expired": "expired_at", "filled": "filled_at"}[status]] = iso(now)
        self.store.update_order(doc, False)
