"""The account side of the broker: configurations, margin and buying power, positions (long and short).

Alpaca paper accounts are margin accounts (notes §2.1; [T] Account.multiplier; alpaca-docs
margin-and-shorting.md): with $2,000 or more equity the multiplier is 2 (Reg T) and easy-to-borrow
stocks may be sold short; below $2,000 the account is limited to 1x buying power and may not short.
`GET/PATCH /v2/account/configurations` can make it a cash-like account (`max_margin_multiplier: "1"`,
`no_shorting: true`) or suspend trading (`suspend_trade`).

What is simplified (documented in the README): initial margin is 50 % of the absolute market value
of every position (100 % for non-marginable assets); maintenance margin follows Alpaca's table (long
30 %, or 100 % under $2.50; short the greater of $5.00/share or 30 %, or of $2.50/share or 100 % under
$5.00); with multiplier 2 `buying_power = 2 * max(equity - initial_margin, 0)`, with multiplier 1 it is
the cash ([T] Account.buying_power); open orders that open or increase a position reduce it by their
order value (buys at the limit, a stop buy at its stop price, market and trailing-stop buys at the ask
plus the collar; short sales at max(limit, ask + 3 %)).
`max_margin_multiplier: "4"` (the default, as on Alpaca paper) still gives 2: the 4x intraday
buying power of pattern day traders is not simulated. No margin calls, no margin interest, no borrow
fees; the multiplier follows the current equity.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from .common import SimError, dec, fmt, loads
from .market import CENT
from .sessions import latest_started_session, ny_date

if TYPE_CHECKING:
    from .common import Settings
    from .market import Market
    from .store import Store

MARGIN_MINIMUM_EQUITY = Decimal(2000)
SHORT_COLLAR = Decimal("0.03")  # an opening short sale is valued at max(limit, ask + 3 %) [AD orders.md]

DEFAULT_CONFIGURATIONS = {
    "disable_overnight_trading": False, "fractional_trading": True, "max_margin_multiplier": "4",
    "max_options_trading_level": 0, "no_shorting": False, "ptp_no_exception_entry": False,
    "suspend_trade": False, "trade_confirm_email": "all",
}
_CONFIG_CHOICES = {"max_margin_multiplier": ("1", "2", "4"), "trade_confirm_email": ("all", "none"),
                   "max_options_trading_level": (0, 1, 2, 3)}
#: deprecated by Alpaca and removed on 2026-07-06 (notes §2.6): accepted and ignored, never echoed
_RETIRED_CONFIG = ("dtbp_check", "pdt_check")


def check_configurations(changes: dict) -> dict:
    """The known fields of an AccountConfigurations body, type-checked; unknown keys are ignored
    (as Alpaca's JSON decoding does), retired PDT/DTBP keys too."""
    out = {}
    for key, value in changes.items():
        if key in _RETIRED_CONFIG or key not in DEFAULT_CONFIGURATIONS or value is None:
            continue
        choices = _CONFIG_CHOICES.get(key)
        ok = value in choices if choices else isinstance(value, bool)
        if key == "max_margin_multiplier" and isinstance(value, (int, float)) and str(int(value)) in (choices or ()):
            value, ok = str(int(value)), True
        if not ok:
            raise SimError(422, 40010000, f"invalid {key}: {value!r}")
        out[key] = value
    return out


def opening_buy_price(otype: str, limit: Decimal | None, stop: Decimal | None, ask: Decimal,
                      collar: Decimal) -> Decimal:
    """The price an order that opens or adds to a long position is valued at [AD orders.md "Buying
    Power"]: its limit (limit and stop-limit orders), its stop price (stop orders), else the ask plus
    the market-buy collar (market orders, and trailing stops, whose stop price moves)."""
    if limit is not None:
        return limit
    if otype == "stop" and stop is not None:
        return stop
    return ask * (1 + collar)


class AccountsMixin:
    """Mixed into `Engine`: needs `store`, `market`, `now()`, `settings()` and `_asset_doc()`."""

    if TYPE_CHECKING:  # what `Engine` provides (declared for the type checker only)
        store: Store
        market: Market

        def now(self) -> dt.datetime: ...
        def settings(self) -> Settings: ...
        def _asset_doc(self, symbol: str) -> dict | None: ...
        @staticmethod
        def _new_asset(symbol: str) -> dict: ...

    # --------------------------------------------------------------------------- configurations

    def _configurations(self) -> dict:
        config = DEFAULT_CONFIGURATIONS | (self.store.get("account_config") or {})
        config["suspend_trade"] = bool(self.store.get("account")["trade_suspended_by_user"])
        return config

    def account_configurations(self) -> dict:
        return self._configurations()

    def patch_account_configurations(self, changes: dict) -> dict:
        with self.store.tx():
            self._apply_configurations(check_configurations(changes))
            return self._configurations()

    def _apply_configurations(self, changes: dict) -> None:
        stored = self.store.get("account_config") or {}
        if "suspend_trade" in changes:
            account = self.store.get("account")
            account["trade_suspended_by_user"] = changes.pop("suspend_trade")
            self.store.put("account", account)
        self.store.put("account_config", stored | changes)

    # ----------------------------------------------------------------------------------- money

    def _cash(self) -> Decimal:
        return dec(self.store.get("cash"))

    def _set_cash(self, cash: Decimal) -> None:
        self.store.put("cash", fmt(cash))

    def _price(self, symbol: str, at: dt.datetime | None = None) -> Decimal | None:
        return self.market.last_trade(symbol, at or self.now())

    def _valued_positions(self, at: dt.datetime) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """(symbol, signed qty, signed cost basis, price) of every position at `at`."""
        out = []
        for symbol, (qty, cost) in self.store.positions().items():
            q, c = dec(qty), dec(cost)
            price = self._price(symbol, at)
            out.append((symbol, q, c, price if price is not None else abs(c / q)))
        return out

    def _margin(self, at: dt.datetime) -> dict[str, Decimal]:
        """Market values and Reg T / maintenance requirements (see the module docstring)."""
        lmv = smv = initial = maintenance = Decimal(0)
        for symbol, q, _, price in self._valued_positions(at):
            mv = q * price
            initial += abs(mv) * (Decimal("0.5") if self.store.asset_field(symbol, "marginable", True) else 1)
            if q > 0:
                lmv += mv
                maintenance += mv * (1 if price < Decimal("2.5") else Decimal("0.3"))
            else:
                smv += mv
                per_share, share = (Decimal("2.5"), 1) if price < 5 else (Decimal(5), Decimal("0.3"))
                maintenance += max(per_share * -q, -mv * share)
        equity = self._cash() + lmv + smv
        return {"lmv": lmv, "smv": smv, "equity": equity, "initial": initial, "maintenance": maintenance}

    def _equity(self, at: dt.datetime) -> Decimal:
        return self._margin(at)["equity"]

    def _multiplier(self, equity: Decimal) -> int:
        if equity < MARGIN_MINIMUM_EQUITY or self._configurations()["max_margin_multiplier"] == "1":
            return 1
        return 2

    def shorting_enabled(self, equity: Decimal | None = None) -> bool:
        equity = self._equity(self.now()) if equity is None else equity
        return equity >= MARGIN_MINIMUM_EQUITY and not self._configurations()["no_shorting"]

    def _reserved(self, now: dt.datetime) -> Decimal:
        """Buying power held by open orders that open or increase a position."""
        collar = Decimal(str(self.settings().market_buy_collar))
        total = Decimal(0)
        # only orders that open a position can reserve anything: the exit legs that every protected
        # position keeps open are not read at all
        for row in self.store.open_orders(opening=True):
            doc = loads(row["doc"])
            if doc["notional"] is not None:
                total += dec(doc["notional"]) - dec(doc["_sim"]["filled_value"])
                continue
            remaining = dec(doc["qty"]) - dec(doc["filled_qty"])
            quote = self.market.quote(doc["symbol"], now)
            ask = quote[1] if quote else Decimal(0)
            limit = None if doc["limit_price"] is None else dec(doc["limit_price"])
            if doc["side"] == "buy":
                stop = None if doc["stop_price"] is None else dec(doc["stop_price"])
                total += remaining * opening_buy_price(doc["type"], limit, stop, ask, collar)
            else:
                total += remaining * max(limit or Decimal(0), ask * (1 + SHORT_COLLAR))
        return total

    def _buying_power(self, m: dict[str, Decimal], now: dt.datetime, reserved: Decimal | None = None) -> Decimal:
        base = self._cash() if self._multiplier(m["equity"]) == 1 else 2 * max(m["equity"] - m["initial"], Decimal(0))
        return max(base - (self._reserved(now) if reserved is None else reserved), Decimal(0))

    def buying_power(self) -> Decimal:
        now = self.now()
        return self._buying_power(self._margin(now), now)

    def account_doc(self) -> dict:
        now = self.now()
        account = self.store.get("account")
        cash = self._cash()
        m = self._margin(now)
        equity = m["equity"]
        reserved = self._reserved(now)
        bp = self._buying_power(m, now, reserved)
        last = self._last_equity(now)
        return {
            "id": account["id"], "account_number": account["account_number"], "status": "ACTIVE",
            "crypto_status": "INACTIVE", "currency": "USD",
            "buying_power": fmt(bp.quantize(CENT)), "regt_buying_power": fmt(bp.quantize(CENT)),
            "non_marginable_buying_power": fmt(max(equity - m["lmv"] - reserved, Decimal(0)).quantize(CENT)),
            "options_buying_power": fmt(max(equity - m["initial"] - reserved, Decimal(0)).quantize(CENT)),
            "cash": fmt(cash), "accrued_fees": "0", "pending_transfer_in": "0",
            "pending_transfer_out": "0", "portfolio_value": fmt(equity), "equity": fmt(equity),
            "last_equity": fmt(last if last is not None else equity), "long_market_value": fmt(m["lmv"]),
            "short_market_value": fmt(m["smv"]), "initial_margin": fmt(m["initial"].quantize(CENT)),
            "maintenance_margin": fmt(m["maintenance"].quantize(CENT)),
            "last_maintenance_margin": fmt(self._last_maintenance_margin(now, m["maintenance"]).quantize(CENT)),
            "sma": "0", "multiplier": str(self._multiplier(equity)),
            "shorting_enabled": self.shorting_enabled(equity),
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

    def _last_maintenance_margin(self, now: dt.datetime, current: Decimal) -> Decimal:
        """The requirement at the last close before today (kept at each close), else the current one."""
        today = ny_date(now).isoformat()
        for date, value in self.store.get("maintenance_at_close") or []:
            if date < today:
                return dec(value)
        return current

    def _record_close_margin(self, date: dt.date, maintenance: Decimal) -> None:
        kept = [e for e in self.store.get("maintenance_at_close") or [] if e[0] != date.isoformat()]
        self.store.put("maintenance_at_close", sorted([[date.isoformat(), fmt(maintenance)]] + kept, reverse=True)[:2])

    # ------------------------------------------------------------------------------- positions

    def _position_qty(self, symbol: str) -> Decimal:
        pos = self.store.position(symbol)
        return dec(pos[0]) if pos else Decimal(0)

    def _held(self, symbol: str, side: str) -> Decimal:
        """Quantity reserved by open `side` orders on `symbol`."""
        return self._held_by(symbol).get((symbol, side), Decimal(0))

    def _held_by(self, symbol: str | None = None) -> dict[tuple[str, str], Decimal]:
        """Quantity reserved by open orders, by (symbol, side), of `symbol` or of every symbol; the
        orders of one bracket or OCO group (which close the same shares) reserve their quantity once."""
        held: dict[tuple[str, str], Decimal] = {}
        by_group: dict[tuple[str, str, str], Decimal] = {}
        for row in self.store.open_orders(symbol):
            doc = loads(row["doc"])
            key = (doc["symbol"], doc["side"])
            remaining = dec(doc["qty"] or 0) - dec(doc["filled_qty"])
            group = doc["_sim"].get("parent") or (doc["id"] if doc["order_class"] == "oco" else None)
            if group:
                by_group[(*key, group)] = max(by_group.get((*key, group), Decimal(0)), remaining)
            else:
                held[key] = held.get(key, Decimal(0)) + remaining
        for (sym, side, _), remaining in by_group.items():
            held[(sym, side)] = held.get((sym, side), Decimal(0)) + remaining
        return held

    def _holding_orders(self, symbol: str, side: str) -> list[str]:
        """The ids of the open `side` orders on `symbol` that hold shares (Alpaca's `related_orders`
        of an "insufficient qty available" refusal), oldest first."""
        return [doc["id"] for doc in (loads(row["doc"]) for row in
                                      self.store.open_orders(symbol))
                if doc["side"] == side and dec(doc["qty"] or 0) > dec(doc["filled_qty"])]

    def _held_for_sells(self, symbol: str) -> Decimal:
        return self._held(symbol, "sell")

    def position_doc(self, symbol: str, qty: str, cost: str, now: dt.datetime | None = None,
                     held: dict[tuple[str, str], Decimal] | None = None) -> dict:
        """`now` and `held` (`_held_by()`): given when many positions are rendered at once."""
        now = self.now() if now is None else now
        held = self._held_by(symbol) if held is None else held
        q, basis = dec(qty), dec(cost)
        price = self._price(symbol, now) or abs(basis / q)
        s = latest_started_session(now)
        prev_bar = self.market.bar_on_or_before(symbol, s.date - dt.timedelta(days=1))
        lastday = prev_bar.c if prev_bar else price
        mv = q * price
        pl = mv - basis
        intraday = q * (price - lastday)
        asset = self._asset_doc(symbol) or self._new_asset(symbol)
        available = q - held.get((symbol, "sell"), Decimal(0)) if q > 0 else q + held.get((symbol, "buy"), Decimal(0))
        return {
            "asset_id": asset["id"], "symbol": symbol, "exchange": asset["exchange"], "asset_class": "us_equity",
            "asset_marginable": asset["marginable"],
            "avg_entry_price": fmt(abs(basis / q).quantize(Decimal("0.0001"))),
            "qty": fmt(q), "qty_available": fmt(available if (available > 0) == (q > 0) else Decimal(0)),
            "side": "long" if q > 0 else "short",
            "market_value": fmt(mv.quantize(CENT)), "cost_basis": fmt(basis.quantize(CENT)),
            "unrealized_pl": fmt(pl.quantize(CENT)),
            "unrealized_plpc": fmt((pl / abs(basis)).quantize(Decimal("1e-10"))),
            "unrealized_intraday_pl": fmt(intraday.quantize(CENT)),
            "unrealized_intraday_plpc": fmt((intraday / abs(q * lastday)).quantize(Decimal("1e-10"))),
            "current_price": fmt(price), "lastday_price": fmt(lastday),
            "change_today": fmt(((price - lastday) / lastday).quantize(Decimal("1e-10"))),
        }

    def positions_docs(self) -> list[dict]:
        now, held = self.now(), self._held_by()
        return [self.position_doc(sym, q, c, now, held) for sym, (q, c) in self.store.positions().items()]

    def get_position(self, symbol: str) -> dict:
        pos = self.store.position(symbol.upper())
        if pos is None:
            raise SimError(404, 40410000, "position does not exist")
        return self.position_doc(symbol.upper(), *pos)

    def _book(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> None:
        """Apply a fill: cash moves by the trade's value; the signed position and its signed cost basis
        grow when the trade opens or adds, shrink pro rata when it closes (a fill that would cross zero
        is booked as a close, then an open)."""
        held, cost = (dec(x) for x in self.store.position(symbol) or ("0", "0"))
        delta = qty if side == "buy" else -qty
        self._set_cash(self._cash() - delta * price)
        if held != 0 and (held > 0) != (delta > 0):
            closing = delta if abs(delta) <= abs(held) else -held
            cost = cost * (held + closing) / held
            held, delta = held + closing, delta - closing
        if delta != 0:
            held, cost = held + delta, cost + delta * price
        self.store.set_position(symbol, fmt(held), fmt(cost))
