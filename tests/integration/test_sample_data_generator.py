"""The committed sample data is what its generator (data/make_sample_data.py) makes: each test
regenerates the whole set, two years of bars and signals, and compares it with the committed files.
Their shape: tests/unit/test_sample_data.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"


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


def test_generator_reproduces_the_committed_bars(tmp_path):
    paths = _generator().generate(tmp_path)
    assert paths["bars"].read_bytes() == (REPO / "data" / "market" / "daily_bars.csv").read_bytes()


def test_generator_reproduces_the_committed_dividends(tmp_path):
    paths = _generator().generate(tmp_path)
    assert paths["dividends"].read_bytes() == (DATA / "market" / "dividends.csv").read_bytes()
