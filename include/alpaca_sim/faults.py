"""Fault injection: the failures a client of Alpaca must survive, on demand and repeatable.

A rule matches requests by method and path (a glob like `/v2/orders*`) and does one thing:

- `error`: answer `status` (429, 500, 503, 504, ...) without touching state, with a JSON, text or
  empty body;
- `latency`: wait `seconds`, then answer normally;
- `hang`: wait `seconds` (longer than the client's timeout), then answer normally;
- `ambiguous`: process the request for real (an order is accepted and stored), then answer
  `status` with the chosen body instead of the result, or drop the connection (`drop: true`).

`times` limits how often a rule fires; `probability` (with the rule's `seed`) makes it fire on a
repeatable pseudo-random subset of matching requests. Rules live in the simulator's database, so
they survive a restart like everything else.
"""

from __future__ import annotations

import fnmatch
import json
import random
from dataclasses import asdict, dataclass, field
from typing import Literal

from .store import Store

ERROR_BODIES = {
    429: {"code": 42910000, "message": "rate limit exceeded"},
    500: {"code": 50010000, "message": "internal server error occurred"},
    503: {"code": 50310000, "message": "service unavailable"},
    504: {"code": 50410000, "message": "gateway timeout"},
}


@dataclass
class FaultRule:
    kind: Literal["error", "latency", "hang", "ambiguous"]
    method: str = "*"
    path: str = "*"
    status: int = 500
    body: Literal["json", "text", "empty"] = "json"
    seconds: float = 0.0
    drop: bool = False
    times: int | None = None
    probability: float = 1.0
    seed: int = 0
    fired: int = 0
    seen: int = 0
    id: int = field(default=0)

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatch(method.upper(), self.method.upper()) and fnmatch.fnmatch(path, self.path)

    def body_bytes(self) -> tuple[bytes, str]:
        if self.body == "empty":
            return b"", "text/plain"
        if self.body == "text":
            return f"{self.status} simulated failure".encode(), "text/plain"
        payload = ERROR_BODIES.get(self.status, {"code": self.status * 100000, "message": "simulated failure"})
        return json.dumps(payload).encode(), "application/json"


class Faults:
    """The active rules, persisted in the store's meta table under `faults`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def rules(self) -> list[FaultRule]:
        return [FaultRule(**r) for r in self.store.get("faults") or []]

    def _save(self, rules: list[FaultRule]) -> None:
        with self.store.tx():
            self.store.put("faults", [asdict(r) for r in rules])

    def add(self, **spec) -> FaultRule:
        rules = self.rules()
        rule = FaultRule(**spec)
        if rule.kind not in ("error", "latency", "hang", "ambiguous"):
            raise ValueError(f"unknown fault kind {rule.kind!r}")
        rule.id = max((r.id for r in rules), default=0) + 1
        rules.append(rule)
        self._save(rules)
        return rule

    def clear(self) -> None:
        self._save([])

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The first rule that fires for this request (its counters are updated and saved)."""
        rules = self.rules()
        chosen = None
        for rule in rules:
            if not rule.matches(method, path) or (rule.times is not None and rule.fired >= rule.times):
                continue
            draw = random.Random(f"{rule.seed}:{rule.id}:{rule.seen}").random()
            rule.seen += 1
            if draw < rule.probability:
                rule.fired += 1
                chosen = rule
                break
        if any(r.matches(method, path) for r in rules):
            self._save(rules)
        return chosen
