"""Generate the committed sample data: three strategies in three formats and the instrument map.

    python data/make_sample_data.py [--out DIR]

Deterministic (fixed seed, XNYS sessions from exchange_calendars): running it again gives the
same rows. What it writes, under DIR (default: this folder):

- raw_signals/drl_weight.csv        `trade_date,gvkey,weights`; gvkeys written as plain numbers
                                     (`1690`), the way spreadsheets export them
- raw_signals/equally_weighted.xlsx `trade_date` as Excel date cells, `gvkey` as numeric cells
- raw_signals/ml_alpha.parquet      already standard columns plus `strategy_id`, `asof`,
                                     `confidence`, `predicted_return`; about one day in ten is
                                     published twice (a revision 90 minutes after the first)
- mapping/instrument_map.csv         `gvkey,symbol,sector,name` for the 30 names
- market/daily_bars.csv              daily OHLCV bars of the 30 names and SPY (a geometric random
                                     walk from early-2024 price levels), for the broker simulator
- market/dividends.csv               `symbol,ex_date,pay_date,amount` (cash per share): quarterly
                                     dividends of PG, JNJ, XOM, KO and VZ, which the simulator
                                     loads from next to the bars; in the replay window JNJ and XOM
                                     go ex on 2025-11-07 and 11-11, KO and VZ on 12-09 and 12-08

Three events make a replay of the autumn of 2025 (`make demo`: 2025-11-03..2025-12-31) interesting.
They are added after everything above is generated, from their own random stream (seed
SEED + 2), so every row the original 30 names and SPY had is still there, unchanged:

- A delisted name. XDLX, "Exdelist Holdings Corp. (fictional)", gvkey 900001, is made up: no
  such company or ticker is meant. It is in every strategy's signals from 2025-10-01 to
  2025-11-14 and in none after (so a rebalance sells it), and has daily bars from 2025-09-16 to
  its last trading day 2025-11-21, none after; the simulator reports it `inactive` and not
  `tradable` once its clock is past that session's close. Its rows are added next to the other
  names' rows of the same day; the weights of the other names are not changed, so in
  drl_weight.csv and ml_alpha.parquet that day's weights sum to 1 plus XDLX's weight (the
  signal bus normalizes each strategy's weights) and in equally_weighted.xlsx it is one more
  name with the same weight (1/31 of the portfolio after normalization).
- A trading halt. DIS has no bar on 2025-11-19 (its bars of 11-18 and 11-20 are unchanged): the
  simulator fills no order for it that session and prices it at its last close.
- A late publication. ml_alpha's rows of 2025-11-18 are published at 11:30 New York time
  (16:30 UTC) instead of the usual 11:30 UTC; had that day a revision, it would still come 90
  minutes after the first version.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import exchange_calendars as xcals
import numpy as np
import pandas as pd

SEED = 20250303
START, END = "2024-01-02", "2025-12-31"

# gvkey (Compustat company key, 6 digits), ticker, GICS sector, name.
UNIVERSE = [
    ("001690", "AAPL", "Information Technology", "Apple Inc."),
    ("012141", "MSFT", "Information Technology", "Microsoft Corp."),
    ("064768", "AMZN", "Consumer Discretionary", "Amazon.com Inc."),
    ("160329", "GOOGL", "Communication Services", "Alphabet Inc."),
    ("170617", "META", "Communication Services", "Meta Platforms Inc."),
    ("117768", "NVDA", "Information Technology", "NVIDIA Corp."),
    ("002968", "JPM", "Financials", "JPMorgan Chase & Co."),
    ("006266", "JNJ", "Health Care", "Johnson & Johnson"),
    ("004503", "XOM", "Energy", "Exxon Mobil Corp."),
    ("008762", "PG", "Consumer Staples", "Procter & Gamble Co."),
    ("179534", "V", "Financials", "Visa Inc."),
    ("010903", "UNH", "Health Care", "UnitedHealth Group Inc."),
    ("005680", "HD", "Consumer Discretionary", "Home Depot Inc."),
    ("160225", "MA", "Financials", "Mastercard Inc."),
    ("003144", "KO", "Consumer Staples", "Coca-Cola Co."),
    ("008479", "PEP", "Consumer Staples", "PepsiCo Inc."),
    ("007257", "MRK", "Health Care", "Merck & Co. Inc."),
    ("008530", "PFE", "Health Care", "Pfizer Inc."),
    ("002991", "CVX", "Energy", "Chevron Corp."),
    ("011259", "WMT", "Consumer Staples", "Walmart Inc."),
    ("003980", "DIS", "Communication Services", "Walt Disney Co."),
    ("020779", "CSCO", "Information Technology", "Cisco Systems Inc."),
    ("012142", "ORCL", "Information Technology", "Oracle Corp."),
    ("006008", "INTC", "Information Technology", "Intel Corp."),
    ("007647", "BAC", "Financials", "Bank of America Corp."),
    ("009899", "T", "Communication Services", "AT&T Inc."),
    ("002136", "VZ", "Communication Services", "Verizon Communications Inc."),
    ("012540", "ADBE", "Information Technology", "Adobe Inc."),
    ("157855", "CRM", "Information Technology", "Salesforce Inc."),
    ("147579", "NFLX", "Communication Services", "Netflix Inc."),
]

# The made-up name that is delisted mid-period (see the module docstring).
DELISTED = ("900001", "XDLX", "Industrials", "Exdelist Holdings Corp. (fictional)")
DELISTED_SIGNALS = (dt.date(2025, 10, 1), dt.date(2025, 11, 14))  # first and last trade_date with a weight
DELISTED_BARS = (dt.date(2025, 9, 16), dt.date(2025, 11, 21))  # first bar (after 09-15, a test date); last trading day
DELISTED_START_PRICE = 24.0
# Quarterly cash dividends: symbol -> (first ex month of the year, ex-date's session of that month,
# amount per share). Paid 7 sessions after the ex-date. Amounts are about the names' real ones.
DIVIDENDS = {
    "PG": (1, 5, "0.9407"),
    "JNJ": (2, 5, "1.19"),
    "XOM": (2, 7, "0.95"),
    "KO": (3, 7, "0.485"),
    "VZ": (3, 6, "0.665"),
}
PAY_AFTER_SESSIONS = 7
HALT = ("DIS", dt.date(2025, 11, 19))  # no bar: trading halted all session
LATE_DAY = dt.date(2025, 11, 18)  # ml_alpha published late: at 11:30 New York time
LATE_TIME = dt.time(11, 30)


# Approximate early-2024 prices: levels only, so orders and buying power look realistic.
START_PRICES = {
    "AAPL": 185, "MSFT": 370, "AMZN": 150, "GOOGL": 140, "META": 345, "NVDA": 48, "JPM": 170, "JNJ": 158,
    "XOM": 100, "PG": 147, "V": 260, "UNH": 520, "HD": 350, "MA": 425, "KO": 59, "PEP": 168, "MRK": 108,
    "PFE": 29, "CVX": 150, "WMT": 55, "DIS": 91, "CSCO": 50, "ORCL": 105, "INTC": 48, "BAC": 33, "T": 17,
    "VZ": 38, "ADBE": 600, "CRM": 260, "NFLX": 490, "SPY": 472,
}


def sessions(start: str = START, end: str = END) -> list[dt.date]:
    cal = xcals.get_calendar("XNYS", start="1990-01-01")
    return [ts.date() for ts in cal.sessions_in_range(start, end)]


def _drl(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    """A momentum-like strategy: log-weights follow a random walk; about 20-30 names held."""
    n = len(UNIVERSE)
    logits = rng.normal(0, 0.5, n)
    rows = []
    for day in days:
        logits = 0.97 * logits + rng.normal(0, 0.15, n)
        weights = np.exp(logits)
        weights[weights < np.quantile(weights, 0.15)] = 0.0  # the weakest names are not held
        weights /= weights.sum()
        for (gvkey, *_), w in zip(UNIVERSE, weights):
            if w > 0:
                rows.append((day.isoformat(), int(gvkey), round(float(w), 8)))
    return pd.DataFrame(rows, columns=["trade_date", "gvkey", "weights"])


def _equal(days: list[dt.date]) -> pd.DataFrame:
    w = round(1 / len(UNIVERSE), 10)
    rows = [(dt.datetime(d.year, d.month, d.day), int(g), w) for d in days for g, *_ in UNIVERSE]
    return pd.DataFrame(rows, columns=["trade_date", "gvkey", "weights"])


def _ml(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    """A model with predicted returns and confidences; some days are revised after publication."""
    n = len(UNIVERSE)
    rows = []
    for day in days:
        first = dt.datetime(day.year, day.month, day.day, 11, 30, tzinfo=dt.UTC)
        versions = [first] + ([first + dt.timedelta(minutes=90)] if rng.random() < 0.1 else [])
        for asof in versions:
            pred = rng.normal(0.0005, 0.01, n)
            conf = rng.uniform(0.3, 0.95, n)
            score = np.clip(pred * conf, 0, None)
            if score.sum() == 0:
                score[np.argmax(pred)] = 1.0
            weights = score / score.sum()
            for (gvkey, *_), w, p, c in zip(UNIVERSE, weights, pred, conf):
                if w > 0:
                    rows.append(("ml", day, gvkey, round(float(w), 8), asof, round(float(c), 4), round(float(p), 6)))
    cols = ["strategy_id", "trade_date", "asset_id", "target_weight", "asof", "confidence", "predicted_return"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["asof"] = pd.to_datetime(frame["asof"], utc=True)
    return frame


def _bars(days: list[dt.date], rng: np.random.Generator) -> pd.DataFrame:
    """Daily OHLCV per symbol: open gaps from the previous close, intraday move, wicks beyond both."""
    rows = []
    for symbol, start in START_PRICES.items():
        sigma = 0.009 if symbol == "SPY" else rng.uniform(0.012, 0.024)
        rows += _walk(symbol, float(start), sigma, days, rng)
    return pd.DataFrame(rows, columns=BAR_COLUMNS)


BAR_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "volume", "trade_count", "vwap"]


def _walk(symbol: str, close: float, sigma: float, days: list[dt.date], rng: np.random.Generator,
          drift: float = 0.0003) -> list[tuple]:
    """One symbol's bars: a geometric random walk starting from `close`."""
    rows = []
    for day in days:
        open_ = close * float(np.exp(rng.normal(0, sigma / 3)))
        close = open_ * float(np.exp(rng.normal(drift, sigma)))
        high = max(open_, close) * (1 + abs(float(rng.normal(0, sigma / 2))))
        low = min(open_, close) * (1 - abs(float(rng.normal(0, sigma / 2))))
        volume = int(rng.integers(2_000_000, 60_000_000))
        o, h, lo, c = (round(x, 2) for x in (open_, high, low, close))
        h, lo = max(h, o, c), min(lo, o, c)
        rows.append((symbol, day.isoformat(), o, h, lo, c, volume, volume // 120, round((o + h + lo + c) / 4, 4)))
    return rows


# ------------------------------------------------------------------ the replay's events (added last)


def _insert(frame: pd.DataFrame, rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """`rows` merged into `frame` (sorted by `by`), each after the frame's rows with the same key:
    the frame's rows keep their order."""
    return pd.concat([frame, rows], ignore_index=True).sort_values(by, kind="stable", ignore_index=True)


def _add_delisted_signals(drl: pd.DataFrame, equal: pd.DataFrame, ml: pd.DataFrame, rng: np.random.Generator):
    """The delisted name's rows in each strategy on every trade_date of DELISTED_SIGNALS."""
    gvkey = DELISTED[0]
    days = sessions(*(d.isoformat() for d in DELISTED_SIGNALS))
    weights = rng.uniform(0.02, 0.06, len(days))  # about the size of a held name's weight
    drl = _insert(drl, pd.DataFrame({"trade_date": [d.isoformat() for d in days], "gvkey": int(gvkey),
                                     "weights": [round(float(w), 8) for w in weights]}), ["trade_date"])
    w = equal["weights"].iloc[0]
    equal = _insert(equal, pd.DataFrame({"trade_date": [dt.datetime(d.year, d.month, d.day) for d in days],
                                         "gvkey": int(gvkey), "weights": w}), ["trade_date"])
    rows = []
    for day, versions in ml[ml["trade_date"].isin(days)].groupby("trade_date", sort=True)["asof"]:
        for asof in versions.unique():  # one row in every published version of the day
            rows.append(("ml", day, gvkey, round(float(rng.uniform(0.02, 0.06)), 8), asof,
                         round(float(rng.uniform(0.3, 0.95)), 4), round(float(rng.normal(0.004, 0.002)), 6)))
    ml = _insert(ml, pd.DataFrame(rows, columns=ml.columns).astype(ml.dtypes.to_dict()), ["trade_date", "asof"])
    return drl, equal, ml


def _late_publication(ml: pd.DataFrame) -> pd.DataFrame:
    """LATE_DAY's versions published at LATE_TIME New York time, revisions still 90 minutes later."""
    day = ml["trade_date"] == LATE_DAY
    usual = pd.Timestamp(dt.datetime.combine(LATE_DAY, dt.time(11, 30)), tz="UTC")
    late = pd.Timestamp(dt.datetime.combine(LATE_DAY, LATE_TIME), tz="America/New_York").tz_convert("UTC")
    ml = ml.copy()
    ml.loc[day, "asof"] = ml.loc[day, "asof"] - usual + late
    return ml


def _add_delisted_bars(bars: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The delisted name's bars, after every other symbol's: a slide of about 20 % to its last day."""
    days = sessions(*(d.isoformat() for d in DELISTED_BARS))
    rows = _walk(DELISTED[1], DELISTED_START_PRICE, 0.03, days, rng, drift=-0.004)
    return pd.concat([bars, pd.DataFrame(rows, columns=BAR_COLUMNS)], ignore_index=True)


def _dividends(days: list[dt.date]) -> pd.DataFrame:
    """Quarterly dividends of a few names, every ex-date and pay date a session within `days`."""
    rows = []
    for symbol, (first_month, nth, amount) in DIVIDENDS.items():
        for year in sorted({d.year for d in days}):
            for month in range(first_month, 13, 3):
                sessions_of_month = [d for d in days if (d.year, d.month) == (year, month)]
                ex = sessions_of_month[nth - 1]
                pay_index = days.index(ex) + PAY_AFTER_SESSIONS
                if pay_index < len(days):
                    rows.append((symbol, ex.isoformat(), days[pay_index].isoformat(), amount))
    frame = pd.DataFrame(rows, columns=["symbol", "ex_date", "pay_date", "amount"])
    return frame.sort_values(["ex_date", "symbol"], ignore_index=True)


def _halt(bars: pd.DataFrame) -> pd.DataFrame:
    symbol, day = HALT
    return bars[~((bars["symbol"] == symbol) & (bars["date"] == day.isoformat()))].reset_index(drop=True)


def generate(out: Path) -> dict[str, Path]:
    """Write every sample file under `out`; return their paths."""
    rng = np.random.default_rng(SEED)
    days = sessions()
    raw, mapping, market = out / "raw_signals", out / "mapping", out / "market"
    for folder in (raw, mapping, market):
        folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "drl": raw / "drl_weight.csv",
        "equal": raw / "equally_weighted.xlsx",
        "ml": raw / "ml_alpha.parquet",
        "instrument_map": mapping / "instrument_map.csv",
        "bars": market / "daily_bars.csv",
        "dividends": market / "dividends.csv",
    }
    drl, equal, ml = _drl(days, rng), _equal(days), _ml(days, rng)
    bars = _bars(days, np.random.default_rng(SEED + 1))
    # the replay's events, last and from their own stream: the rows above stay as they were
    events = np.random.default_rng(SEED + 2)
    drl, equal, ml = _add_delisted_signals(drl, equal, ml, events)
    ml = _late_publication(ml)
    bars = _halt(_add_delisted_bars(bars, events))
    drl.to_csv(paths["drl"], index=False, lineterminator="\n")
    equal.to_excel(paths["equal"], index=False, sheet_name="weights", engine="openpyxl")
    ml.to_parquet(paths["ml"], index=False, row_group_size=2000)
    pd.DataFrame(UNIVERSE + [DELISTED], columns=["gvkey", "symbol", "sector", "name"]).to_csv(
        paths["instrument_map"], index=False, lineterminator="\n"
    )
    bars.to_csv(paths["bars"], index=False, lineterminator="\n")
    _dividends(days).to_csv(paths["dividends"], index=False, lineterminator="\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="data folder")
    for name, path in generate(parser.parse_args().out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
