"""The committed sample data is what its generator makes, and has the promised shape."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_data", REPO / "data" / "make_sample_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_files(tmp_path):
    paths = _generator().generate(tmp_path)
    data = REPO / "data"
    assert paths["drl"].read_bytes() == (data / "raw_signals" / "drl_weight.csv").read_bytes()
    assert paths["instrument_map"].read_bytes() == (data / "mapping" / "instrument_map.csv").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(paths["ml"]), pd.read_parquet(data / "raw_signals" / "ml_alpha.parquet"))
    pd.testing.assert_frame_equal(pd.read_excel(paths["equal"]), pd.read_excel(data / "raw_signals" / "equally_weighted.xlsx"))


def test_sample_has_thirty_names_two_years_and_revised_days():
    data = REPO / "data"
    mapping = pd.read_csv(data / "mapping" / "instrument_map.csv", dtype={"gvkey": str})
    assert len(mapping) == 30 and mapping["gvkey"].str.fullmatch(r"\d{6}").all() and mapping["symbol"].is_unique
    assert {"gvkey", "symbol", "sector"} <= set(mapping.columns)
    ml = pd.read_parquet(data / "raw_signals" / "ml_alpha.parquet")
    assert {"strategy_id", "asof", "confidence"} <= set(ml.columns)
    versions = ml.groupby("trade_date")["asof"].nunique()
    assert (versions == 2).sum() > 10 and ml["trade_date"].nunique() > 480
