"""Validate simulator responses against Alpaca's own OpenAPI specs (vendored in alpaca-openapi/, MIT).

`SpecValidator.validate(method, path, status, body)` finds the operation of the trading or market
data spec that serves `path`, takes the JSON schema of the response for `status` (error bodies
against the trading spec's `Error`), and returns the validation errors, minus the deviations in
`ALLOWED_DEVIATIONS` — each with the reason we follow alpaca-py (or reality) instead of the spec.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SPEC_DIR = Path(__file__).parent / "alpaca-openapi"

#: Where the spec and alpaca-py (or Alpaca's real responses) disagree we follow alpaca-py. Each
#: deviation: a name, the reason, and the test that recognises its validation error.
ALLOWED_DEVIATIONS: list[tuple[str, str, Callable[[Any], bool]]] = [
    (
        "order_class \"\"",
        "real simple orders come back with order_class \"\" and alpaca-py maps it to simple; the spec's "
        "OrderClass enum lacks the empty string",
        lambda e: list(e.absolute_path)[-1:] == ["order_class"] and e.instance == "",
    ),
    (
        "activities oneOf overlap",
        "GET /v2/account/activities/{activity_type} says oneOf TradingActivities | NonTradeActivities, but "
        "neither schema has required fields or forbids extra ones, so every FILL matches both; a body valid "
        "under either is accepted",
        lambda e: e.validator == "oneOf" and "is valid under each of" in e.message,
    ),
]


class SpecValidator:
    def __init__(self, spec_dir: Path = SPEC_DIR) -> None:
        self.specs = {name: json.loads((spec_dir / f"{name}.json").read_text()) for name in ("trading-api", "market-data-api")}
        self.routes: list[tuple[str, str, re.Pattern, dict]] = []
        for name, spec in self.specs.items():
            for template, ops in spec["paths"].items():
                pattern = re.compile("^" + re.sub(r"\{[^}]+\}", r"[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")) + "$")
                for method, op in ops.items():
                    if method in ("get", "post", "put", "patch", "delete"):
                        self.routes.append((name, method.upper(), pattern, op))
        # literal routes first, so /v2/orders:by_client_order_id never matches /v2/orders/{id}
        self.routes.sort(key=lambda r: r[2].pattern.count("[^/]+"))

    def _schema(self, spec: str, ref_or_schema: dict) -> tuple[dict, Registry]:
        root = self.specs[spec]
        uri = f"urn:{spec}"
        registry = Registry().with_resource(uri, Resource.from_contents(root, default_specification=DRAFT4))
        return {"$ref": f"{uri}#/components/schemas/{ref_or_schema['$ref'].split('/')[-1]}"} if "$ref" in ref_or_schema \
            else _rebase(ref_or_schema, uri), registry

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        for spec, m, pattern, op in self.routes:
            if m == method.upper() and pattern.match(path):
                return spec, op
        return None

    def validate(self, method: str, path: str, status: int, body) -> list[str]:
        found = self.operation(method, path)
        if found is None:
            return [f"{method} {path}: not in Alpaca's specs"]
        spec, op = found
        if status >= 400:
            schema, registry = self._schema("trading-api", {"$ref": "#/components/schemas/Error"})
            if spec == "market-data-api":
                schema = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}
        else:
            response = op["responses"].get(str(status)) or op["responses"].get("default")
            if response is None:
                return [f"{method} {path}: status {status} is not a documented response"]
            content = (response.get("content") or {}).get("application/json")
            if content is None or "schema" not in content:
                return [] if body in (None, "") else [f"{method} {path} {status}: the spec documents no body"]
            schema, registry = self._schema(spec, content["schema"])
        validator = OAS30Validator(schema, registry=registry)
        problems = []
        for error in validator.iter_errors(body):
            where = "/".join(map(str, error.absolute_path))
            text = f"{method} {path} {status} at {where or '(root)'}: {error.message}"
            if not self._allowed(error):
                problems.append(text)
        return problems

    @staticmethod
    def _allowed(error) -> bool:
        return any(matches(error) for _, _, matches in ALLOWED_DEVIATIONS)


def _rebase(schema, uri: str):
    """Point the `$ref`s of an inline schema at the spec registered under `uri`."""
    if isinstance(schema, dict):
        return {k: (f"{uri}{v}" if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v, uri))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_rebase(v, uri) for v in schema]
    return schema
