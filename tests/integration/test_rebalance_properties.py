"""M2 — the rebalance planner's invariants over random inputs (hypothesis, 200 scenarios): no short
after the trades, buys within the cash above the buffer, no order under the minimum, each name within
one share of its target. Its behaviours one by one: tests/unit/test_rebalance.py, whose helpers these use."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_rebalance import plan, targets

SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


@st.composite
def scenarios(draw):
    chosen = draw(st.lists(st.sampled_from(SYMBOLS), min_size=1, max_size=4, unique=True))
    raw = [draw(st.floats(0.01, 1.0)) for _ in chosen]
    weights = {s: w / sum(raw) for s, w in zip(chosen, raw)}
    prices = {s: draw(st.floats(0.5, 2_000.0)) for s in SYMBOLS}
    positions = {s: float(draw(st.integers(0, 300))) for s in SYMBOLS if draw(st.booleans())}
    equity_extra = draw(st.floats(0.0, 200_000.0))
    fractional = draw(st.booleans())
    return weights, prices, positions, equity_extra, fractional


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_plan_invariants(scenario):
    weights, prices, positions, extra_cash, fractional = scenario
    equity = extra_cash + sum(q * prices[s] for s, q in positions.items())
    if equity <= 1:
        return
    buffer = 0.02
    result = plan(targets(**weights), prices, positions, equity=equity, cash=extra_cash, cash_buffer_pct=buffer,
                  fractional=fractional, min_trade_pct=0.001, min_trade_value=1.0)
    orders = result.orders
    after = dict(positions)
    for o in orders.itertuples():
        after[o.symbol] = after.get(o.symbol, 0.0) + (o.qty if o.side == "buy" else -o.qty)
    # no short position after the trades
    assert all(q >= -1e-9 for q in after.values())
    # buys never need more cash than there is: with any buy, cash after >= the buffer
    if (orders["side"] == "buy").any():
        assert result.cash_after >= buffer * equity - 1e-6
    # no order under the minimum, except liquidations of positions that left the targets
    minimum = max(1.0, 0.001 * equity)
    for o in orders.itertuples():
        if o.reason != "exit" or o.symbol in weights:
            assert o.qty * o.ref_price >= minimum - 1e-9
    # each traded or held name ends within one share's value of its target, unless skipped with a reason
    plan_rows = result.plan.set_index("symbol")
    investable = equity * (1 - buffer)
    for symbol, w in weights.items():
        r = plan_rows.loc[symbol]
        if r["reason"] in ("below_min_trade", "cash_limited", "no_price"):
            continue
        post_value = after.get(symbol, 0.0) * prices[symbol]
        assert abs(post_value - w * investable) <= prices[symbol] + 1e-6
    # every asset of the targets appears in the plan
    assert set(targets(**weights)["asset_id"]) <= set(result.plan["asset_id"])
