"""The runner's trade_updates listener reads every frame Alpaca may send: binary (the paper
endpoint's) or text JSON, and skips a frame that is not JSON or not a message, without stopping."""

from __future__ import annotations

import json
from types import SimpleNamespace

from paper_trading.broker.trade_updates import TradeUpdates


class _Socket:
    """The frames of one connection, then silence until the listener is stopped."""

    def __init__(self, listener: TradeUpdates, frames: list) -> None:
        self.listener, self.frames, self.sent = listener, list(frames), []

    def send(self, frame: str) -> None:
        self.sent.append(json.loads(frame))

    def recv(self, timeout: float) -> bytes | str:
        if self.frames:
            return self.frames.pop(0)
        self.listener._stop.set()
        raise TimeoutError


def _update(order_id: str, event: str, status: str, binary: bool = True) -> bytes | str:
    text = json.dumps({"stream": "trade_updates", "data": {"event": event, "order": {"id": order_id, "status": status}}})
    return text.encode() if binary else text


def _listen(frames: list) -> TradeUpdates:
    listener = TradeUpdates("http://127.0.0.1:1", "key", "secret",
                            parse=lambda data: SimpleNamespace(**data["order"]))
    authorized = json.dumps({"stream": "authorization", "data": {"status": "authorized", "action": "authenticate"}})
    listening = json.dumps({"stream": "listening", "data": {"streams": ["trade_updates"]}}).encode()
    listener._listen(_Socket(listener, [authorized.encode(), listening, *frames]))
    return listener


def test_binary_and_text_frames_both_give_the_final_state_of_an_order():
    listener = _listen([_update("a", "fill", "filled"), _update("b", "canceled", "canceled", binary=False)])
    assert {i: o.status for i, o in listener._finals.items()} == {"a": "filled", "b": "canceled"}
    assert listener.listening and listener.connections == 1


def test_a_frame_that_is_not_json_is_skipped_and_the_next_one_heard(caplog):
    listener = _listen([b"\x00not json", "{\"stream\": ", _update("a", "fill", "filled")])
    assert set(listener._finals) == {"a"}
    assert caplog.text.count("a frame that is not JSON was ignored") == 2


def test_json_that_is_not_a_message_is_skipped():
    listener = _listen([b"[1, 2]", b"null", b"42", _update("a", "expired", "expired")])
    assert set(listener._finals) == {"a"}


def test_an_update_that_is_not_final_is_not_a_final_state():
    listener = _listen([_update("a", "new", "new"), _update("a", "partial_fill", "partially_filled")])
    assert listener._finals == {}


def test_refused_keys_stop_the_listener_without_listening():
    listener = TradeUpdates("http://127.0.0.1:1", "key", "secret", parse=lambda data: None)
    refused = json.dumps({"stream": "authorization", "data": {"status": "unauthorized", "action": "authenticate"}})
    socket = _Socket(listener, [refused.encode()])
    listener._listen(socket)
    assert listener._stop.is_set() and not listener.listening
    assert [m["action"] for m in socket.sent] == ["auth"]
