"""Alerts: one JSON line per (date, rule, key) in logs/alerts.log, the rules that raise them, and channel
URLs that never leak. Their delivery to a local HTTP receiver (a dead, failing or slow channel never
fails the run): tests/integration/test_alert_delivery.py."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pandas as pd
import pytest

from paper_trading.alerts import delivery as alerts
from paper_trading.alerts.rules import evaluate_books, evaluate_daily
from paper_trading.config import AlertsConfig, load_config
from paper_trading.errors import ConfigError
from paper_trading.logging_setup import redact
from tests.alert_receiver import TOKEN, Receiver  # noqa: F401 - Receiver: tests/dags/test_dag_alerts.py imports it from here

DAY = dt.date(2025, 12, 31)


@pytest.fixture(autouse=True)
def no_env_channels(monkeypatch):
    monkeypatch.delenv("PAPER_TRADING_ALERT_URLS", raising=False)


def lines(log_dir) -> list[dict]:
    return [json.loads(line) for line in (log_dir / "alerts.log").read_text().splitlines()]


# ---------------------------------------------------------------------------------- the file


def test_an_alert_is_one_json_line_with_its_rule_and_key(tmp_path):
    record = alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", "AAPL: drift +1", rule="position_drift", key="AAPL")
    [line] = lines(tmp_path)
    assert line == record
    assert {k: line[k] for k in ("trade_date", "run_id", "step", "rule", "key", "severity", "message")} == {
        "trade_date": "2025-12-31", "run_id": "r1", "step": "reconcile", "rule": "position_drift", "key": "AAPL",
        "severity": "error", "message": "AAPL: drift +1"}
    assert alerts.read_alerts(tmp_path) == [line]


def test_every_rule_is_documented_and_unknown_ones_are_refused(tmp_path):
    for rule in ("trading_refused", "order_failed", "order_duplicate", "plan_deviation", "position_drift",
                 "cash_buffer", "cash_short", "daily_drawdown", "task_failed"):
        assert rule in alerts.RULES and "key" in alerts.RULES[rule]
    with pytest.raises(ValueError, match="unknown alert rule 'typo'"):
        alerts.raise_alert(tmp_path, DAY, "r1", "x", "m", rule="typo")
    with pytest.raises(ValueError, match="severity"):
        alerts.raise_alert(tmp_path, DAY, "r1", "x", "m", severity="fatal")


def test_without_a_key_the_message_tells_alerts_apart(tmp_path):
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "one")
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "one")
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "two")
    assert [line["message"] for line in lines(tmp_path)] == ["one", "two"]


def test_concurrent_raises_write_one_line(tmp_path):
    threads = [threading.Thread(target=alerts.raise_alert, args=(tmp_path, DAY, f"r{i}", "x", "same"),
                                kwargs={"rule": "cash_buffer", "key": "cash"}) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lines(tmp_path)) == 1


def test_read_alerts_skips_foreign_lines_and_filters_by_date(tmp_path):
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "old", rule="cash_buffer", key="cash")
    with open(tmp_path / "alerts.log", "a") as fh:
        fh.write("not json\n[1, 2]\n")
    alerts.raise_alert(tmp_path, DAY + dt.timedelta(days=1), "r1", "x", "new", rule="cash_buffer", key="cash")
    assert [a["message"] for a in alerts.read_alerts(tmp_path)] == ["old", "new"]
    assert [a["message"] for a in alerts.read_alerts(tmp_path, until=DAY)] == ["old"]
    assert [a["message"] for a in alerts.read_alerts(tmp_path, limit=1)] == ["new"]


def _older_lines(path, n: int) -> None:
    with open(path, "w") as fh:
        for i in range(n):
            day = dt.date(2020, 1, 1) + dt.timedelta(days=i % 1000)
            fh.write(json.dumps({"ts": "2020-01-01T00:00:00Z", "trade_date": day.isoformat(), "run_id": "old",
                                 "step": "reconcile", "rule": "position_drift", "key": f"S{i}", "severity": "error",
                                 "message": "an older day's drift"}) + "\n")


def test_a_batch_reads_alerts_log_once_not_once_per_alert(tmp_path, monkeypatch):
    _older_lines(tmp_path / "alerts.log", 100_000)
    batch = [{"rule": "position_drift", "key": f"N{i}", "message": f"drift {i}"} for i in range(500)]
    opened, locked = [], alerts._locked
    monkeypatch.setattr(alerts, "_locked", lambda path: opened.append(path) or locked(path))
    raised = alerts.raise_alerts(tmp_path, DAY, "r1", "reconcile", batch)
    assert opened == [tmp_path / "alerts.log"]  # a scan per alert took ~12 s here
    assert [a["key"] for a in raised] == [f"N{i}" for i in range(500)]
    assert len(lines(tmp_path)) == 100_500


def test_a_batch_writes_an_alert_given_twice_once_and_skips_the_earlier_ones(tmp_path):
    alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", "AAPL drift", rule="position_drift", key="AAPL")
    batch = [{"rule": "position_drift", "key": k, "message": f"{k} drift"} for k in ("AAPL", "MSFT", "MSFT")]
    raised = alerts.raise_alerts(tmp_path, DAY, "r2", "reconcile", batch)
    assert [(a["key"], a["run_id"]) for a in raised] == [("AAPL", "r1"), ("MSFT", "r2"), ("MSFT", "r2")]
    assert [line["key"] for line in lines(tmp_path)] == ["AAPL", "MSFT"]


def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next_one(tmp_path):
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "before", rule="cash_buffer", key="cash")
    with open(tmp_path / "alerts.log", "a") as fh:
        fh.write('{"ts": "2025-12-31T21:00:00Z", "trade_da')  # the writer died here
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "after", rule="cash_short", key="cash")
    assert [a["message"] for a in alerts.read_alerts(tmp_path)] == ["before", "after"]


# ---------------------------------------------------------------------------------- delivery


def test_a_token_schemes_label_is_its_scheme_only():
    assert alerts.channel_label("ntfy://my-private-topic-x/?priority=high", 0) == "ntfy:// (channel 1)"
    assert alerts.channel_label("gotify://push.example.com/AbcDef", 1) == "gotify:// (channel 2)"
    assert alerts.channel_label("mailto://user:pw@mail.example.com", 2) == "mailto://mail.example.com (channel 3)"


def test_every_part_of_a_token_scheme_url_is_a_secret_whatever_it_looks_like():
    alerts.channel_urls(AlertsConfig(channels=["ntfy://my-private-topic-q/?priority=high",
                                               "gotify://push.example.com/Zyxwvu"]))
    shown = redact("topic my-private-topic-q, token Zyxwvu, server push.example.com")
    assert shown == "topic ***, token ***, server ***"


def test_the_password_and_query_values_of_a_server_url_are_secrets():
    alerts.channel_urls(AlertsConfig(channels=["json://bot:hunter22@hooks.example.com/in?-apikey=kiwiberry"
                                               "&format=markdown"]))
    assert redact("login hunter22 key kiwiberry") == "login *** key ***"
    assert redact("markdown at hooks.example.com") == "markdown at hooks.example.com"


def test_words_in_a_server_urls_path_are_not_masked(tmp_path):
    alerts.channel_urls(AlertsConfig(channels=["json://alerts.example.com/hooks/paper_trading_daily/b1x9Kq77"]))
    line = alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", "task paper_trading_daily.reconcile failed (b1x9Kq77)",
                              rule="task_failed", key="paper_trading_daily.reconcile", deliver_to_channels=False)
    assert line["key"] == "paper_trading_daily.reconcile"
    assert line["message"] == "task paper_trading_daily.reconcile failed (***)"


def test_a_bad_channel_in_the_config_is_refused_without_showing_it(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        "signal_bus: {mode: select, pick: a}\nalerts:\n  channels: ['json://ok/x', 'hooks.slack.com/" + TOKEN + "']\n")
    with pytest.raises(ConfigError) as err:
        load_config("config/config.yaml", tmp_path)
    assert "alerts.channels" in str(err.value) and "channels[1] is not an apprise URL" in str(err.value)
    assert TOKEN not in str(err.value)


def test_the_alerts_section_defaults_and_is_strict(tmp_path):
    cfg = AlertsConfig()
    assert (cfg.channels, cfg.daily_drawdown, cfg.plan_deviation_pct, cfg.timeout_s) == ([], -0.03, 0.05, 10.0)
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("signal_bus: {mode: select, pick: a}\nalerts: {daily_drawdown: 0.03}\n")
    with pytest.raises(ConfigError, match="alerts.daily_drawdown"):
        load_config("config/config.yaml", tmp_path)


# ---------------------------------------------------------------------------------- task failures


def test_record_task_failure_says_whether_the_failure_is_new(tmp_path):
    def record(try_number):
        return alerts.record_task_failure(tmp_path, dag_id="paper_trading_daily", task_id="plan", run_id="manual__1",
                                          trade_date=DAY, try_number=try_number, error="boom")

    assert record(1) is True
    assert record(2) is False  # the DAG sends its notice only for a new one


def test_a_failure_that_cannot_be_recorded_counts_as_new(tmp_path):
    (tmp_path / "logs").write_text("a file where the logs folder should be")
    assert alerts.record_task_failure(tmp_path, dag_id="paper_trading_daily", task_id="plan", run_id="manual__1",
                                      trade_date=DAY, error="boom") is True


def test_the_failure_date_falls_back_to_the_run_when_run_date_is_bad():
    after = dt.datetime(2025, 12, 31, 15, 0, tzinfo=dt.UTC)
    assert alerts.failure_trade_date("2025-12-30", None, after) == dt.date(2025, 12, 30)
    assert alerts.failure_trade_date("2025-02-30", None, after) == DAY
    assert alerts.failure_trade_date(None, None, after) == DAY


def test_an_unprotected_position_is_alerted_again_in_a_later_round(project, monkeypatch):
    import importlib

    from paper_trading import execution, steps

    class Unprotecting:  # every round leaves AAPL without its take-profit/stop-loss
        def __init__(self, *args, **kwargs):
            pass

        def run(self, approved):
            return execution.ExecutionResult(intents=[], problems=["AAPL (10 held) has no take-profit/stop-loss: x"])

    monkeypatch.setattr(execution, "Executor", Unprotecting)
    monkeypatch.setattr(importlib.import_module("paper_trading.steps.execute"), "read_orders",
                        lambda *args, **kwargs: pd.DataFrame())
    for n in (1, 2):
        steps.execute_orders(DAY, mode="dry", round_no=n, root=project, run_id=f"round-{n}", broker=object())
    got = [(a["key"], a["run_id"]) for a in alerts.read_alerts(project / "logs") if a["rule"] == "unprotected_position"]
    assert got == [("AAPL:r1", "round-1"), ("AAPL:r2", "round-2")]


# ---------------------------------------------------------------------------------- the rules


def _pnl(returns: list[float | None]) -> pd.DataFrame:
    dates = pd.date_range("2025-12-29", periods=len(returns), freq="D")
    equity = [100_000.0]
    for r in returns[1:]:
        equity.append(equity[-1] * (1 + r))
    return pd.DataFrame({"date": dates, "equity": equity, "cash": 1000.0, "daily_return": returns,
                         "drawdown": [0.0] * len(returns)})


def test_daily_drawdown_at_the_threshold_alerts_and_above_it_does_not():
    pnl = _pnl([None, -0.05, -0.03])
    [alert] = evaluate_daily(pnl, dt.date(2025, 12, 31), daily_drawdown=-0.03)
    assert (alert["rule"], alert["key"], alert["severity"]) == ("daily_drawdown", "daily_return", "error")
    assert "-3.00%" in alert["message"] and "2025-12-31" in alert["message"]
    assert evaluate_daily(pnl, dt.date(2025, 12, 31), daily_drawdown=-0.031) == []
    assert evaluate_daily(_pnl([None, -0.05, -0.029]), dt.date(2025, 12, 31)) == []


def test_daily_drawdown_judges_only_the_day_and_never_the_first_one():
    pnl = _pnl([None, -0.10, 0.01])
    assert evaluate_daily(pnl, dt.date(2025, 12, 31)) == []  # the -10 % day had its own report
    assert len(evaluate_daily(pnl, dt.date(2025, 12, 30))) == 1
    assert evaluate_daily(pnl, dt.date(2025, 12, 29)) == []  # no return on the first day
    assert evaluate_daily(pnl.iloc[0:0], DAY) == [] and evaluate_daily(pnl, dt.date(2026, 1, 5)) == []


def _row(kind, key, classification, alert=False, **kw):
    row = {"kind": kind, "key": key, "classification": classification, "alert": alert, "symbol": kw.pop("symbol", None),
           "side": kw.pop("side", None), "planned_qty": None, "filled_qty": None, "message": f"{key} {classification}"}
    row.update(kw)
    return row


def test_the_books_rules_name_every_flagged_row_and_alert_each_order_once():
    rows = [
        _row("order", "pt-AAPL", "filled", symbol="AAPL", side="buy", planned_qty=100, filled_qty=100),
        _row("order", "pt-MSFT", "partially_filled", symbol="MSFT", side="buy", planned_qty=100, filled_qty=94),
        _row("order", "pt-NVDA", "partially_filled", symbol="NVDA", side="buy", planned_qty=100, filled_qty=95),
        _row("order", "pt-AMZN", "rejected", True, symbol="AMZN", side="buy", planned_qty=10, filled_qty=0),
        _row("order", "gate:buy:TSLA", "not_submitted", symbol="TSLA", side="buy", planned_qty=10, filled_qty=0),
        _row("order", "pt-META", "dry_run", symbol="META", side="buy", planned_qty=10, filled_qty=0),
        _row("manual", "web-1", "manual", True, symbol="AAPL", side="buy"),
        _row("manual", "web-2", "manual", True, symbol="IBM", side="sell"),
        _row("position", "position:AAPL", "position_drift", True, symbol="AAPL"),
        _row("cash", "cash", "cash_drift", True),
        _row("price", "price:KO", "price_missing", True, symbol="KO"),
    ]
    got = {(a["rule"], a["key"]) for a in evaluate_books(rows, equity=100_000, cash=5_000, min_cash_buffer_pct=0.01,
                                                            plan_deviation_pct=0.05)}
    assert got == {("plan_deviation", "pt-MSFT"), ("order_failed", "pt-AMZN"), ("order_duplicate", "web-1"),
                   ("manual_trade", "web-2"), ("position_drift", "AAPL"), ("cash_drift", "cash"),
                   ("price_missing", "KO")}


def test_cash_below_the_buffer_or_negative():
    def rules(cash):
        return [(a["rule"], a["severity"]) for a in evaluate_books([], equity=100_000, cash=cash,
                                                                    min_cash_buffer_pct=0.01, plan_deviation_pct=0.05)]

    assert rules(1_000) == []
    assert rules(999.99) == [("cash_buffer", "warning")]
    assert rules(-0.01) == [("cash_short", "error")]


def test_an_end_of_day_book_past_an_exposure_bound_alerts_under_that_setting():
    """The spec's M6 leverage check (融资活动超限): the books of the day cross a bound of the gate."""
    from paper_trading.config import RiskConfig
    from paper_trading.risk.gate import exposure_breaches

    bounds = RiskConfig(max_gross_exposure=1.2, max_net_exposure=1.0, max_margin_pct=0.1)
    breaches = exposure_breaches({"AAA": 1300}, {"AAA": 100.0}, -30_000.0, 100_000.0, bounds)
    got = [(a["rule"], a["key"], a["message"]) for a in evaluate_books(
        [], equity=100_000, cash=-30_000, min_cash_buffer_pct=0.01, plan_deviation_pct=0.05, exposure=breaches)]
    assert got[1:] == [
        ("exposure_limit", "max_gross_exposure",
         "the end-of-day book's gross_exposure is 1.3000 of equity, above risk.max_gross_exposure = 1.2"),
        ("exposure_limit", "max_net_exposure",
         "the end-of-day book's net_exposure is 1.3000 of equity, above risk.max_net_exposure = 1"),
        ("exposure_limit", "max_margin_pct",
         "the end-of-day book's margin_pct is 0.3000 of equity, above risk.max_margin_pct = 0.1")]
    assert exposure_breaches({"AAA": 1300}, {"AAA": 100.0}, -30_000.0, 100_000.0, RiskConfig()) == []
