"""Orders: validation with Alpaca's rules and bodies (notes §2.8), creation of simple, bracket and OCO
orders, queries and cancellation.

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
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import ROUND_DOWN, Decimal

from .accounts import SHORT_COLLAR
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
    parse_time,
)
from .market import CENT
from .sessions import is_open

GROUP_CLASSES = ("bracket", "oco")


class OrdersMixin:
    """Mixed into `Engine`: needs the store, the market, the account mixin and `_match`/`_finish`."""

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
            snapshot = self._api_order(parent, nested=True)
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
            "legs": None, "trail_percent": None, "trail_price": None, "hwm": None,
            "expires_at": iso(_expiry(trade_session, req["time_in_force"])),
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
        if otype not in ("market", "limit"):
            raise SimError(422, 40010000, f"order type {otype!r} is not supported (market, limit)")
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

        quote = self.market.quote(symbol, now)
        take_profit = stop_loss = None
        if order_class == "oco":
            limit_price, stop_loss = self._validate_oco(body, side, otype)
            take_profit = {"limit_price": limit_price}
        else:
            limit_price = _price_field(body, "limit_price")
            if otype == "limit" and limit_price is None:
                raise SimError(422, 40010000, "limit_price is required for limit orders")
            if otype == "market" and limit_price is not None:
                raise SimError(422, 40010000, "limit_price must not be set for market orders")
        if order_class == "bracket":
            take_profit, stop_loss = self._validate_bracket(body, symbol, side, limit_price, quote)

        self._check_wash_trade(symbol, side, otype, limit_price, now)
        position = self._position_qty(symbol)
        wanted = qty if qty is not None else (
            notional / (quote[0] if side == "sell" else quote[1]) if quote else Decimal(0))
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
                               held_for_orders=fmt(held))
            intent = "sell_to_close" if side == "sell" else "buy_to_close"
        else:
            if quote is None and limit_price is None:
                raise SimError(422, 42210000, f"no market price for {symbol}")
            if side == "sell":
                if not self.shorting_enabled():
                    raise SimError(403, 40310000, "account is not allowed to short")
                if fractional:
                    raise SimError(422, 42210000, "fractional orders cannot be sold short")
                if not (asset.get("shortable") and asset.get("easy_to_borrow")):
                    raise SimError(422, 42210000, f"asset {symbol} cannot be sold short")
                ask = quote[1] if quote else Decimal(0)
                cost = qty * max(limit_price or Decimal(0), ask * (1 + SHORT_COLLAR))
            else:
                collar = Decimal(str(self.settings().market_buy_collar))
                cost = notional if notional is not None else qty * (
                    limit_price if limit_price is not None else quote[1] * (1 + collar))
            bp = self.buying_power()
            if cost > bp:
                raise SimError(403, 40310000, "insufficient buying power",
                               buying_power=fmt(bp.quantize(CENT)), cost_basis=fmt(cost.quantize(CENT)))
            intent = "buy_to_open" if side == "buy" else "sell_to_open"
        return {"symbol": symbol, "side": side, "type": otype, "time_in_force": tif, "order_class": order_class,
                "qty": qty, "notional": notional, "limit_price": limit_price, "stop_price": None,
                "client_order_id": cid, "extended_hours": False, "take_profit": take_profit, "stop_loss": stop_loss,
                "intent": intent}

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

    def _api_order(self, doc: dict, nested: bool) -> dict:
        out = {k: v for k, v in doc.items() if k != "_sim"}
        if nested and doc["order_class"] in GROUP_CLASSES and not doc["_sim"]["parent"]:
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
            # parents first (their legs go with them), then the legs of filled entries
            for where in ("open = 1 AND parent_id IS NULL", "open = 1"):
                for row in self.store.order_rows(where):
                    doc = self._doc(row["id"])
                    if doc["status"] not in OPEN_STATUSES:
                        continue
                    self._cancel_doc(doc, now)
                    out.append({"id": doc["id"], "status": 200, "body": self._api_order(self._doc(doc["id"]), False)})
            return out

    def _group_rows(self, doc: dict) -> list:
        """The other open orders of `doc`'s bracket or OCO group (the root and its legs)."""
        root = doc["_sim"]["parent"] or doc["id"]
        return self.store.order_rows("(id = ? OR parent_id = ?) AND open = 1 AND id != ?", (root, root, doc["id"]))

    def _cancel_doc(self, doc: dict, now: dt.datetime) -> None:
        """Cancelling any order of a group cancels the rest of it [AD orders.md, bracket orders]."""
        self._finish(doc, "canceled", now)
        for row in self._group_rows(doc):
            self._finish(json.loads(row["doc"]), "canceled", now)

    def _finish(self, doc: dict, status: str, now: dt.datetime) -> None:
        doc["status"] = status
        doc["updated_at"] = iso(now)
        doc[{"canceled": "canceled_at", "expired": "expired_at", "filled": "filled_at"}[status]] = iso(now)
        self.store.update_order(doc, False)
