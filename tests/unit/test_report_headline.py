"""The report step's log line says what a person needs: figures as percentages, or that more
sessions are needed — never "None" or a count of "undefined values"."""

from paper_trading.steps.report import _headline


def test_one_session_says_there_are_not_enough_sessions_yet():
    said = _headline({"cum_returns_final": None, "max_drawdown": None}, {"sharpe": "needs 2 sessions"})
    assert said.startswith("not enough sessions yet for a return or a drawdown")
    assert "None" not in said and "undefined" not in said


def test_a_history_gives_the_return_and_the_drawdown_as_percentages():
    assert _headline({"cum_returns_final": -0.0387, "max_drawdown": -0.0403}, {}) == \
        "cumulative return -3.87%, max drawdown -4.03%"
