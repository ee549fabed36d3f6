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


def test_generator_reproduces_the_committed_bars(tmp_path):
    paths = _generator().generate(tmp_path)
    assert paths["bars"].read_bytes() == (REPO / "data" / "market" / "daily_bars.csv").read_bytes()


def test_sample_has_thirty_one_names_two_years_and_revised_days():
    data = REPO / "data"
    mapping = pd.read_csv(data / "mapping" / "instrument_map.csv", dtype={"gvkey": str})
    assert len(mapping) == 31 and mapping["gvkey"].str.fullmatch(r"\d{6}").all() and mapping["symbol"].is_unique
    assert mapping["gvkey"].is_unique
    assert {"gvkey", "symbol", "sector"} <= set(mapping.columns)
    ml = pd.read_parquet(data / "raw_signals" / "ml_alpha.parquet")
    assert {"strategy_id", "asof", "confidence"} <= set(ml.columns)
    versions = ml.groupby("trade_date")["asof"].nunique()
    assert (versions == 2).sum() > 10 and ml["trade_date"].nunique() > 480


# ------------------------------------------------------------------ the replay's events

DATA = REPO / "data"
DELISTED_GVKEY, DELISTED_SYMBOL = "900001", "XDLX"


def _bars() -> pd.DataFrame:
    return pd.read_csv(DATA / "market" / "daily_bars.csv")


def _strategy_dates(gvkey: str) -> dict[str, tuple[str, str, int]]:
    drl = pd.read_csv(DATA / "raw_signals" / "drl_weight.csv", dtype={"gvkey": str})
    equal = pd.read_excel(DATA / "raw_signals" / "equally_weighted.xlsx", dtype={"gvkey": str})
    ml = pd.read_parquet(DATA / "raw_signals" / "ml_alpha.parquet")
    out = {}
    for name, frame, col in (("drl", drl, "gvkey"), ("equal", equal, "gvkey"), ("ml", ml, "asset_id")):
        days = pd.to_datetime(frame.loc[frame[col].str.zfill(6) == gvkey, "trade_date"]).dt.date
        out[name] = (days.min().isoformat(), days.max().isoformat(), days.nunique())
    return out


def test_delisted_name_is_fictional_and_mapped_to_an_unused_gvkey():
    mapping = pd.read_csv(DATA / "mapping" / "instrument_map.csv", dtype={"gvkey": str})
    [row] = mapping[mapping["symbol"] == DELISTED_SYMBOL].itertuples()
    assert row.gvkey == DELISTED_GVKEY and "fictional" in row.name
    assert (mapping["gvkey"] == DELISTED_GVKEY).sum() == 1


def test_delisted_name_is_in_every_strategy_from_october_1_to_november_14_only():
    sessions = 33  # XNYS sessions 2025-10-01 .. 2025-11-14
    assert _strategy_dates(DELISTED_GVKEY) == {
        name: ("2025-10-01", "2025-11-14", sessions) for name in ("drl", "equal", "ml")}


def test_delisted_name_has_bars_up_to_its_last_trading_day_november_21_and_none_after():
    bars = _bars()
    dates = bars.loc[bars["symbol"] == DELISTED_SYMBOL, "date"]
    assert (dates.min(), dates.max()) == ("2025-09-16", "2025-11-21")
    assert dates.is_unique and len(dates) == 49  # every session in between
    assert bars["date"].max() > dates.max()  # the other names trade on


def test_halted_symbol_has_no_bar_on_november_19_only():
    bars = _bars()
    dis = set(bars.loc[bars["symbol"] == "DIS", "date"])
    spy = set(bars.loc[bars["symbol"] == "SPY", "date"])
    assert spy - dis == {"2025-11-19"}
    others = bars[(bars["date"] == "2025-11-19") & (bars["symbol"] != DELISTED_SYMBOL)]
    assert len(others) == 30 and "DIS" not in set(others["symbol"])


def test_ml_alpha_publishes_november_18_late_at_1130_new_york_time():
    ml = pd.read_parquet(DATA / "raw_signals" / "ml_alpha.parquet")
    asof = ml.loc[ml["trade_date"] == pd.Timestamp("2025-11-18").date(), "asof"]
    first = asof.min().tz_convert("America/New_York")
    assert (first.date().isoformat(), first.strftime("%H:%M")) == ("2025-11-18", "11:30")


def test_ml_alpha_publishes_other_days_at_1130_utc_and_revisions_90_minutes_later():
    ml = pd.read_parquet(DATA / "raw_signals" / "ml_alpha.parquet")
    ml = ml[ml["trade_date"] != pd.Timestamp("2025-11-18").date()]
    offsets = ml["asof"] - pd.to_datetime(ml["trade_date"]).dt.tz_localize("UTC")
    assert set(offsets.unique()) == {pd.Timedelta(hours=11, minutes=30), pd.Timedelta(hours=13)}


def test_events_leave_the_test_dates_rows_alone():
    """The tests pin numbers on these dates: no file has a row added or removed on them."""
    bars = _bars()
    for day in ("2025-03-03", "2025-07-21", "2025-09-15", "2025-12-01", "2025-12-31"):
        assert len(bars[bars["date"] == day]) == 31  # the 30 names and SPY
    drl = pd.read_csv(DATA / "raw_signals" / "drl_weight.csv", dtype={"gvkey": str})
    assert not (drl["gvkey"].str.zfill(6) == DELISTED_GVKEY)[drl["trade_date"].isin(["2025-09-15", "2025-12-01"])].any()
