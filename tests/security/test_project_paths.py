"""No path from the config, the manifest or a run's parameters leads out of the project root: every
path the config names (`paths.*`, the signal bus's manifest, output and cache folders, the prices
file, the kill-switch file, a SQLite ledger) and every strategy path of the manifest is refused
when it is absolute, starts with `~`, holds a NUL byte or a backslash, or leads out through `..` or
a symlink; a trade date (the only parameter that becomes part of a file name) is a date or an
error. Percent signs are plain file-name characters: nothing decodes them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from paper_trading.config import load_config, load_manifest
from paper_trading.errors import ConfigError
from paper_trading.trading_calendar import resolve_trade_date

#: (the field, its line in the shipped config.yaml); each is replaced by a bad value in turn.
CONFIG_PATHS = [
    ("signal_bus.manifest", "  manifest: config/strategy_manifest.yaml"),
    ("signal_bus.output_dir", "  output_dir: data/intermediate"),
    ("signal_bus.cache_dir", "  cache_dir: data/cache/signals"),
    ("paths.logs", "  logs: logs"),
    ("paths.mapping", "  mapping: data/mapping/instrument_map.csv"),
    ("paths.outputs", "  outputs: data/outputs"),
    ("paths.reports", "  reports: data/reports"),
    ("risk.kill_switch_file", "  kill_switch_file: config/KILL_SWITCH"),
]
#: (a bad value as YAML, what the error says).
ESCAPES = [
    ('"../outside"', "must stay inside the project root"),
    ('"data/../../outside"', "must stay inside the project root"),
    ('"data/link-out/x"', "must stay inside the project root"),  # a symlink to a folder outside
    ('"/etc/passwd"', "got absolute"),
    ('"~/outside"', "'~' is not expanded"),
    ('"data\\0x"', "must not contain a NUL byte"),
    ('"..\\\\outside"', "separate folders with '/', not '\\'"),
    ('""', "got an empty one"),
]


@pytest.fixture
def root(project, tmp_path) -> Path:
    """The project copy, with a folder beside it and a symlink inside it pointing there."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "data" / "link-out").symlink_to(outside, target_is_directory=True)
    return project


def set_config_line(root: Path, line: str, new: str) -> None:
    config = root / "config" / "config.yaml"
    text = config.read_text()
    assert text.count(line + "\n") + text.count(line + " ") >= 1, line
    config.write_text(text.replace(line, new, 1))


@pytest.mark.parametrize(("value", "message"), ESCAPES, ids=[v for v, _ in ESCAPES])
@pytest.mark.parametrize(("field", "line"), CONFIG_PATHS, ids=[f for f, _ in CONFIG_PATHS])
def test_a_config_path_leading_out_of_the_project_is_refused(root, field, line, value, message):
    set_config_line(root, line, f"{line.split(':')[0]}: {value}")
    with pytest.raises(ConfigError) as refused:
        load_config("config/config.yaml", root)
    assert f"config/config.yaml: {field}: " in str(refused.value) and message in str(refused.value)


@pytest.mark.parametrize(("value", "message"), ESCAPES[:5], ids=[v for v, _ in ESCAPES[:5]])
def test_a_prices_file_leading_out_of_the_project_is_refused(root, value, message):
    set_config_line(root, "  price_source: broker", f"  prices_file: {value}\n  price_source: broker")
    with pytest.raises(ConfigError, match=rf"rebalance\.prices_file: .*{message}"):
        load_config("config/config.yaml", root)


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite:///../ledger.sqlite", "must stay inside the project root"),
    ("sqlite:///data/link-out/ledger.sqlite", "must stay inside the project root"),
    ("sqlite:////tmp/ledger.sqlite", "got absolute"),
    ("sqlite:///~/ledger.sqlite", "'~' is not expanded"),
])
def test_a_sqlite_ledger_named_in_the_config_must_be_inside_the_project(root, url, message):
    set_config_line(root, "  url: null", f"  url: {url}")
    with pytest.raises(ConfigError, match=rf"ledger\.url: the SQLite file .*{message}"):
        load_config("config/config.yaml", root)


@pytest.mark.parametrize("url", ["sqlite:///data/ledger.sqlite", "sqlite:///:memory:",
                                 "postgresql+psycopg://ledger@db.internal/paper_trading"])
def test_a_ledger_inside_the_project_or_on_a_server_is_accepted(root, url):
    set_config_line(root, "  url: null", f'  url: "{url}"')
    assert load_config("config/config.yaml", root).ledger.url == url


def test_a_percent_encoded_path_is_a_literal_folder_inside_the_project(root):
    set_config_line(root, "  outputs: data/outputs", '  outputs: "%2e%2e/%2E%2E/outside"')
    outputs = load_config("config/config.yaml", root).paths.outputs
    assert outputs == "%2e%2e/%2E%2E/outside" and (root / outputs).resolve().is_relative_to(root.resolve())


def test_a_path_through_dot_dot_that_stays_inside_is_accepted(root):
    set_config_line(root, "  outputs: data/outputs", "  outputs: data/../data/outputs")
    assert load_config("config/config.yaml", root).paths.outputs == "data/../data/outputs"


@pytest.mark.parametrize(("value", "message"), ESCAPES[:-1], ids=[v for v, _ in ESCAPES[:-1]])
def test_a_manifest_strategy_path_leading_out_of_the_project_is_refused(root, value, message):
    manifest = root / "config" / "escape.yaml"
    manifest.write_text(f"strategies:\n  - id: drl\n    path: {value}\n    format: csv\n")
    with pytest.raises(ConfigError) as refused:
        load_manifest("config/escape.yaml", root)
    assert "config/escape.yaml: strategies[0](id=drl): path " in str(refused.value) and message in str(refused.value)


def test_a_step_with_an_escaping_config_path_stops_before_writing_anything(root, tmp_path):
    """The command line, as a user meets it: one line naming the field, nothing written out there."""
    set_config_line(root, "  output_dir: data/intermediate", "  output_dir: ../outside/intermediate")
    result = subprocess.run([sys.executable, "-m", "paper_trading", "signal-bus", "--root", str(root), "--date",
                             "2025-12-31", "--mode", "select", "--pick", "drl"], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("error: config/config.yaml: signal_bus.output_dir: must stay inside the "
                                              "project root, '../outside/intermediate' points outside it")
    assert list((tmp_path / "outside").iterdir()) == []


@pytest.mark.parametrize("run_date", ["../../etc/passwd", "2025-12-31/../../x", "2025-12-31\x00", "20251231.log",
                                      "2025-12-31T00:00:00/..", "%32%30%32%35-12-31", "~/2025-12-31", "2025-02-30"])
def test_a_run_date_that_is_not_a_date_is_refused_before_any_file_is_named(run_date):
    with pytest.raises(ConfigError, match="^run_date: expected a date"):
        resolve_trade_date(run_date)
