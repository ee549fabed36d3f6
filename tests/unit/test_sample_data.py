"""The committed sample data has the promised shape. That it is what its generator makes (the whole
set regenerated, seconds each): tests/integration/test_sample_data_generator.py."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


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


def _dividends() -> pd.DataFrame:
    return pd.read_csv(DATA / "market" / "dividends.csv", dtype=str)


def test_dividends_are_quarterly_for_a_few_names_on_sessions_with_bars():
    dividends, bars = _dividends(), _bars()
    assert list(dividends.columns) == ["symbol", "ex_date", "pay_date", "amount"]
    assert set(dividends["symbol"]) == {"PG", "JNJ", "XOM", "KO", "VZ"}
    assert (dividends.groupby("symbol").size() >= 7).all()  # quarterly over two years
    traded = set(zip(bars["symbol"], bars["date"]))
    assert all((r.symbol, r.ex_date) in traded and (r.symbol, r.pay_date) in traded for r in dividends.itertuples())
    assert (dividends["pay_date"] > dividends["ex_date"]).all() and (dividends["amount"].astype(float) > 0).all()


def test_some_dividends_go_ex_and_are_paid_inside_the_demo_replay():
    dividends = _dividends()
    inside = dividends[(dividends["ex_date"] >= "2025-11-03") & (dividends["pay_date"] <= "2025-12-31")]
    assert len(inside) >= 3


def test_no_dividend_goes_ex_in_the_days_after_a_test_date():
    """Tests that hold a position on a test date and move the clock a few days see no dividend: a
    position is only entitled if the clock crosses the close before an ex-date after the simulator's
    reset (a dividend that went ex earlier is paid to nobody in such a test)."""
    import exchange_calendars as xcals

    cal = xcals.get_calendar("XNYS", start="2024-01-01", end="2026-12-31")
    near = set()
    for day in ("2025-03-03", "2025-07-21", "2025-09-15", "2025-12-01", "2025-12-26"):
        start = cal.date_to_session(pd.Timestamp(day), direction="next")
        near |= {s.date().isoformat() for s in cal.sessions_window(start, 4)}
    near |= {s.date().isoformat() for s in cal.sessions_in_range("2025-12-19", "2026-01-09")}
    dividends = _dividends()
    assert not dividends["ex_date"].isin(near).any() and (dividends["pay_date"] < "2025-12-19").all()
