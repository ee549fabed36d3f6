"""The broker boundary (DESIGN §4): one small interface, one implementation over alpaca-py.

Nothing else in the library knows about HTTP or Alpaca. What this adapter adds to alpaca-py, and
why:

- **A timeout on every request.** alpaca-py sends requests with no timeout, so a stalled server
  blocks a task forever; an HTTP adapter with a default timeout is mounted on both clients.
- **Retries only where they are safe.** alpaca-py retries every request on 429/504 by itself,
  POST /v2/orders included — after an accepted-then-504 submit that re-send is a duplicate order
  (or a 422). Its own retries are switched off. Reads (GETs) are retried with exponential backoff
  on 429, 5xx, timeouts and dropped connections; a submit is never retried.
- **An ambiguous submit is its own exception.** A timeout, a dropped connection or a 5xx after
  POST /v2/orders means the order may exist: `AmbiguousSubmitError`, to be resolved by looking
  the client_order_id up, never by sending again. A 4xx is a definite `OrderRejected`.
- **Client-side pacing** below Alpaca's 200 requests/minute, so a large rebalance does not
  trip 429s in the first place.
- **No secret anywhere**: not in a repr, a log line or an exception message (both keys are
  registered with the log redactor).
- **Prices that are reported, not guessed**: latest trade from snapshots, else the latest daily
  bar; symbols with neither are returned as missing.
- **Live trading needs two switches**: the live endpoint and `allow_live=True`.
- **Answers read as Alpaca's JSON** (alpaca-py's own `raw_data` switch): alpaca-py's request models
  still build and check what is sent; what comes back is read into the few fields we keep, without
  a pydantic model of every order, leg, position and snapshot (a tenth of a replay's client time).
- **Calls prepared directly** (`_ApiSession`): the bytes sent are requests' own, without its
  merging of session settings into each call (a sixth of the client's time per request).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import msgspec
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from paper_trading.broker.endpoint import (
    DATA_URL,
    PAPER_URL,
    base_url,
    checked_url,
    host_of,
    live_refusal,
    may_be_live,
)
from paper_trading.broker.types import (
    Account,
    CalendarDay,
    Clock,
    OrderInfo,
    OrderRequest,
    Position,
    Price,
)
from paper_trading.connections import is_loopback_host
from paper_trading.errors import (
    AmbiguousSubmitError,
    BrokerAuthError,
    BrokerError,
    BrokerUnavailable,
    LiveTradingRefused,
    OrderRejected,
    SubmitRateLimited,
)
from paper_trading.logging_setup import get_logger, register_secret

if TYPE_CHECKING:
    from paper_trading.broker.trade_updates import TradeUpdates

log = get_logger("broker")

T = TypeVar("T")
_NY = ZoneInfo("America/New_York")


# ------------------------------------------------------------------------------ HTTP plumbing


class _Answer(requests.Response):
    """A response whose JSON body is decoded by msgspec (several times faster than the standard
    library, the same values for any JSON Alpaca sends); a body msgspec refuses is left to
    `requests` (so its errors, and the standard library's leniencies, are as before)."""

    def json(self, **kwargs: Any) -> Any:
        if not kwargs:
            try:
                return msgspec.json.decode(self.content)
            except (msgspec.DecodeError, TypeError):
                pass
        return super().json(**kwargs)


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of a session a timeout unless the caller set one, and its answers
    `_Answer`'s JSON decoding."""

    def __init__(self, timeout: float) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = _Answer
        return response

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(request, stream=stream, timeout=self.timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)


class _ApiSession(requests.Session):
    """alpaca-py's session, preparing each call directly: an API call to Alpaca carries its own
    headers and never sets per-call cookies, auth, proxies or redirects, so requests' merging of
    the session's settings into each call (a sixth of the client's time per request) is skipped.
    Sending is still `Session.send`: its hooks, cookies kept from answers, adapters and errors.
    A call that asks for anything more goes through requests' own path."""

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None,
        json: Any = None, allow_redirects: bool = True, timeout: Any = None, **more: Any,
    ) -> requests.Response:
        if allow_redirects or any(v is not None for v in more.values()) or self.trust_env or self.auth \
                or self.params or len(self.cookies):
            return super().request(method, url, params=params, data=data, headers=headers, json=json,
                                   allow_redirects=allow_redirects, timeout=timeout, **more)
        merged = CaseInsensitiveDict(self.headers)
        merged.update(headers or {})
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, headers=merged, params=params, data=data or {},
                         json=json, hooks=self.hooks)
        return self.send(prepared, timeout=timeout, allow_redirects=False, proxies=self.proxies, stream=self.stream,
                         verify=self.verify, cert=self.cert)


def _pin_environment(session: requests.Session, url: str) -> None:
    """Read the proxy and CA-bundle environment once, for the session's one base URL.

    With `trust_env`, requests reads the proxy variables (and ~/.netrc) again on every call: a
    quarter of the client's time per request in the replay benchmark. The same settings, read once
    here, apply as before; a ~/.netrc login is not added to a request that carries Alpaca's key
    headers."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True and url.lower().startswith("https:"):  # (plain HTTP has no CA)
        session.verify = bundle
    session.trust_env = False


class _Pacer:
    """At most `per_minute` requests in any 60 s window; bursts below it are not slowed."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, sleep=time.sleep) -> None:
        self.per_minute, self.clock, self.sleep = per_minute, clock, sleep
        self.sent: collections.deque[float] = collections.deque()
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            while self.sent and now - self.sent[0] >= 60:
                self.sent.popleft()
            if len(self.sent) >= self.per_minute:
                pause = 60 - (now - self.sent[0])
                if pause >= 0.5:  # pacing is the plan, not a problem: said once per real wait
                    log.info("pacing: %d requests in the last minute, waiting %.1f s", len(self.sent), pause)
                self.sleep(max(pause, 0.0))
                self.sent.popleft()
            self.sent.append(self.clock())


def _status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def _transient(exc: BaseException) -> bool:
    """Worth retrying for a read: rate limited, server-side failure, timeout, dropped connection."""
    if isinstance(exc, (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return True
    status = _status_of(exc)
    return status is not None and (status == 429 or status >= 500)


def _error_text(exc: BaseException) -> tuple[str, int | None]:
    """Alpaca's message and code, whatever the body looks like (JSON, text, empty)."""
    raw = str(exc)
    try:
        body = json.loads(raw)
        return str(body.get("message", raw)), body.get("code")
    except (ValueError, AttributeError):
        return (raw.strip() or "(empty body)")[:300], None


def _dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _amount(value: str | None, field: str) -> Decimal:
    """An amount of the account that alpaca-py types as optional and Alpaca always sends."""
    if value is None:
        raise BrokerError(f"the broker's account answer has no {field}")
    return Decimal(value)


def _raw(answer: object) -> Any:
    """An alpaca-py answer as Alpaca's JSON: both clients are made with `raw_data=True` (alpaca-py's
    own switch). Its request models still build and check what is sent; what comes back is read
    here, into the few fields we keep: its pydantic models of every order, position, leg and
    snapshot were a tenth of a replay's client time, for values we then converted anyway."""
    return answer if answer is not None else {}


def _at(text: str | None) -> dt.datetime | None:
    """A time of an answer (RFC 3339, `Z` or an offset, up to nanoseconds) as an aware datetime."""
    return dt.datetime.fromisoformat(text) if text else None


# ------------------------------------------------------------------------------------ adapter


class AlpacaBroker:
    """`Broker` over alpaca-py's TradingClient and StockHistoricalDataClient."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        trading_url: str | None = None,
        data_url: str | None = None,
        *,
        allow_live: bool = False,
        timeout: float = 10.0,
        read_attempts: int = 4,
        backoff_seconds: float = 0.5,
        requests_per_minute: int = 190,
        data_feed: str | None = None,
        trade_updates: bool = True,
    ) -> None:
        from alpaca.data.historical import StockHistoricalDataClient
        from alpaca.trading.client import TradingClient

        if not api_key or not secret_key:
            raise BrokerAuthError("Alpaca credentials are missing: set APCA_API_KEY_ID and APCA_API_SECRET_KEY "
                                  "or fill in login and password of the Airflow connection")
        register_secret(api_key)
        register_secret(secret_key)
        self.trading_url = checked_url(base_url(trading_url) or PAPER_URL, "trading")
        # the local simulator serves market data on its trading port: a loopback trading URL alone is enough
        loopback = is_loopback_host(host_of(self.trading_url))
        self.data_url = checked_url(base_url(data_url) or (self.trading_url if loopback else DATA_URL), "market data")
        self.host = urlsplit(self.trading_url).netloc
        self.live = may_be_live(self.trading_url)
        if self.live and not allow_live:
            raise LiveTradingRefused(live_refusal(self.trading_url))
        self.data_feed = data_feed
        self._stream_args = (api_key, secret_key) if trade_updates else None
        self._updates: TradeUpdates | None = None
        self._trading = TradingClient(api_key, secret_key, paper=not self.live, url_override=self.trading_url,
                                      raw_data=True)
        # market data as Alpaca's JSON: a price and a time are all we read of a snapshot, whose
        # five models per symbol (trade, quote, three bars) were most of a plan step's broker time
        self._data = StockHistoricalDataClient(api_key, secret_key, url_override=self.data_url, raw_data=True)
        for client, url in ((self._trading, self.trading_url), (self._data, self.data_url)):
            client._retry = 0  # alpaca-py would re-send POST /v2/orders on 429/504: never blindly
            client._session = _ApiSession()
            client._session.mount("http://", _TimeoutAdapter(timeout))
            client._session.mount("https://", _TimeoutAdapter(timeout))
            _pin_environment(client._session, url)
        self._pacer = _Pacer(requests_per_minute)
        self._read_retry = retry(
            retry=retry_if_exception(_transient),
            stop=stop_after_attempt(read_attempts),
            wait=_wait_for_retry(wait_exponential(multiplier=backoff_seconds, max=30)),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "broker read failed (%s); retry %d of %d",
                _describe(state.outcome.exception() if state.outcome else None),
                state.attempt_number,
                read_attempts - 1,
            ),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> AlpacaBroker:
        """Credentials and URLs from APCA_API_KEY_ID, APCA_API_SECRET_KEY, APCA_API_BASE_URL, APCA_API_DATA_URL."""
        env = os.environ if env is None else env
        return cls(env.get("APCA_API_KEY_ID", ""), env.get("APCA_API_SECRET_KEY", ""),
                   env.get("APCA_API_BASE_URL"), env.get("APCA_API_DATA_URL"), **kwargs)

    # ---------------------------------------------------------------------- trade_updates

    def watch_orders(self) -> bool:
        """Start listening to `trade_updates` (see `trade_updates.py`) unless already listening or
        turned off (`broker.trade_updates: false`). Returns True when this call started it: the
        caller then stops it with `unwatch_orders` when done; a stream someone else started (a replay
        keeps one for the whole year) is left running."""
        if self._stream_args is None or self._updates is not None:
            return False
        from paper_trading.broker.trade_updates import TradeUpdates

        self._updates = TradeUpdates(self.trading_url, *self._stream_args, parse=_update_order).start()
        return True

    def unwatch_orders(self) -> None:
        if self._updates is not None:
            self._updates.close()
            self._updates = None

    def final_states(self, order_ids: Iterable[str], timeout: float = 0.0) -> dict[str, OrderInfo]:
        """The final states the stream has announced for these broker order ids (none when not
        listening), waiting up to `timeout` s for the missing ones while it listens."""
        return {} if self._updates is None else self._updates.finals(order_ids, timeout)

    def __repr__(self) -> str:
        return f"AlpacaBroker(trading_url={self.trading_url!r}, data_url={self.data_url!r}, live={self.live})"

    @property
    def env(self) -> str:
        """`live` (real money) or `paper` (Alpaca paper or the local simulator), for the ledger."""
        return "live" if self.live else "paper"

    # -------------------------------------------------------------------------------- reads

    def _read(self, what: str, call: Callable[[], T]) -> T:
        def paced() -> T:
            self._pacer.wait()
            return call()

        try:
            return self._read_retry(paced)()
        except Exception as exc:
            if isinstance(exc, BrokerError):
                raise
            raise self._failure(what, exc) from None

    def _failure(self, what: str, exc: BaseException) -> BrokerError:
        """The error class says what a scheduler should do: retry (unavailable) or stop (auth, 4xx)."""
        status = _status_of(exc)
        message, code = _error_text(exc) if status else (_describe(exc), None)
        host = urlsplit(self.data_url).netloc if "/stocks" in what else self.host
        text = f"broker {host}: {what} failed: {message}"
        if _transient(exc):
            return BrokerUnavailable(text, status, code)
        if status in (401, 403):
            return BrokerAuthError(f"{text} (check the API key id and secret of the Alpaca connection, and that "
                                   "they belong to this endpoint: paper keys do not work on live and vice versa)",
                                   status, code)
        return BrokerError(text, status, code)

    def account(self) -> Account:
        return self._read("GET /v2/account", lambda: _account(_raw(self._trading.get_account())))

    def positions(self) -> list[Position]:
        return self._read("GET /v2/positions",
                          lambda: [_position(p) for p in _raw(self._trading.get_all_positions()) or []])

    def clock(self) -> Clock:
        return self._read("GET /v2/clock", lambda: _clock(_raw(self._trading.get_clock())))

    def calendar(self, start: dt.date, end: dt.date) -> list[CalendarDay]:
        from alpaca.trading.requests import GetCalendarRequest

        request = GetCalendarRequest(start=start, end=end)
        return self._read("GET /v2/calendar",
                          lambda: [_calendar_day(d) for d in _raw(self._trading.get_calendar(request)) or []])

    def latest_prices(self, symbols: Iterable[str]) -> tuple[dict[str, Price], list[str]]:
        """Latest trade per symbol from snapshots, else the latest daily bar's close; the rest missing."""
        from alpaca.data.requests import StockLatestBarRequest, StockSnapshotRequest

        wanted = sorted(set(symbols))
        if not wanted:
            return {}, []
        feed = {"feed": self.data_feed} if self.data_feed else {}
        # (read inside `_read`, so an answer that cannot be read is the request's BrokerError)
        prices: dict[str, Price] = self._read("GET /v2/stocks/snapshots", lambda: _prices(
            _raw(self._data.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=wanted, **feed))),
            wanted, "trade"))
        rest = [s for s in wanted if s not in prices]
        if rest:
            prices |= self._read("GET /v2/stocks/bars/latest", lambda: _prices(
                _raw(self._data.get_stock_latest_bar(StockLatestBarRequest(symbol_or_symbols=rest, **feed))),
                rest, "bar"))
        missing = [s for s in wanted if s not in prices]
        if missing:
            log.warning("no price for %d symbol(s): %s", len(missing), ", ".join(missing))
        return prices, missing

    def daily_closes(
        self, symbols: Iterable[str], start: dt.date, end: dt.date
    ) -> dict[str, list[tuple[dt.date, Decimal]]]:
        """Daily closes per symbol (for volatility gates and analytics)."""
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame

        wanted = sorted(set(symbols))
        request = StockBarsRequest(
            symbol_or_symbols=wanted,
            timeframe=TimeFrame.Day,
            start=dt.datetime.combine(start, dt.time(0)),
            end=dt.datetime.combine(end, dt.time(23, 59)),
            **({"feed": self.data_feed} if self.data_feed else {}),
        )
        def closes(bars: dict[str, Any]) -> dict[str, list[tuple[dt.date, Decimal]]]:
            return {
                sym: [(cast(dt.datetime, _at(b["t"])).astimezone(_NY).date(), Decimal(str(b["c"])))
                      for b in bars.get(sym) or [] if b.get("t") and _positive(b.get("c"))]
                for sym in wanted
            }

        return self._read("GET /v2/stocks/bars", lambda: closes(_raw(self._data.get_stock_bars(request))))

    def get_order(self, order_id: str) -> OrderInfo:
        from alpaca.trading.requests import GetOrderByIdRequest

        return self._read(
            f"GET /v2/orders/{order_id}",
            lambda: _order(_raw(self._trading.get_order_by_id(order_id, GetOrderByIdRequest(nested=True)))),
        )

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo | None:
        """The order with this client_order_id, or None if the broker has none (404)."""
        from alpaca.common.exceptions import APIError

        def call() -> OrderInfo | None:
            try:
                return _order(_raw(self._trading.get_order_by_client_id(client_order_id)))
            except APIError as exc:
                if exc.status_code == 404:
                    return None
                raise

        return self._read(f"GET /v2/orders:by_client_order_id {client_order_id}", call)

    def list_orders(
        self,
        status: str = "all",
        after: dt.datetime | None = None,
        symbols: list[str] | None = None,
        nested: bool = True,
    ) -> list[OrderInfo]:
        """Orders (newest first), paging past Alpaca's 500-per-request limit. Nested: the legs of a
        bracket or OCO only inside their parent; not nested: each leg listed as an order of its own
        (Alpaca gives no parent id then)."""
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        out: list[OrderInfo] = []
        seen: set[str] = set()
        until = None
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus(status),
                limit=500,
                nested=nested,
                after=after,
                until=until,
                symbols=symbols,
                direction="desc",
            )
            page = self._read(
                "GET /v2/orders",
                lambda: [_order(o) for o in _raw(self._trading.get_orders(request)) or []],  # noqa: B023 - _read calls it (and retries) before returning
            )
            fresh = [o for o in page if o.id not in seen]
            seen.update(o.id for o in fresh)
            out += fresh
            if len(page) < 500 or not fresh or page[-1].submitted_at is None:
                return out
            # `until` is exclusive: step just past the oldest timestamp seen, so orders that share
            # it are fetched again (and skipped as seen) rather than lost.
            until = page[-1].submitted_at + dt.timedelta(microseconds=1)

    def activities(self, activity_types: list[str] | None = None, after: dt.datetime | None = None) -> list[dict]:
        """Account activities (raw dicts; alpaca-py has no model for them), oldest first, all pages."""
        out: list[dict] = []
        token = None
        while True:
            params: dict[str, Any] = {"direction": "asc", "page_size": 100}
            if activity_types:
                params["activity_types"] = ",".join(activity_types)
            if after is not None:
                params["after"] = after.isoformat()
            if token:
                params["page_token"] = token
            page = cast(list[dict], self._read(  # the endpoint answers a JSON list
                "GET /v2/account/activities",
                lambda: self._trading.get("/account/activities", params),  # noqa: B023 - called by _read before it returns
            ))
            out += page
            if len(page) < 100:
                return out
            token = page[-1]["id"]

    # ------------------------------------------------------------------------------- writes

    def submit_order(self, order: OrderRequest) -> OrderInfo:
        """POST /v2/orders exactly once. 4xx -> OrderRejected; unknown outcome -> AmbiguousSubmitError."""
        request = _order_request(order)
        self._pacer.wait()
        try:  # an answer that cannot be read is an unknown outcome too: the order may exist
            placed = _order(_raw(self._trading.submit_order(request)))
        except Exception as exc:
            status = _status_of(exc)
            if status == 429:
                limited = SubmitRateLimited(
                    f"broker rate-limited the submit of {order.client_order_id}: nothing was "
                    "created; back off and look it up before sending again",
                    status,
                )
                limited.retry_after = _retry_after(exc)
                raise limited from None
            if status is not None and status < 500 and status != 408:
                message, code = _error_text(exc)
                said = f"{status} {code}: {message}" if code is not None else f"{status}: {message}"
                raise OrderRejected(
                    f"broker rejected {order.side} {order.symbol} ({order.client_order_id}): {said}", status, code
                ) from None
            reason = _error_text(exc)[0] if status is not None else _describe(exc)
            raise AmbiguousSubmitError(
                f"broker {self.host}: submit of {order.client_order_id} has an unknown outcome ({reason}); "
                "look it up before any retry",
                order.client_order_id,
                status,
            ) from None
        return placed

    def cancel_order(self, order_id: str) -> None:
        """DELETE /v2/orders/{id}; idempotent in effect, so it is retried like a read."""
        self._read(f"DELETE /v2/orders/{order_id}", lambda: self._trading.cancel_order_by_id(order_id))


def _wait_for_retry(backoff):
    """Tenacity wait: what a 429 says to wait (`Retry-After` / `X-RateLimit-Reset`), else `backoff`."""

    def wait(state) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is not None and _status_of(exc) == 429 and (seconds := _retry_after(exc)) is not None:
            return seconds
        return backoff(state)

    return wait


def _retry_after(exc: BaseException, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait after a 429, from `Retry-After` or `X-RateLimit-Reset` (a Unix epoch)."""
    response = getattr(exc, "response", None)  # (a requests Response of a 4xx is falsy: no `or` here)
    headers = response.headers if response is not None and getattr(response, "headers", None) is not None else {}
    for name, relative in (("Retry-After", True), ("X-RateLimit-Reset", False)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) if relative else float(value) - now()
        except (TypeError, ValueError):
            continue
        return max(0.0, min(seconds, 60.0))
    return None


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        return "connection failed or was dropped"
    status = _status_of(exc)
    if status is not None:
        return f"HTTP {status}: {_error_text(exc)[0]}"
    return type(exc).__name__


def _order_request(o: OrderRequest):
    from alpaca.trading.enums import OrderClass, OrderSide, TimeInForce
    from alpaca.trading.requests import (
        LimitOrderRequest,
        MarketOrderRequest,
        StopLossRequest,
        TakeProfitRequest,
    )

    common: dict[str, Any] = {
        "symbol": o.symbol,
        "side": OrderSide(o.side),
        "time_in_force": TimeInForce(o.time_in_force),
        "client_order_id": o.client_order_id,
    }
    if o.qty is not None:
        common["qty"] = float(o.qty)
    if o.notional is not None:
        common["notional"] = float(o.notional)
    if o.take_profit is not None or o.stop_loss is not None:
        common["order_class"] = OrderClass.OCO if o.order_class == "oco" else OrderClass.BRACKET
        common["take_profit"] = TakeProfitRequest(limit_price=_price(o.take_profit, "take_profit", o))
        common["stop_loss"] = StopLossRequest(
            stop_price=_price(o.stop_loss, "stop_loss", o),
            **({"limit_price": float(o.stop_loss_limit)} if o.stop_loss_limit else {}),
        )
    if o.order_class == "oco":  # an exit pair: a limit order whose base price is the take-profit
        return LimitOrderRequest(limit_price=_price(o.take_profit, "take_profit", o), **common)
    if o.order_type == "limit":
        return LimitOrderRequest(limit_price=_price(o.limit_price, "limit_price", o), **common)
    return MarketOrderRequest(**common)


def _price(value: Decimal | None, field: str, o: OrderRequest) -> float:
    """A price the order's form needs (a bracket's both exits, a limit order's limit)."""
    if value is None:
        raise ValueError(f"order {o.client_order_id}: {o.order_class or o.order_type} order without {field}")
    return float(value)


def _prices(answer: dict[str, Any], symbols: list[str], source: str) -> dict[str, Price]:
    """The usable prices of `symbols` in a snapshots answer (the latest trade's) or a latest-bars
    answer (the bar's close), with their times."""
    out: dict[str, Price] = {}
    for sym in symbols:
        item = answer.get(sym) or {}
        quote = (item.get("latestTrade") or {}) if source == "trade" else item
        value = quote.get("p" if source == "trade" else "c")
        if _positive(value):
            out[sym] = Price(sym, Decimal(str(value)), source, _at(quote.get("t")))
    return out


def _positive(value: object) -> bool:
    """A price that can be used: a number above zero (a missing, zero or unreadable one is no price)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return float(value) > 0
    except ValueError:
        return False


def _update_order(data: dict) -> OrderInfo | None:
    """The order of one `trade_updates` message (`{"event", "order", ...}`), or None when it is not
    a trade update that names an order."""
    try:
        if not isinstance(data.get("event"), str):
            raise ValueError("no event")
        return _order(data["order"])
    except (KeyError, TypeError, ValueError, ArithmeticError):
        log.warning("trade_updates: a message that is not a trade update was ignored")
        return None


def _order(o: dict[str, Any]) -> OrderInfo:
    """An order in Alpaca's JSON (an answer, an item of a listing, a stream message's) as ours."""
    if not isinstance(o, dict):
        raise TypeError(f"an order is a JSON object, got {type(o).__name__}")
    kind = o.get("type") or o.get("order_type")
    return OrderInfo(
        id=str(o["id"]),
        client_order_id=o["client_order_id"],
        symbol=o.get("symbol") or "",
        side=o.get("side") or "",
        order_type=kind or "",
        order_class=o.get("order_class") or "simple",
        status=o["status"],
        qty=_dec(o.get("qty")),
        notional=_dec(o.get("notional")),
        filled_qty=_dec(o.get("filled_qty")) or Decimal(0),
        filled_avg_price=_dec(o.get("filled_avg_price")),
        limit_price=_dec(o.get("limit_price")),
        stop_price=_dec(o.get("stop_price")),
        submitted_at=_at(o.get("submitted_at")),
        filled_at=_at(o.get("filled_at")),
        legs=tuple(_order(leg) for leg in (o.get("legs") or ())),
        expires_at=_at(o.get("expires_at")),
    )


def _account(a: dict[str, Any]) -> Account:
    return Account(_amount(a.get("equity"), "equity"), _amount(a.get("cash"), "cash"),
                   _amount(a.get("buying_power"), "buying_power"), str(a.get("status") or ""),
                   bool(a.get("trading_blocked")), bool(a.get("account_blocked")),
                   bool(a.get("trade_suspended_by_user")))


def _position(p: dict[str, Any]) -> Position:
    return Position(p["symbol"], Decimal(str(p["qty"])), Decimal(str(p["avg_entry_price"])),
                    _dec(p.get("market_value")), _dec(p.get("current_price")), _dec(p.get("qty_available")))


def _clock(c: dict[str, Any]) -> Clock:
    return Clock(_when(c, "timestamp"), bool(c.get("is_open")), _when(c, "next_open"), _when(c, "next_close"))


def _calendar_day(d: dict[str, Any]) -> CalendarDay:
    """A day of `/v2/calendar`: its open and close as New York wall times (naive, as alpaca-py made them)."""
    day = dt.date.fromisoformat(d["date"])
    return CalendarDay(day, dt.datetime.strptime(f"{d['date']} {d['open']}", "%Y-%m-%d %H:%M"),
                       dt.datetime.strptime(f"{d['date']} {d['close']}", "%Y-%m-%d %H:%M"))


def _when(doc: dict[str, Any], field: str) -> dt.datetime:
    """A time the answer must hold."""
    value = _at(doc.get(field))
    if value is None:
        raise BrokerError(f"the broker's answer has no {field}")
    return value
