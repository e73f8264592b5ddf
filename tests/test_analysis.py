"""Tests of threedb.analysis on the hand-made folders in tests/fixtures.

results_small has 12 lines: 11 scored renders (6 correct) and one failed job.
The expected counts below were worked out by hand from its details.log:

| id  | model | environment | rotation_z | zoom | corruption | correct | loss |
|-----|-------|-------------|-----------:|-----:|------------|---------|-----:|
| a01 | mug   | forest      |       -3.0 |    1 | fog        | yes     | 0.10 |
| a02 | mug   | forest      |       -1.5 |    2 | snow       | no      | 2.50 |
| a03 | mug   | studio      |        0.0 |    1 | fog        | yes     | 0.20 |
| a04 | mug   | studio      |        1.5 |    2 | snow       | no      | 3.10 |
| a05 | mug   | studio      |        3.0 |    1 | fog        | yes     | 0.30 |
| a06 | lamp  | forest      |       -3.0 |    2 | snow       | no      | 1.80 |
| a07 | lamp  | forest      |       -2.0 |    1 | fog        | yes     | 0.40 |
| a08 | lamp  | forest      |        0.5 |    2 | fog        | yes     | 0.60 |
| a09 | lamp  | studio      |        1.0 |    1 | snow       | no      | 4.00 |
| a10 | lamp  | studio      |        2.5 |    2 | fog        | yes     | 0.05 |
| a11 | mug   | forest      |        2.0 |    1 | snow       | no      | 1.20 |
| f12 | lamp  | studio      |        0.0 |    1 | fog        | failed  |    – |
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from threedb.analysis import (
    AnalysisError,
    ResultsTable,
    accuracy_by_model_environment,
    accuracy_by_parameter,
    accuracy_by_parameter_pair,
    accuracy_heatmap,
    keep_top_categories,
    load_results,
    parameter_columns,
    summarize_results,
    wilson_interval,
    worst_configurations,
)
from threedb.analysis._records import parse_bool, parse_class_indices, parse_class_names, parse_float
from threedb.analysis._tail import DetailsLogTail
from threedb.errors import OutputDirError

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "results_small"
OLD_3DB = FIXTURES / "results_3db"

ROTATION = "OrientationControl.rotation_z"
ZOOM = "CameraControl.zoom_factor"
CORRUPTION = "ImageNetCCorruption.corruption_name"
Z_95 = 1.959963984540054


def wilson_reference(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval written out from its textbook formula, independent of the code under test."""
    p = correct / total
    center = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = (z / (1 + z * z / total)) * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total))
    return max(0.0, center - half), min(1.0, center + half)


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return load_results(SMALL)


def write_lines(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def test_wilson_reference_matches_published_values():
    # Wilson 95% intervals for 0/10 and 5/10 as tabulated in textbooks (4 decimals).
    assert wilson_reference(0, 10) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert wilson_reference(5, 10) == pytest.approx((0.2366, 0.7634), abs=5e-5)


def test_wilson_interval_scalar_and_array():
    low, high = wilson_interval(5, 10)
    assert type(low) is float
    assert type(high) is float
    assert low == pytest.approx(0.236593, abs=1e-6)
    assert high == pytest.approx(0.763407, abs=1e-6)

    lows, highs = wilson_interval(np.array([0, 10, 3]), np.array([10, 10, 0]))
    assert lows[0] == 0.0
    assert highs[0] == pytest.approx(wilson_reference(0, 10)[1])
    assert highs[1] == 1.0
    assert lows[1] == pytest.approx(wilson_reference(10, 10)[0])
    assert np.isnan(lows[2])
    assert np.isnan(highs[2])


def test_wilson_interval_other_confidence():
    low, high = wilson_interval(5, 10, confidence=0.99)
    expected = wilson_reference(5, 10, z=2.5758293035489004)
    assert (float(low), float(high)) == pytest.approx(expected)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_wilson_interval_rejects_bad_confidence(confidence):
    with pytest.raises(AnalysisError, match="confidence"):
        wilson_interval(1, 2, confidence)


def test_load_results_columns(small):
    assert list(small.columns) == [
        "id", "model", "model_uid", "environment", "status", "error",
        ROTATION, ZOOM, CORRUPTION,
        "is_correct", "loss", "top1", "top1_name", "prediction", "prediction_names", "confidence",
        "target", "target_names", "output_type", "image_path",
    ]
    assert parameter_columns(small) == [ROTATION, ZOOM, CORRUPTION]
    assert len(small) == 12
    assert small[ROTATION].dtype == np.float64
    assert small[ZOOM].dtype == np.float64
    assert small[CORRUPTION].dtype == object
    assert str(small["is_correct"].dtype) == "boolean"


def test_load_results_row_values(small):
    row = small.set_index("id").loc["a01"]
    assert row["model"] == "mug.blend"
    assert row["model_uid"] == "mug"
    assert row["environment"] == "forest.exr"
    assert row[ROTATION] == -3.0
    assert row[CORRUPTION] == "fog"
    assert bool(row["is_correct"]) is True
    assert row["loss"] == 0.10
    assert row["top1"] == 504
    assert row["top1_name"] == "coffee mug"
    assert row["prediction"] == [504, 968, 849, 725, 901]
    assert row["prediction_names"] == ["coffee mug", "cup", "teapot", "pitcher", "whiskey jug"]
    assert row["confidence"] == [0.82, 0.09, 0.04, 0.02, 0.01]
    assert row["target"] == [504, 968]
    assert row["target_names"] == ["coffee mug", "cup"]
    assert row["image_path"] == "images/a01_rgb.png"


def test_load_results_target_from_uid_map(small):
    # Lamp lines have no "target" key, so the target comes from uid_to_targets.json ("lamp": 846).
    row = small.set_index("id").loc["a07"]
    assert row["target"] == [846]
    assert row["target_names"] == ["table lamp"]


def test_load_results_failed_job(small):
    row = small.set_index("id").loc["f12"]
    assert row["status"] == "failed"
    assert row["error"] == "RuntimeError: Blender exited with code 1"
    assert pd.isna(row["is_correct"])
    assert math.isnan(row["loss"])
    assert row["prediction"] == []
    assert pd.isna(row["image_path"])


def test_load_results_3db_strings():
    df = load_results(OLD_3DB).set_index("id")
    assert parameter_columns(df.reset_index()) == [ROTATION, ZOOM]
    assert df[ROTATION].dtype == np.float64
    assert df.loc["9c1e0a", ROTATION] == 1.57
    assert bool(df.loc["9c1e0a", "is_correct"]) is True
    assert bool(df.loc["9c1e0b", "is_correct"]) is False
    assert df.loc["9c1e0b", "loss"] == 2.31
    assert df.loc["9c1e0a", "prediction"] == [559]
    assert df.loc["9c1e0c", "prediction"] == [765, 423]
    assert df.loc["9c1e0c", "prediction_names"] == ["rocking chair", "barber chair"]
    assert df.loc["9c1e0b", "top1_name"] == "jean"
    assert df.loc["9c1e0a", "target"] == [423, 559, 765]
    assert df.loc["9c1e0a", "output_type"] == "classes"
    assert df.loc["9c1e0a", "image_path"] == "images/9c1e0a_rgb.png"
    assert pd.isna(df.loc["9c1e0b", "image_path"])


def test_load_results_3db_top_level_parameters():
    # The line of 9c1e0d has its parameters at the top level instead of under render_args.
    df = load_results(OLD_3DB).set_index("id")
    assert df.loc["9c1e0d", ROTATION] == 3.0
    assert df.loc["9c1e0d", ZOOM] == 1.5
    assert summarize_results(df.reset_index())["correct"] == 2


def test_load_results_missing_directory(tmp_path):
    with pytest.raises(OutputDirError, match="not found"):
        load_results(tmp_path / "absent")


def test_load_results_without_details_log(tmp_path):
    with pytest.raises(OutputDirError, match="details.log"):
        load_results(tmp_path)


def test_load_results_empty_log(tmp_path):
    (tmp_path / "details.log").write_text("")
    df = load_results(tmp_path)
    assert len(df) == 0
    assert "is_correct" in df.columns
    assert summarize_results(df)["renders"] == 0
    assert math.isnan(summarize_results(df)["accuracy"])


def test_load_results_skips_malformed_lines(tmp_path, caplog):
    good = {"id": "x1", "model": "m.blend", "environment": "e.exr", "render_args": {"A.b": 1}, "is_correct": True,
            "loss": 0.5, "prediction": [1]}
    text = json.dumps(good) + "\n{not json\n[1, 2]\n" + json.dumps({"model": "no id"}) + "\n\n"
    (tmp_path / "details.log").write_text(text)
    df = load_results(tmp_path)
    assert df["id"].tolist() == ["x1"]
    assert "byte" in caplog.text


def test_load_results_last_line_without_newline(tmp_path):
    line = {"id": "x1", "model": "m.blend", "environment": "e.exr", "is_correct": "False", "loss": "1.5"}
    (tmp_path / "details.log").write_text(json.dumps(line))
    df = load_results(tmp_path)
    assert df["id"].tolist() == ["x1"]
    assert bool(df.loc[0, "is_correct"]) is False


def test_load_results_mixed_parameter_becomes_category(tmp_path):
    lines = [
        {"id": "1", "model": "m.blend", "environment": "e", "render_args": {"C.mode": 1.0, "C.flag": True},
         "is_correct": True, "loss": 0.1},
        {"id": "2", "model": "m.blend", "environment": "e", "render_args": {"C.mode": "fog", "C.flag": False},
         "is_correct": False, "loss": 0.2},
    ]
    write_lines(tmp_path / "details.log", lines)
    df = load_results(tmp_path)
    assert df["C.mode"].tolist() == ["1.0", "fog"]
    assert df["C.flag"].tolist() == ["True", "False"]
    groups = accuracy_by_parameter(df, "C.flag")
    assert groups["label"].tolist() == ["False", "True"]


def test_load_results_measured_values_become_columns(tmp_path):
    lines = [
        {"id": "1", "model": "m.blend", "environment": "e", "render_args": {"OcclusionControl.occlusion_ratio": 0.5},
         "measured": {"OcclusionControl.achieved_ratio": 0.31}, "is_correct": True, "loss": 0.1},
        {"id": "2", "model": "m.blend", "environment": "e", "render_args": {"OcclusionControl.occlusion_ratio": 0.9},
         "measured": {"OcclusionControl.achieved_ratio": 0.42}, "is_correct": False, "loss": 0.2},
    ]
    write_lines(tmp_path / "details.log", lines)
    df = load_results(tmp_path)
    assert "measured" not in df.columns
    assert df["OcclusionControl.achieved_ratio"].tolist() == [0.31, 0.42]
    assert df["OcclusionControl.occlusion_ratio"].tolist() == [0.5, 0.9]
    groups = accuracy_by_parameter(df, "OcclusionControl.achieved_ratio", bins=[0.0, 0.4, 1.0])
    assert groups["count"].tolist() == [1, 1]


def test_class_map_forms():
    assert parse_class_names(["a", "b"]) == ["a", "b"]
    assert parse_class_names({"1": "b", "0": "a"}) == ["a", "b"]
    assert parse_class_names({"0": ["n01440764", "tench"], "2": ["n2", "c"]}) == ["tench", None, "c"]
    with pytest.raises(ValueError, match="class index"):
        parse_class_names({"zero": "a"})


def test_invalid_class_map_file(tmp_path):
    (tmp_path / "details.log").write_text("")
    (tmp_path / "class_maps.json").write_text('{"x": "y"}')
    with pytest.raises(OutputDirError, match="class_maps.json"):
        load_results(tmp_path)


def test_invalid_targets_file(tmp_path):
    (tmp_path / "details.log").write_text("")
    (tmp_path / "uid_to_targets.json").write_text('{"mug": "coffee"}')
    with pytest.raises(OutputDirError, match="uid_to_targets"):
        load_results(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(True, True), ("True", True), ("false", False), ("[ True]", True), (1, True), (0, False),
     (None, None), ("maybe", None), (2, None)],
)
def test_parse_bool(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [(0.5, 0.5), ("2.31", 2.31), ("[2.31]", 2.31), ("1e-3", 0.001), (3, 3.0)],
)
def test_parse_float(text, expected):
    assert parse_float(text) == expected


@pytest.mark.parametrize("text", [None, "abc", "[1 2]", True])
def test_parse_float_invalid_gives_nan(text):
    assert math.isnan(parse_float(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[504]", [504]), ("[504 968]", [504, 968]), ("[504, 968]", [504, 968]), ("[\n 504  968\n]", [504, 968]),
     ([504, 968.0], [504, 968]), (7, [7]), ("[[1 2]\n [3 4]]", [1, 2, 3, 4]),
     ("[0.5]", None), ("[cat]", None), (None, None), ("", None)],
)
def test_parse_class_indices(text, expected):
    assert parse_class_indices(text) == expected


def test_summarize_results(small):
    summary = summarize_results(small)
    low, high = wilson_reference(6, 11)
    assert summary["renders"] == 12
    assert summary["failed"] == 1
    assert summary["scored"] == 11
    assert summary["correct"] == 6
    assert summary["accuracy"] == pytest.approx(6 / 11)
    assert summary["ci_low"] == pytest.approx(low)
    assert summary["ci_high"] == pytest.approx(high)


def test_accuracy_by_model_environment(small):
    table = accuracy_by_model_environment(small)
    assert table[["model", "environment"]].values.tolist() == [
        ["lamp.blend", "forest.exr"], ["lamp.blend", "studio.exr"],
        ["mug.blend", "forest.exr"], ["mug.blend", "studio.exr"],
    ]
    assert table["renders"].tolist() == [3, 3, 3, 3]
    assert table["failed"].tolist() == [0, 1, 0, 0]
    assert table["count"].tolist() == [3, 2, 3, 3]
    assert table["correct"].tolist() == [2, 1, 1, 2]
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 3, 2 / 3])
    assert table.loc[1, ["ci_low", "ci_high"]].tolist() == pytest.approx(list(wilson_reference(1, 2)))


def test_accuracy_by_numeric_parameter_bins(small):
    # Edges -3, -1, 1, 3: [-3, -1) has a01 a02 a06 a07, [-1, 1) has a03 a08, [1, 3] has a04 a05 a09 a10 a11.
    groups = accuracy_by_parameter(small, ROTATION, bins=3)
    assert groups["label"].tolist() == ["[-3, -1)", "[-1, 1)", "[1, 3]"]
    assert groups["bin_left"].tolist() == [-3.0, -1.0, 1.0]
    assert groups["bin_right"].tolist() == [-1.0, 1.0, 3.0]
    assert groups["value"].tolist() == [-2.0, 0.0, 2.0]
    assert groups["count"].tolist() == [4, 2, 5]
    assert groups["correct"].tolist() == [2, 2, 2]
    assert groups["accuracy"].tolist() == pytest.approx([0.5, 1.0, 0.4])
    for index, (correct, total) in enumerate([(2, 4), (2, 2), (2, 5)]):
        assert (groups.loc[index, "ci_low"], groups.loc[index, "ci_high"]) == pytest.approx(
            wilson_reference(correct, total))


def test_accuracy_by_parameter_explicit_edges(small):
    # a01, a05, a06 and a10 fall outside [-2, 2] and are left out.
    groups = accuracy_by_parameter(small, ROTATION, bins=[-2.0, 0.0, 2.0])
    assert groups["label"].tolist() == ["[-2, 0)", "[0, 2]"]
    assert groups["count"].tolist() == [2, 5]
    assert groups["correct"].tolist() == [1, 2]


def test_accuracy_by_parameter_empty_bin(small):
    groups = accuracy_by_parameter(small, ROTATION, bins=[-10.0, -5.0, 5.0])
    assert groups["count"].tolist() == [0, 11]
    assert math.isnan(groups.loc[0, "accuracy"])
    assert math.isnan(groups.loc[0, "ci_low"])


def test_accuracy_by_parameter_distinct_values(small):
    # zoom has 2 distinct values, fewer than the default 10 bins, so each value is a group.
    groups = accuracy_by_parameter(small, ZOOM)
    assert groups["label"].tolist() == ["1", "2"]
    assert groups["value"].tolist() == [1.0, 2.0]
    assert groups["count"].tolist() == [6, 5]
    assert groups["correct"].tolist() == [4, 2]
    assert accuracy_by_parameter(small, ZOOM, bins=None)["count"].tolist() == [6, 5]


def test_accuracy_by_categorical_parameter(small):
    groups = accuracy_by_parameter(small, CORRUPTION, bins=1)
    assert groups["label"].tolist() == ["fog", "snow"]
    assert groups["count"].tolist() == [6, 5]
    assert groups["correct"].tolist() == [6, 0]
    assert groups["accuracy"].tolist() == [1.0, 0.0]
    assert groups.loc[1, "ci_low"] == 0.0
    assert groups.loc[1, "ci_high"] == pytest.approx(wilson_reference(0, 5)[1])
    assert groups["bin_left"].isna().all()


def test_accuracy_by_parameter_unknown_name(small):
    with pytest.raises(AnalysisError, match="Did you mean 'OrientationControl.rotation_z'"):
        accuracy_by_parameter(small, "OrientationControl.rotation")
    with pytest.raises(AnalysisError, match="unknown parameter 'loss'"):
        accuracy_by_parameter(small, "loss")


@pytest.mark.parametrize("bins", [0, [1.0], [2.0, 1.0]])
def test_accuracy_by_parameter_bad_bins(small, bins):
    with pytest.raises(AnalysisError, match="bin"):
        accuracy_by_parameter(small, ROTATION, bins=bins)


def test_accuracy_by_parameter_pair(small):
    pairs = accuracy_by_parameter_pair(small, ZOOM, CORRUPTION)
    assert pairs[["row_label", "column_label"]].values.tolist() == [
        ["1", "fog"], ["1", "snow"], ["2", "fog"], ["2", "snow"],
    ]
    assert pairs["count"].tolist() == [4, 2, 2, 3]
    assert pairs["correct"].tolist() == [4, 0, 2, 0]


def test_accuracy_heatmap(small):
    heatmap = accuracy_heatmap(small, ZOOM, CORRUPTION)
    assert heatmap.index.name == ZOOM
    assert heatmap.columns.name == CORRUPTION
    assert heatmap.index.tolist() == ["1", "2"]
    assert heatmap.columns.tolist() == ["fog", "snow"]
    assert heatmap.values.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    counts = accuracy_heatmap(small, ZOOM, CORRUPTION, value="count")
    assert counts.values.tolist() == [[4, 2], [2, 3]]


def test_accuracy_heatmap_binned(small):
    # Rotation bins of width 3: [-3, 0) has a01 a02 a06 a07 and [0, 3] the other seven scored renders.
    heatmap = accuracy_heatmap(small, ROTATION, ZOOM, bins=2)
    assert heatmap.index.tolist() == ["[-3, 0)", "[0, 3]"]
    assert heatmap.columns.tolist() == ["1", "2"]
    counts = accuracy_heatmap(small, ROTATION, ZOOM, bins=2, value="count")
    assert counts.values.tolist() == [[2, 2], [4, 3]]


def test_accuracy_heatmap_empty_cell(small):
    # Bin [-1, 1) contains only a03 and a08, both with fog, so its snow cell is empty.
    heatmap = accuracy_heatmap(small, ROTATION, CORRUPTION, bins=3)
    assert heatmap.loc["[-3, -1)"].tolist() == [1.0, 0.0]
    assert heatmap.loc["[-1, 1)", "fog"] == 1.0
    assert math.isnan(heatmap.loc["[-1, 1)", "snow"])
    assert heatmap.loc["[1, 3]"].tolist() == [1.0, 0.0]


def test_accuracy_heatmap_bad_value(small):
    with pytest.raises(AnalysisError, match="value must be one of"):
        accuracy_heatmap(small, ZOOM, CORRUPTION, value="loss")


def test_worst_configurations(small):
    worst = worst_configurations(small)
    assert worst["id"].tolist() == ["a09", "a04", "a02", "a06", "a11"]
    assert worst["loss"].tolist() == [4.0, 3.1, 2.5, 1.8, 1.2]
    assert list(worst.columns) == list(small.columns)
    assert worst_configurations(small, n=2)["id"].tolist() == ["a09", "a04"]


def test_worst_configurations_including_correct(small):
    worst = worst_configurations(small, n=7, only_incorrect=False)
    assert worst["id"].tolist() == ["a09", "a04", "a02", "a06", "a11", "a08", "a07"]


def test_worst_configurations_nan_loss_last(tmp_path):
    lines = [
        {"id": "b", "model": "m.blend", "environment": "e", "is_correct": False, "loss": "nan"},
        {"id": "a", "model": "m.blend", "environment": "e", "is_correct": False, "loss": 1.0},
        {"id": "c", "model": "m.blend", "environment": "e", "is_correct": False, "loss": 1.0},
    ]
    write_lines(tmp_path / "details.log", lines)
    assert worst_configurations(load_results(tmp_path))["id"].tolist() == ["a", "c", "b"]


def test_keep_top_categories(small):
    top_rows, omitted = keep_top_categories(small, CORRUPTION, 1)
    assert omitted == 1
    # fog has 7 rows (6 scored and the failed job) against 5 for snow.
    assert set(top_rows[CORRUPTION]) == {"fog"}
    same, none_omitted = keep_top_categories(small, ROTATION, 1)
    assert none_omitted == 0
    assert len(same) == len(small)


def test_tail_ignores_half_written_line(tmp_path):
    path = tmp_path / "details.log"
    first = json.dumps({"id": "1"}) + "\n"
    path.write_text(first + '{"id": "2", "loss"')
    tail = DetailsLogTail(path)
    assert [record["id"] for record in tail.read_new().records] == ["1"]
    assert tail.offset == len(first)
    assert tail.has_new_data() is True

    with path.open("a") as handle:
        handle.write(': 0.5}\n{"id": "3"}\n')
    assert [record["id"] for record in tail.read_new().records] == ["2", "3"]
    assert tail.has_new_data() is False
    assert tail.read_new().records == []


def test_tail_handles_split_utf8(tmp_path):
    path = tmp_path / "details.log"
    encoded = (json.dumps({"id": "é"}, ensure_ascii=False) + "\n").encode("utf-8")
    split = encoded.index("é".encode("utf-8")) + 1
    path.write_bytes(encoded[:split])
    tail = DetailsLogTail(path)
    assert tail.read_new().records == []
    with path.open("ab") as handle:
        handle.write(encoded[split:])
    assert tail.read_new().records == [{"id": "é"}]


def test_tail_counts_malformed_lines(tmp_path, caplog):
    path = tmp_path / "details.log"
    path.write_text('{"id": "1"}\nnot json\n"text"\n{"no_id": 1}\n')
    tail = DetailsLogTail(path)
    assert len(tail.read_new().records) == 1
    assert tail.malformed_lines == 3
    assert "byte 12" in caplog.text


def test_tail_resets_after_truncation(tmp_path):
    path = tmp_path / "details.log"
    path.write_text('{"id": "1"}\n{"id": "2"}\n')
    tail = DetailsLogTail(path)
    assert len(tail.read_new().records) == 2
    path.write_text('{"id": "9"}\n')
    batch = tail.read_new()
    assert batch.reset is True
    assert [record["id"] for record in batch.records] == ["9"]


def test_results_table_refresh_appends(tmp_path):
    shutil.copytree(SMALL, tmp_path / "out")
    table = ResultsTable(tmp_path / "out")
    assert table.refresh() is True
    assert len(table.frame) == 12
    assert table.version == 1
    assert table.refresh() is False

    extra = {"id": "a13", "model": "mug.blend", "environment": "forest.exr",
             "render_args": {ROTATION: "0.25", ZOOM: 1.0, CORRUPTION: "fog", "NewControl.level": "high"},
             "status": "ok", "is_correct": True, "loss": 0.3, "prediction": [504]}
    with (tmp_path / "out" / "details.log").open("a") as handle:
        handle.write(json.dumps(extra) + "\n")
    assert table.refresh() is True
    assert table.version == 2
    frame = table.frame
    assert len(frame) == 13
    assert frame[ROTATION].dtype == np.float64
    assert frame[ROTATION].iloc[-1] == 0.25
    assert parameter_columns(frame) == [ROTATION, ZOOM, CORRUPTION, "NewControl.level"]
    assert frame["NewControl.level"].iloc[-1] == "high"
    assert frame["NewControl.level"].iloc[:12].isna().all()
    assert list(frame.columns[-10:]) == ["is_correct", "loss", "top1", "top1_name", "prediction",
                                         "prediction_names", "confidence", "target", "target_names", "output_type"]


def test_results_table_type_change_between_batches(tmp_path):
    path = tmp_path / "details.log"
    write_lines(path, [{"id": "1", "model": "m", "environment": "e", "render_args": {"C.x": 1.5},
                        "is_correct": True, "loss": 0.1}])
    table = ResultsTable(tmp_path)
    table.refresh()
    assert table.frame["C.x"].dtype == np.float64
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "2", "model": "m", "environment": "e", "render_args": {"C.x": "fog"},
                                 "is_correct": False, "loss": 0.2}) + "\n")
    table.refresh()
    assert table.frame["C.x"].tolist() == ["1.5", "fog"]
