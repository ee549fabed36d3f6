"""The steps of the daily run, as plain functions: what the CLI and the DAG tasks call.

Each step resolves its settings (config file, then explicit overrides), opens its step log
(`logs/<step>_YYYYMMDD.log` + stderr) and calls the core functions. Arguments and return values
are plain (paths, dates, small dicts), so an Airflow task passes them through XCom unchanged.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from .config import AppConfig, SignalBusConfig, check_blend_weights, load_config, load_manifest, parse_blend
from .errors import ConfigError, PaperTradingError
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
            manifest = manifest or (defaults.manifest if defaults else SignalBusConfig.model_fields["manifest"].default)
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
            out_path = Path(out) if out else default_output_path(output_dir, trade_date)
            if not out_path.is_absolute():
                out_path = root / out_path
            manifest_path = Path(manifest) if Path(manifest).is_absolute() else root / manifest
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
        manifest = manifest or (defaults.manifest if defaults else SignalBusConfig.model_fields["manifest"].default)
        manifest_path = Path(manifest) if Path(manifest).is_absolute() else root / manifest
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
