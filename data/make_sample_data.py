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
        first = dt.datetime(day.year, day.month, day.day, 11, 30, tzinfo=dt.timezone.utc)
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
        close = float(start)
        for day in days:
            open_ = close * float(np.exp(rng.normal(0, sigma / 3)))
            close = open_ * float(np.exp(rng.normal(0.0003, sigma)))
            high = max(open_, close) * (1 + abs(float(rng.normal(0, sigma / 2))))
            low = min(open_, close) * (1 - abs(float(rng.normal(0, sigma / 2))))
            volume = int(rng.integers(2_000_000, 60_000_000))
            o, h, l, c = (round(x, 2) for x in (open_, high, low, close))
            h, l = max(h, o, c), min(l, o, c)
            rows.append((symbol, day.isoformat(), o, h, l, c, volume, volume // 120, round((o + h + l + c) / 4, 4)))
    return pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume", "trade_count", "vwap"])


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
    }
    _drl(days, rng).to_csv(paths["drl"], index=False, lineterminator="\n")
    _equal(days).to_excel(paths["equal"], index=False, sheet_name="weights", engine="openpyxl")
    _ml(days, rng).to_parquet(paths["ml"], index=False, row_group_size=2000)
    pd.DataFrame(UNIVERSE, columns=["gvkey", "symbol", "sector", "name"]).to_csv(
        paths["instrument_map"], index=False, lineterminator="\n"
    )
    _bars(days, np.random.default_rng(SEED + 1)).to_csv(paths["bars"], index=False, lineterminator="\n")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="data folder")
    for name, path in generate(parser.parse_args().out).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
