"""The steps of the daily run, as plain functions: what the CLI and the DAG tasks call.

Each step resolves its settings (config file, then explicit overrides), opens its step log
(`logs/<step>_YYYYMMDD.log` + stderr) and calls the core functions. Arguments and return values
are plain (paths, dates, small dicts), so an Airflow task passes them through XCom unchanged.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from .config import AppConfig, SignalBusConfig, check_blend_weights, load_config, load_manifest, parse_blend
from .errors import ConfigError, InputError, PaperTradingError
from .logging_setup import step_logging
from .paths import display_path, project_root
from .readiness import StrategyReadiness, check_signals
from .signal_bus import default_output_path, run_signal_bus

DEFAULT_CONFIG = "config/config.yaml"


def _load_settings(root: Path, config_path: str | Path | None) -> AppConfig | None:
    """The config file, or None when the default one is absent (every setting then comes from flags)."""
    if config_path is None:
        if not (root / DEFAULT_CONFIG).exists():
            return None
        config_path = DEFAULT_CONFIG
    return load_config(config_path, root)


def _log_dir(root: Path, settings: AppConfig | None) -> Path:
    return root / (settings.paths.logs if settings else "logs")


def _bus_settings(settings: AppConfig | None) -> SignalBusConfig | None:
    return settings.signal_bus if settings else None


def _manifest_path(root: Path, defaults: SignalBusConfig | None, manifest: str | Path | None) -> Path:
    """The manifest given, else the config's, else the default one; relative to the project root."""
    manifest = manifest or (defaults.manifest if defaults else SignalBusConfig.model_fields["manifest"].default)
    return _resolve(root, manifest)


def signal_bus(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    manifest: str | Path | None = None,
    mode: str | None = None,
    pick: str | None = None,
    blend: dict[str, float] | str | None = None,
    blend_missing: str | None = None,
    out: str | Path | None = None,
    debug: bool = False,
) -> dict:
    """M1 for one trade date. Returns a small summary (targets path, assets, strategy set).

    `blend` is a dict or the CLI's `ID=W,...` text.
    """
    root = Path(root).resolve() if root else project_root()
    settings = _load_settings(root, config_path)
    defaults = _bus_settings(settings)
    with step_logging("signal_bus", trade_date, run_id, _log_dir(root, settings), debug) as log:
        try:
            mode = mode or (defaults.mode if defaults else None)
            if mode is None:
                raise ConfigError("no --mode given and no signal_bus.mode in the config")
            pick = pick or (defaults.pick if defaults else None)
            if blend is not None:
                try:
                    blend = parse_blend(blend) if isinstance(blend, str) else blend
                    check_blend_weights(blend)
                except ValueError as exc:
                    raise ConfigError(f"--blend: {exc}") from None
            else:
                blend = defaults.blend if defaults else None
            blend_missing = blend_missing or (defaults.blend_missing if defaults else "error")
            output_dir = root / (defaults.output_dir if defaults else "data/intermediate")
            cache_dir = root / (defaults.cache_dir if defaults else "data/cache/signals")
            out_path = _resolve(root, out) or default_output_path(output_dir, trade_date)
            manifest_path = _manifest_path(root, defaults, manifest)
            specs = load_manifest(manifest_path, root)
            log.info("M1 %s: mode=%s %s", trade_date, mode, f"pick={pick}" if mode == "select" else f"blend={blend}")
            result = run_signal_bus(
                specs,
                trade_date,
                mode=mode,
                pick=pick,
                blend=blend,
                blend_missing=blend_missing,
                out_path=out_path,
                cache_dir=cache_dir,
                run_id=run_id,
                manifest_label=display_path(manifest_path, root),
            )
        except PaperTradingError as exc:
            log.error("%s", exc)
            raise
        return result.summary()


def signals_ready(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    manifest: str | Path | None = None,
) -> tuple[bool, list[StrategyReadiness]]:
    """Whether every strategy of the manifest has published for `trade_date` (the sensor's check)."""
    root = Path(root).resolve() if root else project_root()
    settings = _load_settings(root, config_path)
    defaults = _bus_settings(settings)
    with step_logging("wait_for_signals", trade_date, run_id, _log_dir(root, settings)) as log:
        manifest_path = _manifest_path(root, defaults, manifest)
        try:
            specs = load_manifest(manifest_path, root)
        except PaperTradingError as exc:
            log.error("%s", exc)
            raise
        cache_dir = root / (defaults.cache_dir if defaults else "data/cache/signals")
        statuses = check_signals(specs, trade_date, cache_dir)
        for s in statuses:
            log.info("%s %s: %s (%s)", "ready" if s.ready else "waiting", s.strategy_id, s.path, s.reason)
        return all(s.ready for s in statuses), statuses


# ------------------------------------------------------------------------------------ M2, gate


def _config(settings: AppConfig | None) -> AppConfig:
    """The config file's settings, or every default when there is no config file."""
    return settings or AppConfig.model_construct(signal_bus=None)


def output_paths(root: Path, settings: AppConfig | None, trade_date: dt.date) -> dict[str, Path]:
    out = root / _config(settings).paths.outputs
    stamp = f"{trade_date:%Y%m%d}"
    return {
        "targets": root / (settings.signal_bus.output_dir if settings and settings.signal_bus else "data/intermediate")
        / f"targets_consolidated_{stamp}.parquet",
        "plan": out / f"rebalance_plan_{stamp}.csv",
        "orders": out / f"planned_orders_{stamp}.csv",
        "summary": out / f"plan_summary_{stamp}.json",
        "risk_report": out / f"risk_report_{stamp}.csv",
        "approved": out / f"approved_orders_{stamp}.csv",
    }


def make_broker(settings: AppConfig | None, key: str | None = None, secret: str | None = None,
                trading_url: str | None = None, data_url: str | None = None):
    """The Alpaca adapter. Credentials as given (the DAG passes an Airflow Connection's), else from
    the environment; URLs as given, else from the environment, else from the config."""
    from .broker import AlpacaBroker

    b = _config(settings).broker
    env = os.environ
    return AlpacaBroker(key or env.get("APCA_API_KEY_ID", ""), secret or env.get("APCA_API_SECRET_KEY", ""),
                        trading_url or env.get("APCA_API_BASE_URL") or b.trading_url,
                        data_url or env.get("APCA_API_DATA_URL") or b.data_url,
                        allow_live=b.allow_live, timeout=b.timeout_s, requests_per_minute=b.requests_per_minute,
                        data_feed=b.data_feed)


def broker_for(root: str | Path | None = None, config_path: str | Path | None = None, **credentials):
    """`make_broker` with the project's config (for callers that hold credentials, e.g. the DAG)."""
    root = Path(root).resolve() if root else project_root()
    return make_broker(_load_settings(root, config_path), **credentials)


def _resolve(root: Path, path: str | Path | None) -> Path | None:
    if path is None:
        return None
    return Path(path) if Path(path).is_absolute() else root / path


def plan(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    targets: str | Path | None = None,
    equity: float | None = None,
    cash: float | None = None,
    prices: str | Path | None = None,
    positions: str | Path | None = None,
    fill_price: float | None = None,
    broker=None,
    debug: bool = False,
) -> dict:
    """M2: the day's targets -> rebalance plan and planned orders.

    Online (the default) it reads equity, cash, positions and prices from the broker. Offline —
    the spec's one-click dry run without Alpaca — it takes `equity`, optional `positions` (CSV) and
    prices from `prices` (CSV) or `fill_price` (one price for every symbol).
    """
    import json

    import pandas as pd

    from .atomic import atomic_path, write_text_atomic
    from .inputs import read_instrument_map, read_positions, read_prices
    from .rebalance import PlanSettings, plan_rebalance
    from .signal_bus import read_targets

    root = Path(root).resolve() if root else project_root()
    settings = _load_settings(root, config_path)
    cfg = _config(settings)
    paths = output_paths(root, settings, trade_date)
    with step_logging("plan", trade_date, run_id, _log_dir(root, settings), debug) as log:
        try:
            targets_path = _resolve(root, targets) or paths["targets"]
            if not targets_path.is_file():
                raise InputError(f"{display_path(targets_path, root)}: targets file not found (run signal-bus first)")
            frame = read_targets(targets_path)
            mapping = read_instrument_map(root / cfg.paths.mapping)
            offline = equity is not None
            prices_path = _resolve(root, prices) or (
                _resolve(root, cfg.rebalance.prices_file) if cfg.rebalance.price_source == "file" else None)
            if offline:
                held = read_positions(_resolve(root, positions)) if positions else {}
                symbols = set(mapping["symbol"]) | set(held)
                if fill_price is not None:
                    price_map = {s: float(fill_price) for s in symbols}
                elif prices_path is not None:
                    price_map = read_prices(prices_path)
                else:
                    raise ConfigError("an offline plan (--equity) needs --prices CSV or --fill-price")
                cash_now = float(cash) if cash is not None else float(equity) - sum(
                    q * price_map.get(s, 0.0) for s, q in held.items())
                equity_now, source = float(equity), "offline"
            else:
                broker = broker or make_broker(settings)
                account = broker.account()
                equity_now, cash_now = float(account.equity), float(account.cash)
                held = {p.symbol: float(p.qty) for p in broker.positions()}
                wanted = set(mapping.loc[mapping["gvkey"].isin(frame["asset_id"]), "symbol"]) | set(held)
                if prices_path is not None:
                    price_map = read_prices(prices_path)
                else:
                    quotes, _missing = broker.latest_prices(wanted)
                    price_map = {s: float(q.price) for s, q in quotes.items()}
                source = "broker"
            result = plan_rebalance(frame, mapping, price_map, held, equity_now, cash_now, PlanSettings(
                cash_buffer_pct=cfg.rebalance.cash_buffer_pct, min_trade_value=cfg.rebalance.min_trade_value,
                min_trade_pct=cfg.rebalance.min_trade_pct, fractional=cfg.rebalance.fractional,
                take_profit_pct=cfg.bracket.take_profit_pct, stop_loss_pct=cfg.bracket.stop_loss_pct,
                bracket_time_in_force=cfg.bracket.time_in_force))
            for key, table in (("plan", result.plan), ("orders", result.orders)):
                with atomic_path(paths[key]) as tmp:
                    table.to_csv(tmp, index=False, float_format="%.10g")
            summary = {
                "trade_date": trade_date.isoformat(), "run_id": run_id, "source": source, "equity": equity_now,
                "cash": cash_now, "cash_after": result.cash_after, "positions": held,
                "orders": len(result.orders), "buys": int((result.orders["side"] == "buy").sum()),
                "sells": int((result.orders["side"] == "sell").sum()),
                "skipped": result.plan.loc[result.plan["action"] == "skip", ["symbol", "asset_id", "reason"]]
                .to_dict(orient="records"),
            }
            write_text_atomic(paths["summary"], json.dumps(summary, indent=2, sort_keys=True, default=str))
            log.info("plan: equity %.2f, cash %.2f -> %.2f after trades; %d sells, %d buys, %d skipped (%s)",
                     equity_now, cash_now, result.cash_after, summary["sells"], summary["buys"], len(summary["skipped"]),
                     ", ".join(sorted({s["reason"] for s in summary["skipped"]})) or "none")
            if debug:
                with pd.option_context("display.width", 200, "display.max_columns", 20):
                    log.debug("orders:\n%s", result.orders)
        except PaperTradingError as exc:
            log.error("%s", exc)
            raise
        return {"plan_path": str(paths["plan"]), "orders_path": str(paths["orders"]),
                "summary_path": str(paths["summary"]), **{k: summary[k] for k in ("orders", "buys", "sells")},
                "skipped": len(summary["skipped"])}


def risk(
    trade_date: dt.date,
    *,
    mode: str = "dry",
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    orders: str | Path | None = None,
    prices: str | Path | None = None,
    fill_price: float | None = None,
    broker=None,
    offline: bool = False,
    debug: bool = False,
) -> dict:
    """The pre-trade gate over the planned orders -> risk report and approved orders.

    Online it reads the account, positions, latest prices (and in real mode the clock and the
    calendar; daily bars when the volatility gate is on) from the broker. Offline (dry mode only)
    it takes equity, cash and positions from the plan's summary and prices from `prices` /
    `fill_price`.
    """
    import json

    import pandas as pd

    from .atomic import atomic_path
    from .inputs import read_prices
    from .rebalance import ORDER_COLUMNS
    from .risk import GateContext, RiskSettings, gate, preflight, realized_volatility

    if mode not in ("dry", "real"):
        raise ConfigError(f"mode must be dry or real, got {mode!r}")
    root = Path(root).resolve() if root else project_root()
    settings = _load_settings(root, config_path)
    cfg = _config(settings)
    rc = cfg.risk
    paths = output_paths(root, settings, trade_date)
    log_dir = _log_dir(root, settings)
    with step_logging("risk", trade_date, run_id, log_dir, debug) as log:
        try:
            orders_path = _resolve(root, orders) or paths["orders"]
            if not orders_path.is_file():
                raise InputError(f"{display_path(orders_path, root)}: planned orders not found (run plan first)")
            planned = pd.read_csv(orders_path, dtype={"symbol": str}, keep_default_na=False, na_values=[""])
            missing_cols = [c for c in ORDER_COLUMNS if c not in planned.columns]
            if missing_cols:
                raise InputError(f"{display_path(orders_path, root)}: missing column(s) {', '.join(missing_cols)}")
            kill = rc.kill_switch or (root / rc.kill_switch_file).exists()
            offline = offline or prices is not None or fill_price is not None
            if offline:
                if mode == "real":
                    raise ConfigError("real mode needs the broker: no offline prices for the risk gate")
                summary = json.loads(paths["summary"].read_text()) if paths["summary"].exists() else {}
                if "equity" not in summary:
                    raise InputError(f"{display_path(paths['summary'], root)}: plan summary not found (run plan first)")
                last = ({s: float(fill_price) for s in planned["symbol"]} if fill_price is not None
                        else read_prices(_resolve(root, prices)))
                equity, cash, held = summary["equity"], summary["cash"], summary.get("positions", {})
                failures = preflight(mode, {}, kill, None, None)
                vols: dict[str, float] = {}
            else:
                broker = broker or make_broker(settings)
                account = broker.account()
                equity, cash = float(account.equity), float(account.cash)
                held = {p.symbol: float(p.qty) for p in broker.positions()}
                quotes, _ = broker.latest_prices(set(planned["symbol"]))
                last = {s: float(q.price) for s, q in quotes.items()}
                market_open = session_today = is_today = None
                if mode == "real":
                    from .trading_calendar import exchange_date

                    clock = broker.clock()
                    market_open = clock.is_open
                    is_today = exchange_date(clock.timestamp) == trade_date
                    session_today = any(d.date == trade_date for d in broker.calendar(trade_date, trade_date))
                failures = preflight(mode, {"trading_blocked": account.trading_blocked,
                                            "account_blocked": account.account_blocked,
                                            "trade_suspended_by_user": account.trade_suspended_by_user},
                                     kill, market_open, session_today, is_today)
                vols = _volatilities(broker, planned, rc, trade_date, realized_volatility) \
                    if rc.volatility.max_annualized is not None else {}
            report = gate(planned, GateContext(mode, equity, cash, last, held, vols, failures), RiskSettings(
                max_share_per_order=rc.max_share_per_order, max_notional_per_order=rc.max_notional_per_order,
                price_tolerance_pct=rc.price_tolerance_pct, reject_if_price_missing=rc.reject_if_price_missing,
                max_total_notional=rc.max_total_notional, min_cash_buffer_pct=rc.min_cash_buffer_pct,
                max_turnover_pct=rc.max_turnover_pct, max_weight_per_name=rc.max_weight_per_name,
                blacklist=tuple(s.upper() for s in rc.blacklist), vol_lookback_days=rc.volatility.lookback_days,
                vol_max_annualized=rc.volatility.max_annualized, vol_scope=rc.volatility.scope,
                vol_market_symbol=rc.volatility.market_symbol, reject_batch_on_any=rc.reject_batch_on_any))
            with atomic_path(paths["risk_report"]) as tmp:
                report.to_csv(tmp, index=False, float_format="%.10g")
            approved = report[report["verdict"] == "approved"][ORDER_COLUMNS]
            with atomic_path(paths["approved"]) as tmp:
                approved.to_csv(tmp, index=False, float_format="%.10g")
            rejected = int((report["verdict"] == "rejected").sum())
            if failures:
                from .alerts import raise_alert

                raise_alert(log_dir, trade_date, run_id, "risk",
                            f"{mode} run stopped before trading: {', '.join(failures)}; all {len(report)} order(s) rejected")
            for row in report[report["verdict"] == "rejected"].itertuples():
                log.warning("rejected %s %s %g: %s", row.side, row.symbol, row.qty, row.reasons)
            log.info("risk gate (%s): %d approved, %d rejected", mode, len(approved), rejected)
        except PaperTradingError as exc:
            log.error("%s", exc)
            raise
        return {"risk_report_path": str(paths["risk_report"]), "approved_path": str(paths["approved"]),
                "approved": len(approved), "rejected": rejected, "preflight": list(failures)}


def _volatilities(broker, planned, rc, trade_date: dt.date, realized_volatility) -> dict[str, float]:
    """Realized volatility per symbol to buy (or of the market symbol), from the broker's daily bars."""
    vol = rc.volatility
    symbols = [vol.market_symbol] if vol.scope == "market" else sorted(set(planned.loc[planned["side"] == "buy", "symbol"]))
    if not symbols:
        return {}
    start = trade_date - dt.timedelta(days=int(vol.lookback_days * 1.6) + 10)
    closes = broker.daily_closes(symbols, start, trade_date - dt.timedelta(days=1))
    out = {}
    for symbol, rows in closes.items():
        value = realized_volatility([float(c) for _, c in rows], vol.lookback_days)
        if value is not None:
            out[symbol] = value
    return out
