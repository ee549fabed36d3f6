"""The broker's value types and the `Broker` protocol: what the rest of the library may ask of a
broker and what it gets back — plain frozen dataclasses with Decimal amounts, no alpaca-py type.

Execution, the books and the steps are typed against `Broker`; `AlpacaBroker` (alpaca.py) is the one
implementation, the tests' fakes are others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from paper_trading.errors import BrokerError


@dataclass(frozen=True)
class Account:
    equity: Decimal
    cash: Decimal
    buying_power: Decimal
    status: str
    trading_blocked: bool
    account_blocked: bool
    trade_suspended_by_user: bool


@dataclass(frozen=True)
class Position:
    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    market_value: Decimal | None
    current_price: Decimal | None
    qty_available: Decimal | None


@dataclass(frozen=True)
class Clock:
    timestamp: dt.datetime
    is_open: bool
    next_open: dt.datetime
    next_close: dt.datetime


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    open: dt.datetime  # New York wall time, naive (as Alpaca and alpaca-py give it)
    close: dt.datetime


@dataclass(frozen=True)
class Price:
    symbol: str
    price: Decimal
    source: str  # "trade" (snapshot's latest trade) or "bar" (latest daily bar's close)
    at: dt.datetime | None


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: str  # buy | sell
    client_order_id: str
    qty: Decimal | None = None
    notional: Decimal | None = None
    order_type: str = "market"  # market | limit
    limit_price: Decimal | None = None
    time_in_force: str = "day"
    take_profit: Decimal | None = None  # bracket: take-profit limit price
    stop_loss: Decimal | None = None  # bracket: stop-loss stop price
    stop_loss_limit: Decimal | None = None
    order_class: str | None = None  # None: bracket when take_profit/stop_loss are set, else simple; or "oco"


@dataclass(frozen=True)
class OrderInfo:
    id: str
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    order_class: str
    status: str
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    submitted_at: dt.datetime | None
    filled_at: dt.datetime | None
    legs: tuple[OrderInfo, ...] = field(default=())
    expires_at: dt.datetime | None = None  # GTC orders lapse at Alpaca 90 days after they are created


class Broker(Protocol):
    """What the rest of the library may ask of a broker."""

    def account(self) -> Account: ...
    def positions(self) -> list[Position]: ...
    def clock(self) -> Clock: ...
    def calendar(self, start: dt.date, end: dt.date) -> list[CalendarDay]: ...
    def latest_prices(self, symbols: Iterable[str]) -> tuple[dict[str, Price], list[str]]: ...
    def daily_closes(
        self, symbols: Iterable[str], start: dt.date, end: dt.date
    ) -> dict[str, list[tuple[dt.date, Decimal]]]: ...
    def submit_order(self, order: OrderRequest) -> OrderInfo: ...
    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None: ...
    def get_order(self, order_id: str) -> OrderInfo: ...
    def list_orders(
        self,
        status: str = "all",
        after: dt.datetime | None = None,
        symbols: list[str] | None = None,
        nested: bool = True,
    ) -> list[OrderInfo]: ...
    def cancel_order(self, order_id: str) -> None: ...
    def activities(self, activity_types: list[str] | None = None, after: dt.datetime | None = None) -> list[dict]: ...


def watch_orders(broker: Broker) -> bool:
    """Have `broker` listen to its order updates, if it can (`AlpacaBroker.watch_orders`); True
    when this call started the listening, so the caller stops it (`unwatch_orders`) when done."""
    watch = getattr(broker, "watch_orders", None)
    return bool(watch()) if watch is not None else False


def unwatch_orders(broker: Broker) -> None:
    stop = getattr(broker, "unwatch_orders", None)
    if stop is not None:
        stop()


def final_states(broker: Broker, order_ids: Iterable[str], timeout: float = 0.0) -> dict[str, OrderInfo]:
    """The final states `broker`'s order updates have announced for `order_ids` (broker ids), by id;
    empty for a broker that streams nothing. What is missing must be read (`get_order`)."""
    finals = getattr(broker, "final_states", None)
    return finals(order_ids, timeout) if finals is not None else {}


def group_states(broker: Broker, groups: dict[str, set[str]],
                 timeout: float = 0.0) -> tuple[dict[str, OrderInfo], list[str]]:
    """How the members of each bracket or OCO group stand, by client_order_id. `groups`: the root's
    broker id -> the broker ids of the members whose state is wanted. A group whose every wanted
    member the order updates announced final (waiting up to `timeout` s for them) is taken from
    them; any other is read once by its root (nested: the root and all its legs). Also returns the
    roots the broker does not have (404), in the order of `groups`."""
    heard = final_states(broker, set().union(*groups.values()), timeout)
    seen: dict[str, OrderInfo] = {}
    gone: list[str] = []
    for root_id, wanted in groups.items():
        if wanted and wanted <= heard.keys():
            seen.update({heard[i].client_order_id: heard[i] for i in wanted})
            continue
        try:
            root = broker.get_order(root_id)
        except BrokerError as exc:
            if exc.status != 404:
                raise
            gone.append(root_id)
            continue
        seen.update({o.client_order_id: o for o in (root, *root.legs)})
    return seen, gone

