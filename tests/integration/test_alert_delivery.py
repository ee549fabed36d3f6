"""Alerts delivered with apprise to a local HTTP receiver (tests/alert_receiver.py, a server on a
thread of the test process): each new alert is sent once, a batch is one digest, a dead, failing or
slow channel never fails the run, channel URLs never leak. alerts.log itself: tests/unit/test_alerts.py."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest

from paper_trading.alerts import delivery as alerts
from paper_trading.config import AlertsConfig
from paper_trading.logging_setup import redact, step_logging
from tests.alert_receiver import TOKEN, Receiver, dead_url
from tests.unit.test_alerts import DAY, lines, no_env_channels  # noqa: F401 (autouse fixture)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


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


def test_a_task_failure_is_recorded_once_and_not_sent_from_here(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("PAPER_TRADING_ALERT_URLS", receiver.url())
    for attempt in (1, 2):
        alerts.record_task_failure(tmp_path, dag_id="paper_trading_daily", task_id="plan", run_id="manual__1",
                                   trade_date=DAY, try_number=attempt, error=RuntimeError("boom"))
    [line] = lines(tmp_path / "logs")
    assert (line["rule"], line["key"], line["step"]) == ("task_failed", "paper_trading_daily.plan", "plan")
    assert line["message"] == "task paper_trading_daily.plan failed (try 1): RuntimeError: boom"
    assert receiver.posts == []
