"""The fault campaign (issue 12 §2), 20 trials of it: whatever the faults, nothing is sent twice or
lost, the ledger equals the broker, every fault left a trace and no error was swallowed. The
campaign itself (200 trials, the table in docs/reliability.md) is `bench/chaos.py`."""

from __future__ import annotations

import collections
import random
import sys

import requests

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "bench"))

import chaos


def test_twenty_trials_of_faults_break_no_invariant(tmp_path):
    trials = chaos.campaign(20, seed=2026, out=tmp_path, sessions=1)
    violations = [f"trial {t.number} ({t.days[0]}, {[f['kind'] for f in t.faults]}): {v}"
                  for t in trials for v in t.violations]
    assert violations == []
    fired = collections.Counter(f["kind"] for t in trials for f in t.faults if f["fired"])
    assert len(fired) >= 6, fired  # the faults really happened, of most kinds
    assert sum(len(t.failures) for t in trials) > 0  # and some made steps fail and run again


def test_the_invariants_catch_an_order_that_no_plan_approved(tmp_path):
    """The checker can fail: an order sent behind the runner's back (as a duplicate would be) is
    reported."""
    project = tmp_path / "project"
    import shutil

    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, project / part)
    trial = chaos.Trial(1, 7, chaos.sessions_for(random.Random(7), 1))
    runner = chaos.Runner(trial, project, kinds=())
    checked = []
    original = runner.check

    def plant_then_check() -> None:
        day = trial.days[0]
        requests.post(f"{runner.sim.url}/v2/orders", headers=runner.sim.headers, timeout=10, json={
            "symbol": "AAPL", "qty": "1", "side": "buy", "type": "limit", "limit_price": "1", "time_in_force": "gtc",
            "client_order_id": f"pt-{day:%Y%m%d}-AAPL-buy-r9"}).raise_for_status()
        original()
        checked.append(True)

    runner.check = plant_then_check
    runner.run()
    assert checked
    assert any("no approved plan has" in v and "AAPL-buy-r9" in v for v in trial.violations), trial.violations


def test_the_invariants_catch_a_position_its_exits_no_longer_cover(tmp_path):
    """The coverage check can fail: one working take-profit cancelled behind the runner's back
    leaves its shares bare, and is reported."""
    import shutil

    project = tmp_path / "project"
    for part in ("config", "data/raw_signals", "data/mapping"):
        shutil.copytree(REPO / part, project / part)
    trial = chaos.Trial(1, 7, chaos.sessions_for(random.Random(7), 1))
    runner = chaos.Runner(trial, project, kinds=())
    original = runner.check

    def uncover_then_check() -> None:
        listed = requests.get(f"{runner.sim.url}/v2/orders", headers=runner.sim.headers, timeout=10,
                              params={"status": "open", "nested": "false", "limit": 500}).json()
        exit_leg = next(o for o in listed if o["side"] == "sell" and o["type"] == "limit")
        requests.delete(f"{runner.sim.url}/v2/orders/{exit_leg['id']}", headers=runner.sim.headers,
                        timeout=10).raise_for_status()
        original()

    runner.check = uncover_then_check
    runner.run()
    assert any(v.startswith("coverage: ") for v in trial.violations), trial.violations
