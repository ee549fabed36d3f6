"""A local webhook for the alert tests (tests/integration/test_alert_delivery.py, tests/dags): an HTTP
server on a thread of the test process, which apprise's `json://` channel posts to."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: The secret part of every receiver URL: it must never reach a log line or alerts.log.
TOKEN = "T0KEN-4f9a2c7e1b"


class Receiver:
    """A webhook on 127.0.0.1 (free port): records every POST (path, JSON body); /fail answers 500,
    /slow answers after 3 s."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/slow"):
                    time.sleep(3)
                received.append((self.path, json.loads(body or b"{}")))
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = f"/hook/{TOKEN}") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A port nobody listens on: the connection is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"json://127.0.0.1:{port}/dead/{TOKEN}"
