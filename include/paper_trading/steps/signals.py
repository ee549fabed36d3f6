"""The M1 steps: is every strategy published for the date (the sensor's check), and the signal bus."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from paper_trading.config import (
    DEFAULT_MAX_WEIGHT,
    SignalBusConfig,
    check_blend_weights,
    load_manifest,
    parse_blend,
)
from paper_trading.errors import ConfigError
from paper_trading.signals.bus import default_output_path, run_signal_bus
from paper_trading.signals.readiness import StrategyReadiness, check_signals
from paper_trading.steps.common import StepContext, run_step


def _manifest_path(ctx: StepContext, manifest: str | Path | None) -> Path:
    """The manifest given, else the config's, else the default one; relative to the project root."""
    defaults = ctx.settings.signal_bus if ctx.settings else None
    manifest = manifest or (defaults.manifest if defaults else SignalBusConfig.model_fields["manifest"].default)
    path = ctx.path(manifest)
    assert path is not None  # (None only for an empty path)
    return path


def _cache_dir(ctx: StepContext) -> Path:
    defaults = ctx.settings.signal_bus if ctx.settings else None
    return ctx.root / (defaults.cache_dir if defaults else "data/cache/signals")


def consolidate_signals(
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
    known_at: dt.datetime | None = None,
) -> dict:
    """M1 for one trade date. Returns a small summary (targets path, assets, strategy set).

    `blend` is a dict or the CLI's `ID=W,...` text. `known_at` (aware): read the strategy files as
    they were at that instant — rows whose `asof` is later are ignored (a replay's point in time);
    None, the DAG's and `run`'s: the files as they are.
    """
    with run_step("signal_bus", trade_date, root=root, config_path=config_path, run_id=run_id, debug=debug) as ctx:
        defaults = ctx.settings.signal_bus if ctx.settings else None
        mode = mode or (defaults.mode if defaults else None)
        if mode is None:
            where = "signal_bus.mode in the config" if ctx.settings else "config/config.yaml (not found)"
            raise ConfigError(f"no --mode given and no {where}")
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
        output_dir = ctx.root / (defaults.output_dir if defaults else "data/intermediate")
        out_path = ctx.path(out) or default_output_path(output_dir, trade_date)
        manifest_path = _manifest_path(ctx, manifest)
        specs = load_manifest(manifest_path, ctx.root)
        ctx.log.info("M1 %s: mode=%s %s%s", trade_date, mode, f"pick={pick}" if mode == "select" else f"blend={blend}",
                     f"; as known at {known_at.isoformat()}" if known_at is not None else "")
        result = run_signal_bus(
            specs,
            trade_date,
            mode=mode,
            pick=pick,
            blend=blend,
            blend_missing=blend_missing,
            out_path=out_path,
            cache_dir=_cache_dir(ctx),
            run_id=run_id,
            manifest_label=ctx.shown(manifest_path),
            max_weight=defaults.max_weight if defaults else DEFAULT_MAX_WEIGHT,
            root=ctx.root,
            known_at=known_at,
        )
        return result.summary()


def signals_ready(
    trade_date: dt.date,
    *,
    root: str | Path | None = None,
    config_path: str | Path | None = None,
    run_id: str = "cli",
    manifest: str | Path | None = None,
    known_at: dt.datetime | None = None,
) -> tuple[bool, list[StrategyReadiness]]:
    """Whether every strategy of the manifest has published for `trade_date` (the sensor's check).

    Not published yet (no file, an empty file, no rows for the date) is "not ready"; a published
    file that cannot be read raises its InputError: waiting would not fix it. `known_at` (aware):
    as published by that instant (rows whose `asof` is later do not count; a replay's point in
    time); None, the DAG's sensor's: the files as they are.
    """
    with run_step("wait_for_signals", trade_date, root=root, config_path=config_path, run_id=run_id) as ctx:
        specs = load_manifest(_manifest_path(ctx, manifest), ctx.root)
        statuses = check_signals(specs, trade_date, _cache_dir(ctx), known_at)
        for s in statuses:
            ctx.log.info("%s %s: %s (%s)", "ready" if s.ready else "waiting", s.strategy_id, s.path, s.reason)
        return all(s.ready for s in statuses), statuses
