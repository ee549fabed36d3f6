"""Alpaca's rate limit: N requests per minute per API key, with X-RateLimit-* headers and 429.

A fixed window per key, measured in real (wall-clock) time, not simulated time: the limit is
about how fast a client talks to the server.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class Window:
    start: float
    count: int


class RateLimiter:
    def __init__(self, per_minute: int = 200, clock=time.time) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.windows: dict[str, Window] = {}

    def hit(self, key: str) -> tuple[bool, dict[str, str]]:
        """Count one request; return (allowed, headers)."""
        now = self.clock()
        window = self.windows.get(key)
        if window is None or now - window.start >= 60:
            window = self.windows[key] = Window(now, 0)
        window.count += 1
        allowed = window.count <= self.per_minute
        headers = {
            "X-RateLimit-Limit": str(self.per_minute),
            "X-RateLimit-Remaining": str(max(self.per_minute - window.count, 0)),
            "X-RateLimit-Reset": str(math.ceil(window.start + 60)),
        }
        return allowed, headers
