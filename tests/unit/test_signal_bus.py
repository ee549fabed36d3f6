"""M1 — the signal bus, behaviour by behaviour (spec §3.1 and its test plan T1/T2)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from paper_trading import steps
from paper_trading.errors import ConfigError, InputError
from paper_trading.signals.bus import enforce_constraints_and_normalize, read_targets

from .signal_files import csv_strategy, write_csv, write_manifest

DAY = dt.date(2025, 3, 3)
D = "2025-03-03"


def run(root, **kwargs):
    kwargs.setdefault("mode", "select")
    return steps.consolidate_signals(DAY, root=root, **kwargs)


def out_file(root, day=DAY):
    return root / "data" / "intermediate" / f"targets_consolidated_{day:%Y%m%d}.parquet"


def two_strategies(root):
    a = write_csv(root, "a.csv", [(D, "001690", 0.6), (D, "012141", 0.4), ("2025-02-28", "001690", 1.0)])
    b = write_csv(root, "b.csv", [(D, "001690", 0.2), (D, "064768", 0.8)])
    write_manifest(root, [csv_strategy("a", a), csv_strategy("b", b)])


# ------------------------------------------------------------------------------------- T1 / T2


def test_T1_overlapping_asof_latest_wins_sorted_and_sums_to_one(tmp_path):
    rows = pd.DataFrame(
        {
            "trade_date": [DAY] * 5,
            "asset_id": ["064768", "001690", "012141", "001690", "064768"],
            "target_weight": [0.5, 0.3, 0.2, 0.9, 0.1],
            "asof": pd.to_datetime(
                ["2025-03-03T11:30Z", "2025-03-03T11:30Z", "2025-03-03T11:30Z", "2025-03-03T13:00Z", "2025-03-03T13:00Z"]
            ),
        }
    )
    path = tmp_path / "data" / "raw_signals" / "ml.parquet"
    path.parent.mkdir(parents=True)
    rows.to_parquet(path)
    write_manifest(tmp_path, [{"id": "ml", "path": "data/raw_signals/ml.parquet"}])

    run(tmp_path, pick="ml")

    targets = read_targets(out_file(tmp_path))
    assert list(targets["asset_id"]) == ["001690", "012141", "064768"]
    raw = {"001690": 0.9, "012141": 0.2, "064768": 0.1}  # latest asof per asset
    total = sum(raw.values())
    assert targets.set_index("asset_id")["target_weight"].to_dict() == pytest.approx({k: v / total for k, v in raw.items()})
    assert abs(targets["target_weight"].sum() - 1.0) <= 1e-9
    assert targets.set_index("asset_id").loc["012141", "asof"] == pd.Timestamp("2025-03-03T11:30Z")


def test_T2_negative_weight_names_strategy_file_and_row(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.6), (D, "012141", -0.1)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError) as err:
        run(tmp_path, pick="a")
    assert str(err.value) == (
        "strategy a, data/raw_signals/a.csv row 3: target_weight is negative (-0.1); "
        "short positions are not allowed (asset 012141)"
    )
    assert not out_file(tmp_path).exists()


def test_negative_weight_is_rejected_by_enforce_constraints():
    frame = pd.DataFrame({"trade_date": [DAY, DAY], "asset_id": ["001690", "012141"], "target_weight": [1.2, -0.2]})
    with pytest.raises(InputError, match="negative"):
        enforce_constraints_and_normalize(frame)


# ------------------------------------------------------------------------------ bad weights


def test_nan_weight_names_the_row(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.6), (D, "012141", None)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"strategy a, data/raw_signals/a.csv row 3: target_weight is missing or NaN"):
        run(tmp_path, pick="a")


def test_non_numeric_weight_names_the_line(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", "0.6"), ("2025-02-28", "012141", "abc")])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"data/raw_signals/a.csv \(strategy a\) row 3: target_weight expected a number, got 'abc'"):
        run(tmp_path, pick="a")


def test_all_weights_zero_for_the_date_is_an_error(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.0), (D, "012141", 0.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"strategy a \(data/raw_signals/a.csv\): all weights for 2025-03-03 are zero"):
        run(tmp_path, pick="a")


def test_zero_weights_are_kept_as_targets_of_zero(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0), (D, "012141", 0.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path)).set_index("asset_id")["target_weight"].to_dict() == {"001690": 1.0, "012141": 0.0}


def test_weights_not_summing_to_one_are_normalized(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 3.0), (D, "012141", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path))["target_weight"].tolist() == [0.75, 0.25]


# -------------------------------------------------------------------------------- duplicates


def test_exact_duplicate_rows_are_dropped(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.5), (D, "001690", 0.5), (D, "012141", 0.5)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path))["target_weight"].tolist() == [0.5, 0.5]


def test_same_asset_twice_with_different_weights_and_same_asof_is_an_error(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.5), (D, "012141", 0.2), (D, "1690", 0.3)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"rows 2 and 4 give asset 001690 two different weights \(0.5 and 0.3\)"):
        run(tmp_path, pick="a")


# ----------------------------------------------------------------------------- missing dates


def test_date_missing_in_the_picked_strategy_names_its_latest_date(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-02-28", "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError) as err:
        run(tmp_path, pick="a")
    assert str(err.value) == "strategy a has no rows for 2025-03-03 in data/raw_signals/a.csv (its latest date is 2025-02-28)"


def test_blend_with_a_strategy_missing_the_date_stops_by_default(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0)])
    b = write_csv(tmp_path, "b.csv", [("2025-02-28", "012141", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a), csv_strategy("b", b)])
    with pytest.raises(InputError, match="strategy b has no rows for 2025-03-03"):
        run(tmp_path, mode="blend", blend={"a": 0.5, "b": 0.5})
    assert not out_file(tmp_path).exists()


def test_blend_with_a_strategy_missing_the_date_can_renormalize_the_others(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 0.5), (D, "012141", 0.5)])
    b = write_csv(tmp_path, "b.csv", [("2025-02-28", "012141", 1.0)])
    c = write_csv(tmp_path, "c.csv", [(D, "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a), csv_strategy("b", b), csv_strategy("c", c)])
    summary = run(tmp_path, mode="blend", blend={"a": 0.3, "b": 0.5, "c": 0.2}, blend_missing="renormalize")
    targets = read_targets(out_file(tmp_path))
    # a and c keep their 3:2 ratio: a=0.6, c=0.4
    assert targets.set_index("asset_id")["target_weight"].to_dict() == pytest.approx({"001690": 0.7, "012141": 0.3})
    assert summary["blend_mode"] == "blend-renormalized"
    assert summary["strategy_set_id"] == "a=0.6+c=0.4"


def test_strategy_that_does_not_publish_every_day_is_carried_forward(tmp_path):
    a = write_csv(tmp_path, "a.csv", [("2025-02-03", "001690", 1.0), ("2025-03-04", "012141", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a, publishes_every_day=False)])
    run(tmp_path, pick="a")
    targets = read_targets(out_file(tmp_path))
    assert targets["asset_id"].tolist() == ["001690"]  # never the future row of 03-04
    assert targets["trade_date"].tolist() == [DAY]


# ------------------------------------------------------------------------------------- blend


def test_blend_is_a_weighted_sum_of_each_strategys_normalized_portfolio(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 6.0), (D, "012141", 4.0)])  # scale does not matter
    b = write_csv(tmp_path, "b.csv", [(D, "001690", 0.2), (D, "064768", 0.8)])
    write_manifest(tmp_path, [csv_strategy("a", a), csv_strategy("b", b)])
    summary = run(tmp_path, mode="blend", blend={"a": 0.6, "b": 0.4})
    targets = read_targets(out_file(tmp_path)).set_index("asset_id")["target_weight"].to_dict()
    assert targets == pytest.approx({"001690": 0.6 * 0.6 + 0.4 * 0.2, "012141": 0.6 * 0.4, "064768": 0.4 * 0.8})
    assert summary["strategy_set_id"] == "a=0.6+b=0.4"
    assert summary["blend_mode"] == "blend"


def test_blend_weights_not_summing_to_one_are_rejected(tmp_path):
    two_strategies(tmp_path)
    with pytest.raises(ConfigError, match=r"--blend: weights must sum to 1, got 0.9"):
        run(tmp_path, mode="blend", blend="a=0.5,b=0.4")


def test_unknown_pick_lists_the_known_strategies(tmp_path):
    two_strategies(tmp_path)
    with pytest.raises(ConfigError) as err:
        run(tmp_path, pick="nope")
    assert str(err.value) == "--pick: 'nope' is not a strategy of config/strategy_manifest.yaml; known: a, b"


# ---------------------------------------------------------------------------- files and columns


def test_missing_file_is_named(tmp_path):
    write_manifest(tmp_path, [csv_strategy("a", "data/raw_signals/gone.csv")])
    with pytest.raises(InputError, match=r"^data/raw_signals/gone.csv \(strategy a\): file not found$"):
        run(tmp_path, pick="a")


def test_empty_file_is_named(tmp_path):
    (tmp_path / "data" / "raw_signals").mkdir(parents=True)
    (tmp_path / "data" / "raw_signals" / "a.csv").write_text("")
    write_manifest(tmp_path, [csv_strategy("a", "data/raw_signals/a.csv")])
    with pytest.raises(InputError, match=r"data/raw_signals/a.csv \(strategy a\): file is empty"):
        run(tmp_path, pick="a")


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_unreadable_file_is_named(tmp_path, fmt):
    path = tmp_path / "data" / "raw_signals" / f"a.{fmt}"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a real file of that format")
    write_manifest(tmp_path, [{"id": "a", "path": f"data/raw_signals/a.{fmt}"}])
    with pytest.raises(InputError, match=rf"data/raw_signals/a.{fmt} \(strategy a\): cannot read as {fmt.upper() if fmt == 'xlsx' else 'Parquet'}"):
        run(tmp_path, pick="a")


def test_missing_column_after_mapping_names_it_and_lists_the_files_columns(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0)], columns=("date", "gvkey", "weights"))
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError) as err:
        run(tmp_path, pick="a")
    assert str(err.value) == (
        "data/raw_signals/a.csv (strategy a): missing column(s) 'trade_date' after column_mapping; "
        "the file has 'date', 'gvkey', 'weights'"
    )


def test_bad_gvkey_names_the_line(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0), (D, "AAPL", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"row 3: asset_id expected a gvkey of up to 6 digits, got 'AAPL'"):
        run(tmp_path, pick="a")


def test_bad_date_names_the_line(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0), ("03/03/2025", "012141", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    with pytest.raises(InputError, match=r"row 3: trade_date expected a date .* got '03/03/2025'"):
        run(tmp_path, pick="a")


# ----------------------------------------------------------------------- identifiers and dates


def test_gvkey_read_as_a_number_from_csv_matches_its_padded_form(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, 1690, 0.5), (D, 12141, 0.5)])
    assert (tmp_path / a).read_text().splitlines()[1] == "2025-03-03,1690,0.5"
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["001690", "012141"]


def test_gvkey_and_date_from_excel_number_and_date_cells(tmp_path):
    path = tmp_path / "data" / "raw_signals" / "e.xlsx"
    path.parent.mkdir(parents=True)
    frame = pd.DataFrame(
        {"trade_date": [dt.datetime(2025, 3, 3), dt.datetime(2025, 3, 3), dt.datetime(2025, 2, 28)],
         "gvkey": [1690, 12141.0, 1690], "weights": [0.5, 0.5, 1.0]}
    )
    frame.to_excel(path, index=False)
    write_manifest(tmp_path, [{"id": "e", "path": "data/raw_signals/e.xlsx",
                                "column_mapping": {"gvkey": "asset_id", "weights": "target_weight"}}])
    run(tmp_path, pick="e")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["001690", "012141"]


@pytest.mark.parametrize("value", ["2025-03-03", "20250303", 20250303, "2025-03-03 00:00:00", 45719])
def test_trade_date_representations_in_csv(tmp_path, value):
    a = write_csv(tmp_path, "a.csv", [(value, "001690", 1.0), ("2025-02-28", "012141", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["001690"]


@pytest.mark.parametrize(
    "values",
    [
        pd.to_datetime(["2025-03-03 00:00", "2025-02-28 00:00"]),  # naive datetime
        pd.to_datetime(["2025-03-03T15:00Z", "2025-02-28T15:00Z"]),  # an instant: its New York date
        [dt.date(2025, 3, 3), dt.date(2025, 2, 28)],
        ["20250303", "20250228"],
    ],
    ids=["datetime", "tz-aware", "date", "yyyymmdd-string"],
)
def test_trade_date_representations_in_parquet(tmp_path, values):
    path = tmp_path / "data" / "raw_signals" / "p.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"trade_date": values, "asset_id": ["001690", "012141"], "target_weight": [1.0, 1.0]}).to_parquet(path)
    write_manifest(tmp_path, [{"id": "p", "path": "data/raw_signals/p.parquet"}])
    run(tmp_path, pick="p")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["001690"]


def test_cli_date_accepts_both_spellings():
    from paper_trading.trading_calendar import parse_date

    assert parse_date("2025-03-03") == parse_date("20250303") == parse_date(dt.datetime(2025, 3, 3, 9)) == DAY


def test_rows_of_another_strategy_in_a_shared_file_are_ignored(tmp_path):
    path = tmp_path / "data" / "raw_signals" / "shared.parquet"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"strategy_id": ["x", "y"], "trade_date": [DAY, DAY], "asset_id": ["001690", "012141"],
                  "target_weight": [1.0, 1.0]}).to_parquet(path)
    write_manifest(tmp_path, [{"id": "x", "path": "data/raw_signals/shared.parquet"}])
    run(tmp_path, pick="x")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["001690"]


# ------------------------------------------------------------------------ output and lineage


def blake3_chunks(data: bytes) -> str:
    """The content hash, computed independently: BLAKE3 over the BLAKE3 digests of 1 MiB blocks."""
    import blake3

    blocks = b"".join(blake3.blake3(data[i:i + (1 << 20)]).digest() for i in range(0, len(data), 1 << 20))
    return "blake3-chunks:" + blake3.blake3(blocks).hexdigest()


def test_output_has_the_contract_columns_and_lineage(tmp_path):
    two_strategies(tmp_path)
    summary = run(tmp_path, mode="blend", blend={"a": 0.5, "b": 0.5}, run_id="manual__2025-03-03")
    path = out_file(tmp_path)
    assert summary["targets_path"] == str(path)
    targets = read_targets(path)
    assert list(targets.columns) == ["trade_date", "asset_id", "target_weight", "asof", "strategy_set_id",
                                     "blend_mode", "run_id", "source_hashes"]
    assert set(targets["run_id"]) == {"manual__2025-03-03"}
    content = {s: blake3_chunks((tmp_path / f"data/raw_signals/{s}.csv").read_bytes()) for s in "ab"}
    assert json.loads(targets["source_hashes"].iloc[0]) == content
    lineage = json.loads(pq.read_schema(path).metadata[b"paper_trading.lineage"])
    assert lineage["sources"]["a"] == {"path": "data/raw_signals/a.csv", "content_hash": content["a"], "date_used": D}
    assert targets["asset_id"].is_unique and targets["asset_id"].is_monotonic_increasing


def test_rerun_for_the_same_date_gives_the_same_output(tmp_path):
    two_strategies(tmp_path)
    run(tmp_path, mode="blend", blend={"a": 0.5, "b": 0.5})
    first = read_targets(out_file(tmp_path))
    run(tmp_path, mode="blend", blend={"a": 0.5, "b": 0.5})
    pd.testing.assert_frame_equal(read_targets(out_file(tmp_path)), first)
    assert len(list(out_file(tmp_path).parent.iterdir())) == 1


def test_no_partial_output_is_left_on_error(tmp_path):
    two_strategies(tmp_path)
    run(tmp_path, pick="a")
    before = out_file(tmp_path).read_bytes()
    write_csv(tmp_path, "a.csv", [(D, "001690", -1.0)])
    with pytest.raises(InputError):
        run(tmp_path, pick="a")
    assert out_file(tmp_path).read_bytes() == before  # the previous good file is untouched
    assert [p.name for p in out_file(tmp_path).parent.iterdir()] == [out_file(tmp_path).name]


def test_a_changed_csv_is_read_again_not_served_from_the_cache(tmp_path):
    a = write_csv(tmp_path, "a.csv", [(D, "001690", 1.0)])
    write_manifest(tmp_path, [csv_strategy("a", a)])
    run(tmp_path, pick="a")
    write_csv(tmp_path, "a.csv", [(D, "012141", 1.0)])
    run(tmp_path, pick="a")
    assert read_targets(out_file(tmp_path))["asset_id"].tolist() == ["012141"]
    assert len(list((tmp_path / "data" / "cache" / "signals").glob("a-*.parquet"))) == 1


def test_an_unchanged_csv_is_converted_once(tmp_path):
    two_strategies(tmp_path)
    run(tmp_path, pick="a")
    cached = next((tmp_path / "data" / "cache" / "signals").glob("a-*.parquet"))
    stamp = cached.stat().st_mtime_ns
    run(tmp_path, pick="a")
    assert cached.stat().st_mtime_ns == stamp


def test_sample_data_blend_of_three_formats(project):
    summary = steps.consolidate_signals(dt.date(2025, 12, 31), root=project)  # defaults from config/config.yaml
    targets = read_targets(summary["targets_path"])
    assert summary["blend_mode"] == "blend" and summary["strategy_set_id"] == "drl=0.5+equal=0.2+ml=0.3"
    assert len(targets) == 30 and abs(targets["target_weight"].sum() - 1) <= 1e-9
    assert (targets["target_weight"] > 0).all()
