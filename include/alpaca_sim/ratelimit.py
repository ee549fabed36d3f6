"""Alpaca's rate limits: N requests per minute per API key, with X-RateLimit-* headers and 429.

Two separate buckets, as at Alpaca (notes §3): the Trading API (200/min per account) and the
Market Data API (200/min on the free plan). A fixed window per key and bucket, measured in real
(wall-clock) time, not simulated time: the limit is about how fast a client talks to the server.
`X-RateLimit-Reset` is the Unix epoch (seconds) when the window ends [T components.headers].
Alpaca documents no `Retry-After` header, so none is sent.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

TRADING, DATA = "trading", "data"


@dataclass
class Window:
    start: float
    count: int


class RateLimiter:
    def __init__(self, per_minute: int = 200, clock=time.time, data_per_minute: int = 200) -> None:
        self.limits = {TRADING: per_minute, DATA: data_per_minute}
        self.clock = clock
        self.windows: dict[tuple[str, str], Window] = {}

    @property
    def per_minute(self) -> int:
        """The trading bucket's limit (the setting `rate_limit_per_minute`)."""
        return self.limits[TRADING]

    @per_minute.setter
    def per_minute(self, value: int) -> None:
        self.limits[TRADING] = value

    def hit(self, key: str, bucket: str = TRADING) -> tuple[bool, dict[str, str]]:
        """Count one request in `bucket`; return (allowed, headers)."""
        now = self.clock()
        limit = self.limits[bucket]
        window = self.windows.get((bucket, key))
        if window is None or now - window.start >= 60:
            window = self.windows[(bucket, key)] = Window(now, 0)
        window.count += 1
        allowed = window.count <= limit
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(limit - window.count, 0)),
            "X-RateLimit-Reset": str(math.ceil(window.start + 60)),
        }
        return allowed, headers


def bucket_of(path: str) -> str:
    """Market Data API paths (`/v2/stocks/...`, and the other data prefixes) vs the Trading API."""
    data_prefixes = ("/v2/stocks", "/v1beta", "/v2/options", "/v1beta1", "/v1beta3")
    return DATA if path.startswith(data_prefixes) else TRADING
