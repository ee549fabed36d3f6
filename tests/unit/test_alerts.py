"""Alerts: one JSON line per (date, rule, key) in logs/alerts.log, delivered with apprise to a local
HTTP receiver; a dead, failing or slow channel never fails the run; channel URLs never leak."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
from paper_trading.alerts import delivery as alerts
from paper_trading.alerts.rules import evaluate_books, evaluate_daily
from paper_trading.config import AlertsConfig, load_config
from paper_trading.errors import ConfigError
from paper_trading.logging_setup import redact, step_logging

DAY = dt.date(2025, 12, 31)
TOKEN = "T0KEN-4f9a2c7e1b"


class Receiver:
    """A webhook on 127.0.0.1 (free port): records every POST (path, JSON body); /fail answers 500,
    /slow answers after 3 s."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/slow"):
                    time.sleep(3)
                received.append((self.path, json.loads(body or b"{}")))
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = f"/hook/{TOKEN}") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_url() -> str:
    """A port nobody listens on: the connection is refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"json://127.0.0.1:{port}/dead/{TOKEN}"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


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


def test_the_same_alert_raised_again_is_neither_written_nor_sent_again(tmp_path, receiver):
    settings = AlertsConfig(channels=[receiver.url()])
    first = alerts.raise_alert(tmp_path, DAY, "r1", "execute", "buy AAPL rejected", rule="order_failed",
                               key="pt-20251231-AAPL-buy-r1", settings=settings)
    again = alerts.raise_alert(tmp_path, DAY, "r2", "reconcile", "buy AAPL: rejected by the broker",
                               rule="order_failed", key="pt-20251231-AAPL-buy-r1", settings=settings)
    assert again == first
    assert len(lines(tmp_path)) == 1 and len(receiver.posts) == 1
    # another key, another date: new alerts
    alerts.raise_alert(tmp_path, DAY, "r1", "execute", "sell MSFT", rule="order_failed", key="pt-MSFT", settings=settings)
    alerts.raise_alert(tmp_path, DAY + dt.timedelta(days=1), "r1", "execute", "buy AAPL rejected",
                       rule="order_failed", key="pt-20251231-AAPL-buy-r1", settings=settings)
    assert len(lines(tmp_path)) == 3 and len(receiver.posts) == 3


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


def test_a_batch_reads_alerts_log_once_not_once_per_alert(tmp_path):
    _older_lines(tmp_path / "alerts.log", 100_000)
    batch = [{"rule": "position_drift", "key": f"N{i}", "message": f"drift {i}"} for i in range(500)]
    start = time.monotonic()
    raised = alerts.raise_alerts(tmp_path, DAY, "r1", "reconcile", batch)
    assert time.monotonic() - start < 2.0  # a scan per alert took ~12 s here
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


def test_the_receiver_gets_the_rule_the_date_and_the_message(tmp_path, receiver):
    alerts.raise_alert(tmp_path, DAY, "manual__1", "report", "the portfolio returned -4.00% on 2025-12-31",
                       rule="daily_drawdown", key="daily_return", settings=AlertsConfig(channels=[receiver.url()]))
    [(path, payload)] = receiver.posts
    assert path == f"/hook/{TOKEN}"
    assert "daily_drawdown" in payload["title"] and "2025-12-31" in payload["title"]
    assert "the portfolio returned -4.00% on 2025-12-31" in payload["message"]
    assert "rule: daily_drawdown" in payload["message"] and "trade date: 2025-12-31" in payload["message"]
    assert "run: manual__1" in payload["message"]
    assert payload["type"] == "failure"


def _batch(n: int) -> list[dict]:
    return [{"rule": "position_drift", "key": f"S{i:02d}", "message": f"S{i:02d}: broker 10, ledger {i}"}
            for i in range(n)]


def test_a_batch_of_new_alerts_is_one_digest_notification(tmp_path, receiver):
    alerts.raise_alerts(tmp_path / "logs", DAY, "r1", "reconcile", _batch(10),
                        settings=AlertsConfig(channels=[receiver.url()]))
    [(_, payload)] = receiver.posts
    assert payload["title"] == "paper-trading error: 10 alerts from reconcile on 2025-12-31"
    for i in range(10):
        assert f"- [position_drift] S{i:02d}: S{i:02d}: broker 10, ledger {i}" in payload["message"]
    assert "run: r1" in payload["message"] and "more" not in payload["message"]


def test_a_digest_lists_the_first_50_alerts_and_counts_the_rest(tmp_path, receiver):
    alerts.raise_alerts(tmp_path / "logs", DAY, "r1", "reconcile", _batch(60),
                        settings=AlertsConfig(channels=[receiver.url()]))
    [(_, payload)] = receiver.posts
    assert "- [position_drift] S49:" in payload["message"] and "S50" not in payload["message"]
    assert "… and 10 more — see logs/alerts.log" in payload["message"]
    assert len(lines(tmp_path / "logs")) == 60


def test_a_batch_of_one_new_alert_is_sent_as_itself(tmp_path, receiver):
    alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", "S00 drift", rule="position_drift", key="S00")
    alerts.raise_alerts(tmp_path, DAY, "r1", "reconcile", _batch(2), settings=AlertsConfig(channels=[receiver.url()]))
    [(_, payload)] = receiver.posts  # S00 was raised already: S01 only
    assert payload["title"] == "paper-trading error: position_drift on 2025-12-31"
    assert payload["message"].startswith("S01: broker 10, ledger 1\n\nrule: position_drift\nkey: S01\n")


def test_a_batch_to_a_hanging_channel_waits_one_timeout_not_one_per_alert(tmp_path, receiver):
    start = time.monotonic()
    alerts.raise_alerts(tmp_path, DAY, "r1", "reconcile", _batch(8),
                        settings=AlertsConfig(channels=[receiver.url("/slow")], timeout_s=0.5))
    assert time.monotonic() - start < 2.5  # 8 alerts x 0.5 s before
    assert len(lines(tmp_path)) == 8


def test_channels_from_the_environment_are_used_with_the_configs(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ALERT_URLS", f"{receiver.url('/env/' + TOKEN)} , {receiver.url()}")
    alerts.raise_alert(tmp_path, DAY, "r1", "x", "low cash", rule="cash_buffer", key="cash", severity="warning",
                       settings=AlertsConfig(channels=[receiver.url()]))
    assert sorted(p for p, _ in receiver.posts) == sorted([f"/env/{TOKEN}", f"/hook/{TOKEN}"])  # each URL once
    assert {b["type"] for _, b in receiver.posts} == {"warning"}


def test_dead_failing_and_invalid_channels_never_fail_the_run(tmp_path, receiver, caplog):
    channels = [dead_url(), receiver.url(f"/fail/{TOKEN}"), "nosuchscheme://x/" + TOKEN, receiver.url()]
    with caplog.at_level(logging.DEBUG):
        record = alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", "cash -5.00", rule="cash_short", key="cash",
                                    settings=AlertsConfig(channels=channels))
    assert record["rule"] == "cash_short" and len(lines(tmp_path)) == 1
    assert sorted(p for p, _ in receiver.posts) == sorted([f"/fail/{TOKEN}", f"/hook/{TOKEN}"])
    warnings = [r.getMessage() for r in caplog.records if r.name == "paper_trading.alerts" and r.levelname == "WARNING"]
    assert any("json://127.0.0.1 (channel 1): not delivered" in w for w in warnings), warnings
    assert any("json://127.0.0.1 (channel 2): not delivered" in w for w in warnings), warnings
    assert any("nosuchscheme:// (channel 3): not a valid apprise URL" in w for w in warnings), warnings
    assert not any("channel 4" in w for w in warnings)
    assert not any(TOKEN in r.getMessage() for r in caplog.records)  # apprise's own DEBUG lines included


def test_delivery_is_bounded_in_time(tmp_path, receiver):
    start = time.monotonic()
    result = alerts.deliver({"trade_date": "2025-12-31", "rule": "other", "key": "", "severity": "error",
                             "message": "m", "step": "x", "run_id": "r"}, [receiver.url("/slow")], timeout_s=0.5)
    assert time.monotonic() - start < 2.5
    assert result == {"json://127.0.0.1 (channel 1)": False}


def test_channel_urls_are_secrets(tmp_path, receiver, monkeypatch):
    slack = "slack://TokenA1234/TokenB5678/TokenC90123456"
    monkeypatch.setenv("PAPER_TRADING_ALERT_URLS", slack)
    with step_logging("reconcile", DAY, "r1", tmp_path):
        alerts.raise_alert(tmp_path, DAY, "r1", "reconcile", f"posting to {receiver.url()} failed",
                           rule="other", settings=AlertsConfig(channels=[receiver.url()]))
        alerts.get_logger("reconcile").warning("token %s and %s", TOKEN, "TokenB5678")
    text = (tmp_path / "alerts.log").read_text() + (tmp_path / "reconcile_20251231.log").read_text()
    for secret in (TOKEN, "TokenA1234", "TokenB5678", "TokenC90123456", slack):
        assert secret not in text
    assert alerts.channel_label(slack, 0) == "slack:// (channel 1)"
    assert redact(f"see {receiver.url()}") == "see ***"
    assert "hooks" in redact("hooks and services stay readable")


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


def test_a_task_failure_is_recorded_once_and_not_sent_from_here(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ALERT_URLS", receiver.url())
    for attempt in (1, 2):
        alerts.record_task_failure(tmp_path, dag_id="paper_trading_daily", task_id="plan", run_id="manual__1",
                                   trade_date=DAY, try_number=attempt, error=RuntimeError("boom"))
    [line] = lines(tmp_path / "logs")
    assert (line["rule"], line["key"], line["step"]) == ("task_failed", "paper_trading_daily.plan", "plan")
    assert "task paper_trading_daily.plan failed (try 1): RuntimeError: boom" == line["message"]
    assert receiver.posts == []


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
    after = dt.datetime(2025, 12, 31, 15, 0, tzinfo=dt.timezone.utc)
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
