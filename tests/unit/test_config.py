"""config.yaml and strategy_manifest.yaml are validated on load, with one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from paper_trading.config import load_config, load_manifest
from paper_trading.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(root: Path, name: str, text: str) -> Path:
    path = root / "config" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shipped_config_and_manifest_are_valid():
    config = load_config(REPO / "config" / "config.yaml", REPO)
    specs = load_manifest(REPO / config.signal_bus.manifest, REPO)
    assert [s.id for s in specs] == ["drl", "equal", "ml"]
    assert [s.format for s in specs] == ["csv", "xlsx", "parquet"]
    assert all(s.abs_path.is_file() for s in specs)


def test_manifest_missing_field_names_file_strategy_and_field(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: drl\n    format: csv\n")
    with pytest.raises(ConfigError) as err:
        load_manifest("config/m.yaml", tmp_path)
    assert str(err.value) == "config/m.yaml: strategies[0](id=drl).path: is required"


def test_manifest_unknown_field_is_rejected(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: drl\n    path: a.csv\n    colum_mapping: {}\n")
    with pytest.raises(ConfigError, match=r"strategies\[0\]\(id=drl\)\.colum_mapping: is not a known field"):
        load_manifest("config/m.yaml", tmp_path)


@pytest.mark.parametrize("path", ["../outside.csv", "data/../../outside.csv"])
def test_manifest_path_must_stay_inside_the_project(tmp_path, path):
    _write(tmp_path, "m.yaml", f"strategies:\n  - id: drl\n    path: {path}\n")
    with pytest.raises(ConfigError, match="must stay inside the project root"):
        load_manifest("config/m.yaml", tmp_path)


def test_manifest_absolute_path_is_rejected(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: drl\n    path: /etc/passwd\n    format: csv\n")
    with pytest.raises(ConfigError, match="must be a path relative to the project root"):
        load_manifest("config/m.yaml", tmp_path)


def test_manifest_format_is_inferred_from_the_suffix_or_must_be_given(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: a\n    path: x.parquet\n  - id: b\n    path: y.dat\n")
    with pytest.raises(ConfigError, match=r"strategies\[1\]\(id=b\): format is not given and cannot be told"):
        load_manifest("config/m.yaml", tmp_path)


def test_manifest_column_mapping_must_target_standard_columns(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: a\n    path: x.csv\n    column_mapping: {w: weight}\n")
    with pytest.raises(ConfigError, match="maps 'w' to 'weight'; expected one of trade_date, asset_id, target_weight"):
        load_manifest("config/m.yaml", tmp_path)


def test_manifest_ids_must_be_unique(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - {id: a, path: x.csv}\n  - {id: a, path: y.csv}\n")
    with pytest.raises(ConfigError, match="strategy ids must be unique; repeated: a"):
        load_manifest("config/m.yaml", tmp_path)


def test_manifest_yaml_syntax_error_names_the_line(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: a\n    path: [x.csv\n")
    with pytest.raises(ConfigError, match=r"config/m.yaml: line \d+ not valid YAML"):
        load_manifest("config/m.yaml", tmp_path)


def test_yaml_is_loaded_safely(tmp_path):
    _write(tmp_path, "m.yaml", "strategies: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_manifest("config/m.yaml", tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ConfigError, match="config/nope.yaml: file not found"):
        load_manifest("config/nope.yaml", tmp_path)


def test_config_blend_weights_must_sum_to_one(tmp_path):
    _write(tmp_path, "c.yaml", "signal_bus:\n  mode: blend\n  blend: {drl: 0.6, equal: 0.6}\n")
    with pytest.raises(ConfigError, match=r"config/c.yaml: signal_bus.blend: weights must sum to 1, got 1.2"):
        load_config("config/c.yaml", tmp_path)


def test_config_select_needs_a_pick(tmp_path):
    _write(tmp_path, "c.yaml", "signal_bus:\n  mode: select\n")
    with pytest.raises(ConfigError, match="config/c.yaml: signal_bus: mode 'select' needs 'pick'"):
        load_config("config/c.yaml", tmp_path)


def test_config_wrong_type_names_the_field(tmp_path):
    _write(tmp_path, "c.yaml", "signal_bus:\n  mode: sometimes\n  pick: drl\n")
    with pytest.raises(ConfigError) as err:
        load_config("config/c.yaml", tmp_path)
    assert str(err.value) == "config/c.yaml: signal_bus.mode: input should be 'select' or 'blend', got 'sometimes'"


BASE = "signal_bus:\n  mode: select\n  pick: drl\n"


@pytest.mark.parametrize("text", [
    BASE + "risk:\n  max_share_per_order: 100\n  max_share_per_order: 5\n",
    BASE + "risk:\n  blacklist: []\nrisk:\n  max_share_per_order: 5\n",
    "signal_bus:\n  mode: blend\n  blend: {drl: 0.5, drl: 0.5}\n",
])
def test_config_duplicate_keys_are_refused_with_both_lines(tmp_path, text):
    _write(tmp_path, "c.yaml", text)
    with pytest.raises(ConfigError, match=r"config/c.yaml: line \d+ not valid YAML \(duplicate key '\w+' \(first on line \d+\)\)"):
        load_config("config/c.yaml", tmp_path)


def test_manifest_duplicate_keys_are_refused(tmp_path):
    _write(tmp_path, "m.yaml", "strategies:\n  - id: a\n    path: x.csv\n    path: y.csv\n")
    with pytest.raises(ConfigError, match=r"config/m.yaml: line 4 not valid YAML \(duplicate key 'path' \(first on line 3\)\)"):
        load_manifest("config/m.yaml", tmp_path)


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "true"])
def test_config_yaml_booleans_are_not_numbers(tmp_path, word):
    _write(tmp_path, "c.yaml", BASE + f"risk:\n  max_share_per_order: {word}\n")
    with pytest.raises(ConfigError) as err:
        load_config("config/c.yaml", tmp_path)
    assert str(err.value) == (f"config/c.yaml: risk.max_share_per_order: expected a number, got the boolean "
                              f"{str(word in ('yes', 'on', 'true')).lower()} (YAML reads yes/no/on/off/true/false as booleans)")


def test_config_whole_number_field_refuses_a_boolean(tmp_path):
    _write(tmp_path, "c.yaml", BASE + "broker:\n  requests_per_minute: on\n")
    with pytest.raises(ConfigError, match=r"broker.requests_per_minute: expected a whole number, got the boolean true"):
        load_config("config/c.yaml", tmp_path)


@pytest.mark.parametrize("value, expected", [
    ("'100'", "input should be a valid number, got '100'"),
    (".nan", "input should be a finite number, got nan"),
    (".inf", "input should be a finite number, got inf"),
])
def test_config_numbers_are_strict_and_finite(tmp_path, value, expected):
    _write(tmp_path, "c.yaml", BASE + f"risk:\n  max_notional_per_order: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config("config/c.yaml", tmp_path)
    assert str(err.value) == f"config/c.yaml: risk.max_notional_per_order: {expected}"


def test_config_booleans_are_strict(tmp_path):
    _write(tmp_path, "c.yaml", BASE + "rebalance:\n  fractional: 1\n")
    with pytest.raises(ConfigError, match=r"rebalance.fractional: input should be a valid boolean, got 1"):
        load_config("config/c.yaml", tmp_path)


@pytest.mark.parametrize("field, text", [("blacklist", "[AAPL, 'AA PL']"), ("volatility", "{market_symbol: 'SP;Y'}")])
def test_config_symbols_follow_alpaca_syntax(tmp_path, field, text):
    _write(tmp_path, "c.yaml", BASE + f"risk:\n  {field}: {text}\n")
    with pytest.raises(ConfigError, match=r"expected a symbol of letters and digits"):
        load_config("config/c.yaml", tmp_path)


def test_config_blacklist_is_trimmed_and_upper_cased(tmp_path):
    _write(tmp_path, "c.yaml", BASE + "risk:\n  blacklist: [' brk.b ', aapl]\n")
    assert load_config("config/c.yaml", tmp_path).risk.blacklist == ["BRK.B", "AAPL"]


def test_a_strategy_given_twice_in_a_blend_argument_is_refused():
    from paper_trading.config import parse_blend

    with pytest.raises(ValueError, match="'drl' is given twice"):
        parse_blend("drl=0.5,equal=0.5,drl=0.2")


CHANNEL = "slack://T1JJ3T3L2/B1JJ3T3L2/Secret8s9d8f7g6h"


@pytest.mark.parametrize("channels, where, kind", [
    (f"'{CHANNEL}'", "alerts.channels", "input should be a valid list, got text"),
    (f"['{CHANNEL}', 5]", "alerts.channels[1]", "input should be a valid string, got a whole number"),
    (f"[{{url: '{CHANNEL}'}}]", "alerts.channels[0]", "input should be a valid string, got a mapping"),
    (f"[{{id: '{CHANNEL}'}}]", "alerts.channels[0]", "input should be a valid string, got a mapping"),
], ids=["a-string", "a-number-beside-a-url", "a-mapping", "a-mapping-with-an-id"])
def test_no_input_under_alerts_channels_is_shown_only_its_type(tmp_path, channels, where, kind):
    _write(tmp_path, "config.yaml", f"signal_bus: {{mode: select, pick: a}}\nalerts:\n  channels: {channels}\n")
    with pytest.raises(ConfigError) as err:
        load_config("config/config.yaml", tmp_path)
    assert str(err.value) == f"config/config.yaml: {where}: {kind} (not shown: channel URLs hold tokens)"
    assert "T1JJ3T3L2" not in str(err.value)


def test_config_protection_is_per_lot_unless_whole_position_is_asked(tmp_path):
    _write(tmp_path, "c.yaml", BASE)
    assert load_config("config/c.yaml", tmp_path).execution.protection == "per_lot"
    _write(tmp_path, "c.yaml", BASE + "execution:\n  protection: whole_position\n")
    assert load_config("config/c.yaml", tmp_path).execution.protection == "whole_position"


@pytest.mark.parametrize("text, expected", [
    ("  protection: per_position\n", "execution.protection: input should be 'per_lot' or 'whole_position', got "
                                     "'per_position'"),
    ("  exit_renew_days: 0\n", "execution.exit_renew_days: Input should be greater than or equal to 1"),
    ("  exit_renew_days: 90\n", "execution.exit_renew_days: Input should be less than or equal to 80"),
])
def test_config_protection_keys_are_checked(tmp_path, text, expected):
    _write(tmp_path, "c.yaml", BASE + "execution:\n" + text)
    with pytest.raises(ConfigError) as err:
        load_config("config/c.yaml", tmp_path)
    assert str(err.value) == f"config/c.yaml: {expected}"
