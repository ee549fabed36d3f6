"""Alpaca's `trade_updates` stream: the websocket at `/stream` of the trading URL, as
`wss://paper-api.alpaca.markets/stream` answers it [AD websocket-streaming].

The client authenticates (`{"action": "auth", "key", "secret"}`, or alpaca-py's older
`{"action": "authenticate", "data": {"key_id", "secret_key"}}`), is told
`{"stream": "authorization", "data": {"action": "authenticate", "status": "authorized"}}`, sends
`{"action": "listen", "data": {"streams": ["trade_updates"]}}` and is told
`{"stream": "listening", "data": {"streams": ["trade_updates"]}}`. From then on every change of one
of the account's orders arrives as `{"stream": "trade_updates", "data": {"event", "execution_id",
"order", "timestamp"}}`, and a fill also carries `price`, `qty` and `position_qty`. Frames are
binary, as on the paper endpoint (the data endpoint's are text).

A change is streamed once its transaction has committed (`Store.on_commit`), so a rolled-back
request never shows, and before the request that made it is answered. Events are not replayed: a
client that connects later learns only what happens after, as at Alpaca.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from .common import dumpb

#: The event each order status is announced with (Alpaca's event names).
EVENTS = {
    "new": "new",
    "accepted": "new",
    "held": "new",
    "pending_new": "pending_new",
    "partially_filled": "partial_fill",
    "filled": "fill",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "replaced",
    "done_for_day": "done_for_day",
    "pending_cancel": "pending_cancel",
    "pending_replace": "pending_replace",
}


def messages(changes: list[list], api_order) -> list[bytes]:
    """The trade_updates messages of one committed transaction's order changes, in order."""
    out = []
    for doc, fill in changes:
        data: dict[str, Any] = {
            "event": EVENTS.get(doc["status"], doc["status"]),
            "execution_id": str(uuid.uuid4()),
            "order": api_order(doc),
            "timestamp": doc.get("updated_at") or doc.get("submitted_at"),
        }
        if fill is not None:
            data.update(execution_id=fill["id"].partition("::")[2] or fill["id"], price=fill["price"],
                        qty=fill["qty"], position_qty=fill["position_qty"], timestamp=fill["transaction_time"])
        out.append(dumpb({"stream": "trade_updates", "data": data}))
    return out


class StreamHub:
    """The connected listeners, each with its own queue; `publish` may be called from any thread."""

    def __init__(self, key: str, secret: str) -> None:
        self.key, self.secret = key, secret
        self.listeners: set[asyncio.Queue] = set()
        self.loop: asyncio.AbstractEventLoop | None = None

    def publish(self, frames: list[bytes]) -> None:
        if not self.listeners or self.loop is None:
            return
        for queue in list(self.listeners):
            for frame in frames:
                self.loop.call_soon_threadsafe(queue.put_nowait, frame)

    def drop_all(self) -> int:
        """Close every listener's connection (a stream outage, for tests of the client's fallback)."""
        if self.loop is None:
            return 0
        for queue in list(self.listeners):
            self.loop.call_soon_threadsafe(queue.put_nowait, None)
        return len(self.listeners)

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept()
        self.loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        try:
            if not await self._authorized(ws):
                return
            while True:
                message = _parse(await ws.receive())
                if message.get("action") == "listen":
                    break
            streams = [s for s in (message.get("data") or {}).get("streams") or [] if s == "trade_updates"]
            self.listeners.add(queue)
            await ws.send_bytes(dumpb({"stream": "listening", "data": {"streams": streams}}))
            receiving = asyncio.ensure_future(ws.receive())
            while True:
                getting = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getting, receiving}, return_when=asyncio.FIRST_COMPLETED)
                if receiving in done:
                    getting.cancel()
                    if receiving.result().get("type") == "websocket.disconnect":
                        return
                    receiving = asyncio.ensure_future(ws.receive())  # another listen: the stream stays
                    continue
                frame = getting.result()
                if frame is None:
                    receiving.cancel()
                    await ws.close(code=1011)
                    return
                if streams:
                    await ws.send_bytes(frame)
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            self.listeners.discard(queue)

    async def _authorized(self, ws: WebSocket) -> bool:
        message = _parse(await ws.receive())
        data = message.get("data") or {}
        key = message.get("key") or data.get("key_id")
        secret = message.get("secret") or data.get("secret_key")
        ok = message.get("action") in ("auth", "authenticate") and key == self.key and secret == self.secret
        answer = {"stream": "authorization",
                  "data": {"action": "authenticate", "status": "authorized" if ok else "unauthorized"}}
        await ws.send_bytes(dumpb(answer))
        if not ok:
            await ws.close(code=1008)
        return ok


def _parse(message: Mapping[str, Any]) -> dict:
    if message.get("type") == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("bytes") or message.get("text") or "{}"
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
