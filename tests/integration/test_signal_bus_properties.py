"""Properties of M1's pure functions over random inputs (hypothesis)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paper_trading.signals.bus import (
    enforce_constraints_and_normalize,
    merge_for_date,
    pick_latest_per_strategy,
)

DAY = dt.date(2025, 3, 3)
ASSETS = [f"{i:06d}" for i in range(1, 41)]
T0 = pd.Timestamp("2025-03-03T11:00Z")

weights = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
portfolio = st.dictionaries(st.sampled_from(ASSETS), weights, min_size=1, max_size=len(ASSETS)).filter(
    lambda d: sum(d.values()) > 1e-6
)


def frame_of(strategies: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = [(sid, DAY, a, w, T0) for sid, p in strategies.items() for a, w in p.items()]
    return pd.DataFrame(rows, columns=["strategy_id", "trade_date", "asset_id", "target_weight", "asof"])


@settings(max_examples=150, deadline=None)
@given(p=portfolio)
def test_select_output_is_long_only_unique_sorted_and_sums_to_one(p):
    out = enforce_constraints_and_normalize(merge_for_date(frame_of({"a": p}), DAY, "select", pick="a"))
    assert abs(out["target_weight"].sum() - 1.0) <= 1e-9
    assert (out["target_weight"] >= 0).all()
    assert out["asset_id"].is_unique and out["asset_id"].is_monotonic_increasing
    assert set(out["asset_id"]) == set(p)


@settings(max_examples=150, deadline=None)
@given(p=portfolio, q=portfolio, w=st.floats(min_value=0.01, max_value=0.99))
def test_blend_equals_the_weighted_sum_of_normalized_portfolios(p, q, w):
    blend = {"a": w, "b": 1 - w}
    out = enforce_constraints_and_normalize(merge_for_date(frame_of({"a": p, "b": q}), DAY, "blend", blend))
    sp, sq = sum(p.values()), sum(q.values())
    expected = {a: w * p.get(a, 0) / sp + (1 - w) * q.get(a, 0) / sq for a in set(p) | set(q)}
    assert out.set_index("asset_id")["target_weight"].to_dict() == pytest.approx(expected, abs=1e-12)
    assert abs(out["target_weight"].sum() - 1.0) <= 1e-9


@settings(max_examples=100, deadline=None)
@given(first=portfolio, second=portfolio)
def test_a_later_asof_always_wins_per_asset(first, second):
    early = frame_of({"a": first})
    late = frame_of({"a": second}).assign(asof=T0 + pd.Timedelta(hours=1))
    latest = pick_latest_per_strategy(pd.concat([late, early], ignore_index=True)).set_index("asset_id")
    for asset in set(first) | set(second):
        assert latest.loc[asset, "target_weight"] == (second[asset] if asset in second else first[asset])
