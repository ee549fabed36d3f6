"""The final states of our orders as Alpaca streams them (`trade_updates`), so that an order whose
fate we must record need not be read back.

Alpaca's clients learn of fills and cancels from the `trade_updates` websocket at the trading URL's
`/stream`, not by reading each order again. Execution cancels the earlier exits of every name it
trades and used to read each cancelled group back for its final state (a quarter of a replay's
requests); reconciliation read back every group that had finished on its own. Both now take what
the stream has said and read only what it has not.

What the stream is trusted with, and what not:
- **Only final states** (`orders.TERMINAL`: filled, canceled, expired, rejected, replaced). A final
  state cannot be stale: whenever it arrives, it is still true. A working state can be (the stream
  runs on its own connection, behind or ahead of the REST answers), so it is never used.
- **Nothing is lost when the stream is down or late.** An order the stream has not finished is read
  over REST as before; `finals(..., timeout)` waits only while the stream is connected and listening.
  The connection is made in the background (it never delays a step), re-made with backoff by
  websockets' `reconnect` when it drops, and refused or broken it only means more reads.

Why not alpaca-py's `TradingStream`: it never says when Alpaca has acknowledged the `listen`, so a
caller cannot know from when on it would have heard of an order; it runs an asyncio loop that must be
given a thread anyway, and hides its reconnects. The protocol is four messages; each update's order
is read from its JSON as the adapter reads every order answer (`broker/alpaca.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import msgspec

from paper_trading.broker.types import OrderInfo
from paper_trading.logging_setup import get_logger
from paper_trading.orders import TERMINAL

log = get_logger("broker")
#: The websocket library's own log: INFO at most, since its DEBUG lines would show the auth frame.
ws_log = get_logger("broker.trade_updates")
ws_log.setLevel(logging.INFO)

#: How long `finals` waits, at most, for the stream to catch up with what a REST answer just said.
CATCH_UP_S = 1.0


class TradeUpdates:
    """A background listener of `trade_updates`: the final state of every order it has heard of."""

    def __init__(self, trading_url: str, key: str, secret: str, parse) -> None:
        self.url = trading_url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + "/stream"
        self._key, self._secret, self._parse = key, secret, parse
        self._finals: dict[str, OrderInfo] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.listening = False
        self.connections = 0
        self._ws: Any = None  # the open connection, so that `close` can end it at once
        self._thread = threading.Thread(target=self._run, name="trade-updates", daemon=True)

    def start(self, wait: float = 2.0) -> TradeUpdates:
        """Connect in the background; wait up to `wait` seconds for Alpaca to confirm the listen, so
        the orders sent after this are heard of (if it does not, REST reads do the work)."""
        self._thread.start()
        with self._cond:
            self._cond.wait_for(lambda: self.listening or self._stop.is_set(), timeout=wait)
        return self

    def close(self) -> None:
        """Stop listening: the open connection is closed at once and no new one is made."""
        self._stop.set()
        with self._cond:
            self.listening = False
            self._cond.notify_all()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close()
        self._thread.join(timeout=3)

    def finals(self, order_ids: Iterable[str], timeout: float = 0.0) -> dict[str, OrderInfo]:
        """The final states heard of for `order_ids` (broker ids); while the stream is listening,
        wait up to `timeout` seconds for the missing ones."""
        wanted = set(order_ids)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = wanted - self._finals.keys()
                left = deadline - time.monotonic()
                if not missing or left <= 0 or not self.listening:
                    break
                self._cond.wait(timeout=left)
            return {i: self._finals[i] for i in wanted if i in self._finals}

    # ------------------------------------------------------------------------------ the thread

    def _run(self) -> None:
        """Connect, listen, and connect again after a drop, with exponential backoff (tenacity),
        until `close`: every wait is on the stop event, so closing never waits out a backoff."""
        from tenacity import RetryError, Retrying, retry_if_exception, stop_when_event_set, wait_exponential

        def pause(seconds: float) -> None:
            self._stop.wait(seconds)

        retrying = Retrying(stop=stop_when_event_set(self._stop), wait=wait_exponential(multiplier=0.5, max=30),
                            sleep=pause, retry=retry_if_exception(lambda exc: not self._stop.is_set()))
        try:
            for attempt in retrying:
                with attempt:
                    self._session()
        except RetryError:
            return  # stopped between two attempts
        except Exception as exc:
            if not self._stop.is_set():
                self._down(f"stopped: {type(exc).__name__}")

    def _session(self) -> None:
        """One connection: returns when stopped, raises when it could not be made or dropped."""
        from websockets.sync.client import connect

        try:
            with connect(self.url, open_timeout=5, proxy=None, logger=ws_log, compression=None) as ws:
                self._ws = ws
                if self._stop.is_set():
                    return
                self._listen(ws)
        except Exception as exc:
            if self._stop.is_set():
                return
            self._down(f"the connection ended ({type(exc).__name__})")
            raise
        finally:
            self._ws = None
        if not self._stop.is_set():
            raise ConnectionError("the stream ended")  # a refused listen: try again after the backoff

    def _listen(self, ws) -> None:
        ws.send(json.dumps({"action": "auth", "key": self._key, "secret": self._secret}))
        if _data(ws.recv(timeout=5)).get("status") != "authorized":
            log.warning("trade_updates: the broker refused the keys on %s; orders are read back over REST", self.url)
            self._stop.set()
            return
        ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
        while not self._stop.is_set():
            try:
                frame = ws.recv(timeout=0.5)
            except TimeoutError:
                continue
            try:
                message = msgspec.json.decode(frame)  # as every answer is read (broker/alpaca.py)
            except ValueError:
                log.warning("trade_updates: a frame that is not JSON was ignored")
                continue
            if not isinstance(message, dict):
                continue
            if message.get("stream") == "listening":
                with self._cond:
                    self.listening = "trade_updates" in (message.get("data") or {}).get("streams", [])
                    self.connections += 1
                    self._cond.notify_all()
                log.debug("trade_updates: listening at %s", self.url)
            elif message.get("stream") == "trade_updates":
                order = self._parse(message.get("data") or {})
                if order is not None and order.status in TERMINAL:
                    with self._cond:
                        self._finals[order.id] = order
                        self._cond.notify_all()

    def _down(self, why: str) -> None:
        with self._cond:
            was, self.listening = self.listening, False
            self._cond.notify_all()
        if was:
            log.warning("trade_updates stream %s; orders are read back over REST until it is back", why)


def _data(frame: bytes | str) -> dict:
    try:
        message = msgspec.json.decode(frame)
    except ValueError:  # msgspec.DecodeError is one
        return {}
    return (message.get("data") or {}) if isinstance(message, dict) else {}
