"""The new controls and channels through ``threedb run``, and every example config validated."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from threedb.analysis import load_results, parameter_columns
from threedb.config import build_experiment, load_config
from conftest import TESTS_DIR, tiny_config, write_config

REPO_DIR = os.path.dirname(TESTS_DIR)
ENV = {**os.environ, "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
MUG_LABEL = 504

CONTROLS = [
    {"module": "threedb.controls.blender.orientation", "rotation_x": 0.0, "rotation_y": 0.0,
     "rotation_z": [-1.0, 1.0]},
    {"module": "threedb.controls.blender.pin_to_ground", "z_ground": 0.0},
    {"module": "threedb.controls.blender.camera", "view_point_x": 0.0, "view_point_y": -1.0,
     "view_point_z": 0.4, "zoom_factor": 0.8, "aperture": 32.0, "focal_length": 50.0},
    {"module": "threedb.controls.blender.obj_loc_in_frame", "x_shift": [-0.2, 0.2], "y_shift": [-0.2, 0.2]},
    {"module": "threedb.controls.blender.material", "replacement_material": "checker_red.blend"},
    {"module": "threedb.controls.blender.material_nodes", "args": {"targets": {"scale": {"node": "scale"}}},
     "scale": [2.0, 8.0]},
    {"module": "threedb.controls.blender.pointlight", "intensity": [1000, 3000]},
    {"module": "threedb.controls.blender.occlusion", "occlusion_ratio": [0.1, 0.5], "occluder": [0, 9]},
    {"module": "threedb.controls.blender.background", "H": [0.0, 1.0], "S": 0.5, "V": 0.5},
    {"module": "threedb.controls.blender.imagenet_c", "corruption_name": ["fog", "motion_blur"], "severity": 2},
]


def link_data(root, demo_data, folders=("ood_objects", "blender_control_material")):
    """Make a data folder with the demo mug, the studio environment and the control folders."""
    for folder, name in (("blender_models", "mug.blend"), ("blender_environments", "studio.exr")):
        (root / folder).mkdir(parents=True)
        os.symlink(os.path.join(demo_data, folder, name), root / folder / name)
    for name in ("class_map.json",) + tuple(folders):
        os.symlink(os.path.join(demo_data, name), root / name)
    return str(root)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, demo_data):
    tmp = tmp_path_factory.mktemp("controls_run")
    data = link_data(tmp / "data", demo_data)
    config = tiny_config(
        render_args={"resolution": 32, "samples": 2, "with_segmentation": True, "with_depth": True,
                     "with_uv": True, "max_depth": 10.0},
        policy={"module": "threedb.policies.random_search", "samples": 3},
        controls=CONTROLS)
    output = tmp / "out"
    result = subprocess.run([sys.executable, "-m", "threedb", "run", write_config(tmp, config), "--data", data,
                             "--output", str(output), "--no-progress"],
                            capture_output=True, text=True, timeout=600, env=ENV)
    return result, output


def read_lines(output):
    with open(output / "details.log", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_run_with_new_controls_succeeds(finished_run):
    result, _ = finished_run
    assert result.returncode == 0, result.stderr
    assert "(3 renders, 0 failed" in result.stdout


def test_every_control_parameter_logged(finished_run):
    _, output = finished_run
    lines = read_lines(output)
    assert len(lines) == 3
    expected = ["PinToGroundControl.z_ground", "ObjLocInFrameControl.x_shift", "ObjLocInFrameControl.y_shift",
                "MaterialControl.replacement_material", "MaterialNodesControl.scale", "PointLightControl.intensity",
                "PointLightControl.dir_z", "OcclusionControl.occlusion_ratio", "OcclusionControl.direction",
                "OcclusionControl.occluder", "BackgroundControl.H", "ImagenetCControl.corruption_name",
                "ImagenetCControl.severity"]
    for line in lines:
        assert line["status"] == "ok"
        for key in expected:
            assert key in line["render_args"], key
        assert line["render_args"]["OcclusionControl.occluder"] in (0, 9)
        assert line["render_args"]["ImagenetCControl.corruption_name"] in ("fog", "motion_blur")


def test_measured_occlusion_logged_and_loaded(finished_run):
    _, output = finished_run
    lines = read_lines(output)
    achieved = {line["id"]: line["measured"]["OcclusionControl.achieved_ratio"] for line in lines}
    for line in lines:
        assert 0.0 <= achieved[line["id"]] <= 1.0
        assert set(line["measured"]) == {"OcclusionControl.achieved_ratio"}
    frame = load_results(str(output))
    assert "OcclusionControl.achieved_ratio" in parameter_columns(frame)
    assert dict(zip(frame["id"], frame["OcclusionControl.achieved_ratio"])) == pytest.approx(achieved)


def test_channels_written_with_labels(finished_run):
    _, output = finished_run
    for line in read_lines(output):
        stem = output / "images" / line["id"]
        segmentation = np.load(f"{stem}_segmentation.npy")
        assert segmentation.shape == (32, 32)
        assert segmentation.dtype == np.int32
        assert set(np.unique(segmentation)) == {-1, MUG_LABEL}
        depth = np.load(f"{stem}_depth.npy")
        assert depth.dtype == np.float32
        assert np.all(depth[segmentation == -1] <= 10.0)
        assert np.all(depth[segmentation == MUG_LABEL] < 10.0)
        uv = np.load(f"{stem}_uv.npy")
        assert uv.shape == (2, 32, 32)
        assert uv.dtype == np.float32


def test_missing_occluder_folder_reported_before_rendering(tmp_path, demo_data):
    data = link_data(tmp_path / "data", demo_data, folders=())
    config = tiny_config(controls=[{"module": "threedb.controls.blender.occlusion"}])
    result = subprocess.run([sys.executable, "-m", "threedb", "run", write_config(tmp_path, config), "--data", data,
                             "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300, env=ENV)
    assert result.returncode == 2
    assert "occluder folder not found" in result.stderr
    assert "Traceback" not in result.stderr


EXAMPLES = sorted(p for p in glob.glob(os.path.join(REPO_DIR, "examples", "**", "*.yaml"), recursive=True)
                  if os.path.basename(p) != "base.yaml")


@pytest.mark.parametrize("path", EXAMPLES, ids=[os.path.relpath(p, REPO_DIR) for p in EXAMPLES])
def test_example_config_valid(path, demo_data):
    experiment = build_experiment(load_config(path), demo_data)
    assert experiment.controls
