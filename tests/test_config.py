"""Config loading, base_config merging and validation errors."""

from __future__ import annotations

import pytest

from threedb.config import build_experiment, load_config
from threedb.errors import ConfigError
from conftest import tiny_config, write_config


def test_base_config_merges_recursively(tmp_path, demo_data):
    write_config(tmp_path, tiny_config(), "base.yaml")
    child = write_config(tmp_path, {"base_config": "base.yaml", "render_args": {"samples": 7}}, "child.yaml")
    loaded = load_config(child)
    assert loaded.data["render_args"] == {"resolution": 32, "samples": 7}
    assert loaded.data["policy"]["samples_per_dim"] == 2
    assert "base_config" not in loaded.data


def test_base_config_cycle_is_reported(tmp_path):
    write_config(tmp_path, {"base_config": "b.yaml"}, "a.yaml")
    write_config(tmp_path, {"base_config": "a.yaml"}, "b.yaml")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(str(tmp_path / "a.yaml"))


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("policy:\n  module: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken.yaml.*YAML syntax error at line \d+"):
        load_config(str(path))


def test_string_range_of_3db_accepted(tmp_path, demo_data):
    config = tiny_config()
    config["controls"][0]["rotation_z"] = "(-1.5, 1.5)"
    experiment = build_experiment(load_config(write_config(tmp_path, config)), demo_data)
    assert experiment.controls[0].continuous["rotation_z"] == ("range", (-1.5, 1.5))


def test_every_problem_reported_at_once(tmp_path, demo_data):
    config = tiny_config()
    config["render_args"]["sampels"] = 3
    config["controls"] = [
        {"module": "threedb.controls.blender.orientation", "rotation_q": 1.0, "rotation_x": [2.0, 1.0]},
        {"module": "threedb.controls.blender.no_such_control"},
    ]
    config["policy"] = {"module": "threedb.policies.grid_search"}
    config["logging"] = {"logger_modules": ["no.such.logger"]}
    with pytest.raises(ConfigError) as caught:
        build_experiment(load_config(write_config(tmp_path, config)), demo_data)
    text = str(caught.value)
    assert "render_args.sampels: unknown key (did you mean 'samples'?)" in text
    assert "controls[0].rotation_q: unknown parameter of OrientationControl" in text
    assert "controls[0].rotation_x: inverted range" in text
    assert "controls[1].module" in text
    assert "built-in controls" in text
    assert "policy.samples_per_dim" in text
    assert "logging.logger_modules[0]: module 'no.such.logger' not found" in text
    assert len(caught.value.problems) >= 6


def test_missing_classmap_file_lists_tried_paths(tmp_path, demo_data):
    config = tiny_config()
    config["evaluation"]["args"]["classmap_path"] = "missing.json"
    with pytest.raises(ConfigError, match=r"classmap_path: file not found.*tried"):
        build_experiment(load_config(write_config(tmp_path, config)), demo_data)


def test_unknown_section_suggests_name(tmp_path, demo_data):
    config = tiny_config()
    config["polciy"] = config.pop("policy")
    with pytest.raises(ConfigError, match="did you mean 'policy'"):
        build_experiment(load_config(write_config(tmp_path, config)), demo_data)


def test_3db_layout_config_accepted(demo_data):
    import os  # noqa: PLC0415
    path = os.path.join(os.path.dirname(__file__), "fixtures", "3db_layout", "background.yaml")
    experiment = build_experiment(load_config(path), demo_data)
    control = experiment.controls[0]
    assert control.class_name == "BackgroundControl"
    assert control.continuous["H"] == ("range", (0.0, 1.0))
    assert control.continuous["S"] == ("range", (0.2, 1.0))
    assert control.continuous["V"] == ("fixed", 1.0)
    assert experiment.policy["samples"] == 2
    assert experiment.logger_modules == ["threedb.result_logging.json_logger"]
    assert experiment.inference["label_map"].endswith("imagenet_classes.json")
