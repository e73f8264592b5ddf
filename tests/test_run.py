"""``threedb run`` end to end: real workers, real Blender, the real classifier, real loggers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from conftest import TESTS_DIR, subset_data, tiny_config, write_config

ENV = {**os.environ, "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run_threedb(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "threedb", *args], capture_output=True, text=True,
                          timeout=timeout, env=ENV)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, demo_data):
    """Two models x one environment, 3 grid points each, 2 workers, every built-in logger."""
    tmp = tmp_path_factory.mktemp("run")
    data = subset_data(tmp, demo_data, ["soccer_ball.blend", "mug.blend"], ["studio.exr"])
    config = tiny_config(
        render_args={"resolution": 96, "samples": 16, "with_segmentation": True, "with_depth": True},
        policy={"module": "threedb.policies.grid_search", "samples_per_dim": 3},
        logging={"logger_modules": ["threedb.result_logging.json_logger", "threedb.result_logging.image_logger",
                                    "threedb.result_logging.csv_logger", "threedb.result_logging.tb_logger",
                                    "custom_loggers.page_csv_logger"]})
    # The page's CSV logger and csv_logger both write details.csv; keep the page's in its own run.
    config["logging"]["logger_modules"].remove("custom_loggers.page_csv_logger")
    path = write_config(tmp, config)
    output = tmp / "out"
    result = run_threedb("run", path, "--data", data, "--output", str(output), "--workers", "2", "--no-progress")
    return result, output


def read_lines(output):
    with open(output / "details.log", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_run_exits_zero_and_prints_summary(finished_run):
    result, output = finished_run
    assert result.returncode == 0, result.stderr
    assert "Accuracy per model x environment (6 renders, 0 failed" in result.stdout
    assert "soccer_ball.blend" in result.stdout
    assert str(output / "details.log") in result.stdout


def test_details_log_has_real_json_types(finished_run):
    _, output = finished_run
    lines = read_lines(output)
    assert len(lines) == 6
    assert len({line["id"] for line in lines}) == 6
    for line in lines:
        assert isinstance(line["is_correct"], bool)
        assert isinstance(line["loss"], float)
        assert isinstance(line["prediction"], list) and all(isinstance(p, int) for p in line["prediction"])
        assert isinstance(line["render_args"]["OrientationControl.rotation_z"], float)
        assert line["status"] == "ok"
    rotations = sorted({round(line["render_args"]["OrientationControl.rotation_z"], 2) for line in lines})
    assert rotations == [-3.14, 0.0, 3.14]


def test_classifier_recognises_soccer_ball(finished_run):
    _, output = finished_run
    balls = [line for line in read_lines(output) if line["model"] == "soccer_ball.blend"]
    assert all(line["target"] == [805] for line in balls)
    assert any(line["is_correct"] for line in balls)
    assert any(line["prediction"][0] == 805 for line in balls)


def test_output_files_written(finished_run):
    _, output = finished_run
    lines = read_lines(output)
    for line in lines:
        image = Image.open(output / "images" / f"{line['id']}_rgb.png")
        assert image.size == (96, 96)
        assert image.mode == "RGB"
        assert (output / "images" / f"{line['id']}_segmentation.npy").is_file()
        assert (output / "images" / f"{line['id']}_depth.npy").is_file()
    assert json.load(open(output / "class_maps.json"))[805] == "soccer ball"
    assert json.load(open(output / "uid_to_targets.json"))["mug"] == [504, 968]
    info = json.load(open(output / "run_info.json"))
    assert info["seed"] == 0
    assert info["versions"]["blender"] == "5.0.1"
    assert (output / "config.yaml").is_file()


def test_csv_and_tensorboard_loggers(finished_run):
    _, output = finished_run
    rows = (output / "details.csv").read_text().strip().splitlines()
    assert rows[0].startswith("id,environment,model,is_correct,loss,OrientationControl.rotation_x")
    assert len(rows) == 7
    events = [f for f in os.listdir(output / "tensorboard") if f.startswith("events.out.tfevents")]
    assert events

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: PLC0415
    accumulator = EventAccumulator(str(output / "tensorboard"))
    accumulator.Reload()
    assert len(accumulator.Scalars("accuracy")) == 6
    assert accumulator.Tags()["images"]


def test_page_example_logger_runs(tmp_path, demo_data):
    data = subset_data(tmp_path, demo_data, ["teddy.blend"], ["forest.exr"])
    config = tiny_config(logging={"logger_modules": ["custom_loggers.page_csv_logger"]})
    result = run_threedb("run", write_config(tmp_path, config), "--data", data, "--output",
                         str(tmp_path / "out"), "--no-progress")
    assert result.returncode == 0, result.stderr
    rows = (tmp_path / "out" / "details.csv").read_text().strip().splitlines()
    assert rows[0] == "Id,correct,OrientationControl.rotation_z,OrientationControl.rotation_x,OrientationControl.rotation_y"
    assert len(rows) == 3
    assert rows[1].split(",")[1] in ("True", "False")


def test_non_empty_output_dir_rejected(tmp_path, demo_data):
    output = tmp_path / "out"
    output.mkdir()
    (output / "details.log").write_text("{}\n")
    result = run_threedb("run", write_config(tmp_path, tiny_config()), "--data", demo_data, "--output", str(output))
    assert result.returncode == 2
    assert "output directory is not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert (output / "details.log").read_text() == "{}\n"


def test_invalid_config_rejected_before_rendering(tmp_path, demo_data):
    config = tiny_config(render_args={"resolution": 32, "samples": 0})
    result = run_threedb("run", write_config(tmp_path, config), "--data", demo_data, "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "render_args.samples: must be an integer >= 1 (got 0)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_help_explains_every_option():
    result = run_threedb("run", "--help")
    assert result.returncode == 0
    for option in ("--data", "--output", "--workers", "--seed", "--threads", "--no-progress", "--verbose"):
        assert option in result.stdout
