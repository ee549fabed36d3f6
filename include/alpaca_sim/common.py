"""Shared pieces of the simulator: Alpaca's error, the settings, decimal/time formatting and the
small validation helpers used by the order, account and engine code."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, overload

import msgspec

from .market import price_increment
from .sessions import UTC, Session, known_session, next_open, ny_date, session

OPEN_STATUSES = {"new", "partially_filled", "accepted", "pending_new", "held", "accepted_for_bidding",
                 "pending_cancel", "pending_replace", "done_for_day"}
ASSET_NAMESPACE = uuid.UUID("6f1f6a52-3c3c-4a53-9a7e-5d1c1f0b7a10")
DEFAULT_CASH = Decimal("100000")
MAX_CLIENT_ORDER_ID = 48
QTY_QUANTUM = Decimal("0.000000001")


_ENCODER = msgspec.json.Encoder(decimal_format="number")
_DECODER = msgspec.json.Decoder()


def dumps(value: Any) -> str:
    """A document as compact JSON text: what the store keeps and the stream sends. msgspec, not the
    standard library: encoding and decoding the order documents was a fifth of the simulator's
    time in a year-long replay, and msgspec is several times faster (Decimals as numbers; the
    documents hold only str, numbers, None, lists and dicts)."""
    return _ENCODER.encode(value).decode()


def dumpb(value: Any) -> bytes:
    """`dumps` as UTF-8 bytes (an HTTP body, a websocket frame)."""
    return _ENCODER.encode(value)


def loads(text: str | bytes) -> Any:
    """A JSON document (a stored one, a request's body) as Python values."""
    return _DECODER.decode(text)


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
    #: the share of take-profit fills (bracket and OCO exit legs) that are partial, so a test can see the
    #: stop-loss shrink to the remainder as Alpaca does; entries use `partial_fill_probability`
    exit_partial_fill_probability: float = 0.0
    market_buy_collar: float = 0.025
    seed: int = 0
    rate_limit_per_minute: int = 200  # the Trading API bucket (Alpaca: 200/min per account)
    #: the Market Data API bucket (Alpaca's free plan: 200/min); None = the same as the trading limit
    data_rate_limit_per_minute: int | None = None

    def data_limit(self) -> int:
        return (
            self.rate_limit_per_minute if self.data_rate_limit_per_minute is None else self.data_rate_limit_per_minute
        )


def opens_position(doc: dict) -> bool:
    """Whether an order opens or increases a position (and so can hold buying power): its
    `position_intent`, or for an order without one, a buy."""
    intent = doc.get("position_intent") or ("buy_to_open" if doc["side"] == "buy" else "sell_to_close")
    return intent.endswith("_to_open")


def dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@overload
def fmt(value: Decimal) -> str: ...
@overload
def fmt(value: None) -> None: ...
@overload
def fmt(value: Decimal | None) -> str | None: ...
def fmt(value: Decimal | None) -> str | None:
    """Alpaca sends decimals as strings without exponent or trailing zeros ("10", "187.32")."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@overload
def iso(t: dt.datetime) -> str: ...
@overload
def iso(t: None) -> None: ...
@overload
def iso(t: dt.datetime | None) -> str | None: ...
def iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _is_whole(q: Decimal) -> bool:
    return q == q.to_integral_value()


def _time_range(
    where: list[str], params: list, column: str, after: dt.datetime | None, until: dt.datetime | None
) -> None:
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
    return known_session(ny_date(nxt))


def _expiry(trade_session: Session, tif: str, created: dt.datetime) -> dt.datetime:
    """DAY orders expire at their session's close; GTC orders, like Alpaca's, 90 days after their
    creation: at the close of the 90th day (of the last session before it when that is no trading day),
    never before the close of the session they were placed for."""
    if tif == "day":
        return trade_session.close
    from .sessions import session_on_or_before

    return max(session_on_or_before(ny_date(created) + dt.timedelta(days=90)).close, trade_session.close)


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
        raise SimError(
            422,
            42210000,
            f"invalid {label or key} {value}. sub-penny increment does not fulfill minimum pricing criteria",
        )
    return value
