"""Small helpers that write strategy files and manifests for one test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

CSV_MAPPING = {"trade_date": "trade_date", "gvkey": "asset_id", "weights": "target_weight"}


def write_csv(root: Path, name: str, rows: list[tuple], columns=("trade_date", "gvkey", "weights")) -> str:
    path = root / "data" / "raw_signals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return str(path.relative_to(root))


def write_manifest(root: Path, strategies: list[dict]) -> Path:
    path = root / "config" / "strategy_manifest.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"strategies": strategies}, sort_keys=False))
    return path


def csv_strategy(sid: str, path: str, **extra) -> dict:
    return {"id": sid, "path": path, "format": "csv", "column_mapping": dict(CSV_MAPPING), **extra}
