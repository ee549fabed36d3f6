"""The HTTP face of the simulator: Alpaca's Trading API v2 and Market Data API v2 on one port.

alpaca-py's `url_override` replaces only the host, and trading paths (`/v2/orders`, ...) never
collide with data paths (`/v2/stocks/...`), so both clients talk to this one app. Admin endpoints
(clock, reset, bars, settings, faults, assets, account flags, non-trade activities) live under
`/sim/...`, never under `/v2`.

Handlers are `async` on purpose: they run one at a time on the event loop, so the engine and its
SQLite connection need no locks. Every /v2 request is authenticated (401 without keys, 403 with
wrong ones), counted by the per-key rate limiter (separate buckets for trading and market data), and
may be hit by a configured fault. /sim admin requests are authenticated but never counted.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import functools
import json
from decimal import Decimal
from typing import Any

import msgspec
from fastapi import FastAPI, Request, WebSocket
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from .engine import Engine, SimError, iso, parse_time
from .faults import Faults
from .market import Bar, load_bars_file
from .ratelimit import RateLimiter, bucket_of
from .sessions import NY, UTC, sessions_between
from .stream import StreamHub, messages

JSON = "application/json"


#: Answers as compact UTF-8 JSON; a value JSON has no type for goes through FastAPI's encoder.
_ANSWER = msgspec.json.Encoder(enc_hook=jsonable_encoder, decimal_format="number")


class _Rendered(Response):
    """A handler's document as JSON, rendered by msgspec alone (the documents hold str, numbers,
    None, lists and dicts; rendering them was the largest single piece of the simulator's time)."""

    media_type = JSON

    def render(self, content: Any) -> bytes:
        return _ANSWER.encode(content)


class _DocumentRoute(APIRoute):
    """Handlers return plain JSON documents (str, float, list, dict; rarely a Decimal or a date,
    which `default` converts as FastAPI would). FastAPI would walk every value of every answer with
    `jsonable_encoder` first: a third of the simulator's time in a year-long replay. A route of this
    class renders the document itself, so that walk never happens."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        status = kwargs.get("status_code") or 200

        @functools.wraps(endpoint)
        async def rendered(*args: Any, **kw: Any) -> Response:
            content = await endpoint(*args, **kw)
            return content if isinstance(content, Response) else _Rendered(content, status_code=status)

        super().__init__(path, rendered, **kwargs)


def _bool(value: str | None, default: bool = False) -> bool:
    return default if value is None else value.strip().lower() in ("1", "true", "yes")


def _symbols(value: str | None) -> list[str]:
    return [s.strip().upper() for s in (value or "").split(",") if s.strip()]


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        if len(value) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0), tzinfo=NY)
        return parse_time(value)
    except ValueError:
        raise SimError(422, 40010000, f"invalid timestamp {value!r}") from None


def _date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise SimError(422, 40010000, f"invalid date {value!r}") from None


def _int(value: str | None, default: int, name: str) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise SimError(422, 40010000, f"{name} must be an integer") from None


# ---------------------------------------------------------------------------- market data shapes


def _bar_json(bar: Bar) -> dict:
    t = dt.datetime.combine(bar.date, dt.time(0), tzinfo=NY).astimezone(UTC)
    vw = bar.vw if bar.vw is not None else (bar.o + bar.h + bar.l + bar.c) / 4
    return {"t": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": float(bar.o), "h": float(bar.h), "l": float(bar.l),
            "c": float(bar.c), "v": bar.v, "n": bar.n if bar.n is not None else max(bar.v // 100, 1),
            "vw": round(float(vw), 4)}


def _trade_json(engine: Engine, symbol: str, at: dt.datetime) -> dict | None:
    price = engine.market.last_trade(symbol, at)
    if price is None:
        return None
    return {"t": iso(at), "x": "V", "p": float(price), "s": 100, "c": ["@"], "i": int(at.timestamp()), "z": "C"}


def _quote_json(engine: Engine, symbol: str, at: dt.datetime) -> dict | None:
    quote = engine.market.quote(symbol, at)
    if quote is None:
        return None
    bid, ask = quote
    return {"t": iso(at), "ax": "V", "ap": float(ask), "as": 1, "bx": "V", "bp": float(bid), "bs": 1,
            "c": ["R"], "z": "C"}


def _snapshot_json(engine: Engine, symbol: str, at: dt.datetime) -> dict | None:
    trade = _trade_json(engine, symbol, at)
    if trade is None:
        return None
    daily = engine.market.partial_bar(symbol, at)
    prev = engine.market.bar_on_or_before(symbol, daily.date - dt.timedelta(days=1)) if daily else None
    price = Decimal(str(trade["p"]))
    minute_start = at.replace(second=0, microsecond=0)
    minute = {"t": minute_start.strftime("%Y-%m-%dT%H:%M:%SZ"), "o": float(price), "h": float(price),
              "l": float(price), "c": float(price), "v": 100, "n": 1, "vw": float(price)}
    return {"latestTrade": trade, "latestQuote": _quote_json(engine, symbol, at), "minuteBar": minute,
            "dailyBar": _bar_json(daily) if daily else None, "prevDailyBar": _bar_json(prev) if prev else None}


# ---------------------------------------------------------------------------------- middleware


class SimMiddleware:
    """Authentication, rate limit and fault injection for /v2, in front of the routes (pure ASGI,
    so a fault can also cut the connection after the app did its work)."""

    def __init__(self, app, engine: Engine, faults: Faults, limiter: RateLimiter, key: str, secret: str):
        self.app, self.engine, self.faults, self.limiter = app, engine, faults, limiter
        self.key, self.secret = key, secret

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not (scope["path"].startswith("/v2") or scope["path"].startswith("/sim")):
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key, secret = headers.get("apca-api-key-id"), headers.get("apca-api-secret-key")
        if not key or not secret:
            return await _respond(send, 401, {"code": 40110000, "message": "request is not authorized"})
        if key != self.key or secret != self.secret:
            return await _respond(send, 403, {"code": 40310000, "message": "forbidden"})
        if scope["path"].startswith("/sim"):
            return await self.app(scope, receive, send)

        allowed, rl_headers = self.limiter.hit(key, bucket_of(scope["path"]))
        extra = [(k.encode(), v.encode()) for k, v in rl_headers.items()]
        if not allowed:
            return await _respond(send, 429, {"code": 42910000, "message": "rate limit exceeded"}, extra)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        rule = self.faults.pick(scope["method"], scope["path"])
        if rule is None:
            return await self.app(scope, receive, send_with_headers)
        if rule.kind in ("latency", "hang"):
            await asyncio.sleep(rule.seconds)
            return await self.app(scope, receive, send_with_headers)
        if rule.kind == "ambiguous":
            async def swallow(message):
                return None

            await self.app(scope, receive, swallow)  # the request really happens ...
            if rule.drop:  # ... and the answer never arrives
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
                raise ConnectionAbortedError("simulated dropped connection")
        body, ctype = rule.body_bytes()
        await send({"type": "http.response.start", "status": rule.status,
                    "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode())]
                    + extra})
        await send({"type": "http.response.body", "body": body})


async def _respond(send, status: int, payload: dict, headers: list | None = None) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
                + (headers or [])})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------------------------------- app


def create_app(engine: Engine, key: str, secret: str) -> SimMiddleware:
    app = FastAPI(title="alpaca_sim", description="A local Alpaca-compatible paper broker", docs_url=None,
                  redoc_url=None)
    app.router.route_class = _DocumentRoute
    faults = Faults(engine.store)
    settings = engine.settings()
    limiter = RateLimiter(settings.rate_limit_per_minute, data_per_minute=settings.data_limit())
    hub = StreamHub(key, secret)
    app.state.engine, app.state.faults, app.state.limiter, app.state.stream = engine, faults, limiter, hub
    engine.store.on_commit = lambda changes: hub.publish(messages(changes, lambda doc: engine.api_order(doc, False)))

    @app.exception_handler(SimError)
    async def sim_error(_request: Request, exc: SimError):
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return JSONResponse(
            {"code": 40010000, "message": f"{'.'.join(map(str, first.get('loc', [])))}: {first['msg']}"},
            status_code=422,
        )

    async def body_of(request: Request) -> dict:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise SimError(400, 40010000, "request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise SimError(400, 40010000, "request body must be a JSON object")
        return data

    # -------------------------------------------------------------------------- trading

    @app.get("/v2/account")
    async def account():
        return engine.account_doc()

    @app.get("/v2/account/configurations")
    async def account_configurations():
        return engine.account_configurations()

    @app.patch("/v2/account/configurations")
    async def patch_account_configurations(request: Request):
        return engine.patch_account_configurations(await body_of(request))

    @app.get("/v2/clock")
    async def clock():
        return engine.clock_doc()

    @app.get("/v2/calendar")
    async def calendar(start: str | None = None, end: str | None = None):
        now = engine.now()
        first = _date(start) or now.date() - dt.timedelta(days=30)
        last = _date(end) or now.date() + dt.timedelta(days=30)
        return [
            {
                "date": s.date.isoformat(),
                "open": s.open_ny.strftime("%H:%M"),
                "close": s.close_ny.strftime("%H:%M"),
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": _settlement(s.date).isoformat(),
            }
            for s in sessions_between(first, last)
        ]

    @app.get("/v2/positions")
    async def positions():
        return engine.positions_docs()

    @app.get("/v2/positions/{symbol}")
    async def position(symbol: str):
        return engine.get_position(symbol)

    @app.delete("/v2/positions/{symbol}")
    async def close_position(symbol: str, qty: str | None = None, percentage: str | None = None):
        return engine.close_position(symbol, qty, percentage)

    @app.get("/v2/assets/{symbol}")
    async def asset(symbol: str):
        return engine.asset(symbol)

    @app.post("/v2/orders")
    async def submit(request: Request):
        return engine.submit(await body_of(request))

    @app.get("/v2/orders")
    async def orders(request: Request):
        q = request.query_params
        return engine.list_orders(
            status=q.get("status", "open"),
            limit=_int(q.get("limit"), 50, "limit"),
            after=_time(q.get("after")),
            until=_time(q.get("until")),
            direction=q.get("direction", "desc"),
            nested=_bool(q.get("nested")),
            symbols=_symbols(q.get("symbols")) or None,
            side=q.get("side"),
        )

    @app.get("/v2/orders:by_client_order_id")
    async def order_by_client_id(client_order_id: str):
        return engine.get_order_by_client_id(client_order_id)

    @app.get("/v2/orders/{order_id}")
    async def order(order_id: str, request: Request):
        return engine.get_order(order_id, nested=_bool(request.query_params.get("nested")))

    @app.delete("/v2/orders/{order_id}", status_code=204)
    async def cancel(order_id: str):
        engine.cancel(order_id)
        return Response(status_code=204)

    @app.delete("/v2/orders")
    async def cancel_all():
        return JSONResponse(engine.cancel_all(), status_code=207)

    @app.get("/v2/account/activities")
    async def activities(request: Request):
        return _activities(engine, request, None)

    @app.get("/v2/account/activities/{activity_type}")
    async def activities_of_type(activity_type: str, request: Request):
        return _activities(engine, request, activity_type.upper())

    @app.get("/v2/account/portfolio/history")
    async def portfolio_history(period: str | None = None, date_end: str | None = None):
        days = None
        if period:
            unit, n = period[-1].upper(), int(period[:-1] or 1)
            days = {"D": n, "W": 5 * n, "M": 21 * n, "A": 252 * n}.get(unit)
            if days is None:
                raise SimError(422, 40010000, f"invalid period {period!r}")
        return engine.portfolio_history(days, _date(date_end))

    # ----------------------------------------------------------------------- market data

    @app.get("/v2/stocks/snapshots")
    async def snapshots(symbols: str):
        now = engine.now()
        out = {}
        for sym in _symbols(symbols):
            snap = _snapshot_json(engine, sym, now)
            if snap is not None:
                out[sym] = snap
        return out

    @app.get("/v2/stocks/{symbol}/snapshot")
    async def snapshot(symbol: str):
        snap = _snapshot_json(engine, symbol.upper(), engine.now())
        if snap is None:
            raise SimError(404, None, f"no data found for {symbol.upper()}")
        return snap

    @app.get("/v2/stocks/trades/latest")
    async def latest_trades(symbols: str):
        now = engine.now()
        return {"trades": {s: t for s in _symbols(symbols) if (t := _trade_json(engine, s, now))}}

    @app.get("/v2/stocks/bars/latest")
    async def latest_bars(symbols: str):
        now = engine.now()
        return {
            "bars": {
                s: _bar_json(b)
                for s in _symbols(symbols)
                if (b := engine.market.partial_bar(s, now)) or (b := engine.market.bar_on_or_before(s, now.date()))
            }
        }

    @app.get("/v2/stocks/bars")
    async def bars(request: Request):
        q = request.query_params
        timeframe = q.get("timeframe", "1Day")
        if timeframe not in ("1Day", "1D", "1day"):
            raise SimError(422, None, f"timeframe {timeframe!r} is not available (the simulator has daily bars)")
        limit = _int(q.get("limit"), 1000, "limit")
        if not 1 <= limit <= 10000:
            raise SimError(422, None, "limit must be between 1 and 10000")
        start, end = _date(q.get("start")), _date(q.get("end"))
        rows: list[tuple[str, Bar]] = []
        now = engine.now()
        for sym in sorted(_symbols(q.get("symbols"))):
            rows += [(sym, b) for b in engine.market.bars_until(sym, now, start, end)]
        if q.get("sort", "asc") == "desc":
            rows.sort(key=lambda r: (r[0], r[1].date), reverse=False)
            rows = sorted(rows, key=lambda r: (r[0], -r[1].date.toordinal()))
        offset = 0
        if token := q.get("page_token"):
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise SimError(422, None, "invalid page_token") from None
        page = rows[offset : offset + limit]
        out: dict[str, list] = {}
        for sym, bar in page:
            out.setdefault(sym, []).append(_bar_json(bar))
        nxt = offset + limit
        token_out = base64.urlsafe_b64encode(str(nxt).encode()).decode() if nxt < len(rows) else None
        return {"bars": out, "next_page_token": token_out, "currency": "USD"}

    # ---------------------------------------------------------------------------- admin

    @app.websocket("/stream")
    async def stream(ws: WebSocket):
        """The trade_updates stream (see `stream.py`). A fault rule on `GET /stream` of kind `error`
        refuses the connection, as an outage of the stream would."""
        rule = faults.pick("GET", "/stream")
        if rule is not None and rule.kind == "error":
            await ws.close(code=1013)
            return
        await hub.serve(ws)

    @app.post("/sim/stream/drop")
    async def stream_drop():
        """Close every trade_updates connection now (the client reconnects and, meanwhile, polls)."""
        return {"dropped": hub.drop_all()}

    @app.get("/sim/health")
    async def health():
        return {"ok": True, "clock": iso(engine.now())}

    @app.post("/sim/clock")
    async def set_clock(request: Request):
        body = await body_of(request)
        now = engine.now()
        if "to" in body:
            target = {"next_open": None, "next_close": None}.get(body["to"], "time")
            if target == "time":
                given = _time(body["to"])
                if given is None:  # an empty "to"
                    raise SimError(422, 40010000, "'to': expected an ISO time, next_open or next_close")
                to = given
            else:
                clock = engine.clock_doc()
                to = parse_time(clock[body["to"]])
        elif "advance_seconds" in body:
            to = now + dt.timedelta(seconds=float(body["advance_seconds"]))
        else:
            raise SimError(422, 40010000, "give 'to' (ISO time, next_open or next_close) or 'advance_seconds'")
        engine.set_clock(to)
        return engine.clock_doc()

    @app.post("/sim/reset")
    async def reset(request: Request):
        body = await body_of(request)
        configurations = body.get("account_configurations") or {}
        if not isinstance(configurations, dict):
            raise SimError(422, 40010000, "account_configurations must be an object")
        engine.reset(Decimal(str(body.get("cash", "100000"))), _time(body.get("clock")), configurations)
        faults.clear()
        limiter.windows.clear()
        return engine.account_doc()

    @app.post("/sim/bars")
    async def load_bars(request: Request):
        body = await body_of(request)
        try:
            engine.load_bars(load_bars_file(body["path"]), replace=bool(body.get("replace", False)))
        except (KeyError, OSError, ValueError) as exc:
            raise SimError(422, 40010000, f"cannot load bars: {exc}") from None
        return {"symbols": engine.market.symbols()}

    @app.get("/sim/config")
    async def get_config():
        return engine.settings().__dict__

    @app.post("/sim/config")
    async def set_config(request: Request):
        settings = engine.configure(**await body_of(request))
        limiter.limits.update(trading=settings.rate_limit_per_minute, data=settings.data_limit())
        return settings.__dict__

    @app.get("/sim/faults")
    async def list_faults():
        return [r.__dict__ for r in faults.rules()]

    @app.post("/sim/faults")
    async def add_fault(request: Request):
        try:
            return faults.add(**await body_of(request)).__dict__
        except (TypeError, ValueError) as exc:
            raise SimError(422, 40010000, f"bad fault rule: {exc}") from None

    @app.delete("/sim/faults")
    async def clear_faults():
        faults.clear()
        return []

    @app.patch("/sim/assets/{symbol}")
    async def patch_asset(symbol: str, request: Request):
        return engine.update_asset(symbol.upper(), **await body_of(request))

    @app.patch("/sim/account")
    async def patch_account(request: Request):
        return engine.set_account_flags(**await body_of(request))

    @app.post("/sim/activities")
    async def post_activity(request: Request):
        body = await body_of(request)
        try:
            return engine.add_non_trade_activity(**body)
        except TypeError as exc:
            raise SimError(422, 40010000, f"bad activity: {exc}") from None

    return SimMiddleware(app, engine, faults, limiter, key, secret)


def _activities(engine: Engine, request: Request, activity_type: str | None) -> Any:
    q = request.query_params
    types = (
        [activity_type]
        if activity_type
        else [t.strip().upper() for t in q.get("activity_types", "").split(",") if t.strip()]
    )
    return engine.activities(
        types=types or None,
        category=q.get("category"),
        date=_date(q.get("date")),
        after=_time(q.get("after")),
        until=_time(q.get("until")),
        direction=q.get("direction", "desc"),
        page_size=_int(q.get("page_size"), 100, "page_size"),
        page_token=q.get("page_token"),
    )


def _settlement(day: dt.date) -> dt.date:
    """T+1 settlement: the next session."""
    from .sessions import session_on_or_after

    return session_on_or_after(day + dt.timedelta(days=1)).date
