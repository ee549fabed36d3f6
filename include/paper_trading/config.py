"""Validated configuration: `config/config.yaml` and `config/strategy_manifest.yaml`.

Both files are parsed with `yaml.safe_load` and validated with pydantic models that forbid unknown
keys, so a typo fails loudly instead of silently falling back to a default. A bad file raises
`ConfigError` with one line: the file, the field (e.g. `strategies[1].path`) and what was expected.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from paper_trading.errors import ConfigError
from paper_trading.logging_setup import get_logger
from paper_trading.paths import (
    DEFAULT_SCHEDULER_TIME,
    HHMM_PATTERN,
    check_relative,
    display_path,
    project_root,
    resolve_inside,
)
from paper_trading.symbols import checked_symbol

log = get_logger("config")

#: Columns every signal file must have after its column mapping.
REQUIRED_SIGNAL_COLUMNS = ("trade_date", "asset_id", "target_weight")
#: Columns a signal file may have; `asof` defaults to the file's mtime.
OPTIONAL_SIGNAL_COLUMNS = ("strategy_id", "asof", "confidence", "predicted_return")
STANDARD_SIGNAL_COLUMNS = REQUIRED_SIGNAL_COLUMNS + OPTIONAL_SIGNAL_COLUMNS

#: Default of `signal_bus.max_weight`: weights above it are refused, row named (a weight of 1e49 would
#: otherwise take a whole strategy's share after normalization).
DEFAULT_MAX_WEIGHT = 1_000_000.0

_FORMAT_BY_SUFFIX = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".parquet": "parquet", ".pq": "parquet"}
_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def _inside_project(value: str, info: ValidationInfo) -> str:
    """A path of the config: relative to the project root and inside it (`..` and symlinks seen
    against the root `load_config` gives; without one, the path's own form only)."""
    check_relative(value)
    if (root := (info.context or {}).get("root")) is not None:
        resolve_inside(Path(root), value)
    return value


#: A file or folder of the project, as the config names it: see `_inside_project`.
ProjectPath = Annotated[str, AfterValidator(_inside_project)]


class _Strict(BaseModel):
    """Unknown keys are errors, and so is every coercion: YAML reads `yes`/`no`/`on`/`off` as
    booleans, and a boolean, a quoted number or a NaN/infinity where a number is meant is a
    mistake to report, never a 1, a 0 or a limit that does not limit."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class StrategySpec(_Strict):
    """One strategy of the manifest: where its file is and how its columns map to ours."""

    id: str = Field(description="strategy id used by --pick / --blend")
    path: str = Field(min_length=1, description="file path relative to the project root")
    format: Literal["csv", "xlsx", "parquet"] | None = None
    column_mapping: dict[str, str] = Field(default_factory=dict)
    sep: str = Field(",", min_length=1, max_length=1, description="CSV delimiter")
    sheet: str | int = Field(0, description="XLSX sheet name or index")
    publishes_every_day: bool = Field(
        True,
        description=(
            "True: the file must have rows for every trade date (the sensor waits for them). "
            "False: the strategy publishes only when it rebalances; the latest rows on or before "
            "the trade date are carried forward and the sensor only checks the file is there."
        ),
    )
    _abs_path: Path = PrivateAttr()

    @property
    def abs_path(self) -> Path:
        """The file's absolute path, resolved against the project root during validation."""
        return self._abs_path

    @field_validator("id")
    @classmethod
    def _id_is_simple(cls, v: str) -> str:
        if not _ID_PATTERN.match(v):
            raise ValueError("must be 1-32 characters of letters, digits, '_', '-' or '.'")
        return v

    @field_validator("column_mapping")
    @classmethod
    def _mapping_targets_are_standard(cls, v: dict[str, str]) -> dict[str, str]:
        for src, dst in v.items():
            if dst not in STANDARD_SIGNAL_COLUMNS:
                raise ValueError(
                    f"maps {src!r} to {dst!r}; expected one of {', '.join(STANDARD_SIGNAL_COLUMNS)}"
                )
        targets = list(v.values())
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"maps several columns to {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> StrategySpec:
        root = Path((info.context or {}).get("root") or project_root())
        try:
            abs_path = resolve_inside(root, self.path)
        except ValueError as exc:
            raise ValueError(f"path {exc}") from None
        fmt = self.format or _FORMAT_BY_SUFFIX.get(abs_path.suffix.lower())
        if fmt is None:
            raise ValueError(
                f"format is not given and cannot be told from {abs_path.name!r}; expected csv, xlsx or parquet"
            )
        self._abs_path = abs_path
        object.__setattr__(self, "format", fmt)
        return self

    def source_for(self, standard: str) -> str:
        """The file's column name that holds the standard column `standard`."""
        for src, dst in self.column_mapping.items():
            if dst == standard:
                return src
        return standard


class Manifest(_Strict):
    strategies: list[StrategySpec] = Field(min_length=1)

    @field_validator("strategies")
    @classmethod
    def _unique_ids(cls, v: list[StrategySpec]) -> list[StrategySpec]:
        ids = [s.id for s in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"strategy ids must be unique; repeated: {', '.join(dupes)}")
        return v


def parse_blend(text: str) -> dict[str, float]:
    """Parse `drl=0.6,equal=0.4` into a dict; raise ValueError naming the bad part."""
    out: dict[str, float] = {}
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        sid, sep, value = part.partition("=")
        if not sep or not sid.strip():
            raise ValueError(f"expected ID=WEIGHT, got {part!r}")
        if sid.strip() in out:
            raise ValueError(f"{sid.strip()!r} is given twice")
        try:
            out[sid.strip()] = float(value)
        except ValueError:
            raise ValueError(f"weight of {sid.strip()!r} must be a number, got {value!r}") from None
    if not out:
        raise ValueError("expected at least one ID=WEIGHT")
    return out


def check_blend_weights(blend: dict[str, float]) -> dict[str, float]:
    """Blend weights are positive, finite and sum to 1 (within 1e-6); never silently rescaled."""
    for sid, w in blend.items():
        if not math.isfinite(w) or w <= 0:
            raise ValueError(f"weight of {sid!r} must be a positive number, got {w}")
    total = math.fsum(blend.values())
    if abs(total - 1.0) > 1e-6:
        weights = ", ".join(f"{k}={v:g}" for k, v in blend.items())
        raise ValueError(f"weights must sum to 1, got {total:.6g} ({weights})")
    return blend


class SignalBusConfig(_Strict):
    """Defaults for M1; the CLI flags and the DAG params override them."""

    manifest: ProjectPath = "config/strategy_manifest.yaml"
    mode: Literal["select", "blend"] = "select"
    pick: str | None = None
    blend: dict[str, float] | None = None
    blend_missing: Literal["error", "renormalize"] = Field(
        "error",
        description=(
            "blend mode, a strategy without rows for the date: 'error' stops the run; "
            "'renormalize' blends the others with their weights rescaled to sum to 1"
        ),
    )
    output_dir: ProjectPath = "data/intermediate"
    cache_dir: ProjectPath = "data/cache/signals"
    max_weight: float = Field(
        DEFAULT_MAX_WEIGHT,
        gt=0,
        description=(
            "the largest weight a strategy file may hold before normalization; weights are fractions, "
            "percentages or basis points, so a larger one is an export or unit error, not a position"
        ),
    )

    @field_validator("blend")
    @classmethod
    def _blend_ok(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        return None if v is None else check_blend_weights(v)

    @model_validator(mode="after")
    def _mode_has_its_argument(self) -> SignalBusConfig:
        if self.mode == "select" and not self.pick:
            raise ValueError("mode 'select' needs 'pick' (a strategy id)")
        if self.mode == "blend" and not self.blend:
            raise ValueError("mode 'blend' needs 'blend' (strategy id: weight)")
        return self


class PathsConfig(_Strict):
    logs: ProjectPath = "logs"
    mapping: ProjectPath = "data/mapping/instrument_map.csv"
    outputs: ProjectPath = "data/outputs"
    reports: ProjectPath = "data/reports"
    daily_bars: ProjectPath = Field(
        "data/market/daily_bars.csv",
        description="daily bars (symbol,date,...,close): "
        "an offline plan's prices when no price file or --fill-price is given",
    )


class RebalanceConfig(_Strict):
    """M2 sizing (see rebalance.py)."""

    cash_buffer_pct: float = Field(0.02, ge=0, lt=1, description="investable = equity × (1 − this)")
    min_trade_value: float = Field(1.0, ge=0, description="skip trades worth less (USD) ...")
    min_trade_pct: float = Field(0.001, ge=0, lt=1, description="... or less than this share of equity")
    fractional: bool = Field(False, description="fractional shares (then simple market DAY orders, no brackets)")
    price_source: Literal["broker", "file"] = "broker"
    prices_file: ProjectPath | None = Field(None, description="CSV symbol,price for price_source=file")


class BracketConfig(_Strict):
    """Take-profit / stop-loss of bracket buys, as a share of the reference price."""

    take_profit_pct: float = Field(0.05, gt=0)
    stop_loss_pct: float = Field(0.03, gt=0, lt=1)
    time_in_force: Literal["day", "gtc"] = Field(
        "gtc",
        description="the entry's and its legs' (Alpaca gives the legs the entry's); day: they expire at the close",
    )
    entry_type: Literal["market", "limit"] = Field(
        "market",
        description="the bracket's entry: market (the spec's first version), or limit at the price now "
        "plus entry_limit_offset_pct (the take-profit and stop-loss around that limit)",
    )
    entry_limit_offset_pct: float = Field(0.0, ge=0, lt=0.1, description="a limit entry's price above the price now")

    @field_validator("time_in_force", mode="before")
    @classmethod
    def _bracket_time_in_force(cls, v: Any) -> Any:
        if isinstance(v, str) and v.lower() in ("ioc", "fok", "opg", "cls"):
            raise ValueError(f"{v} is refused: Alpaca accepts only day or gtc for bracket orders")
        return v


class VolatilityConfig(_Strict):
    max_annualized: float | None = Field(
        None, gt=0, description="reject buys above this realized volatility; none: off"
    )
    lookback_days: int = Field(20, ge=5, le=260)
    scope: Literal["symbol", "market"] = "symbol"
    market_symbol: str = "SPY"

    @field_validator("market_symbol")
    @classmethod
    def _symbol_syntax(cls, v: str) -> str:
        return checked_symbol(v)


class RiskConfig(_Strict):
    """The pre-trade gate (see risk/gate.py)."""

    max_share_per_order: float = Field(10_000, gt=0)
    max_notional_per_order: float = Field(100_000, gt=0)
    price_tolerance_pct: float = Field(0.02, ge=0, lt=1)
    reject_if_price_missing: bool = True
    max_total_notional: float = Field(1_000_000, gt=0)
    min_cash_buffer_pct: float = Field(0.01, ge=0, lt=1)
    max_turnover_pct: float = Field(2.0, gt=0)
    max_weight_per_name: float | None = Field(
        None,
        gt=0,
        le=1,
        description="reject a buy that takes a name above this share of equity; none: off (the spec "
        "sets no such limit: M1's targets decide the weights)",
    )
    blacklist: list[str] = Field(default_factory=list)
    max_gross_exposure: float | None = Field(
        None,
        gt=0,
        description="(long + |short|) / equity after the batch; above it the batch's buys are rejected "
        "and the day's books alert; none: off",
    )
    max_net_exposure: float | None = Field(
        None, gt=0, description="(long − |short|) / equity after the batch; the same; none: off"
    )
    max_margin_pct: float | None = Field(
        None,
        ge=0,
        description="borrowed cash (negative cash) / equity after the batch: the spec's 融资活动超限; "
        "the same; none: off",
    )
    volatility: VolatilityConfig = VolatilityConfig()
    reject_batch_on_any: bool = False
    kill_switch: bool = Field(False, description="true: no order passes the gate")
    kill_switch_file: ProjectPath = Field("config/KILL_SWITCH", description="if this file exists, no order passes")

    @field_validator("blacklist")
    @classmethod
    def _symbols_syntax(cls, v: list[str]) -> list[str]:
        return [checked_symbol(s) for s in v]


class BrokerConfig(_Strict):
    """Where the broker is. Credentials never go here: environment or Airflow Connection only."""

    trading_url: str | None = Field(None, description="default: $APCA_API_BASE_URL, else Alpaca paper")
    data_url: str | None = Field(None, description="default: $APCA_API_DATA_URL, else Alpaca data")
    allow_live: bool = Field(False, description="the live endpoint also needs this switch")
    timeout_s: float = Field(10.0, gt=0)
    requests_per_minute: int = Field(190, ge=1)
    data_feed: str | None = None
    trade_updates: bool = Field(
        True,
        description="listen to Alpaca's trade_updates stream, so cancelled and finished orders are not read back",
    )


class LedgerConfig(_Strict):
    """Where the ledger database is. No password here: `$PAPER_TRADING_DB_URL` or the Airflow
    Connection `paper_trading_ledger` carry one."""

    url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///data/ledger.sqlite (relative to the root)"
    )

    @field_validator("url")
    @classmethod
    def _sqlite_file_inside_project(cls, v: str | None, info: ValidationInfo) -> str | None:
        """A SQLite file named here is a project path like any other (a server database is not)."""
        if v is None or not v.lower().startswith("sqlite"):
            return v
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            database = make_url(v).database
        except ArgumentError:
            return v  # not a URL: ledger_url says so when the ledger is opened
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                _inside_project(database, info)
            except ValueError as exc:
                raise ValueError(f"the SQLite file {exc}") from None
        return v


class ExecutionConfig(_Strict):
    """M4: how approved orders are sent (see execution.py)."""

    client_order_prefix: str = Field(
        "pt", pattern=r"^[a-z0-9]{1,8}$", description="client_order_id = PREFIX-YYYYMMDD-SYMBOL-side-rN"
    )
    enable_client_order_id: bool = Field(
        True,
        description="the spec's switch (idempotency.enable_client_order_id); only true: random ids are unsafe "
        "under retries",
    )

    @field_validator("enable_client_order_id")
    @classmethod
    def _deterministic_ids(cls, v: bool) -> bool:
        if not v:
            raise ValueError(NO_RANDOM_IDS)
        return v

    time_in_force: Literal["day", "gtc"] = Field(
        "day", description="simple orders' (sells, covers, fractional buys); a fractional order is always day (Alpaca)"
    )
    reprotect: bool = Field(True, description="protect held names: each ends a run covered exactly by its exits")
    protection: Literal["per_lot", "whole_position"] = Field(
        "per_lot",
        description="per_lot: every buy is a bracket over the shares it buys, earlier exits stay; "
        "whole_position: every change re-bases one OCO over the whole position",
    )
    exit_renew_days: int = Field(
        7,
        ge=1,
        le=80,
        description="exits that Alpaca's 90-day GTC limit lapses within this many days are re-placed by the run",
    )
    cancel_timeout_s: float = Field(30.0, gt=0, description="wait for cancelled orders and legs to be cancelled")
    sell_timeout_s: float = Field(120.0, gt=0, description="wait for the sells before the buys")
    buy_timeout_s: float = Field(120.0, gt=0, description="wait for the buys before re-protecting")
    fills_timeout_s: float = Field(3600.0, gt=0, description="wait_for_fills gives up (and reports) after this")
    poll_interval_s: float = Field(1.0, gt=0)
    market_buy_collar: float = Field(
        0.025, ge=0, lt=0.5, description="market buys cost up to this much above the price (buying power)"
    )
    lock_wait_s: float = Field(60.0, ge=0, description="a second run of the same date waits this long, then stops")
    lock_lease_s: float = Field(
        180.0, gt=0, description="renewed while a run works; a killed run's lock is taken over after this"
    )
    submit_attempts: int = Field(5, ge=1, le=20, description="tries of one submit on 429 / unknown outcome")
    max_backoff_s: float = Field(60.0, gt=0, description="longest wait between two tries (a 429's reset included)")
    require_approval: bool = Field(
        False,
        description="a real run waits for a person's Approve in Airflow's UI "
        "(or REST API) before sending; a DAG param can ask per run",
    )
    approval_timeout_minutes: float = Field(
        60.0, gt=0, le=24 * 60, description="no answer by then is a Reject: nothing is sent"
    )


class ReportConfig(_Strict):
    """M6: what the performance is measured against (the spec: SPY, "from Alpaca or an external file")."""

    benchmark: str = Field("SPY", description="the benchmark's symbol")
    keep_dashboards: int = Field(
        60,
        ge=1,
        description="dated dashboards (summary_dashboard_YYYYMMDD.html) kept in paths.reports: the newest N "
        "dates and the one just written; older ones are deleted (summary_dashboard.html always stays)",
    )
    benchmark_file: ProjectPath | None = Field(
        None,
        description="CSV of the benchmark's daily closes (date,close; a symbol column, if any, is filtered "
        "to the benchmark); none: the broker's daily bars",
    )

    @field_validator("benchmark")
    @classmethod
    def _benchmark_syntax(cls, v: str) -> str:
        return checked_symbol(v)


class ReconcileConfig(_Strict):
    """M5: when the books of a day are made (the spec's M3 allows both)."""

    timing: Literal["t0", "t1"] = Field("t0", description="t0: after the close; t1: before the next open")
    after_close_minutes: float = Field(15.0, ge=0, le=600, description="t0: this long after the close")
    before_open_minutes: float = Field(60.0, ge=0, le=900, description="t1: this long before the next open")


_APPRISE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")


class AlertsConfig(_Strict):
    """M6 alerts (see alerts.py for the rules, the file and the de-duplication).

    `channels` are apprise URLs (slack://..., feishu://..., wecombot://..., mailto://...,
    json://host/path, ...). They carry tokens, so prefer `$PAPER_TRADING_ALERT_URLS` to this file;
    both are used. A bad URL, or a value of the wrong type anywhere under `channels`, is reported
    by its position (and type) only, never by its value."""

    channels: list[str] = Field(default_factory=list, description="apprise URLs; with $PAPER_TRADING_ALERT_URLS")
    timeout_s: float = Field(
        10.0,
        gt=0,
        le=120,
        description="delivery of a step's alerts (one notification) to all channels gives up after this",
    )
    daily_drawdown: float = Field(-0.03, gt=-1, lt=0, description="alert when the day's return is at or below this")
    plan_deviation_pct: float = Field(
        0.05,
        ge=0,
        le=1,
        description="alert when an order's filled quantity is off the planned one by more than this share of it",
    )

    @field_validator("channels")
    @classmethod
    def _apprise_urls(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            if not _APPRISE_URL.match(url.strip()):
                raise ValueError(
                    f"channels[{i}] is not an apprise URL (scheme://...); the value is not shown, it may hold a token"
                )
        return [url.strip() for url in v]


class SchedulerConfig(_Strict):
    """When the day runs (the spec's M3): the DAG's timetable and `run --daemon`, New York time."""

    time: str = Field(
        DEFAULT_SCHEDULER_TIME,
        pattern=f"^{HHMM_PATTERN}$",
        description="HH:MM New York time on each XNYS session (after the 09:30 open for real orders)",
    )


class AppConfig(_Strict):
    signal_bus: SignalBusConfig | None = Field(
        None, description="M1's defaults; none: the CLI's --mode/--pick (as the spec's run_signal_bus.py takes them)"
    )
    scheduler: SchedulerConfig = SchedulerConfig()
    paths: PathsConfig = PathsConfig()
    rebalance: RebalanceConfig = RebalanceConfig()
    bracket: BracketConfig = BracketConfig()
    risk: RiskConfig = RiskConfig()
    broker: BrokerConfig = BrokerConfig()
    ledger: LedgerConfig = LedgerConfig()
    execution: ExecutionConfig = ExecutionConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    report: ReportConfig = ReportConfig()
    alerts: AlertsConfig = AlertsConfig()


def _loc(loc: tuple[Any, ...], data: Any) -> str:
    """`('strategies', 1, 'path')` -> `strategies[1].path` (with the strategy id when known)."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "id" in node:
                out += f"(id={node['id']})"
        else:
            out += ("." if out else "") + str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def _kind_of(value: Any) -> str:
    """What a value is, in words, without the value (for inputs that may be secrets)."""
    if isinstance(value, bool):
        return "a boolean"
    return {
        str: "text",
        int: "a whole number",
        float: "a number",
        dict: "a mapping",
        list: "a list",
        type(None): "nothing",
    }.get(type(value), f"a {type(value).__name__}")


def _one_line(path: Path, exc: ValidationError, data: Any, root: Path) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = _loc(tuple(first["loc"]), data) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    kind, given = first["type"], first.get("input")
    if tuple(first["loc"][:2]) == ("alerts", "channels") and kind not in ("missing", "extra_forbidden"):
        # channel URLs carry tokens: the input is never shown here, whatever its shape; its type only
        where = "alerts.channels" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"][2:])
        msg = f"{msg[0].lower()}{msg[1:]}"
        if not kind.startswith("value_error"):
            msg += f", got {_kind_of(given)} (not shown: channel URLs hold tokens)"
    elif kind == "missing":
        msg = "is required"
    elif kind == "extra_forbidden":
        msg = "is not a known field"
    elif isinstance(given, bool) and kind in ("float_type", "int_type", "string_type"):
        expected = {"float_type": "a number", "int_type": "a whole number", "string_type": "text"}[kind]
        msg = (
            f"expected {expected}, got the boolean {str(given).lower()} "
            "(YAML reads yes/no/on/off/true/false as booleans)"
        )
    elif kind.endswith("_type") or kind in ("finite_number", "int_from_float", "literal_error", "enum"):
        msg = f"{msg[0].lower()}{msg[1:]}, got {given!r}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{display_path(path, root)}: {where}: {msg}{more}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load`, except that a key given twice in one mapping is an error.

    PyYAML keeps the last of two equal keys without a word, so a pasted-in second `risk:` block
    or a repeated `max_share_per_order:` would silently replace the first.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let SafeLoader report it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first on line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, root: Path) -> Any:
    shown = display_path(path, root)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a directory, expected a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read file ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{shown}:{where} not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_manifest(path: str | Path, root: str | Path | None = None) -> list[StrategySpec]:
    """Read and validate the strategy manifest; paths are resolved against the project root."""
    root = Path(root).resolve() if root else project_root()
    path = Path(path) if Path(path).is_absolute() else root / path
    data = _read_yaml(path, root)
    try:
        return Manifest.model_validate(data, context={"root": root}).strategies
    except ValidationError as exc:
        raise ConfigError(_one_line(path, exc, data, root)) from None


NO_RANDOM_IDS = (
    "false is refused: deterministic client_order_ids are always on, because a random id is unsafe "
    "under retries (a retried submit could send the order twice)"
)
#: The specification's config keys (v1.2, §M4 1.2-2.4) that are ours under another name:
#: (section, key) -> (our section, our key, how its values translate).
SPEC_ALIASES: dict[tuple[str, str], tuple[str, str, dict | None]] = {
    ("idempotency", "enable_client_order_id"): ("execution", "enable_client_order_id", None),
    ("idempotency", "prefix"): ("execution", "client_order_prefix", None),
    ("risk", "price_source"): ("rebalance", "price_source", {"alpaca_snapshot": "broker", "file": "file"}),
    ("risk", "prices_file"): ("rebalance", "prices_file", None),
}


def _spec_aliases(data: dict, shown: str) -> dict:
    """The spec's key names moved onto ours, each with a one-line note in the log; a key given under
    both names with two values, an unknown value of a translated key, or `enable_client_order_id:
    false` is a ConfigError naming the spec's key."""
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    for (section, key), (ours, our_key, values) in SPEC_ALIASES.items():
        block = data.get(section)
        if not isinstance(block, dict) or key not in block:
            continue
        value = block.pop(key)
        if key == "enable_client_order_id" and value is False:
            raise ConfigError(f"{shown}: {section}.{key}: {NO_RANDOM_IDS}")
        if values is not None:
            if value not in values:
                raise ConfigError(f"{shown}: {section}.{key}: expected one of {', '.join(values)}, got {value!r}")
            value = values[value]
        target = data.setdefault(ours, {})
        if not isinstance(target, dict):
            continue  # the section's own error is reported by validation
        if our_key in target and target[our_key] != value:
            raise ConfigError(
                f"{shown}: {section}.{key} and {ours}.{our_key} are one setting with two values "
                f"({value!r}, {target[our_key]!r}): keep one"
            )
        target[our_key] = value
        log.info(
            "%s: %s.%s is the spec's name of %s.%s%s",
            shown,
            section,
            key,
            ours,
            our_key,
            f" ({_spec_value_note(values, value)})" if values else "",
        )
    if isinstance(data.get("idempotency"), dict):
        if extra := sorted(data["idempotency"]):
            raise ConfigError(
                f"{shown}: idempotency.{extra[0]}: is not a known field (idempotency takes "
                "enable_client_order_id and prefix)"
            )
        del data["idempotency"]
    return data


def _spec_value_note(values: dict, value: str) -> str:
    """`alpaca_snapshot is broker`: the spec's value and ours, when they differ."""
    spec = next(k for k, v in values.items() if v == value)
    return f"{spec} is {value}" if spec != value else value


def load_config(path: str | Path, root: str | Path | None = None) -> AppConfig:
    """Read and validate `config.yaml`; the spec's own key names are accepted (`SPEC_ALIASES`)."""
    root = Path(root).resolve() if root else project_root()
    path = Path(path) if Path(path).is_absolute() else root / path
    data = _spec_aliases(_read_yaml(path, root), display_path(path, root))
    try:
        return AppConfig.model_validate(data, context={"root": root})
    except ValidationError as exc:
        raise ConfigError(_one_line(path, exc, data, root)) from None


#: The config file every command reads unless given another, relative to the project root.
DEFAULT_CONFIG = "config/config.yaml"


def load_settings(root: Path, config_path: str | Path | None) -> AppConfig | None:
    """The config file, or None when the default one is absent (every setting then comes from flags).

    Parsed once per content: every step of a day (and every day of a replay) reads the same file,
    and its YAML parse is most of a short step's time. The cache is keyed by the file's bytes, so
    an edited config is read anew, and each caller gets its own copy."""
    if config_path is None:
        if not (root / DEFAULT_CONFIG).exists():
            return None
        config_path = DEFAULT_CONFIG
    path = Path(config_path) if Path(config_path).is_absolute() else root / config_path
    try:
        key = (str(root), str(path), path.read_bytes())
    except OSError:
        return load_config(config_path, root)  # it says what is wrong with the file
    if key not in _SETTINGS:
        if len(_SETTINGS) >= 8:
            _SETTINGS.clear()
        _SETTINGS[key] = load_config(config_path, root)
    return _SETTINGS[key].model_copy(deep=True)


_SETTINGS: dict[tuple[str, str, bytes], AppConfig] = {}


def config_or_defaults(settings: AppConfig | None) -> AppConfig:
    """The config file's settings, or every default when there is no config file."""
    return settings or AppConfig.model_construct(signal_bus=None)
