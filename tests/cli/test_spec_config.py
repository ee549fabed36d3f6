"""A config.yaml written from the specification's own keys loads (each key the spec names
differently from us is taken with a one-line note) and drives a dry run; what we refuse on purpose
is refused with the reason, naming the file and the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from paper_trading.config import load_config
from paper_trading.errors import ConfigError

SPEC_CONFIG = """\
idempotency:
  enable_client_order_id: true
  prefix: sp
risk:
  max_share_per_order: 5000
  max_notional_per_order: 50000
  price_source: alpaca_snapshot
  price_tolerance_pct: 0.02
  max_total_notional: 500000
  min_cash_buffer_pct: 0.01
  reject_if_price_missing: true
scheduler:
  time: "09:40"
"""


def write(project, text: str, name: str = "spec.yaml"):
    (project / "config" / name).write_text(text)
    return f"config/{name}"


def cli(project, *args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("APCA_", "PAPER_TRADING_ROOT"))}
    return subprocess.run([sys.executable, "-m", "paper_trading", *args], cwd=project, capture_output=True,
                          text=True, timeout=300, env={**base, **(env or {})})


def test_the_specs_keys_map_onto_ours(project):
    cfg = load_config(write(project, SPEC_CONFIG), project)
    assert cfg.execution.client_order_prefix == "sp" and cfg.execution.enable_client_order_id is True
    assert cfg.rebalance.price_source == "broker"  # the spec's alpaca_snapshot
    assert (cfg.risk.max_share_per_order, cfg.risk.max_total_notional) == (5000, 500000)
    assert cfg.scheduler.time == "09:40"


def test_a_config_of_only_the_specs_keys_drives_a_dry_run(project, sim):
    sim.admin("POST", "/sim/clock", {"to": "2025-12-31T14:45:00Z"})
    env = {"APCA_API_KEY_ID": sim.key, "APCA_API_SECRET_KEY": sim.secret, "APCA_API_BASE_URL": sim.url,
           "APCA_API_DATA_URL": sim.url}
    result = cli(project, "run", "--config", write(project, SPEC_CONFIG), "--date", "2025-12-31", "--once",
                 "--mode", "dry", "--signal-mode", "select", "--pick", "drl", "-v", env=env)
    assert result.returncode == 0, result.stderr
    for note in ("config/spec.yaml: idempotency.prefix is the spec's name of execution.client_order_prefix",
                 "config/spec.yaml: risk.price_source is the spec's name of rebalance.price_source "
                 "(alpaca_snapshot is broker)"):
        assert note in result.stderr
    assert (project / "data" / "outputs" / "approved_orders_20251231.csv").exists()


@pytest.mark.parametrize("text, message", [
    ("idempotency:\n  enable_client_order_id: false\n",
     "idempotency.enable_client_order_id: false is refused: deterministic client_order_ids are always on, because a "
     "random id is unsafe under retries (a retried submit could send the order twice)"),
    ("execution:\n  enable_client_order_id: false\n",
     "execution.enable_client_order_id: false is refused: deterministic client_order_ids are always on, because a "
     "random id is unsafe under retries (a retried submit could send the order twice)"),
    ("idempotency:\n  prefix: sp\nexecution:\n  client_order_prefix: pt\n",
     "idempotency.prefix and execution.client_order_prefix are one setting with two values ('sp', 'pt'): keep one"),
    ("risk:\n  price_source: snapshot\n", "risk.price_source: expected one of alpaca_snapshot, file, got 'snapshot'"),
    ("idempotency:\n  nonce: 8\n", "idempotency.nonce: is not a known field (idempotency takes "
                                   "enable_client_order_id and prefix)"),
    ("scheduler:\n  time: '9:35'\n", "scheduler.time: "),
    ("scheduler:\n  timezone: UTC\n", "scheduler.timezone: "),
])
def test_what_the_spec_allows_and_we_refuse_is_one_clear_line_naming_file_and_key(project, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(project, text), project)
    assert str(err.value).startswith(f"config/spec.yaml: {message}")


def test_a_refused_key_stops_the_cli_with_exit_2_and_writes_nothing(project):
    result = cli(project, "plan", "--config", write(project, "idempotency:\n  enable_client_order_id: false\n"),
                 "--date", "2025-12-31", "--equity", "1000", "--fill-price", "10")
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "idempotency.enable_client_order_id: false is refused" in result.stderr
    assert not (project / "data" / "outputs").exists()


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_a_bracket_time_in_force_alpaca_refuses_is_refused_at_load_with_the_reason(project, tif):
    with pytest.raises(ConfigError) as err:
        load_config(write(project, f"bracket:\n  time_in_force: {tif}\n"), project)
    assert str(err.value) == (f"config/spec.yaml: bracket.time_in_force: {tif} is refused: Alpaca accepts "
                              "only day or gtc for bracket orders")
